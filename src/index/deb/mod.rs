//! Flat apt repository indexes built from `.deb` files.
//!
//! This module reads the control paragraph and checksums of each `.deb` in a
//! repository's `pool/`, lays packages out with Debian's pool naming scheme,
//! and writes `dists/<codename>/<component>/binary-<arch>/Packages{,.gz,.xz}`
//! plus the unsigned `dists/<codename>/Release` that lists them. Signing the
//! Release (into `InRelease` and `Release.gpg`) is left to the caller.
//!
//! Packages and Release are written by hand on purpose: control paragraphs
//! are kept byte-for-byte (field order, multi-line `Description` with ` .`
//! lines), and checksum lines use apt's ` <digest> <size> <path>` layout.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

pub(crate) mod archive;
mod hashes;
mod packages_files;
pub use hashes::{DebHash, DebHashes};
pub use packages_files::{render_packages_files, write_packages_files};

/// Fields the index writer sets itself; a copy carried in a control file is dropped.
const INDEX_OWNED_FIELDS: &[&str] = &["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// One deb822 paragraph, fields in order, values exactly as in the file
/// (continuation lines kept, each starting with a space, joined with `\n`;
/// no trailing newline).
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// Parse a single deb822 paragraph. Leading and trailing blank lines are
    /// allowed, as are `#` comment lines; a second paragraph, a line without
    /// a colon, or a repeated field name is an error.
    pub(crate) fn parse(text: &str) -> Result<Paragraph> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut ended = false;
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            if line.trim().is_empty() {
                ended = !fields.is_empty();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if ended {
                bail!("line {lineno}: more than one paragraph");
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    bail!("line {lineno}: continuation line before any field");
                };
                value.push('\n');
                value.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                bail!("line {lineno}: expected `Name: value`, got {line:?}");
            };
            if name.is_empty() || name.starts_with('-') || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                bail!("line {lineno}: invalid field name {name:?}");
            }
            if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                bail!("line {lineno}: duplicate field {name:?}");
            }
            fields.push((name.to_string(), value.trim().to_string()));
        }
        if fields.is_empty() {
            bail!("empty paragraph");
        }
        Ok(Paragraph { fields })
    }

    /// Value of the field `name` (compared case-insensitively).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The paragraph as `Name: value\n` lines (no blank line after it).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            push_field(&mut out, name, value);
        }
        out
    }
}

/// Append one `Name: value\n` field; a value whose first line is empty gets no
/// space after the colon so that no line ends in whitespace.
fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    if !value.is_empty() && !value.starts_with('\n') {
        out.push(' ');
    }
    out.push_str(value);
    out.push('\n');
}

/// Read the control paragraph of a .deb file. Errors name the file.
pub(crate) fn read_control(path: &Path) -> Result<Paragraph> {
    let read = || -> Result<Paragraph> {
        let file = fs::File::open(path)?;
        // The archive readers are third-party code fed untrusted bytes: a panic is an error.
        let text =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| control_text(std::io::BufReader::new(file))))
                .map_err(|_| anyhow::anyhow!("malformed package (the archive reader panicked)"))??;
        Paragraph::parse(&text).context("parsing the control file")
    };
    read().with_context(|| format!("reading control data of {}", path.display()))
}

/// The largest control file indexed (real ones are a few KB; apt's parser breaks on
/// stanzas of megabytes).
pub(crate) const MAX_CONTROL: u64 = 1 << 20;

/// The raw text of `control` inside the `control.tar[.gz|.xz|.zst]` member.
fn control_text(mut reader: impl Read) -> Result<String> {
    let mut tar = archive::tar_member(&mut reader, "control.tar")?;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path_bytes().into_owned();
        if path == b"control" || path == b"./control" {
            // Bounded whatever the tar header says: apt cannot parse a huge stanza.
            let mut bytes = Vec::new();
            (&mut entry).take(MAX_CONTROL + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > MAX_CONTROL {
                bail!("control file is larger than {MAX_CONTROL} bytes");
            }
            return String::from_utf8(bytes).context("control file is not UTF-8");
        }
    }
    bail!("control.tar has no `control` file")
}

/// One package in an index: its control paragraph plus where it lives.
///
/// The SHA-256 is always known; the other digests only when an index asked for them
/// (records cached by older versions carry MD5 and SHA-1 too).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DebRecord {
    pub control: Paragraph,
    /// Path relative to the repository root, e.g. `pool/main/c/curl/curl_7.88.1-10_amd64.deb`.
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

