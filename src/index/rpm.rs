//! Yum/dnf repository metadata (`repodata/`) built from `.rpm` files.
//!
//! This module reads the header of each `.rpm` in a repository directory into
//! an [`RpmRecord`], renders the three package documents (`primary.xml`,
//! `filelists.xml`, `other.xml`) and writes them, compressed and with
//! checksummed ("unique") file names, together with `repomd.xml`. Signing
//! `repomd.xml` (into `repomd.xml.asc`) is left to the caller.
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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path};

use anyhow::{bail, ensure, Context, Result};
use rpm::{DependencyFlags, FileFlags, Header, IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};

const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";
const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// One dependency entry (`<rpm:entry>`), as `createrepo_c` writes it.
///
/// `epoch`, `ver` and `rel` are only set for versioned entries (`flags` set);
/// a version without an explicit epoch gets epoch `"0"`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmFile {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// Everything the repository metadata says about one package file.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Read `root/rel`; `rel` becomes the location href and must be a
    /// relative path without `..`. `time_file` is the file's mtime (as
    /// `createrepo_c`), `sha256` the digest of the whole file. Errors name the file.
    pub fn from_file(root: &Path, rel: &str) -> Result<RpmRecord> {
        check_href(rel)?;
        let path = root.join(rel);
        read_record(&path, rel).with_context(|| format!("cannot index RPM {}", path.display()))
    }

    /// `name-[epoch:]version-release.arch`, the epoch omitted when 0.
    pub fn nevra(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}-{}.{}", self.name, self.version, self.release, self.arch)
        } else {
            format!("{}-{}:{}-{}.{}", self.name, self.epoch, self.version, self.release, self.arch)
        }
    }

    /// The repository's package order: name, epoch, version and release
    /// (compared like rpm does), arch, then href.
    fn order(&self, other: &RpmRecord) -> Ordering {
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

/// Every `*.rpm` under `dir` (recursively; symlinked files are followed,
/// symlinked directories are not), records sorted by (name, epoch, version,
/// release, arch, href).
pub fn scan_dir(dir: &Path) -> Result<Vec<RpmRecord>> {
    let mut rels = Vec::new();
    collect_rpms(dir, "", &mut rels)?;
    let mut records = rels.iter().map(|rel| RpmRecord::from_file(dir, rel)).collect::<Result<Vec<_>>>()?;
    records.sort_by(RpmRecord::order);
    Ok(records)
}

fn collect_rpms(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            bail!("{}: file name is not UTF-8", entry.path().display());
        };
        names.push((name.to_owned(), entry.file_type()?, entry.path()));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind, path) in names {
        let rel = format!("{prefix}{name}");
        if kind.is_dir() {
            collect_rpms(&path, &format!("{rel}/"), out)?;
        } else if name.ends_with(".rpm") && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            out.push(rel);
        }
    }
    Ok(())
}

