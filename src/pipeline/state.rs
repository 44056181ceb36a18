//! The state of an output tree: for each job published into it, the digest of everything
//! its tree depends on. Kept in the cache, keyed by the output's path; a build whose jobs all
//! have the digest already recorded has nothing to do.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::index::deb::DebHashes;
use crate::lock::LockedJob;

/// What the last build of an output was made from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutputState {
    /// Job label (`debian12/amd64`) → tree digest.
    #[serde(default)]
    pub jobs: BTreeMap<String, String>,
    /// The digest of the output tree this state describes ([`out_digest`]); a state whose
    /// tree is not the one at the output path (another cache built there since, a file
    /// changed) describes nothing.
    #[serde(default)]
    pub tree: Option<String>,
}

impl OutputState {
    /// The recorded state of `out` (empty when there is none or it is unreadable).
    pub fn load(cache: &Cache, out: &Path) -> OutputState {
        cache.state(out).unwrap_or_default()
    }

    pub(crate) fn save(&self, cache: &Cache, out: &Path) -> Result<()> {
        cache.put_state(out, self)
    }

    /// This state if `out` is the tree it describes, else the empty state.
    pub(crate) fn verified(self, out: &Path) -> OutputState {
        match (&self.tree, out_digest(out)) {
            (Some(t), Ok(d)) if *t == d => self,
            _ => OutputState::default(),
        }
    }

    /// Record the tree now at `out` as the one this state describes.
    pub(crate) fn describe(&mut self, out: &Path) -> Result<()> {
        self.tree = Some(out_digest(out)?);
        Ok(())
    }

    /// Does the tree of this job differ from what was last published?
    pub fn changed(&self, label: &str, digest: &str) -> bool {
        self.jobs.get(label).map(String::as_str) != Some(digest)
    }
}