impl DebRecord {
    pub(crate) fn package(&self) -> &str {
        self.control.get("Package").unwrap_or_default()
    }

    pub(crate) fn version(&self) -> &str {
        self.control.get("Version").unwrap_or_default()
    }

    pub(crate) fn architecture(&self) -> &str {
        self.control.get("Architecture").unwrap_or_default()
    }

    /// The digest of one kind, when known.
    pub(crate) fn digest(&self, kind: DebHash) -> Option<&str> {
        match kind {
            DebHash::Md5 => self.md5.as_deref(),
            DebHash::Sha1 => self.sha1.as_deref(),
            DebHash::Sha256 => Some(&self.sha256),
            DebHash::Sha512 => self.sha512.as_deref(),
        }
    }

    fn set_digest(&mut self, kind: DebHash, value: String) {
        match kind {
            DebHash::Md5 => self.md5 = Some(value),
            DebHash::Sha1 => self.sha1 = Some(value),
            DebHash::Sha256 => self.sha256 = value,
            DebHash::Sha512 => self.sha512 = Some(value),
        }
    }

    /// The kinds of `hashes` this record lacks.
    pub(crate) fn missing(&self, hashes: DebHashes) -> Vec<DebHash> {
        hashes.iter().filter(|k| self.digest(*k).is_none()).collect()
    }

    /// Read control + the digests of `hashes` of ROOT/REL, the file read once. With `sha256`
    /// (a digest the caller has checked, e.g. the cache's key), SHA-256 is not computed again.
    pub(crate) fn read(root: &Path, rel: &str, hashes: DebHashes, sha256: Option<&str>) -> Result<DebRecord> {
        if rel.is_empty()
            || rel.contains(['\n', '\r'])
            || Path::new(rel).is_absolute()
            || rel.split('/').any(|c| c == "..")
        {
            bail!("invalid repository-relative path {rel:?}");
        }
        let path = root.join(rel);
        let control = read_control(&path)?;
        for field in ["Package", "Version", "Architecture"] {
            match control.get(field) {
                Some(v) if !v.is_empty() && !v.contains('\n') => {}
                _ => bail!("{}: control has no usable {field} field", path.display()),
            }
        }
        let version = control.get("Version").unwrap_or_default();
        version
            .parse::<debversion::Version>()
            .with_context(|| format!("{}: bad Version {version:?}", path.display()))?;
        if let Some(h) = sha256 {
            hashes::check_hex(DebHash::Sha256, h)?;
        }
        let mut rec = DebRecord {
            control,
            filename: rel.to_string(),
            size: 0,
            sha256: sha256.unwrap_or_default().to_string(),
            md5: None,
            sha1: None,
            sha512: None,
        };
        let want: Vec<DebHash> = hashes.iter().filter(|k| *k != DebHash::Sha256 || sha256.is_none()).collect();
        rec.size = rec.add_digests(&path, &want)?;
        Ok(rec)
    }

    /// Compute the digests of `kinds` from the package file at `path` (one read); returns
    /// the file's size.
    pub(crate) fn add_digests(&mut self, path: &Path, kinds: &[DebHash]) -> Result<u64> {
        let (size, digests) = hashes::digest_file(path, kinds)?;
        for (kind, value) in digests {
            self.set_digest(kind, value);
        }
        Ok(size)
    }
}

/// Pool path for a package file: `pool/<component>/<prefix>/<source>/<basename>`
/// where source is the Source field's name (without ` (version)`) or Package,
/// and prefix is its first letter, or its first 4 characters for names
/// starting with `lib` (`libc` -> `libc`, `libfoo` -> `libf`).
///
/// The fields come from an upstream package: `Package` and the source name must be Debian
/// package names and the basename a plain file name, else the error names the field, so
/// no control file can place a file outside the pool.
pub(crate) fn pool_path(component: &str, control: &Paragraph, basename: &str) -> Result<String> {
    use crate::names;
    let package = control.get("Package").unwrap_or_default();
    names::deb_package("field Package", package).map_err(anyhow::Error::msg)?;
    let source = match control.get("Source") {
        Some(s) => {
            let name = s.split_whitespace().next().unwrap_or_default();
            names::deb_package("field Source", name).map_err(anyhow::Error::msg)?;
            name
        }
        None => package,
    };
    names::file_name("file name", basename).map_err(anyhow::Error::msg)?;
    let prefix: String = if source.starts_with("lib") && source.len() > 3 {
        source.chars().take(4).collect()
    } else {
        source.chars().take(1).collect()
    };
    Ok(format!("pool/{component}/{prefix}/{source}/{basename}"))
}