fn check_href(rel: &str) -> Result<()> {
    let path = Path::new(rel);
    ensure!(
        !rel.is_empty() && !rel.contains('\\') && path.components().all(|c| matches!(c, Component::Normal(_))),
        "package path {rel:?} must be relative, without `..`"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading headers

fn read_record(path: &Path, href: &str) -> Result<RpmRecord> {
    let stat = fs::metadata(path)?;
    ensure!(stat.is_file(), "not a regular file");
    let sha256 = sha256_file(path)?;
    let meta = PackageMetadata::open(path)?;
    let h = &meta.header;
    let offsets = meta.get_package_segment_offsets();
    let time_file =
        stat.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());

    let files = read_files(h)?;
    let deps = read_deps(h, &files)?;
    let arch = if meta.is_source_package() { "src".to_owned() } else { text(meta.get_arch(), "arch")? };
    Ok(RpmRecord {
        name: text(meta.get_name(), "name")?,
        epoch: present(meta.get_epoch(), "epoch")?.unwrap_or(0),
        version: text(meta.get_version(), "version")?,
        release: text(meta.get_release(), "release")?,
        arch,
        summary: optional_text(meta.get_summary(), "summary")?,
        description: optional_text(meta.get_description(), "description")?,
        packager: optional_text(meta.get_packager(), "packager")?,
        url: optional_text(meta.get_url(), "url")?,
        license: optional_text(meta.get_license(), "license")?,
        vendor: optional_text(meta.get_vendor(), "vendor")?,
        group: optional_text(meta.get_group(), "group")?,
        buildhost: optional_text(meta.get_build_host(), "buildhost")?,
        sourcerpm: optional_text(meta.get_source_rpm(), "sourcerpm")?,
        time_file,
        time_build: number(meta.get_build_time(), "buildtime")?.unwrap_or(0),
        size_package: stat.len(),
        size_installed: number(meta.get_installed_size(), "size")?.unwrap_or(0),
        size_archive: archive_size(&meta)?,
        header_start: offsets.header,
        header_end: offsets.payload,
        sha256,
        location_href: href.to_owned(),
        provides: deps.provides,
        requires: deps.requires,
        conflicts: deps.conflicts,
        obsoletes: deps.obsoletes,
        recommends: deps.recommends,
        suggests: deps.suggests,
        supplements: deps.supplements,
        enhances: deps.enhances,
        files,
        changelogs: read_changelogs(h)?,
    })
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A tag's value; an absent tag is `None`, any other problem an error.
fn present<T>(value: Result<T, rpm::Error>, what: &str) -> Result<Option<T>> {
    match value {
        Ok(v) => Ok(Some(v)),
        Err(rpm::Error::TagNotFound(_)) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("bad {what} tag"))),
    }
}

fn text(value: Result<&str, rpm::Error>, what: &str) -> Result<String> {
    present(value, what)?.map(str::to_owned).with_context(|| format!("header has no {what}"))
}

fn optional_text(value: Result<&str, rpm::Error>, what: &str) -> Result<String> {
    Ok(present(value, what)?.unwrap_or_default().to_owned())
}

fn number<T: Into<u64>>(value: Result<T, rpm::Error>, what: &str) -> Result<Option<u64>> {
    Ok(present(value, what)?.map(Into::into))
}

/// The uncompressed payload size as librpm's `LONGARCHIVESIZE` reports it:
/// from the header or (v4 packages) the signature header, 64-bit tags first.
fn archive_size(meta: &PackageMetadata) -> Result<u64> {
    let h = &meta.header;
    let s = &meta.signature;
    let candidates = [
        present(h.get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE), "archivesize")?,
        present(s.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE), "archivesize")?,
        number(h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE), "archivesize")?,
        number(s.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE), "payloadsize")?,
        present(h.get_entry_data_as_u64(IndexTag::RPMTAG_PAYLOADSIZEALT), "payloadsize")?,
    ];
    Ok(candidates.into_iter().flatten().next().unwrap_or(0))
}

fn read_files(h: &Header<IndexTag>) -> Result<Vec<RpmFile>> {
    // createrepo_c lists no files unless all of these tags are present.
    let (Some(basenames), Some(indexes), Some(flags), Some(modes)) = (
        present(h.get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES), "basenames")?,
        present(h.get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES), "dirindexes")?,
        present(h.get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS), "fileflags")?,
        present(h.get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES), "filemodes")?,
    ) else {
        return Ok(Vec::new());
    };
    let dirs = present(h.get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES), "dirnames")?.unwrap_or_default();
    let files = basenames
        .iter()
        .zip(indexes)
        .zip(flags.iter().zip(modes))
        .map(|((base, index), (&flags, mode))| {
            let dir = dirs.get(index as usize).copied().unwrap_or("");
            let kind = if mode & 0o170000 == 0o040000 {
                FileKind::Dir
            } else if flags & FileFlags::GHOST.bits() != 0 {
                FileKind::Ghost
            } else {
                FileKind::File
            };
            RpmFile { path: format!("{dir}{base}"), kind }
        })
        .collect();
    Ok(files)
}

