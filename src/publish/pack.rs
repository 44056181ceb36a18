//! pack: archives of a tree for shipping: one per arch (still valid and signed: the signed
//! Release files are kept, apt only fetches the indexes of its own arch), one of everything,
//! and `sha256sum.txt`. Archives are deterministic: sorted entries, fixed owners and times.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::Sha256;

use crate::arch::Arch;
use crate::fsutil::files_under;

/// Which files of a tree an arch's archive holds.
pub(crate) fn files_for_arch(root: &Path, arch: &str) -> Result<Vec<(String, PathBuf)>> {
    let all = files_under(root)?;
    // Pool files the arch's indexes reference.
    let mut wanted_pool = BTreeSet::new();
    for (rel, p) in &all {
        if rel.ends_with(&format!("/binary-{arch}/Packages")) {
            let id = rel.split('/').next().unwrap_or("");
            for line in std::fs::read_to_string(p)?.lines() {
                if let Some(f) = line.strip_prefix("Filename: ") {
                    wanted_pool.insert(format!("{id}/{}", f.trim()));
                }
            }
        }
    }
    // A tree may hold arches osrepo does not build (hand-made parts): match them as spelled.
    let rpm_arch = Arch::from_any(arch).map(Arch::rpm).unwrap_or(arch);
    Ok(all
        .into_iter()
        .filter(|(rel, _)| {
            let parts: Vec<&str> = rel.split('/').collect();
            if parts.len() >= 2 && parts[1] == "pool" {
                return wanted_pool.contains(rel);
            }
            if let Some(b) = parts.iter().find_map(|p| p.strip_prefix("binary-")) {
                return b == arch;
            }
            if parts.len() >= 4 && parts[2] == "os" {
                return parts[3] == rpm_arch;
            }
            // An SBOM goes with its arch.
            crate::sbom::arch_of(rel).is_none_or(|a| a == arch)
        })
        .collect())
}

/// The arches a tree holds (deb binary-* directories and rpm os/<basearch> directories).
pub(crate) fn arches_in(root: &Path) -> Result<Vec<String>> {
    let mut out = BTreeSet::new();
    for (rel, _) in files_under(root)? {
        let parts: Vec<&str> = rel.split('/').collect();
        if let Some(b) = parts.iter().find_map(|p| p.strip_prefix("binary-")) {
            out.insert(b.to_string());
        }
        if parts.len() >= 4 && parts[2] == "os" {
            out.insert(Arch::from_any(parts[3]).map(|a| a.deb().to_string()).unwrap_or_else(|| parts[3].to_string()));
        }
    }
    Ok(out.into_iter().collect())
}

/// Write a deterministic tar.gz of `files` under the top directory `top`.
pub(crate) fn write_archive(dest: &Path, top: &str, files: &[(String, PathBuf)], mtime: u64) -> Result<()> {
    let f = std::fs::File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let gz = flate2::GzBuilder::new().mtime(0).write(f, flate2::Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    let mut dirs = BTreeSet::new();
    for (rel, _) in files {
        let mut p = Path::new(rel).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }
    let mut entries: Vec<(String, Option<&PathBuf>)> = dirs.into_iter().map(|d| (d, None)).collect();
    entries.extend(files.iter().map(|(r, p)| (r.clone(), Some(p))));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut top_h = tar::Header::new_gnu();
    top_h.set_entry_type(tar::EntryType::Directory);
    top_h.set_mode(0o755);
    top_h.set_mtime(mtime);
    top_h.set_size(0);
    tar.append_data(&mut top_h, format!("{top}/"), std::io::empty())?;
    for (rel, src) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        match src {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, format!("{top}/{rel}/"), std::io::empty())?;
            }
            Some(p) => {
                let file = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(file.metadata()?.len());
                tar.append_data(&mut h, format!("{top}/{rel}"), file)?;
            }
        }
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

