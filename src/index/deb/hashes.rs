//! The checksums an apt index carries (`MD5sum`/`SHA1`/`SHA256`/`SHA512` in Packages,
//! the sections of the same names in Release) and reading them from a file in one pass.
//!
//! SHA256 is always written (apt ≥ 1.2 trusts nothing weaker, and `osrepo verify` checks
//! it); MD5, SHA-1 and SHA-512 only when asked for (`--hashes`), for old clients.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use sha2::{Sha256, Sha512};

/// One checksum kind of an apt index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DebHash {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl DebHash {
    /// Every kind, in the order apt-ftparchive writes them.
    pub const ALL: [DebHash; 4] = [DebHash::Md5, DebHash::Sha1, DebHash::Sha256, DebHash::Sha512];

    /// How `--hashes` spells it.
    pub fn name(self) -> &'static str {
        match self {
            DebHash::Md5 => "md5",
            DebHash::Sha1 => "sha1",
            DebHash::Sha256 => "sha256",
            DebHash::Sha512 => "sha512",
        }
    }

    /// The field of a Packages stanza.
    pub(crate) fn packages_field(self) -> &'static str {
        match self {
            DebHash::Md5 => "MD5sum",
            DebHash::Sha1 => "SHA1",
            DebHash::Sha256 => "SHA256",
            DebHash::Sha512 => "SHA512",
        }
    }

    /// The section of a Release file.
    pub(crate) fn release_section(self) -> &'static str {
        match self {
            DebHash::Md5 => "MD5Sum",
            DebHash::Sha1 => "SHA1",
            DebHash::Sha256 => "SHA256",
            DebHash::Sha512 => "SHA512",
        }
    }

    /// Lower-case hex digest of `bytes`.
    pub(crate) fn hex(self, bytes: &[u8]) -> String {
        let mut h = Hasher::new(self);
        h.update(bytes);
        h.finish()
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The set of checksums an index carries; SHA256 is always in it. The default is SHA256
/// alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DebHashes(u8);

impl Default for DebHashes {
    fn default() -> DebHashes {
        DebHashes(DebHash::Sha256.bit())
    }
}

impl DebHashes {
    /// Every kind apt knows (what apt-ftparchive writes at its defaults).
    pub fn all() -> DebHashes {
        DebHashes::from_kinds(DebHash::ALL)
    }

    /// SHA256 and the kinds given.
    pub fn from_kinds(kinds: impl IntoIterator<Item = DebHash>) -> DebHashes {
        kinds.into_iter().fold(DebHashes::default(), |s, k| DebHashes(s.0 | k.bit()))
    }

    pub fn contains(self, kind: DebHash) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The kinds in the set, in apt-ftparchive's order.
    pub fn iter(self) -> impl Iterator<Item = DebHash> {
        DebHash::ALL.into_iter().filter(move |k| self.contains(*k))
    }

    pub fn is_default(&self) -> bool {
        *self == DebHashes::default()
    }

    /// The checksum sections a Release file has (SHA256 at least).
    pub(crate) fn of_release(text: &str) -> DebHashes {
        let has = |k: DebHash| text.lines().any(|l| l.strip_suffix(':') == Some(k.release_section()));
        DebHashes::from_kinds(DebHash::ALL.into_iter().filter(|k| has(*k)))
    }

    /// This set and the kinds of another.
    pub(crate) fn union(self, other: DebHashes) -> DebHashes {
        DebHashes(self.0 | other.0)
    }
}

impl fmt::Display for DebHashes {
    /// `md5,sha1,sha256`: what `--hashes` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(DebHash::name).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for DebHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebHashes({self})")
    }
}

impl FromStr for DebHashes {
    type Err = String;

    /// A comma-separated list of `md5`, `sha1`, `sha256`, `sha512` that names sha256.
    fn from_str(s: &str) -> Result<DebHashes, String> {
        let mut kinds = Vec::new();
        for word in s.split(',').map(str::trim) {
            match DebHash::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(word)) {
                Some(k) => kinds.push(k),
                None => return Err(format!("{word:?} is not one of md5, sha1, sha256, sha512")),
            }
        }
        if !kinds.contains(&DebHash::Sha256) {
            return Err(format!("{s:?} leaves out sha256, which every apt index carries"));
        }
        Ok(DebHashes::from_kinds(kinds))
    }
}

