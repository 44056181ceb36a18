//! Reading RPM headers into [`RpmRecord`]s: tags, files, changelogs and the
//! dependency lists filtered like createrepo_c's `cr_package_from_header`.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Component, Path};

use anyhow::{bail, ensure, Context, Result};
use rpm::{DependencyFlags, FileFlags, Header, IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::Sha256;

use super::version::{rpmvercmp, split_evr};
use super::{is_primary, Changelog, FileKind, RpmDep, RpmFile, RpmRecord};

impl RpmRecord {
    /// Read `root/rel`; `rel` becomes the location href and must be a
    /// relative path without `..`. `time_file` is the file's mtime (as
    /// `createrepo_c`), `sha256` the digest of the whole file. Errors name the file.
    pub(crate) fn from_file(root: &Path, rel: &str) -> Result<RpmRecord> {
        RpmRecord::read(root, rel, None)
    }

    /// [`RpmRecord::from_file`]; with `sha256` (a digest the caller has checked, e.g. the
    /// cache's key) the file is not hashed again.
    pub(crate) fn read(root: &Path, rel: &str, sha256: Option<&str>) -> Result<RpmRecord> {
        check_href(rel)?;
        let path = root.join(rel);
        let read = || -> Result<RpmRecord> {
            if let Some(h) = sha256 {
                crate::names::sha256("sha256", h).map_err(anyhow::Error::msg)?;
            }
            super::bounds::check_headers(&path)?;
            // The rpm crate is fed untrusted bytes: a panic left in it is this file's error.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_record(&path, rel, sha256)))
                .map_err(|_| anyhow::anyhow!("malformed header (the rpm reader panicked)"))?
        };
        read().with_context(|| format!("cannot index RPM {}", path.display()))
    }
}

/// Every `*.rpm` under `dir` (recursively; symlinked files are followed,
/// symlinked directories are not), read on every core, records sorted by (name, epoch,
/// version, release, arch, href). The error is the first bad file in path order.
pub fn scan_dir(dir: &Path) -> Result<Vec<RpmRecord>> {
    if !dir.is_dir() {
        bail!("cannot list {}: not a directory", dir.display());
    }
    let rels: Vec<String> = crate::fsutil::walk(dir, crate::fsutil::Links::FollowFiles)?
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| rel.ends_with(".rpm"))
        .collect();
    let mut records = crate::index::par_read_hashed(dir, &rels, "RPM", |rel, h| RpmRecord::read(dir, rel, Some(h)))?;
    records.sort_by(RpmRecord::order);
    Ok(records)
}

fn check_href(rel: &str) -> Result<()> {
    let path = Path::new(rel);
    ensure!(
        !rel.is_empty() && !rel.contains('\\') && path.components().all(|c| matches!(c, Component::Normal(_))),
        "package path {rel:?} must be relative, without `..`"
    );
    Ok(())
}