fn read_changelogs(h: &Header<IndexTag>) -> Result<Vec<Changelog>> {
    let (Some(times), Some(names), Some(texts)) = (
        present(h.get_entry_data_as_u32_array(IndexTag::RPMTAG_CHANGELOGTIME), "changelogtime")?,
        present(h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGNAME), "changelogname")?,
        present(h.get_entry_data_as_string_array(IndexTag::RPMTAG_CHANGELOGTEXT), "changelogtext")?,
    ) else {
        return Ok(Vec::new());
    };
    Ok(times
        .into_iter()
        .zip(names)
        .zip(texts)
        .map(|((date, author), text)| Changelog { author: author.to_owned(), date: date.into(), text: text.to_owned() })
        .collect())
}

/// Where the entries of one dependency tag triple go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DepTags {
    Provides,
    Conflicts,
    Obsoletes,
    Requires,
    Suggests,
    Enhances,
    Recommends,
    Supplements,
    OldSuggests,
    OldEnhances,
}

/// In createrepo_c's processing order (provides first: requires look them up).
const DEP_TAGS: [(DepTags, IndexTag, IndexTag, IndexTag); 10] = [
    (DepTags::Provides, IndexTag::RPMTAG_PROVIDENAME, IndexTag::RPMTAG_PROVIDEFLAGS, IndexTag::RPMTAG_PROVIDEVERSION),
    (
        DepTags::Conflicts,
        IndexTag::RPMTAG_CONFLICTNAME,
        IndexTag::RPMTAG_CONFLICTFLAGS,
        IndexTag::RPMTAG_CONFLICTVERSION,
    ),
    (
        DepTags::Obsoletes,
        IndexTag::RPMTAG_OBSOLETENAME,
        IndexTag::RPMTAG_OBSOLETEFLAGS,
        IndexTag::RPMTAG_OBSOLETEVERSION,
    ),
    (DepTags::Requires, IndexTag::RPMTAG_REQUIRENAME, IndexTag::RPMTAG_REQUIREFLAGS, IndexTag::RPMTAG_REQUIREVERSION),
    (DepTags::Suggests, IndexTag::RPMTAG_SUGGESTNAME, IndexTag::RPMTAG_SUGGESTFLAGS, IndexTag::RPMTAG_SUGGESTVERSION),
    (DepTags::Enhances, IndexTag::RPMTAG_ENHANCENAME, IndexTag::RPMTAG_ENHANCEFLAGS, IndexTag::RPMTAG_ENHANCEVERSION),
    (
        DepTags::Recommends,
        IndexTag::RPMTAG_RECOMMENDNAME,
        IndexTag::RPMTAG_RECOMMENDFLAGS,
        IndexTag::RPMTAG_RECOMMENDVERSION,
    ),
    (
        DepTags::Supplements,
        IndexTag::RPMTAG_SUPPLEMENTNAME,
        IndexTag::RPMTAG_SUPPLEMENTFLAGS,
        IndexTag::RPMTAG_SUPPLEMENTVERSION,
    ),
    (
        DepTags::OldSuggests,
        IndexTag::RPMTAG_OLDSUGGESTSNAME,
        IndexTag::RPMTAG_OLDSUGGESTSFLAGS,
        IndexTag::RPMTAG_OLDSUGGESTSVERSION,
    ),
    (
        DepTags::OldEnhances,
        IndexTag::RPMTAG_OLDENHANCESNAME,
        IndexTag::RPMTAG_OLDENHANCESFLAGS,
        IndexTag::RPMTAG_OLDENHANCESVERSION,
    ),
];

#[derive(Default)]
struct Deps {
    provides: Vec<RpmDep>,
    requires: Vec<RpmDep>,
    conflicts: Vec<RpmDep>,
    obsoletes: Vec<RpmDep>,
    recommends: Vec<RpmDep>,
    suggests: Vec<RpmDep>,
    supplements: Vec<RpmDep>,
    enhances: Vec<RpmDep>,
}