impl serde::Serialize for DebHashes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One running digest.
enum Hasher {
    Md5(Md5),
    Sha1(sha1::Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(kind: DebHash) -> Hasher {
        match kind {
            DebHash::Md5 => Hasher::Md5(Md5::new()),
            DebHash::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            DebHash::Sha256 => Hasher::Sha256(Sha256::new()),
            DebHash::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Md5(h) => hex::encode(h.finalize()),
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// The size of a file and its digests of the kinds given, reading it once (not at all when
/// no kind is asked for). Errors name the file.
pub(crate) fn digest_file(path: &Path, kinds: &[DebHash]) -> Result<(u64, Vec<(DebHash, String)>)> {
    let run = || -> Result<(u64, Vec<(DebHash, String)>)> {
        let mut file = std::fs::File::open(path)?;
        if kinds.is_empty() {
            return Ok((file.metadata()?.len(), Vec::new()));
        }
        let mut hashers: Vec<(DebHash, Hasher)> = kinds.iter().map(|k| (*k, Hasher::new(*k))).collect();
        let mut buf = vec![0u8; 1 << 18];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hashers.iter_mut().for_each(|(_, h)| h.update(&buf[..n]));
            size += n as u64;
        }
        Ok((size, hashers.into_iter().map(|(k, h)| (k, h.finish())).collect()))
    };
    run().with_context(|| format!("hashing {}", path.display()))
}

/// A digest given by a caller must look like one of its kind.
pub(crate) fn check_hex(kind: DebHash, value: &str) -> Result<()> {
    let len = match kind {
        DebHash::Md5 => 32,
        DebHash::Sha1 => 40,
        DebHash::Sha256 => 64,
        DebHash::Sha512 => 128,
    };
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("{value:?} is not a {} digest", kind.name());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_validates_and_prints_the_set() {
        assert_eq!(DebHashes::default().to_string(), "sha256");
        let old: DebHashes = "md5,sha1,sha256".parse().unwrap();
        assert_eq!(old.iter().collect::<Vec<_>>(), [DebHash::Md5, DebHash::Sha1, DebHash::Sha256]);
        assert_eq!("SHA512, sha256,md5".parse::<DebHashes>().unwrap().to_string(), "md5,sha256,sha512");
        assert_eq!("sha256,sha1,md5,sha512".parse::<DebHashes>().unwrap(), DebHashes::all());
        assert!("sha256".parse::<DebHashes>().unwrap().is_default());
        let e = "md5,sha1".parse::<DebHashes>().unwrap_err();
        assert!(e.contains("leaves out sha256"), "{e}");
        let e = "sha256,crc32".parse::<DebHashes>().unwrap_err();
        assert!(e.contains("\"crc32\" is not one of"), "{e}");
        assert!("".parse::<DebHashes>().is_err());
        assert!("sha256,".parse::<DebHashes>().is_err());
    }

    #[test]
    fn reads_the_sections_of_a_release() {
        let text = "Origin: x\nMD5Sum:\n a 1 p\nSHA256:\n b 1 p\n";
        assert_eq!(DebHashes::of_release(text).to_string(), "md5,sha256");
        assert!(DebHashes::of_release("Origin: x\n").is_default());
        assert_eq!(DebHashes::default().union(DebHashes::all()), DebHashes::all());
    }

    #[test]
    fn digests_a_file_once_for_every_kind() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let (size, got) = digest_file(&p, &DebHash::ALL).unwrap();
        assert_eq!(size, 5);
        assert_eq!(got[0], (DebHash::Md5, "5d41402abc4b2a76b9719d911017c592".to_string()));
        assert_eq!(got[1].1, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
        assert_eq!(got[2].1, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(got[3].1.len(), 128);
        for (k, v) in &got {
            assert_eq!(&k.hex(b"hello"), v);
            check_hex(*k, v).unwrap();
        }
        assert_eq!(digest_file(&p, &[]).unwrap(), (5, Vec::new()));
        assert!(check_hex(DebHash::Sha256, &"A".repeat(64)).is_err());
        assert!(format!("{:#}", digest_file(&d.path().join("missing"), &[]).unwrap_err()).contains("missing"));
    }
}
