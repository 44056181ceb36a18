//! cache: the content-addressed cache shared by every distro, arch and build. A file is
//! stored once under its sha256 and linked into output trees. It is hashed when it is
//! stored and again whenever it is used after its inode changed (size, mtime, inode
//! number: what a write, a truncation or a replacement changes); `osrepo cache verify`
//! hashes every entry. Index records are cached by the same key, so unchanged packages are
//! not re-read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

use crate::fsutil::hash_file;

/// What a cache gc kept and dropped (or would drop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub kept: usize,
    pub kept_bytes: u64,
    /// (sha256, bytes) of each entry dropped.
    pub dropped: Vec<(String, u64)>,
}

impl GcReport {
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped.iter().map(|d| d.1).sum()
    }
}

/// The record kind of a file entry's [`Stamp`].
const CHECKED: &str = "checked";

/// What a file entry's inode looked like when it was last hashed and found right. Cache
/// files are read-only; a write, truncation or replacement changes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
        Stamp { dev: meta.dev(), ino: meta.ino(), size: meta.len(), mtime_ns }
    }

    /// File times tick coarsely (a clock tick, or worse on some filesystems): a file
    /// written within [`RACY_NS`] of its hashing could change again and keep its mtime, so
    /// its stamp is not trusted (it is hashed again next time, as git does with racily clean
    /// entries).
    fn racy(&self, now: std::time::SystemTime) -> bool {
        let now_ns = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        now_ns - self.mtime_ns < RACY_NS
    }
}