/// The dependency lists, filtered like createrepo_c's `cr_package_from_header`.
fn read_deps(h: &Header<IndexTag>, files: &[RpmFile]) -> Result<Deps> {
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut deps = Deps::default();
    // name + flags + version of every provide
    let mut provided: HashSet<String> = HashSet::new();
    // the last kept require of each name: (flags, version, pre)
    let mut kept: HashMap<String, (Option<&str>, String, bool)> = HashMap::new();

    for (tags, name_tag, flags_tag, version_tag) in DEP_TAGS {
        let (Some(names), Some(flags), Some(versions)) = (
            present(h.get_entry_data_as_string_array(name_tag), "dependency name")?,
            present(h.get_entry_data_as_u32_array(flags_tag), "dependency flags")?,
            present(h.get_entry_data_as_string_array(version_tag), "dependency version")?,
        ) else {
            continue;
        };
        let mut libc_highest: Option<RpmDep> = None;
        for ((name, bits), version) in names.into_iter().zip(flags).zip(versions) {
            let flags = DependencyFlags::from_bits_retain(bits);
            let op = flag_name(bits);
            let nfv = format!("{name}{}{version}", op.unwrap_or(""));
            let mut pre = false;
            if tags == DepTags::Requires {
                if name.starts_with("rpmlib(")
                    || (name.starts_with('/') && own_files.contains(name) && is_primary(name))
                    || provided.contains(&nfv)
                {
                    continue;
                }
                pre = flags
                    .intersects(DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST);
                if kept.get(name) == Some(&(op, version.to_owned(), pre)) {
                    continue;
                }
            }
            // createrepo_c drops entries whose epoch is not a number.
            let Some((epoch, ver, rel)) = split_evr(version) else {
                continue;
            };
            let mut dep = RpmDep {
                name: name.to_owned(),
                flags: op.map(str::to_owned),
                epoch: None,
                ver: None,
                rel: None,
                pre: false,
            };
            if op.is_some() {
                dep.epoch = epoch.map(str::to_owned);
                dep.ver = ver.map(str::to_owned);
                dep.rel = rel.map(str::to_owned);
            }
            let strong = flags.contains(DependencyFlags::STRONG);
            match tags {
                DepTags::Provides => {
                    provided.insert(nfv);
                    deps.provides.push(dep);
                }
                DepTags::Conflicts => deps.conflicts.push(dep),
                DepTags::Obsoletes => deps.obsoletes.push(dep),
                // Legacy (SUSE) weak requires.
                DepTags::Requires if flags.contains(DependencyFlags::MISSINGOK) => deps.recommends.push(dep),
                DepTags::Requires => {
                    dep.pre = pre;
                    if dep.name.starts_with("libc.so.6") {
                        // Only the highest libc.so.6 require is kept, listed last.
                        match &libc_highest {
                            Some(best) if !libc_is_higher(&best.name, &dep.name) => {}
                            _ => libc_highest = Some(dep),
                        }
                        continue;
                    }
                    kept.insert(name.to_owned(), (op, version.to_owned(), pre));
                    deps.requires.push(dep);
                }
                DepTags::Suggests => deps.suggests.push(dep),
                DepTags::Enhances => deps.enhances.push(dep),
                DepTags::Recommends => deps.recommends.push(dep),
                DepTags::Supplements => deps.supplements.push(dep),
                DepTags::OldSuggests if strong => deps.recommends.push(dep),
                DepTags::OldSuggests => deps.suggests.push(dep),
                DepTags::OldEnhances if strong => deps.supplements.push(dep),
                DepTags::OldEnhances => deps.enhances.push(dep),
            }
        }
        deps.requires.extend(libc_highest);
    }
    Ok(deps)
}

fn flag_name(bits: u32) -> Option<&'static str> {
    match bits & 0xf {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    }
}

