//! index: repository metadata from package records.
//!
//! Per family (`deb`, `rpm`): package files are read into records
//! (`scan_pool`, `scan_dir`), pure renderers turn records into metadata bytes
//! (`deb::render_dist`, `rpm::render_repodata`, and the documents they are made
//! of), and thin `write_*` wrappers at the edge put those bytes on disk
//! atomically and clear what they replace (`deb::write_dist`,
//! `rpm::write_repodata`). `modules` selects module metadata (pure). Reading
//! metadata back ([`decompress`], `rpm::read_primary`, `deb::Paragraph`) serves
//! upstream checks and `osrepo diff` ([`tree_closures`]).

mod compress;
pub mod deb;
pub mod modules;
#[cfg(test)]
mod mutate_tests;
pub mod rpm;

pub use compress::decompress;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use rayon::prelude::*;

/// `read` of every item, on every core, in the items' order; the error is that of the first
/// failing item in that order (whichever finished first), so errors are deterministic.
pub(crate) fn par_read<I: Sync, T: Send>(items: &[I], read: impl Fn(&I) -> Result<T> + Sync) -> Result<Vec<T>> {
    let results: Vec<Result<T>> = items.par_iter().map(&read).collect();
    results.into_iter().collect()
}

/// [`par_read`] of the package files `root/rel`, given each file's SHA-256, which is
/// computed first for all of them at once (`crate::hashing`: most of an index run's work).
/// A file that cannot be hashed is an error "cannot index LABEL PATH".
pub(crate) fn par_read_hashed<T: Send>(
    root: &Path,
    rels: &[String],
    label: &str,
    read: impl Fn(&str, &str) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let paths: Vec<std::path::PathBuf> = rels.iter().map(|rel| root.join(rel)).collect();
    let hashed: Vec<(&String, Result<String>)> = rels.iter().zip(crate::hashing::sha256_files(&paths)).collect();
    par_read(&hashed, |(rel, sha256)| match sha256 {
        Ok(h) => read(rel, h),
        Err(e) => {
            Err(anyhow::anyhow!("{e:#}")).with_context(|| format!("cannot index {label} {}", root.join(rel).display()))
        }
    })
}

/// [`par_read`] of package files with a bar on the terminal (`label`: `debian12/amd64:
/// indexing`) counting them.
pub(crate) fn par_read_counted<I: Sync, T: Send>(
    label: &str,
    items: &[I],
    read: impl Fn(&I) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let bar = crate::progress::Bar::items(label, items.len() as u64, "packages");
    par_read(items, |i| {
        bar.inc(1);
        read(i)
    })
}

/// The package sets of an output tree, per repository and arch (`debian/bookworm/amd64`,
/// `rocky/9/x86_64`), as (name, arch, version), for `osrepo diff`.
pub fn tree_closures(root: &Path) -> Result<crate::lock::Closures> {
    let mut out = crate::lock::Closures::new();
    for (rel, p) in crate::fsutil::files_under(root)? {
        let parts: Vec<&str> = rel.split('/').collect();
        // <id>/dists/<codename>/<component>/binary-<arch>/Packages
        if parts.len() == 6 && parts[1] == "dists" && parts[5] == "Packages" {
            let arch = parts[4].trim_start_matches("binary-");
            let text = std::fs::read_to_string(&p)?;
            let set: &mut BTreeSet<(String, String, String)> =
                out.entry(format!("{}/{}/{}", parts[0], parts[2], arch)).or_default();
            for stanza in text.split("\n\n") {
                let Ok(para) = deb::Paragraph::parse(stanza) else { continue };
                if let (Some(n), Some(a), Some(v)) =
                    (para.get("Package"), para.get("Architecture"), para.get("Version"))
                {
                    set.insert((n.to_string(), a.to_string(), v.to_string()));
                }
            }
        }
        // <id>/<release>/os/<basearch>/repodata/repomd.xml
        if parts.len() == 6 && parts[2] == "os" && parts[5] == "repomd.xml" {
            let repo = p.parent().and_then(Path::parent).with_context(|| format!("{}: no repo", p.display()))?;
            let packages = rpm_primary(repo)?;
            let set = out.entry(format!("{}/{}/{}", parts[0], parts[1], parts[3])).or_default();
            for p in packages {
                let evr = p.evr();
                set.insert((p.name, p.arch, evr));
            }
        }
    }
    Ok(out)
}

/// The packages of an rpm repository's primary.xml (found through `repodata/repomd.xml`).
pub(crate) fn rpm_primary(repo: &Path) -> Result<Vec<rpm::PrimaryPackage>> {
    let repomd_path = repo.join("repodata/repomd.xml");
    let repomd =
        std::fs::read_to_string(&repomd_path).with_context(|| format!("cannot read {}", repomd_path.display()))?;
    let href = repomd
        .split("<data type=\"primary\">")
        .nth(1)
        .and_then(|s| s.split("href=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .with_context(|| format!("{}: no primary", repomd_path.display()))?;
    crate::names::file_name("primary href", href.trim_start_matches("repodata/")).map_err(anyhow::Error::msg)?;
    let data = decompress(href, &std::fs::read(repo.join(href))?)?;
    rpm::read_primary(&String::from_utf8_lossy(&data)).with_context(|| format!("{}: {href}", repo.display()))
}
