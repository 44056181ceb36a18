//! resolve: what runs inside a build container and how its output is read. The container
//! protocol both families share (directories, exit codes, the fetch script), and per tool
//! the resolver script (`apt`, `dnf`) and the parsers of its report. Pure: the pipeline's
//! `container` stage runs the scripts, `family` backends choose them.

pub mod apt;
pub mod dnf;

use std::path::Path;

use anyhow::{bail, Context, Result};
use md5::Md5;
use sha2::{Sha256, Sha512};

use crate::config::PackageSpec;
use crate::fsutil::hash_file;

/// The container protocol both families share. Where the job's files are uploaded, and
/// where the script works, inside the build container.
pub(crate) const JOB_DIR: &str = "/osrepo/job";
pub(crate) const WORK_DIR: &str = "/osrepo/work";
/// Mount point of `file:` extra repos.
pub(crate) const EXTRA_DIR: &str = "/osrepo/extra";

/// Exit code the scripts use for "some requested packages cannot be resolved"; the specs and
/// why are in `WORK_DIR/out/missing.tsv`.
pub(crate) const EXIT_MISSING: i64 = 3;

/// Fetch files by URL inside a build container: `job/fetch.list` holds `URL NAME`
/// lines; files land in `work/files/NAME`, failures in `work/out/failed.tsv`.
pub(crate) const FETCH_SCRIPT: &str = r#"#!/bin/sh
set -u
W=/osrepo/work
rm -rf "$W"
mkdir -p "$W/files" "$W/out"
: > "$W/out/failed.tsv"
while read -r url name; do
  dest="$W/files/$name"
  case "$url" in
    file://*) cp "${url#file://}" "$dest" 2>/dev/null || printf '%s	cannot copy %s
' "$name" "$url" >> "$W/out/failed.tsv" ;;
    file:*) cp "${url#file:}" "$dest" 2>/dev/null || printf '%s	cannot copy %s
' "$name" "$url" >> "$W/out/failed.tsv" ;;
    *)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$dest" "$url" 2>/dev/null || printf '%s	download failed (gone upstream?)
' "$name" >> "$W/out/failed.tsv"
      elif [ -x /usr/lib/apt/apt-helper ]; then
        /usr/lib/apt/apt-helper download-file "$url" "$dest" >/dev/null 2>&1 || printf '%s	download failed (gone upstream?)
' "$name" >> "$W/out/failed.tsv"
      else
        printf '%s	no downloader (curl or apt-helper) in the build image
' "$name" >> "$W/out/failed.tsv"
      fi ;;
  esac
done < /osrepo/job/fetch.list
echo "osrepo: fetched $(ls "$W/files" | wc -l) files"
"#;

/// One file of a closure, as the upstream's signed metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Artifact {
    /// File name as the resolver stored it.
    pub file: String,
    pub url: String,
    pub size: u64,
    pub checksum: Checksum,
}

impl Artifact {
    /// The file's name in the upstream pool (last URL segment, percent-decoded).
    pub(crate) fn pool_name(&self) -> String {
        let last = self.url.rsplit('/').next().unwrap_or(&self.file);
        percent_decode(last)
    }
}

/// An upstream checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checksum {
    Md5(String),
    Sha256(String),
    Sha512(String),
}

impl Checksum {
    /// Parse `SHA256:hex` (apt's spelling; `MD5Sum:` and `SHA512:` too).
    pub fn parse(s: &str) -> Result<Checksum> {
        let (kind, hex) = s.split_once(':').with_context(|| format!("checksum {s:?} has no kind"))?;
        let hex = hex.to_ascii_lowercase();
        let (c, len) = match kind {
            "MD5Sum" | "MD5" | "md5" => (Checksum::Md5(hex.clone()), 32),
            "SHA256" | "sha256" => (Checksum::Sha256(hex.clone()), 64),
            "SHA512" | "sha512" => (Checksum::Sha512(hex.clone()), 128),
            _ => bail!("checksum kind {kind:?} is not supported"),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("checksum {s:?} is malformed");
        }
        Ok(c)
    }

    /// Check a file against this checksum and a size; the error names the file and both values.
    pub(crate) fn verify(&self, path: &Path, size: u64) -> Result<()> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.len() != size {
            bail!("{}: size {} but the upstream metadata says {size}", path.display(), meta.len());
        }
        let got = match self {
            Checksum::Md5(_) => hash_file::<Md5>(path)?,
            Checksum::Sha256(_) => hash_file::<Sha256>(path)?,
            Checksum::Sha512(_) => hash_file::<Sha512>(path)?,
        };
        let want = self.hex();
        if got != want {
            bail!("{}: checksum {got} but the upstream metadata says {want}", path.display());
        }
        Ok(())
    }

    pub(crate) fn hex(&self) -> &str {
        match self {
            Checksum::Md5(h) | Checksum::Sha256(h) | Checksum::Sha512(h) => h,
        }
    }
}

/// Parse the script's `missing.tsv`: spec, reason.
pub(crate) fn parse_missing(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(|l| l.split_once('\t')).map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The specs file: one spec per line.
pub(crate) fn specs_file(specs: &[PackageSpec]) -> String {
    specs.iter().map(|s| format!("{}\n", s.raw)).collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_name_is_decoded() {
        let a = Artifact {
            file: "x".into(),
            url: "http://m/pool/main/c/curl/curl_7.88.1-10%2bdeb12u5_amd64.deb".into(),
            size: 1,
            checksum: Checksum::Md5("0".repeat(32)),
        };
        assert_eq!(a.pool_name(), "curl_7.88.1-10+deb12u5_amd64.deb");
    }

    #[test]
    fn verify_detects_corruption() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let good = Checksum::Sha256("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into());
        good.verify(&p, 5).unwrap();
        assert!(good.verify(&p, 6).is_err());
        std::fs::write(&p, b"hellp").unwrap();
        let e = good.verify(&p, 5).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
    }
}