/// Split a dependency version `[E:]V[-R]` like createrepo_c's `cr_str_to_evr`:
/// the epoch defaults to `"0"`, empty parts are `None`, and a non-numeric
/// epoch makes the whole entry invalid (`None`).
#[allow(clippy::type_complexity)]
fn split_evr(evr: &str) -> Option<(Option<&str>, Option<&str>, Option<&str>)> {
    if evr.is_empty() {
        return Some((None, None, None));
    }
    let (epoch, rest) = match evr.split_once(':') {
        Some((epoch, rest)) => {
            if !strtol_whole(epoch) {
                return None;
            }
            (if epoch.is_empty() { "0" } else { epoch }, rest)
        }
        None => ("0", evr),
    };
    let (ver, rel) = match rest.split_once('-') {
        Some((ver, rel)) => (ver, rel),
        None => (rest, ""),
    };
    Some((Some(epoch), (!ver.is_empty()).then_some(ver), (!rel.is_empty()).then_some(rel)))
}

/// Whether C's `strtol` would consume all of `s` (empty counts, as in createrepo_c).
fn strtol_whole(s: &str) -> bool {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    s.is_empty() || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

/// The files createrepo_c lists in primary.xml (and whose self-requires it drops).
fn is_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

/// createrepo_c's `cr_compare_dependency(best, new) == 2`: whether the
/// `libc.so.6(...)` require `new` names a higher symbol version than `best`.
fn libc_is_higher(best: &str, new: &str) -> bool {
    let (Some(open1), Some(open2)) = (best.find('('), new.find('(')) else {
        return best.find('(').is_none() && new.find('(').is_some();
    };
    let close = |s: &str, open: usize| s[open..].find(')').map(|p| open + p);
    let (Some(close1), Some(close2)) = (close(best, open1), close(new, open2)) else {
        return close(best, open1).is_none() && close(new, open2).is_some();
    };
    let (empty1, empty2) = (open1 + 1 == close1, open2 + 1 == close2);
    if empty1 || empty2 {
        return empty1 && !empty2;
    }
    // The first digit after the parenthesis (possibly past its end).
    let digit =
        |s: &str, from: usize| s.bytes().skip(from).position(|b| b.is_ascii_digit()).map_or(s.len(), |p| from + p);
    let (num1, num2) = (digit(best, open1 + 1), digit(new, open2 + 1));
    if num1 > close1 || num2 > close2 {
        return num1 > close1 && num2 <= close2;
    }
    rpmvercmp(&best[num1..close1], &new[num2..close2]) == Ordering::Less
}

/// rpm's `rpmvercmp` (with `~` and `^`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        if end_b == j {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (mut sa, mut sb) = (&a[i..end_a], &b[j..end_b]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

// ---------------------------------------------------------------------------
// XML

/// Text content escaped as libxml2 writes it (`&`, `<`, `>`, CR). Characters
/// XML 1.0 cannot carry (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF)
/// are dropped.
pub fn xml_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Attribute value escaped as libxml2 writes it (also `"`, TAB, LF, CR).
pub fn xml_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let special = |c: char| {
        matches!(c, '&' | '<' | '>' | '\r' | '\u{fffe}' | '\u{ffff}')
            || (c < ' ' && c != '\t' && c != '\n')
            || (attr && matches!(c, '"' | '\t' | '\n'))
    };
    if !s.contains(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `<tag>text</tag>` on its own line (libxml2 prints `<tag/>` only for elements without content).
fn text_element(out: &mut String, indent: &str, tag: &str, text: &str) {
    let _ = writeln!(out, "{indent}<{tag}>{}</{tag}>", xml_text(text));
}

fn version_element(out: &mut String, r: &RpmRecord) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        r.epoch,
        xml_attr(&r.version),
        xml_attr(&r.release)
    );
}