/// The digest of an output tree: every path, the content of every index and node file, and
/// the size of every package file (packages are checked against the lock when they are
/// placed; hashing them all on every no-op build would cost more than the build).
pub(crate) fn out_digest(out: &Path) -> Result<String> {
    let mut h = Sha256::new();
    for (rel, p) in crate::fsutil::files_under(out)? {
        let package = rel.ends_with(".deb") || rel.ends_with(".rpm");
        let what = if package { std::fs::metadata(&p)?.len().to_string() } else { crate::fsutil::sha256_file(&p)? };
        h.update(format!("{rel}\0{what}\n").as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// Everything a job's published tree depends on. The field order and the JSON value form
/// are part of the digest: changing them makes every existing output look changed.
#[derive(Serialize)]
struct TreeInputs<'a> {
    job: &'a str,
    lock: &'a LockedJob,
    key: &'a str,
    base_url: &'a str,
    date: i64,
    osrepo: &'static str,
    /// apt index checksums other than the default (absent when default, so the digests of
    /// earlier versions hold).
    #[serde(skip_serializing_if = "DebHashes::is_default")]
    hashes: DebHashes,
}

/// The digest of everything a job's published tree depends on: its locked closure, the
/// signing key, the base URL in the node files, the index date, osrepo's version and the
/// checksums its indexes carry.
pub(crate) fn tree_digest(
    label: &str,
    lock: &LockedJob,
    fingerprint: &str,
    base_url: &str,
    date: i64,
    hashes: DebHashes,
) -> String {
    let osrepo = env!("CARGO_PKG_VERSION");
    let t = TreeInputs { job: label, lock, key: fingerprint, base_url, date, osrepo, hashes };
    let v = serde_json::to_value(&t).map(|v| v.to_string()).unwrap_or_default();
    hex::encode(Sha256::digest(v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{LockedPackage, UpstreamKey};

    fn package(name: &str, arch: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: "1:2.0-1".into(),
            arch: arch.into(),
            repo: "http://m.invalid/debian".into(),
            url: format!("http://m.invalid/debian/pool/main/{name}.deb"),
            size: 42,
            sha256: "ab".repeat(32),
            file: format!("{name}.deb"),
        }
    }

    #[test]
    fn tree_digest_is_unchanged() {
        let plain = LockedJob {
            inputs: "sha256:00".into(),
            packages: vec![package("a", "amd64"), package("b", "all")],
            resolved: 1767225600,
            modules: None,
            keys: BTreeMap::new(),
        };
        let mut rpm = plain.clone();
        rpm.modules = Some("---\ndocument: modulemd\n".into());
        rpm.keys.insert("k.asc".into(), UpstreamKey::Binary(vec![0, 0xff]));
        let got = [
            tree_digest("debian12/amd64", &plain, "F00D", "http://OSREPO_HOST:8080", 1767225600, DebHashes::default()),
            tree_digest("rocky9/arm64", &rpm, "F00D", "http://r.invalid", 0, DebHashes::default()),
        ];
        // Pinned before the pipeline was restructured: a change makes every existing output
        // look changed (no more no-op builds).
        assert_eq!(
            got,
            [
                "294df6e70d07cc4ed9b301ab2097b7c47a3f7916d1e9142a8b31d36266248fae".to_string(),
                "3b17c1d2478eec98d3306546474f2cacc3418250de1c2a99d824860c53589da8".to_string(),
            ]
        );
        // Other apt checksums make another tree.
        let old = "md5,sha1,sha256".parse().unwrap();
        assert_ne!(tree_digest("debian12/amd64", &plain, "F00D", "http://OSREPO_HOST:8080", 1767225600, old), got[0]);
    }

    #[test]
    fn state_file_round_trips_in_the_old_shape() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(&d.path().join("c")).unwrap();
        let out = d.path().join("out");
        assert_eq!(OutputState::load(&cache, &out), OutputState::default());
        let s = OutputState { jobs: BTreeMap::from([("debian12/amd64".to_string(), "abc".to_string())]), tree: None };
        s.save(&cache, &out).unwrap();
        assert_eq!(OutputState::load(&cache, &out), s);
        assert!(!s.changed("debian12/amd64", "abc"));
        assert!(s.changed("debian12/amd64", "abd"));
        assert!(s.changed("debian12/arm64", "abc"));
        // The file written by earlier versions: {"jobs": {label: digest}}.
        let old: OutputState = serde_json::from_str(r#"{"jobs": {"x/amd64": "d"}}"#).unwrap();
        assert_eq!(old.jobs["x/amd64"], "d");
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    #[test]
    fn a_state_describes_only_the_tree_it_was_saved_for() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        crate::fsutil::write_atomic(&out.join("debian/dists/bookworm/Release"), b"a").unwrap();
        crate::fsutil::write_atomic(&out.join("debian/pool/main/j/jq/jq_1_amd64.deb"), b"deb").unwrap();
        let mut s = OutputState { jobs: BTreeMap::from([("debian12/amd64".into(), "d1".into())]), tree: None };
        assert_eq!(s.clone().verified(&out), OutputState::default(), "a state without a tree digest describes nothing");
        s.describe(&out).unwrap();
        assert_eq!(s.clone().verified(&out), s);
        // Another build (another cache) rewrote the index: the state no longer describes out/.
        crate::fsutil::write_atomic(&out.join("debian/dists/bookworm/Release"), b"b").unwrap();
        assert_eq!(s.clone().verified(&out), OutputState::default());
        s.describe(&out).unwrap();
        // A pool file replaced by one of another size, or removed.
        crate::fsutil::write_atomic(&out.join("debian/pool/main/j/jq/jq_1_amd64.deb"), b"longer").unwrap();
        assert_eq!(s.clone().verified(&out), OutputState::default());
        s.describe(&out).unwrap();
        std::fs::remove_file(out.join("debian/pool/main/j/jq/jq_1_amd64.deb")).unwrap();
        assert_eq!(s.clone().verified(&out), OutputState::default());
    }
}
