//! merge: combine trees built separately (one CI job per distro/arch) into one, regenerating
//! and re-signing the indexes that cover more than one part.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use super::Staging;
use crate::fsutil::{files_under, same_content};
use crate::index::deb::{self, Paragraph, ReleaseMeta};
use crate::sign::SigningKey;

/// Files regenerated after a merge rather than copied from a part.
fn regenerated(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let deb_release =
        parts.len() == 4 && parts[1] == "dists" && matches!(parts[3], "Release" | "InRelease" | "Release.gpg");
    deb_release || rel.ends_with("/repodata/repomd.xml.asc")
}

/// Merge `parts` into `out` (created when missing; existing files are replaced by the parts'),
/// then rewrite and sign the Release files and repomd signatures the parts touched.
pub fn merge(out: &Path, parts: &[PathBuf], key: &SigningKey) -> Result<()> {
    let staging = Staging::begin(out)?;
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut dists: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut repomds: BTreeSet<PathBuf> = BTreeSet::new();
    for part in parts {
        if !part.is_dir() {
            bail!("merge: part {} is not a directory", part.display());
        }
        for (rel, src) in files_under(part)? {
            if regenerated(&rel) {
                if rel.ends_with("/Release") {
                    let dist = Path::new(&rel).parent().unwrap().to_path_buf();
                    dists.entry(dist).or_default().push(src);
                }
                continue;
            }
            if rel.ends_with("/repodata/repomd.xml") {
                repomds.insert(Path::new(&rel).parent().unwrap().parent().unwrap().to_path_buf());
            }
            let dest = staging.path().join(&rel);
            if let Some(first) = from.get(&rel) {
                if !same_content(&src, &dest)? {
                    bail!(
                        "merge: {rel} differs between {} and {}; parts must agree on shared files",
                        first.display(),
                        part.display()
                    );
                }
                continue;
            }
            if dest.exists() {
                std::fs::remove_file(&dest)?;
            }
            std::fs::create_dir_all(dest.parent().unwrap())?;
            std::fs::hard_link(&src, &dest)
                .or_else(|_| std::fs::copy(&src, &dest).map(|_| ()))
                .with_context(|| format!("merge: cannot copy {}", src.display()))?;
            from.insert(rel, part.clone());
        }
    }
    for (dist, releases) in &dists {
        let (meta, date) = merged_meta(releases)?;
        let id_dir = staging.path().join(dist.parent().unwrap().parent().unwrap());
        deb::write_dist(&id_dir, &meta, "main", &BTreeMap::new())?;
        crate::build::sign_dist(key, &staging.path().join(dist), date)?;
    }
    for id in dists.keys().map(|d| d.parent().unwrap().parent().unwrap().to_path_buf()).collect::<BTreeSet<_>>() {
        crate::build::gc_pool(&staging.path().join(id))?;
    }
    for repo in &repomds {
        let date = repomd_revision(&staging.path().join(repo))?;
        crate::build::sign_repomd(key, &staging.path().join(repo), date)?;
    }
    crate::sign::write_public_key_files(&staging.path().join("keys"), key)?;
    super::dedup_noarch(staging.path())?;
    staging.commit()
}

/// The Release fields of the parts (they agree but for Architectures), with the latest Date.
fn merged_meta(releases: &[PathBuf]) -> Result<(ReleaseMeta, DateTime<Utc>)> {
    let mut best: Option<(ReleaseMeta, DateTime<Utc>)> = None;
    for r in releases {
        let text = std::fs::read_to_string(r).with_context(|| format!("cannot read {}", r.display()))?;
        let p = Paragraph::parse(&text).with_context(|| format!("{}", r.display()))?;
        let get = |f: &str| p.get(f).unwrap_or("").to_string();
        let date = DateTime::parse_from_rfc2822(&get("Date").replace(" UTC", " +0000"))
            .with_context(|| format!("{}: Date {:?}", r.display(), get("Date")))?
            .with_timezone(&Utc);
        let meta = ReleaseMeta {
            origin: get("Origin"),
            label: get("Label"),
            suite: get("Suite"),
            codename: get("Codename"),
            date,
            architectures: Vec::new(),
            components: get("Components").split_whitespace().map(String::from).collect(),
            description: get("Description"),
        };
        if best.as_ref().is_none_or(|b| date > b.1) {
            best = Some((meta, date));
        }
    }
    best.context("no Release among the parts")
}

/// The revision of a repomd.xml, as the signature time.
fn repomd_revision(repo: &Path) -> Result<DateTime<Utc>> {
    let text = std::fs::read_to_string(repo.join("repodata/repomd.xml"))?;
    let rev = text
        .split("<revision>")
        .nth(1)
        .and_then(|s| s.split("</revision>").next())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    DateTime::from_timestamp(rev, 0).context("repomd revision out of range")
}