fn file_element(out: &mut String, indent: &str, file: &RpmFile) {
    let kind = match file.kind {
        FileKind::File => "",
        FileKind::Dir => " type=\"dir\"",
        FileKind::Ghost => " type=\"ghost\"",
    };
    let _ = writeln!(out, "{indent}<file{kind}>{}</file>", xml_text(&file.path));
}

fn dep_list(out: &mut String, tag: &str, deps: &[RpmDep], requires: bool) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for dep in deps.iter().filter(|d| !d.name.is_empty()) {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", xml_attr(&dep.name));
        if let Some(flags) = dep.flags.as_deref().filter(|f| !f.is_empty()) {
            let _ = write!(out, " flags=\"{}\"", xml_attr(flags));
            for (attr, value) in [("epoch", &dep.epoch), ("ver", &dep.ver), ("rel", &dep.rel)] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    let _ = write!(out, " {attr}=\"{}\"", xml_attr(value));
                }
            }
        }
        if requires && dep.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

/// `primary.xml`: one `<package type="rpm">` per record, in the given order.
pub fn primary_xml(records: &[RpmRecord]) -> String {
    let mut out = String::with_capacity(4096 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{}\">", records.len());
    for r in records {
        out.push_str("<package type=\"rpm\">\n");
        text_element(&mut out, "  ", "name", &r.name);
        text_element(&mut out, "  ", "arch", &r.arch);
        version_element(&mut out, r);
        let _ = writeln!(out, "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>", xml_text(&r.sha256));
        text_element(&mut out, "  ", "summary", &r.summary);
        text_element(&mut out, "  ", "description", &r.description);
        text_element(&mut out, "  ", "packager", &r.packager);
        text_element(&mut out, "  ", "url", &r.url);
        let _ = writeln!(out, "  <time file=\"{}\" build=\"{}\"/>", r.time_file, r.time_build);
        let _ = writeln!(
            out,
            "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
            r.size_package, r.size_installed, r.size_archive
        );
        let _ = writeln!(out, "  <location href=\"{}\"/>", xml_attr(&r.location_href));
        out.push_str("  <format>\n");
        text_element(&mut out, "    ", "rpm:license", &r.license);
        text_element(&mut out, "    ", "rpm:vendor", &r.vendor);
        text_element(&mut out, "    ", "rpm:group", &r.group);
        text_element(&mut out, "    ", "rpm:buildhost", &r.buildhost);
        text_element(&mut out, "    ", "rpm:sourcerpm", &r.sourcerpm);
        let _ = writeln!(out, "    <rpm:header-range start=\"{}\" end=\"{}\"/>", r.header_start, r.header_end);
        dep_list(&mut out, "provides", &r.provides, false);
        dep_list(&mut out, "requires", &r.requires, true);
        dep_list(&mut out, "conflicts", &r.conflicts, false);
        dep_list(&mut out, "obsoletes", &r.obsoletes, false);
        dep_list(&mut out, "suggests", &r.suggests, false);
        dep_list(&mut out, "enhances", &r.enhances, false);
        dep_list(&mut out, "recommends", &r.recommends, false);
        dep_list(&mut out, "supplements", &r.supplements, false);
        for file in r.files.iter().filter(|f| is_primary(&f.path)) {
            file_element(&mut out, "    ", file);
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>");
    out
}

fn package_open(out: &mut String, r: &RpmRecord) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        xml_attr(&r.sha256),
        xml_attr(&r.name),
        xml_attr(&r.arch)
    );
    version_element(out, r);
}