/// dpkg order of two version strings; unparsable versions sort by text.
fn cmp_versions(a: &str, b: &str) -> Ordering {
    match (a.parse::<debversion::Version>(), b.parse::<debversion::Version>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// Packages index text: stanzas sorted by (Package, Version in dpkg order,
/// Architecture), separated by one blank line, ending with a single `\n`
/// (empty text for no records).
///
/// Each stanza holds the control fields in their order except Description,
/// then Filename, Size, the digests of `hashes` (MD5sum, SHA1, SHA256, SHA512, in that
/// order), then the full Description last. Checksum/location fields carried by the
/// control file itself are dropped. A record lacking a digest asked for is an error.
pub(crate) fn packages_index(records: &[DebRecord], hashes: DebHashes) -> Result<String> {
    for r in records {
        if let Some(kind) = r.missing(hashes).first() {
            bail!("{}: no {} digest to index", r.filename, kind.name());
        }
    }
    let mut sorted: Vec<&DebRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        a.package()
            .cmp(b.package())
            .then_with(|| cmp_versions(a.version(), b.version()))
            .then_with(|| a.architecture().cmp(b.architecture()))
            .then_with(|| a.filename.cmp(&b.filename))
    });
    let stanzas: Vec<String> = sorted.into_iter().map(|r| stanza(r, hashes)).collect();
    Ok(stanzas.join("\n"))
}

/// One Packages stanza, ending in `\n`.
fn stanza(r: &DebRecord, hashes: DebHashes) -> String {
    let mut out = String::new();
    let is_owned = |n: &str| INDEX_OWNED_FIELDS.iter().any(|o| o.eq_ignore_ascii_case(n));
    let mut description = None;
    for (name, value) in &r.control.fields {
        if name.eq_ignore_ascii_case("Description") {
            description = Some((name, value));
        } else if !is_owned(name) {
            push_field(&mut out, name, value);
        }
    }
    push_field(&mut out, "Filename", &r.filename);
    push_field(&mut out, "Size", &r.size.to_string());
    for kind in hashes.iter() {
        push_field(&mut out, kind.packages_field(), r.digest(kind).unwrap_or_default());
    }
    if let Some((name, value)) = description {
        push_field(&mut out, name, value);
    }
    out
}

/// The descriptive fields of a Release file, and the checksums its indexes carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseMeta {
    pub origin: String,
    pub label: String,
    pub suite: String,
    pub codename: String,
    pub date: chrono::DateTime<chrono::Utc>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub description: String,
    /// The digests written in Packages and Release (SHA256 alone by default).
    pub hashes: DebHashes,
}

/// A single-line field value: line breaks become spaces.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").trim().to_string()
}

/// Release text: Origin, Label, Suite, Codename, Date (RFC 2822 in UTC, as apt
/// writes it), Architectures, Components, Description, `Acquire-By-Hash: no`,
/// then one section per kind of `meta.hashes` (`MD5Sum:`, `SHA1:`, `SHA256:`, `SHA512:`,
/// in that order) with one ` <digest> <size:16> <path>` line per file, sorted by path. `files` are (path relative to
/// `dists/<codename>/`, content). Empty descriptive fields are omitted.
pub(crate) fn release_file(meta: &ReleaseMeta, files: &[(String, Vec<u8>)]) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let value = one_line(value);
        if !value.is_empty() {
            push_field(&mut out, name, &value);
        }
    };
    field("Origin", &meta.origin);
    field("Label", &meta.label);
    field("Suite", &meta.suite);
    field("Codename", &meta.codename);
    field("Date", &meta.date.format("%a, %d %b %Y %H:%M:%S UTC").to_string());
    field("Architectures", &meta.architectures.join(" "));
    field("Components", &meta.components.join(" "));
    field("Description", &meta.description);
    field("Acquire-By-Hash", "no");

    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for kind in meta.hashes.iter() {
        out.push_str(kind.release_section());
        out.push_str(":\n");
        for (path, bytes) in &sorted {
            out.push_str(&format!(" {} {:>16} {path}\n", kind.hex(bytes), bytes.len()));
        }
    }
    out
}