fn read_record(path: &Path, href: &str, sha256: Option<&str>) -> Result<RpmRecord> {
    let stat = fs::metadata(path)?;
    ensure!(stat.is_file(), "not a regular file");
    let sha256 = match sha256 {
        Some(h) => h.to_owned(),
        None => crate::fsutil::hash_file::<Sha256>(path)?,
    };
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

/// Name, flags and version tags of each kind, in createrepo_c's processing
/// order (provides first: requires look them up).
const DEP_TAGS: [(DepTags, [IndexTag; 3]); 10] = {
    use IndexTag::*;
    [
        (DepTags::Provides, [RPMTAG_PROVIDENAME, RPMTAG_PROVIDEFLAGS, RPMTAG_PROVIDEVERSION]),
        (DepTags::Conflicts, [RPMTAG_CONFLICTNAME, RPMTAG_CONFLICTFLAGS, RPMTAG_CONFLICTVERSION]),
        (DepTags::Obsoletes, [RPMTAG_OBSOLETENAME, RPMTAG_OBSOLETEFLAGS, RPMTAG_OBSOLETEVERSION]),
        (DepTags::Requires, [RPMTAG_REQUIRENAME, RPMTAG_REQUIREFLAGS, RPMTAG_REQUIREVERSION]),
        (DepTags::Suggests, [RPMTAG_SUGGESTNAME, RPMTAG_SUGGESTFLAGS, RPMTAG_SUGGESTVERSION]),
        (DepTags::Enhances, [RPMTAG_ENHANCENAME, RPMTAG_ENHANCEFLAGS, RPMTAG_ENHANCEVERSION]),
        (DepTags::Recommends, [RPMTAG_RECOMMENDNAME, RPMTAG_RECOMMENDFLAGS, RPMTAG_RECOMMENDVERSION]),
        (DepTags::Supplements, [RPMTAG_SUPPLEMENTNAME, RPMTAG_SUPPLEMENTFLAGS, RPMTAG_SUPPLEMENTVERSION]),
        (DepTags::OldSuggests, [RPMTAG_OLDSUGGESTSNAME, RPMTAG_OLDSUGGESTSFLAGS, RPMTAG_OLDSUGGESTSVERSION]),
        (DepTags::OldEnhances, [RPMTAG_OLDENHANCESNAME, RPMTAG_OLDENHANCESFLAGS, RPMTAG_OLDENHANCESVERSION]),
    ]
};

#[derive(Default)]
pub(super) struct Deps {
    pub(super) provides: Vec<RpmDep>,
    pub(super) requires: Vec<RpmDep>,
    pub(super) conflicts: Vec<RpmDep>,
    pub(super) obsoletes: Vec<RpmDep>,
    pub(super) recommends: Vec<RpmDep>,
    pub(super) suggests: Vec<RpmDep>,
    pub(super) supplements: Vec<RpmDep>,
    pub(super) enhances: Vec<RpmDep>,
}

impl Deps {
    /// The list an entry of `tags` with `flags` goes to.
    fn list(&mut self, tags: DepTags, flags: DependencyFlags) -> &mut Vec<RpmDep> {
        let strong = flags.contains(DependencyFlags::STRONG);
        match tags {
            DepTags::Provides => &mut self.provides,
            DepTags::Conflicts => &mut self.conflicts,
            DepTags::Obsoletes => &mut self.obsoletes,
            // Legacy (SUSE) weak requires.
            DepTags::Requires if flags.contains(DependencyFlags::MISSINGOK) => &mut self.recommends,
            DepTags::Requires => &mut self.requires,
            DepTags::Suggests => &mut self.suggests,
            DepTags::Enhances => &mut self.enhances,
            DepTags::Recommends => &mut self.recommends,
            DepTags::Supplements => &mut self.supplements,
            DepTags::OldSuggests if strong => &mut self.recommends,
            DepTags::OldSuggests => &mut self.suggests,
            DepTags::OldEnhances if strong => &mut self.supplements,
            DepTags::OldEnhances => &mut self.enhances,
        }
    }
}

/// What [`read_deps`] has seen so far, to filter requires like createrepo_c.
#[derive(Default)]
struct Seen {
    /// name + flags + version of every provide
    provided: HashSet<String>,
    /// the last kept require of each name: (flags, version, pre)
    kept: HashMap<String, (Option<&'static str>, String, bool)>,
}

/// The dependency lists, filtered like createrepo_c's `cr_package_from_header`.
pub(super) fn read_deps(h: &Header<IndexTag>, files: &[RpmFile]) -> Result<Deps> {
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut deps = Deps::default();
    let mut seen = Seen::default();
    for (tags, [name_tag, flags_tag, version_tag]) in DEP_TAGS {
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
            let pre =
                flags.intersects(DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST);
            if tags == DepTags::Requires && seen.drops_require(name, op, version, pre, &nfv, &own_files) {
                continue;
            }
            // createrepo_c drops entries whose epoch is not a number.
            let Some(mut dep) = dep_entry(name, op, version) else {
                continue;
            };
            match tags {
                DepTags::Provides => {
                    seen.provided.insert(nfv);
                }
                DepTags::Requires if !flags.contains(DependencyFlags::MISSINGOK) => {
                    dep.pre = pre;
                    if dep.name.starts_with("libc.so.6") {
                        // Only the highest libc.so.6 require is kept, listed last.
                        if libc_highest.as_ref().is_none_or(|best| libc_is_higher(&best.name, &dep.name)) {
                            libc_highest = Some(dep);
                        }
                        continue;
                    }
                    seen.kept.insert(name.to_owned(), (op, version.to_owned(), pre));
                }
                _ => {}
            }
            deps.list(tags, flags).push(dep);
        }
        deps.requires.extend(libc_highest);
    }
    Ok(deps)
}

impl Seen {
    /// Whether a require is left out: rpmlib features, the package's own
    /// primary files, its own provides, and repeats of the last kept require
    /// of the same name.
    fn drops_require(
        &self,
        name: &str,
        op: Option<&'static str>,
        version: &str,
        pre: bool,
        nfv: &str,
        own_files: &HashSet<&str>,
    ) -> bool {
        name.starts_with("rpmlib(")
            || (name.starts_with('/') && own_files.contains(name) && is_primary(name))
            || self.provided.contains(nfv)
            || self.kept.get(name) == Some(&(op, version.to_owned(), pre))
    }
}

/// One entry; `None` when createrepo_c drops it (a non-numeric epoch). The
/// version is only written for entries with a comparison.
fn dep_entry(name: &str, op: Option<&str>, version: &str) -> Option<RpmDep> {
    let (epoch, ver, rel) = split_evr(version)?;
    let versioned = op.is_some();
    Some(RpmDep {
        name: name.to_owned(),
        flags: op.map(str::to_owned),
        epoch: epoch.filter(|_| versioned).map(str::to_owned),
        ver: ver.filter(|_| versioned).map(str::to_owned),
        rel: rel.filter(|_| versioned).map(str::to_owned),
        pre: false,
    })
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
/// createrepo_c's `cr_compare_dependency(best, new) == 2`: whether the
/// `libc.so.6(...)` require `new` names a higher symbol version than `best`.
pub(super) fn libc_is_higher(best: &str, new: &str) -> bool {
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