/// `filelists.xml`: every file of every record (`type="dir"`/`"ghost"`).
pub fn filelists_xml(records: &[RpmRecord]) -> String {
    let mut out = String::with_capacity(4096 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{}\">", records.len());
    for r in records {
        package_open(&mut out, r);
        for file in &r.files {
            file_element(&mut out, "  ", file);
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>");
    out
}

/// `other.xml`: the newest `changelog_limit` changelog entries of each
/// record, written oldest first; equal dates are made distinct by moving
/// newer entries forward by a second each, as createrepo_c does.
pub fn other_xml(records: &[RpmRecord], changelog_limit: usize) -> String {
    let mut out = String::with_capacity(1024 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<otherdata xmlns=\"{NS_OTHER}\" packages=\"{}\">", records.len());
    for r in records {
        package_open(&mut out, r);
        let entries = &r.changelogs[..r.changelogs.len().min(changelog_limit)];
        for (entry, date) in entries.iter().zip(changelog_dates(entries)).rev() {
            let _ = writeln!(
                out,
                "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
                xml_attr(changelog_author(&entry.author)),
                xml_text(&entry.text)
            );
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>");
    out
}

/// createrepo_c strips trailing spaces from authors (but keeps a first character).
fn changelog_author(author: &str) -> &str {
    let trimmed = author.trim_end_matches(' ');
    if trimmed.is_empty() && !author.is_empty() {
        &author[..1]
    } else {
        trimmed
    }
}

/// Dates of newest-first entries after createrepo_c's tie-breaking: an entry
/// dated like the one before it (in header order) pushes the run of equal
/// dates before it one second later each.
fn changelog_dates(entries: &[Changelog]) -> Vec<u64> {
    let mut dates: Vec<u64> = Vec::with_capacity(entries.len());
    let mut last = 0u64;
    for entry in entries {
        let time = entry.date;
        if last == time {
            let mut expect = time;
            for prev in dates.iter_mut().rev() {
                if *prev != expect {
                    break;
                }
                *prev += 1;
                expect += 1;
            }
        } else {
            last = time;
        }
        dates.push(time);
    }
    dates
}

// ---------------------------------------------------------------------------
// repodata/

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        match self {
            Compression::Gzip => {
                // No file name and mtime 0: the same input gives the same bytes.
                let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::default());
                enc.write_all(data)?;
                Ok(enc.finish()?)
            }
            Compression::Zstd => Ok(zstd::encode_all(data, 10)?),
        }
    }
}

pub struct RepodataOptions {
    pub compression: Compression,
    /// Changelog entries kept per package (createrepo_c's default is 10).
    pub changelog_limit: usize,
    /// `<revision>`, also each entry's `<timestamp>` (SOURCE_DATE_EPOCH or now).
    pub revision: u64,
}

/// One `<data>` entry of repomd.xml.
struct DataFile {
    kind: String,
    href: String,
    checksum: String,
    open_checksum: String,
    size: u64,
    open_size: u64,
}

/// Write `dir/repodata/`: `<sha256>-primary.xml.gz`, `-filelists.xml.gz`,
/// `-other.xml.gz` (`.zst` with [`Compression::Zstd`]), each `extra`
/// metadata file `(type, file name, bytes)` compressed the same way (a
/// `.gz`/`.zst` name is taken as already compressed content, as
/// modifyrepo_c does), and `repomd.xml`. Files previously in `repodata/`
/// (including a stale `repomd.xml.asc`) are removed once the new
/// `repomd.xml` is in place. Returns the repomd.xml text for signing.
pub fn write_repodata(
    dir: &Path,
    records: &[RpmRecord],
    extra: &[(String, String, Vec<u8>)],
    opts: &RepodataOptions,
) -> Result<String> {
    let repodata = dir.join("repodata");
    fs::create_dir_all(&repodata).with_context(|| format!("cannot create {}", repodata.display()))?;

    let mut files = vec![
        write_data(&repodata, "primary", "primary.xml", primary_xml(records).as_bytes(), opts)?,
        write_data(&repodata, "filelists", "filelists.xml", filelists_xml(records).as_bytes(), opts)?,
        write_data(&repodata, "other", "other.xml", other_xml(records, opts.changelog_limit).as_bytes(), opts)?,
    ];
    let mut seen: HashSet<String> = files.iter().map(|f| f.kind.clone()).collect();
    for (kind, name, bytes) in extra {
        ensure!(
            !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "bad repodata type {kind:?}"
        );
        ensure!(seen.insert(kind.clone()), "repodata type {kind:?} given twice");
        ensure!(
            !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']),
            "bad repodata file name {name:?} for type {kind}"
        );
        let (base, content) = open_extra(name, bytes).with_context(|| format!("repodata file {name} ({kind})"))?;
        files.push(write_data(&repodata, kind, base, &content, opts)?);
    }
    files.sort_by(|a, b| {
        let rank = |k: &str| ["primary", "filelists", "other"].iter().position(|&p| p == k);
        let (ra, rb) = (rank(&a.kind).unwrap_or(3), rank(&b.kind).unwrap_or(3));
        ra.cmp(&rb).then_with(|| a.kind.cmp(&b.kind)).then_with(|| a.href.cmp(&b.href))
    });

    let repomd = repomd_xml(opts.revision, &files);
    write_file(&repodata, "repomd.xml", repomd.as_bytes())?;

    let keep: HashSet<String> = files
        .iter()
        .map(|f| f.href.trim_start_matches("repodata/").to_owned())
        .chain(["repomd.xml".to_owned()])
        .collect();
    let listing = fs::read_dir(&repodata).with_context(|| format!("cannot list {}", repodata.display()))?;
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot list {}", repodata.display()))?;
        let stale = !entry.file_type()?.is_dir() && entry.file_name().to_str().is_none_or(|n| !keep.contains(n));
        if stale {
            fs::remove_file(entry.path()).with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(repomd)
}

/// The uncompressed name and content of an extra metadata file.
fn open_extra<'a>(name: &'a str, bytes: &'a [u8]) -> Result<(&'a str, Cow<'a, [u8]>)> {
    if let Some(base) = name.strip_suffix(".gz") {
        let mut content = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut content)?;
        return Ok((base, Cow::Owned(content)));
    }
    if let Some(base) = name.strip_suffix(".zst") {
        return Ok((base, Cow::Owned(zstd::decode_all(bytes)?)));
    }
    for suffix in [".xz", ".bz2", ".zck"] {
        ensure!(!name.ends_with(suffix), "{suffix} input is not supported; pass it uncompressed");
    }
    Ok((name, Cow::Borrowed(bytes)))
}