/// Every regular file below `dir`, as (`prefix` + relative path, bytes).
/// Hidden entries (leftover temporaries) and `by-hash` directories are skipped.
fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            bail!("{}: file name is not UTF-8", path.display());
        };
        if name.starts_with('.') || name == "by-hash" {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            collect_files(&path, &format!("{rel}/"), out)?;
        } else if meta.is_file() {
            let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            out.push((rel, bytes));
        }
    }
    Ok(())
}

/// Collect every file under `DIST_DIR/<component>/` (Packages, .gz, .xz and any
/// other index files) as (path relative to DIST_DIR, bytes), sorted by path,
/// for the Release of [`render_dist`]. Files directly in DIST_DIR (Release,
/// InRelease, …) are not included.
pub fn collect_index_files(dist_dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dist_dir).with_context(|| format!("listing {}", dist_dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dist_dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            bail!("{}: file name is not UTF-8", path.display());
        };
        if name.starts_with('.') || name == "by-hash" {
            continue;
        }
        if fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.is_dir() {
            collect_files(&path, &format!("{name}/"), &mut out)?;
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Scan ROOT/pool recursively for *.deb, read records (filename relative to
/// ROOT, `/`-separated) with the digests of `hashes`, on every core, sorted by filename.
/// Errors name the bad file (the first in filename order).
pub fn scan_pool(root: &Path, hashes: DebHashes) -> Result<Vec<DebRecord>> {
    let pool = root.join("pool");
    if !pool.is_dir() {
        bail!("listing {}: not a directory", pool.display());
    }
    let rels: Vec<String> = crate::fsutil::walk(&pool, crate::fsutil::Links::FollowFiles)?
        .into_iter()
        .filter(|(rel, _)| rel.ends_with(".deb"))
        .map(|(rel, _)| format!("pool/{rel}"))
        .collect();
    let mut records =
        super::par_read_hashed(root, &rels, "package", |rel, h| DebRecord::read(root, rel, hashes, Some(h)))?;
    records.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(records)
}

/// Group records per binary architecture: `all` packages go into every arch
/// in `arches`; if `arches` is empty, use the set of non-`all` architectures
/// found (and if there is none, error asking for an explicit arch). Packages of
/// other architectures than those asked for are left out. Two files with the
/// same (Package, Version, Architecture) are an error.
pub fn split_by_arch(records: &[DebRecord], arches: &[String]) -> Result<BTreeMap<String, Vec<DebRecord>>> {
    let mut seen: BTreeMap<(&str, &str, &str), &str> = BTreeMap::new();
    for r in records {
        let key = (r.package(), r.version(), r.architecture());
        if let Some(other) = seen.insert(key, &r.filename) {
            bail!("{} and {} are both {} {} ({})", other, r.filename, key.0, key.1, key.2);
        }
    }
    let arches: BTreeSet<String> = if arches.is_empty() {
        let found: BTreeSet<String> =
            records.iter().map(|r| r.architecture().to_string()).filter(|a| a != "all").collect();
        if found.is_empty() {
            bail!(
                "no architecture-specific packages to infer architectures from; \
                 name the architectures explicitly (e.g. amd64)"
            );
        }
        found
    } else {
        arches.iter().cloned().collect()
    };
    let mut by_arch = BTreeMap::new();
    for arch in arches {
        if arch == "all" {
            bail!("`all` is not a binary index architecture; name e.g. amd64");
        }
        let recs: Vec<DebRecord> =
            records.iter().filter(|r| r.architecture() == arch || r.architecture() == "all").cloned().collect();
        by_arch.insert(arch, recs);
    }
    Ok(by_arch)
}

/// How many package files the indexes of `by_arch` list (an `all` package in several
/// arches counts once; packages [`split_by_arch`] left out do not count).
pub fn indexed_count(by_arch: &BTreeMap<String, Vec<DebRecord>>) -> usize {
    by_arch.values().flatten().map(|r| r.filename.as_str()).collect::<BTreeSet<_>>().len()
}

/// Reject names that are not a single plain path component.
fn check_component(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\n', '\r'])
        || name.chars().any(char::is_whitespace)
    {
        bail!("invalid {what} {name:?}");
    }
    Ok(())
}

/// The codename, component and arches must each be one plain path component.
fn check_names(meta: &ReleaseMeta, component: &str, by_arch: &BTreeMap<String, Vec<DebRecord>>) -> Result<()> {
    check_component("codename", &meta.codename)?;
    check_component("component", component)?;
    for arch in by_arch.keys() {
        check_component("architecture", arch)?;
    }
    Ok(())
}

/// Files as (path, bytes).
type Files = Vec<(String, Vec<u8>)>;

/// The files of `dists/<codename>/` for the given arches, as (path relative
/// to the repository root, bytes): `<component>/binary-<arch>/Packages{,.gz,.xz}`
/// for each arch, then `Release` covering those and the `existing` index files
/// (path relative to `dists/<codename>/` as [`collect_index_files`] gives
/// them; a new file replaces an existing one of the same path). If
/// `meta.architectures` or `meta.components` is empty, it is filled from the
/// `<component>/binary-<arch>` directories covered. Pure: nothing is read or written.
pub fn render_dist(
    meta: &ReleaseMeta,
    component: &str,
    by_arch: &BTreeMap<String, Vec<DebRecord>>,
    existing: Vec<(String, Vec<u8>)>,
) -> Result<Vec<(String, Vec<u8>)>> {
    check_names(meta, component, by_arch)?;
    let mut index: BTreeMap<String, Vec<u8>> = existing.into_iter().collect();
    let mut out = Vec::new();
    // Arches at once (each compresses its Packages twice at once); the order stays by arch.
    let rendered: Vec<Result<Files>> = by_arch
        .par_iter()
        .map(|(arch, records)| {
            let files = render_packages_files(&packages_index(records, meta.hashes)?)?;
            Ok(files.into_iter().map(|(name, bytes)| (format!("{component}/binary-{arch}/{name}"), bytes)).collect())
        })
        .collect();
    for files in rendered {
        for (rel, bytes) in files? {
            index.insert(rel.clone(), bytes.clone());
            out.push((rel, bytes));
        }
    }
    let files: Vec<(String, Vec<u8>)> = index.into_iter().collect();
    out.push(("Release".to_string(), release_for(meta, &files).into_bytes()));
    let dist = format!("dists/{}", meta.codename);
    Ok(out.into_iter().map(|(rel, bytes)| (format!("{dist}/{rel}"), bytes)).collect())
}

/// [`release_file`] with empty `architectures`/`components` filled from the
/// `<component>/binary-<arch>/` paths of `files`.
fn release_for(meta: &ReleaseMeta, files: &[(String, Vec<u8>)]) -> String {
    let mut meta = meta.clone();
    let present: Vec<(&str, &str)> = files
        .iter()
        .filter_map(|(path, _)| {
            let mut parts = path.split('/');
            let comp = parts.next()?;
            let arch = parts.next()?.strip_prefix("binary-")?;
            Some((comp, arch))
        })
        .collect();
    if meta.components.is_empty() {
        let comps: BTreeSet<&str> = present.iter().map(|p| p.0).collect();
        meta.components = comps.into_iter().map(String::from).collect();
    }
    if meta.architectures.is_empty() {
        let arches: BTreeSet<&str> = present.iter().map(|p| p.1).collect();
        meta.architectures = arches.into_iter().map(String::from).collect();
    }
    release_file(&meta, files)
}

/// Write `dists/<codename>/<component>/binary-<arch>/Packages{,.gz,.xz}` for
/// each arch given, then `dists/<codename>/Release` covering every index file
/// present under `dists/<codename>/` (so other arches already there stay
/// listed), as [`render_dist`] makes them. Stale `InRelease`/`Release.gpg` of
/// that codename are removed first. Returns the Release text (the caller
/// signs it into InRelease and Release.gpg).
pub fn write_dist(
    root: &Path,
    meta: &ReleaseMeta,
    component: &str,
    by_arch: &BTreeMap<String, Vec<DebRecord>>,
) -> Result<String> {
    check_names(meta, component, by_arch)?;
    let dist_dir = root.join("dists").join(&meta.codename);
    crate::fsutil::create_dirs(&dist_dir)?;
    for stale in ["InRelease", "Release.gpg"] {
        let path = dist_dir.join(stale);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    let mut files = render_dist(meta, component, by_arch, collect_index_files(&dist_dir)?)?;
    let (_, release) = files.pop().expect("render_dist ends with Release");
    for (rel, bytes) in &files {
        crate::fsutil::write_atomic(&root.join(rel), bytes)?;
    }
    crate::fsutil::write_atomic(&dist_dir.join("Release"), &release)?;
    Ok(String::from_utf8(release).expect("Release is text"))
}

#[cfg(test)]
mod tests;
