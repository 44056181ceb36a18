//! resolve: what runs inside a build container and how its output is read. The container
//! protocol both families share (directories, exit codes, the state mount), and per tool
//! the resolver script (`apt`, `dnf`) and the parsers of its report. Pure: the pipeline's
//! `container` stage runs the scripts, `family` backends choose them.

pub mod apt;
pub mod dnf;

use anyhow::{bail, Context, Result};

use crate::config::PackageSpec;

/// The container protocol both families share. Where the job's files are uploaded, and
/// where the script works, inside the build container.
pub(crate) const JOB_DIR: &str = "/osrepo/job";
pub(crate) const WORK_DIR: &str = "/osrepo/work";
/// Mount point of the resolver's state kept in the cache between builds (apt's lists).
pub(crate) const STATE_DIR: &str = "/osrepo/state";
/// Mount point of `file:` extra repos.
pub(crate) const EXTRA_DIR: &str = "/osrepo/extra";

/// Exit code the scripts use for "some requested packages cannot be resolved"; the specs and
/// why are in `WORK_DIR/out/missing.tsv`.
pub(crate) const EXIT_MISSING: i64 = 3;

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

    /// The kind's name in file names and messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Checksum::Md5(_) => "md5",
            Checksum::Sha256(_) => "sha256",
            Checksum::Sha512(_) => "sha512",
        }
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
}