/// `osrepo pack`: NAME-<arch>.tar.gz for each arch in the tree, NAME-all.tar.gz and
/// sha256sum.txt in `dest`. Archives are compressed in parallel. Returns the archive names.
pub fn pack(root: &Path, name: &str, dest: &Path, mtime: u64) -> Result<Vec<String>> {
    // NAME becomes file names in DEST (and the archives' top directory).
    crate::names::segment("pack --name", name).map_err(anyhow::Error::msg)?;
    if !root.is_dir() {
        bail!("pack: {} is not a directory", root.display());
    }
    std::fs::create_dir_all(dest)?;
    let mut jobs: Vec<(String, Vec<(String, PathBuf)>)> = Vec::new();
    for arch in arches_in(root)? {
        jobs.push((format!("{name}-{arch}.tar.gz"), files_for_arch(root, &arch)?));
    }
    jobs.push((format!("{name}-all.tar.gz"), files_under(root)?));
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(file, files)| s.spawn(move || write_archive(&dest.join(file), name, files, mtime)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("archive thread panicked"))).collect()
    });
    for r in results {
        r?;
    }
    let mut names: Vec<String> = jobs.into_iter().map(|(file, _)| file).collect();
    names.extend(copy_sboms(root, dest)?);
    write_sums(dest, &names)?;
    Ok(names)
}

/// `dest/sha256sum.txt` for the named files of `dest` (as `sha256sum -c` reads it).
pub fn write_sums(dest: &Path, files: &[String]) -> Result<()> {
    let mut sums = String::new();
    for file in files {
        let hex = crate::fsutil::hash_file::<Sha256>(&dest.join(file))?;
        sums.push_str(&format!("{hex}  {file}\n"));
    }
    let p = dest.join("sha256sum.txt");
    std::fs::write(&p, sums).with_context(|| format!("cannot write {}", p.display()))
}

/// The SBOMs of the tree (and their signatures) beside the archives, in `dest/sbom/`, so a
/// reviewer reads them without unpacking. Returns their names relative to `dest`.
fn copy_sboms(root: &Path, dest: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (rel, p) in files_under(&root.join(crate::sbom::DIR))? {
        let rel = format!("{}/{rel}", crate::sbom::DIR);
        if crate::sbom::arch_of(&rel).is_none() {
            continue;
        }
        crate::fsutil::create_dirs(&dest.join(crate::sbom::DIR))?;
        std::fs::copy(&p, dest.join(&rel)).with_context(|| format!("cannot copy {}", p.display()))?;
        out.push(rel);
    }
    Ok(out)
}

/// Write an OCI image layout in `dir` holding `layer` (a tar.gz) as the single layer of a
/// `FROM scratch` image named `name`, so a Dockerfile can `COPY --from=` the tree.
pub fn write_oci(dir: &Path, layer: &Path, name: &str, arch: &str) -> Result<()> {
    use sha2::Digest;
    use std::io::Read;
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)?;
    let layer_bytes = std::fs::read(layer).with_context(|| format!("cannot read {}", layer.display()))?;
    let layer_digest = hex::encode(Sha256::digest(&layer_bytes));
    // The config names the uncompressed layer (diff id).
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&layer_bytes[..]).read_to_end(&mut plain)?;
    let diff_id = hex::encode(Sha256::digest(&plain));
    std::fs::write(blobs.join(&layer_digest), &layer_bytes)?;
    let blob = |v: serde_json::Value| -> Result<(String, usize)> {
        let bytes = serde_json::to_vec(&v)?;
        let d = hex::encode(Sha256::digest(&bytes));
        std::fs::write(blobs.join(&d), &bytes)?;
        Ok((d, bytes.len()))
    };
    let (config, config_size) = blob(serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    }))?;
    let (manifest, manifest_size) = blob(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config}"), "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{layer_digest}"), "size": layer_bytes.len()}],
    }))?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest}"),
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}