/// See [`Stamp::racy`].
const RACY_NS: i128 = 2_000_000_000;

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// `$OSREPO_CACHE`, else `$XDG_CACHE_HOME/osrepo`, else `~/.cache/osrepo`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("OSREPO_CACHE") {
            return PathBuf::from(d);
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(d).join("osrepo");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".cache").join("osrepo")
    }

    pub fn open(root: &Path) -> Result<Cache> {
        for d in ["files", "records", "state", "tmp"] {
            std::fs::create_dir_all(root.join(d)).with_context(|| format!("cannot create cache {}", root.display()))?;
        }
        Ok(Cache { root: root.to_path_buf() })
    }

    /// Where the file of a digest lives; a value that is not a sha256 is never a path.
    fn file_path(&self, sha256: &str) -> Result<PathBuf> {
        crate::names::sha256("cache key", sha256).map_err(anyhow::Error::msg)?;
        Ok(self.root.join("files").join(&sha256[..2]).join(sha256))
    }

    /// The record file of a digest (None when the digest is not a sha256).
    fn record_path(&self, kind: &str, sha256: &str) -> Option<PathBuf> {
        crate::names::sha256("cache key", sha256).ok()?;
        Some(self.root.join("records").join(format!("{sha256}.{kind}.json")))
    }

    /// The cached file with this digest and size, checked (hashed unless its inode is as it
    /// was when it was last hashed); a corrupted entry is removed.
    pub fn get(&self, sha256: &str, size: u64) -> Result<Option<PathBuf>> {
        self.get_checked(sha256, size, false)
    }

    /// [`Cache::get`], hashing the file even when its stamp matches when `always`.
    fn get_checked(&self, sha256: &str, size: u64, always: bool) -> Result<Option<PathBuf>> {
        let p = self.file_path(sha256)?;
        let Ok(meta) = std::fs::metadata(&p) else { return Ok(None) };
        let stamp = Stamp::of(&meta);
        if meta.len() == size && !always && self.record::<Stamp>(CHECKED, sha256) == Some(stamp) {
            return Ok(Some(p));
        }
        if meta.len() == size && hash_file::<Sha256>(&p)? == sha256 {
            // A stamp that cannot be written only costs a hash next time.
            if !stamp.racy(std::time::SystemTime::now()) {
                let _ = self.put_record(CHECKED, sha256, &stamp);
            }
            return Ok(Some(p));
        }
        tracing::warn!("cache entry {} is corrupted; it will be fetched again", p.display());
        std::fs::remove_file(&p)?;
        let _ = std::fs::remove_file(self.root.join("records").join(format!("{sha256}.{CHECKED}.json")));
        Ok(None)
    }

    /// Hash every file entry; corrupted ones are removed (the next build fetches them
    /// again). Returns (entries checked, the digests of those removed).
    pub fn verify_all(&self) -> Result<(usize, Vec<String>)> {
        use rayon::prelude::*;
        let files = crate::fsutil::files_under(&self.root.join("files"))?;
        let results: Vec<Result<Option<String>>> = files
            .par_iter()
            .map(|(_, p)| {
                let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                if crate::names::sha256("cache key", &name).is_err() {
                    return Ok(None);
                }
                let size = std::fs::metadata(p).with_context(|| format!("cannot stat {}", p.display()))?.len();
                Ok(self.get_checked(&name, size, true)?.is_none().then_some(name))
            })
            .collect();
        let mut removed = Vec::new();
        for r in results {
            removed.extend(r?);
        }
        removed.sort();
        Ok((files.len(), removed))
    }

    /// The directory a resolver keeps between builds for a job (`debian12/amd64`): apt's
    /// lists. Created when absent.
    pub(crate) fn resolver_state(&self, label: &str) -> Result<PathBuf> {
        let name = label.replace('/', "-");
        crate::names::file_name("job label", &name).map_err(anyhow::Error::msg)?;
        let d = self.root.join("resolver").join(name);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        // Absolute: it is mounted into the build container.
        std::fs::canonicalize(&d).with_context(|| format!("cannot resolve {}", d.display()))
    }

    /// The temporary file a download of a file with this checksum grows in (kept across
    /// attempts and builds, so an interrupted download resumes). `hex` must be a digest.
    pub(crate) fn partial_path(&self, kind: &str, hex: &str) -> Result<PathBuf> {
        if !(32..=128).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("checksum {hex:?} is not a hex digest");
        }
        Ok(self.root.join("tmp").join(format!("partial-{kind}-{hex}")))
    }

    /// Move a verified file into the cache (by rename when on the same filesystem).
    pub(crate) fn put(&self, src: &Path, sha256: &str) -> Result<PathBuf> {
        let dest = self.file_path(sha256)?;
        if dest.exists() {
            return Ok(dest);
        }
        std::fs::create_dir_all(dest.parent().unwrap())?;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.root.join("tmp").join(format!("{sha256}.{}.{n}", std::process::id()));
        if std::fs::rename(src, &tmp).is_err() {
            std::fs::copy(src, &tmp).with_context(|| format!("cannot copy {} into the cache", src.display()))?;
        }
        // Read-only: the entry is shared (hard links) by every output tree that uses it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444))?;
        std::fs::rename(&tmp, &dest)?;
        Ok(dest)
    }

    /// Link (or copy, across filesystems) a cached file to `dest`.
    pub(crate) fn link(&self, cached: &Path, dest: &Path) -> Result<()> {
        crate::fsutil::link_or_copy(cached, dest)
    }

    /// A cached index record of a package file.
    pub(crate) fn record<T: DeserializeOwned>(&self, kind: &str, sha256: &str) -> Option<T> {
        let p = self.record_path(kind, sha256)?;
        serde_json::from_slice(&std::fs::read(p).ok()?).ok()
    }

    pub(crate) fn put_record<T: Serialize>(&self, kind: &str, sha256: &str, record: &T) -> Result<()> {
        let p = self.record_path(kind, sha256).with_context(|| format!("cache key {sha256:?} is not a sha256"))?;
        crate::fsutil::write_atomic(&p, &serde_json::to_vec(record)?)
    }

    /// Build state of an output tree (what the last build of it was made from); None when
    /// there is none or it cannot be read.
    pub fn state<T: DeserializeOwned>(&self, out: &Path) -> Option<T> {
        serde_json::from_slice(&std::fs::read(self.state_path(out)).ok()?).ok()
    }

    pub(crate) fn put_state<T: Serialize>(&self, out: &Path, state: &T) -> Result<()> {
        crate::fsutil::write_atomic(&self.state_path(out), &serde_json::to_vec_pretty(state)?)
    }

    fn state_path(&self, out: &Path) -> PathBuf {
        let abs = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
        let key = hex::encode(<Sha256 as sha2::Digest>::digest(abs.to_string_lossy().as_bytes()));
        self.root.join("state").join(format!("{key}.json"))
    }

    /// Remove every file entry (and its records) not in `keep`; with `dry_run`, only say
    /// what would go.
    pub fn gc(&self, keep: &BTreeSet<String>, dry_run: bool) -> Result<GcReport> {
        let mut r = GcReport::default();
        for (_, p) in crate::fsutil::files_under(&self.root.join("files"))? {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::metadata(&p)?.len();
            if keep.contains(&name) {
                r.kept += 1;
                r.kept_bytes += bytes;
                continue;
            }
            r.dropped.push((name.clone(), bytes));
            if !dry_run {
                std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
                for kind in ["deb", "rpm", CHECKED] {
                    let _ = std::fs::remove_file(self.root.join("records").join(format!("{name}.{kind}.json")));
                }
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_state_is_an_absolute_directory_per_job_even_for_a_relative_cache() {
        let rel = PathBuf::from(format!("target/cache-test-{}", std::process::id()));
        let c = Cache::open(&rel).unwrap();
        let p = c.resolver_state("debian12/amd64").unwrap();
        assert!(p.is_absolute() && p.is_dir() && p.ends_with("resolver/debian12-amd64"), "{}", p.display());
        assert!(c.resolver_state("..").is_err() && c.resolver_state("").is_err());
        std::fs::remove_dir_all(&rel).unwrap();
    }

    #[test]
    fn corrupted_entries_are_detected_and_dropped() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("cache")).unwrap();
        let src = d.path().join("f");
        std::fs::write(&src, b"hello").unwrap();
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let p = c.put(&src, sha).unwrap();
        assert_eq!(c.get(sha, 5).unwrap(), Some(p.clone()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o444, "cache files are read-only");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&p, b"hellp").unwrap();
        assert_eq!(c.get(sha, 5).unwrap(), None);
        assert!(!p.exists());
        let src = d.path().join("g");
        std::fs::write(&src, b"hello").unwrap();
        c.put(&src, sha).unwrap();
        let kept = c.gc(&BTreeSet::from([sha.to_string()]), false).unwrap();
        assert_eq!((kept.kept, kept.kept_bytes, kept.dropped.len()), (1, 5, 0));
        let dry = c.gc(&BTreeSet::new(), true).unwrap();
        assert_eq!((dry.kept, dry.dropped.clone()), (0, vec![(sha.to_string(), 5)]));
        assert!(c.get(sha, 5).unwrap().is_some(), "a dry run removes nothing");
        assert_eq!(c.gc(&BTreeSet::new(), false).unwrap().dropped_bytes(), 5);
        assert!(c.get(sha, 5).unwrap().is_none());
    }

    /// A cache holding the entry of `hello` (just written), with its digest and path.
    fn hello_entry() -> (tempfile::TempDir, Cache, &'static str, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("cache")).unwrap();
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let src = d.path().join("f");
        std::fs::write(&src, b"hello").unwrap();
        let p = c.put(&src, sha).unwrap();
        (d, c, sha, p)
    }

    /// Write `data` into a read-only cache file and give it `mtime`.
    fn rewrite(p: &Path, data: &[u8], mtime: std::time::SystemTime) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(p, data).unwrap();
        std::fs::File::options().write(true).open(p).unwrap().set_modified(mtime).unwrap();
    }

    #[test]
    fn an_entry_is_hashed_again_only_when_its_inode_changed_and_verify_all_hashes_every_entry() {
        let (d, c, sha, p) = hello_entry();
        let src = d.path().join("f");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        rewrite(&p, b"hello", old);
        let stamp = || c.record::<Stamp>(CHECKED, sha);
        assert_eq!(c.get(sha, 5).unwrap().as_deref(), Some(p.as_path()));
        assert_eq!(stamp(), Some(Stamp::of(&std::fs::metadata(&p).unwrap())), "hashed and stamped");
        // Same size, same mtime, other bytes: the stamp is trusted (this is what it saves)...
        rewrite(&p, b"hellp", old);
        assert!(c.get(sha, 5).unwrap().is_some());
        // ...but `verify_all` hashes every entry and drops the bad one with its stamp.
        assert_eq!(c.verify_all().unwrap(), (1, vec![sha.to_string()]));
        assert!(!p.exists() && stamp().is_none());
        // A change that moves the mtime is caught by `get` itself.
        std::fs::write(&src, b"hello").unwrap();
        let p = c.put(&src, sha).unwrap();
        rewrite(&p, b"hello", old);
        assert!(c.get(sha, 5).unwrap().is_some() && stamp().is_some());
        rewrite(&p, b"hellp", old + std::time::Duration::from_secs(1));
        assert_eq!(c.get(sha, 5).unwrap(), None, "a rewritten entry is hashed again");
        assert!(!p.exists());
    }

    #[test]
    fn a_file_hashed_just_after_it_was_written_gets_no_stamp() {
        let (_d, c, sha, _) = hello_entry();
        assert!(c.get(sha, 5).unwrap().is_some());
        assert!(c.record::<Stamp>(CHECKED, sha).is_none(), "an mtime within the clock's tick is racy");
    }

    #[test]
    fn keys_that_are_not_digests_are_never_paths() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(&d.path().join("cache")).unwrap();
        // A crafted lock value: with it, get() used to stat, hash and delete this file.
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let crafted = format!("../../{}", "victim");
        let e = c.get(&crafted, 1).unwrap_err().to_string();
        assert!(e.contains("is not a sha256"), "{e}");
        assert!(c.get(&"A".repeat(64), 1).is_err());
        assert!(c.put(&victim, &crafted).is_err());
        assert!(victim.exists());
        assert!(c.record::<String>("deb", &crafted).is_none());
        assert!(c.put_record("deb", &crafted, &"x").is_err());
    }
}
