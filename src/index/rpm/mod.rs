//! Yum/dnf repository metadata (`repodata/`) built from `.rpm` files.
//!
//! This module reads the header of each `.rpm` in a repository directory into
//! an [`RpmRecord`], renders the three package documents (`primary.xml`,
//! `filelists.xml`, `other.xml`) and, compressed and with checksummed
//! ("unique") file names, `repomd.xml` ([`render_repodata`], pure), and writes
//! them ([`write_repodata`]). Signing `repomd.xml` (into `repomd.xml.asc`) is
//! left to the caller. It also reads a `primary.xml` back ([`read_primary`]),
//! for upstream metadata and output trees.
//!
//! - `header`: `.rpm` headers into [`RpmRecord`]s ([`scan_dir`]).
//! - `version`: version comparison, dependency EVRs, EVR/NEVRA strings.
//! - `xml`: the package documents and their escaping.
//! - `repodata`: compression, `repomd.xml` and the `repodata/` files.
//! - `primary`: the `primary.xml` reader.
//!
//! The reference is `createrepo_c` 0.17: the same header fields, the same
//! dependency filtering (no `rpmlib(...)` requires, no requires satisfied by
//! the package's own primary files or by an identical provide, duplicate
//! requires dropped, only the highest `libc.so.6` require kept, legacy weak
//! dependency tags mapped), the same primary file rule (`/etc/*`, `*bin/*`,
//! `/usr/lib/sendmail`), the same changelog handling (newest `limit` entries,
//! written oldest first, equal dates made distinct) and libxml2's layout and
//! escaping, so that the XML is byte-for-byte what `createrepo_c` writes for
//! the same packages and order. Output is deterministic: packages are sorted,
//! compressed files carry no time stamp and `repomd.xml` takes its revision
//! and time stamps from the caller.
//!
//! Deliberate differences: characters XML 1.0 cannot carry (C0 controls
//! other than TAB/LF/CR) are dropped from the text, where createrepo_c
//! refuses the whole package; no sqlite databases are written (dnf and yum
//! build their own).

mod bounds;
mod header;
mod primary;
mod repodata;
#[cfg(test)]
mod tests;
mod version;
mod xml;

use std::cmp::Ordering;

pub use header::scan_dir;
pub(crate) use primary::{read_primary, PrimaryPackage};
pub use repodata::{render_repodata, write_repodata, Compression, RepodataOptions};
pub(crate) use version::rpmvercmp;
pub(crate) use version::{evr_string, nevra};

/// One dependency entry (`<rpm:entry>`), as `createrepo_c` writes it.
///
/// `epoch`, `ver` and `rel` are only set for versioned entries (`flags` set);
/// a version without an explicit epoch gets epoch `"0"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RpmDep {
    pub name: String,
    /// `"EQ"`, `"LT"`, `"LE"`, `"GT"` or `"GE"`.
    pub flags: Option<String>,
    pub epoch: Option<String>,
    pub ver: Option<String>,
    pub rel: Option<String>,
    /// `pre="1"`: a requirement of `%pre`/`%post` scriptlets (or a legacy `PreReq`).
    pub pre: bool,
}

/// How a path is listed in `filelists.xml` (and primary): `type="dir"`, `type="ghost"` or no type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RpmFile {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changelog {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// Everything the repository metadata says about one package file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RpmRecord {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    /// The header's arch (`"noarch"` for noarch packages); `"src"` for source packages.
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    /// The file's mtime (seconds), as `createrepo_c` records it.
    pub time_file: u64,
    pub time_build: u64,
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    pub header_start: u64,
    pub header_end: u64,
    /// SHA-256 of the whole file, lower-case hex (the package id).
    pub sha256: String,
    /// Path relative to the repository root, `/`-separated.
    pub location_href: String,
    pub provides: Vec<RpmDep>,
    pub requires: Vec<RpmDep>,
    pub conflicts: Vec<RpmDep>,
    pub obsoletes: Vec<RpmDep>,
    pub recommends: Vec<RpmDep>,
    pub suggests: Vec<RpmDep>,
    pub supplements: Vec<RpmDep>,
    pub enhances: Vec<RpmDep>,
    /// All files in header order.
    pub files: Vec<RpmFile>,
    /// Newest first, as in the header; the changelog limit is applied when writing.
    pub changelogs: Vec<Changelog>,
}

impl RpmRecord {
    /// `name-[epoch:]version-release.arch`, the epoch omitted when 0.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, evr_string(self.epoch, &self.version, &self.release), self.arch)
    }

    /// The repository's package order: name, epoch, version and release
    /// (compared like rpm does), arch, then href.
    pub(crate) fn order(&self, other: &RpmRecord) -> Ordering {
        self.name
            .cmp(&other.name)
            .then(self.epoch.cmp(&other.epoch))
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| rpmvercmp(&self.release, &other.release))
            .then_with(|| self.release.cmp(&other.release))
            .then_with(|| self.arch.cmp(&other.arch))
            .then_with(|| self.location_href.cmp(&other.location_href))
    }
}

/// The files createrepo_c lists in primary.xml (and whose self-requires it drops).
fn is_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}