fn write_data(repodata: &Path, kind: &str, base: &str, content: &[u8], opts: &RepodataOptions) -> Result<DataFile> {
    let packed = opts.compression.compress(content).with_context(|| format!("cannot compress {base}"))?;
    let checksum = hex::encode(Sha256::digest(&packed));
    let name = format!("{checksum}-{base}.{}", opts.compression.suffix());
    write_file(repodata, &name, &packed)?;
    Ok(DataFile {
        kind: kind.to_owned(),
        href: format!("repodata/{name}"),
        checksum,
        open_checksum: hex::encode(Sha256::digest(content)),
        size: packed.len() as u64,
        open_size: content.len() as u64,
    })
}

/// Write `dir/name` through a temporary file and a rename (mode from the umask).
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn repomd_xml(revision: u64, files: &[DataFile]) -> String {
    let mut out = String::from(XML_DECL);
    let _ = writeln!(out, "<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">");
    let _ = writeln!(out, "  <revision>{revision}</revision>");
    for f in files {
        let _ = writeln!(out, "  <data type=\"{}\">", xml_attr(&f.kind));
        let _ = writeln!(out, "    <checksum type=\"sha256\">{}</checksum>", f.checksum);
        let _ = writeln!(out, "    <open-checksum type=\"sha256\">{}</open-checksum>", f.open_checksum);
        let _ = writeln!(out, "    <location href=\"{}\"/>", xml_attr(&f.href));
        let _ = writeln!(out, "    <timestamp>{revision}</timestamp>");
        let _ = writeln!(out, "    <size>{}</size>", f.size);
        let _ = writeln!(out, "    <open-size>{}</open-size>", f.open_size);
        out.push_str("  </data>\n");
    }
    out.push_str("</repomd>\n");
    out
}
