//! iso: `osrepo pack OUT --iso`, one ISO 9660 image (Rock Ridge) per distro × arch, holding
//! that repository's tree (that arch's indexes and packages), the public keys, its SBOMs and the
//! distro's node files, written with xorriso. Images are reproducible: every date (volume
//! and files) is the pack date, owners and modes are normalized (`-r`), entries sorted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::config::Family;
use crate::emit::node::{self, NodeEntry};
use crate::fsutil::{files_under, link_or_copy};

/// The files (relative path, full path) of one distro × arch image.
pub(crate) fn files_for(root: &Path, e: &NodeEntry, arch: &str) -> Result<Vec<(String, PathBuf)>> {
    let all = files_under(root)?;
    let repo_prefix = match (&e.family, &e.codename) {
        (Family::Deb, Some(c)) => format!("{}/dists/{c}/", e.id),
        _ => format!("{}/{}/os/{}/", e.id, e.release, Arch::from_any(arch).map(Arch::rpm).unwrap_or(arch)),
    };
    let mut pool = BTreeSet::new();
    if e.family == Family::Deb {
        let packages = root.join(format!("{repo_prefix}main/binary-{arch}/Packages"));
        let text =
            std::fs::read_to_string(&packages).with_context(|| format!("iso: cannot read {}", packages.display()))?;
        for f in text.lines().filter_map(|l| l.strip_prefix("Filename: ")) {
            pool.insert(format!("{}/{}", e.id, f.trim()));
        }
    }
    let node_files = |rel: &str| {
        rel.strip_prefix("repos/").is_some_and(|n| {
            n.split_once('.').is_some_and(|(stem, _)| stem == e.name) || crate::emit::TREE_FILES.contains(&rel)
        })
    };
    Ok(all
        .into_iter()
        .filter(|(rel, _)| {
            let own_keys = rel.starts_with(&format!("keys/{}/", e.name))
                || (rel.starts_with("keys/osrepo.") && !rel[5..].contains('/'));
            let in_repo = rel.starts_with(&repo_prefix)
                && rel.split('/').find_map(|p| p.strip_prefix("binary-")).is_none_or(|b| b == arch);
            // This distro × arch's SBOMs and their signatures.
            let sbom = crate::sbom::job_of(rel) == Some((e.name.as_str(), arch));
            in_repo || pool.contains(rel) || own_keys || node_files(rel) || sbom
        })
        .collect())
}

/// `YYYYMMDDhhmmsscc` (UTC) for xorriso's date options.
fn iso_date(epoch: u64) -> String {
    let t = chrono::DateTime::from_timestamp(epoch as i64, 0).unwrap_or_default();
    t.format("%Y%m%d%H%M%S00").to_string()
}

/// A volume id: `[A-Z0-9_]`, at most 32 characters.
fn volume_id(distro: &str, arch: &str) -> String {
    let v: String = format!("{distro}_{arch}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    v.chars().take(32).collect()
}

/// Write one image of `files` with xorriso.
fn write_iso(dest: &Path, files: &[(String, PathBuf)], volid: &str, mtime: u64) -> Result<()> {
    let stage = tempfile::Builder::new()
        .prefix(".iso-stage.")
        .tempdir_in(crate::fsutil::parent_of(dest))
        .with_context(|| format!("iso: cannot stage beside {}", dest.display()))?;
    for (rel, src) in files {
        link_or_copy(src, &stage.path().join(rel))?;
    }
    let date = iso_date(mtime);
    let out = Command::new("xorriso")
        .env("SOURCE_DATE_EPOCH", mtime.to_string())
        .args(["-as", "mkisofs", "-quiet", "-r", "-V", volid, "-o"])
        .arg(dest)
        .arg(format!("--modification-date={date}"))
        .args(["--set_all_file_dates", &date])
        .arg(stage.path())
        .output()
        .context("iso: cannot run xorriso (install Debian's xorriso)")?;
    if !out.status.success() {
        bail!("iso: xorriso failed for {}: {}", dest.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `NAME-<distro>-<arch>.iso` for every distro × arch in the tree. Returns the file names.
pub fn pack_iso(root: &Path, name: &str, dest: &Path, mtime: u64) -> Result<Vec<String>> {
    crate::names::segment("pack --name", name).map_err(anyhow::Error::msg)?;
    let entries = node::entries(root)?;
    if entries.is_empty() {
        bail!("pack --iso: {} has no distro node files (repos/*.node); build it first", root.display());
    }
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut names = Vec::new();
    for e in &entries {
        for arch in node::arches(root, e)? {
            let file = format!("{name}-{}-{arch}.iso", e.name);
            write_iso(&dest.join(&file), &files_for(root, e, &arch)?, &volume_id(&e.name, &arch), mtime)?;
            names.push(file);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_and_dates_fit_iso9660() {
        assert_eq!(volume_id("centos-stream10", "amd64"), "CENTOS_STREAM10_AMD64");
        assert_eq!(volume_id(&"x".repeat(40), "arm64").len(), 32);
        assert_eq!(iso_date(1767225600), "2026010100000000");
    }
}
