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
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use debian_packaging::deb::reader::{BinaryPackageEntry, BinaryPackageReader};
use debian_packaging::io::MultiDigester;
use debian_packaging::package_version::PackageVersion;
use md5::{Digest, Md5};
use sha2::Sha256;

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
        let text = control_text(std::io::BufReader::new(file))?;
        Paragraph::parse(&text).context("parsing the control file")
    };
    read().with_context(|| format!("reading control data of {}", path.display()))
}

/// The raw text of `control` inside the `control.tar[.gz|.xz|.zst]` member.
fn control_text(reader: impl Read) -> Result<String> {
    let mut deb = BinaryPackageReader::new(reader)?;
    while let Some(entry) = deb.next_entry() {
        let BinaryPackageEntry::Control(mut tar) = entry? else {
            continue;
        };
        for entry in tar.entries()? {
            let mut entry = entry?;
            let path = entry.path_bytes().into_owned();
            if path == b"control" || path == b"./control" {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                return String::from_utf8(bytes).context("control file is not UTF-8");
            }
        }
        bail!("control.tar has no `control` file");
    }
    bail!("not a .deb: no control.tar member")
}

/// One package in an index: its control paragraph plus where it lives.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DebRecord {
    pub control: Paragraph,
    /// Path relative to the repository root, e.g. `pool/main/c/curl/curl_7.88.1-10_amd64.deb`.
    pub filename: String,
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
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

    /// Read control + hashes of ROOT/REL.
    pub(crate) fn from_file(root: &Path, rel: &str) -> Result<DebRecord> {
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
        PackageVersion::parse(version).with_context(|| format!("{}: bad Version {version:?}", path.display()))?;
        let (size, md5, sha1, sha256) = hash_file(&path).with_context(|| format!("hashing {}", path.display()))?;
        Ok(DebRecord { control, filename: rel.to_string(), size, md5, sha1, sha256 })
    }
}

/// Size, MD5, SHA-1 and SHA-256 (lower-case hex) of a file, read once.
fn hash_file(path: &Path) -> Result<(u64, String, String, String)> {
    let mut file = fs::File::open(path)?;
    let mut digester = MultiDigester::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digester.update(&buf[..n]);
        size += n as u64;
    }
    let d = digester.finish();
    Ok((size, d.md5.digest_hex(), d.sha1.digest_hex(), d.sha256.digest_hex()))
}

/// Pool path for a package file: `pool/<component>/<prefix>/<source>/<basename>`
/// where source is the Source field's name (without ` (version)`) or Package,
/// and prefix is its first letter, or its first 4 characters for names
/// starting with `lib` (`libc` -> `libc`, `libfoo` -> `libf`).
pub(crate) fn pool_path(component: &str, control: &Paragraph, basename: &str) -> String {
    let source = control
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .or_else(|| control.get("Package"))
        .unwrap_or_default();
    let prefix: String = if source.starts_with("lib") && source.len() > 3 {
        source.chars().take(4).collect()
    } else {
        source.chars().take(1).collect()
    };
    format!("pool/{component}/{prefix}/{source}/{basename}")
}

/// dpkg order of two version strings; unparsable versions sort by text.
fn cmp_versions(a: &str, b: &str) -> Ordering {
    match (PackageVersion::parse(a), PackageVersion::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// Packages index text: stanzas sorted by (Package, Version in dpkg order,
/// Architecture), separated by one blank line, ending with a single `\n`
/// (empty text for no records).
///
/// Each stanza holds the control fields in their order except Description,
/// then Filename, Size, MD5sum, SHA1, SHA256, then the full Description last.
/// Checksum/location fields carried by the control file itself are dropped.
pub(crate) fn packages_index(records: &[DebRecord]) -> String {
    let mut sorted: Vec<&DebRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        a.package()
            .cmp(b.package())
            .then_with(|| cmp_versions(a.version(), b.version()))
            .then_with(|| a.architecture().cmp(b.architecture()))
            .then_with(|| a.filename.cmp(&b.filename))
    });
    let stanzas: Vec<String> = sorted.into_iter().map(stanza).collect();
    stanzas.join("\n")
}

/// One Packages stanza, ending in `\n`.
fn stanza(r: &DebRecord) -> String {
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
    push_field(&mut out, "MD5sum", &r.md5);
    push_field(&mut out, "SHA1", &r.sha1);
    push_field(&mut out, "SHA256", &r.sha256);
    if let Some((name, value)) = description {
        push_field(&mut out, name, value);
    }
    out
}

/// Gzip `data` reproducibly: mtime 0, no file name, level 9.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// Xz-compress `data` with the fixed preset 6.
fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 6);
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// `Packages`, `Packages.gz` and `Packages.xz` (names and bytes) of an index
/// text, deterministically (gzip header mtime 0, no file name, level 9; xz preset 6).
pub fn render_packages_files(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let data = text.as_bytes();
    Ok(vec![
        ("Packages".to_string(), data.to_vec()),
        ("Packages.gz".to_string(), gzip(data).context("gzip of Packages")?),
        ("Packages.xz".to_string(), xz(data).context("xz of Packages")?),
    ])
}

/// Write DIR/Packages, DIR/Packages.gz, DIR/Packages.xz as
/// [`render_packages_files`] makes them. Creates DIR.
pub fn write_packages_files(dir: &Path, text: &str) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in render_packages_files(text)? {
        crate::fsutil::write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// The descriptive fields of a Release file.
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
}

/// A single-line field value: line breaks become spaces.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").trim().to_string()
}

/// Release text: Origin, Label, Suite, Codename, Date (RFC 2822 in UTC, as apt
/// writes it), Architectures, Components, Description, `Acquire-By-Hash: no`,
/// then `MD5Sum:` and `SHA256:` sections with one ` <digest> <size:16> <path>`
/// line per file, sorted by path. `files` are (path relative to
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
    out.push_str("MD5Sum:\n");
    for (path, bytes) in &sorted {
        let digest = hex::encode(Md5::digest(bytes));
        out.push_str(&format!(" {digest} {:>16} {path}\n", bytes.len()));
    }
    out.push_str("SHA256:\n");
    for (path, bytes) in &sorted {
        let digest = hex::encode(Sha256::digest(bytes));
        out.push_str(&format!(" {digest} {:>16} {path}\n", bytes.len()));
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
/// ROOT, `/`-separated), sorted by filename. Errors name the bad file.
pub fn scan_pool(root: &Path) -> Result<Vec<DebRecord>> {
    let pool = root.join("pool");
    if !pool.is_dir() {
        bail!("listing {}: not a directory", pool.display());
    }
    let mut records = Vec::new();
    for (rel, _) in crate::fsutil::walk(&pool, crate::fsutil::Links::FollowFiles)? {
        if rel.ends_with(".deb") {
            records.push(DebRecord::from_file(root, &format!("pool/{rel}"))?);
        }
    }
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
    for (arch, records) in by_arch {
        for (name, bytes) in render_packages_files(&packages_index(records))? {
            let rel = format!("{component}/binary-{arch}/{name}");
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
    fs::create_dir_all(&dist_dir).with_context(|| format!("creating {}", dist_dir.display()))?;
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
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::path::PathBuf;
    use std::process::{Command, Output};

    // ---------- helpers ----------

    /// A record built in code from control text and pretend file content.
    fn fixed_record(control: &str, filename: &str, content: &[u8]) -> DebRecord {
        let d = {
            let mut m = MultiDigester::default();
            m.update(content);
            m.finish()
        };
        DebRecord {
            control: Paragraph::parse(control).unwrap(),
            filename: filename.to_string(),
            size: content.len() as u64,
            md5: d.md5.digest_hex(),
            sha1: d.sha1.digest_hex(),
            sha256: d.sha256.digest_hex(),
        }
    }

    fn golden_records() -> Vec<DebRecord> {
        vec![
            fixed_record(
                "Package: libcurl4\nSource: curl\nVersion: 7.88.1-10+deb12u5\n\
                 Architecture: amd64\nMaintainer: Alessandro Ghedini <ghedo@debian.org>\n\
                 Installed-Size: 818\nDepends: libc6 (>= 2.34), zlib1g (>= 1:1.1.4)\n\
                 Section: libs\nPriority: optional\nMulti-Arch: same\n\
                 Homepage: https://curl.se/\n\
                 Description: easy-to-use client-side URL transfer library (OpenSSL flavour)\n \
                 libcurl is an easy-to-use client-side URL transfer library.\n .\n \
                 SSL support is provided by OpenSSL.\n",
                "pool/main/c/curl/libcurl4_7.88.1-10+deb12u5_amd64.deb",
                b"libcurl4 7.88.1-10+deb12u5",
            ),
            fixed_record(
                "Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\
                 Maintainer: Alessandro Ghedini <ghedo@debian.org>\nInstalled-Size: 500\n\
                 Depends: libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u5), zlib1g (>= 1:1.1.4)\n\
                 Section: web\nPriority: optional\nHomepage: https://curl.se/\n\
                 Description: command line tool for transferring data with URL syntax\n \
                 curl is a command line tool for transferring data with URL syntax.\n .\n \
                 Supported protocols: DICT, FILE, FTP, HTTP, HTTPS and more.\n",
                "pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb",
                b"curl 7.88.1-10+deb12u5",
            ),
            fixed_record(
                "Package: curl\nVersion: 7.88.1-10\nArchitecture: amd64\n\
                 Maintainer: Alessandro Ghedini <ghedo@debian.org>\nInstalled-Size: 500\n\
                 Depends: libc6 (>= 2.34)\nDescription: command line tool (older)\n",
                "pool/main/c/curl/curl_7.88.1-10_amd64.deb",
                b"curl 7.88.1-10",
            ),
            fixed_record(
                "Package: hello-common\nSource: hello (1.2-3)\nVersion: 1.2-3+b1\n\
                 Architecture: all\nMaintainer: Jane Doe <jane@example.org>\n\
                 Pre-Depends: dpkg (>= 1.17)\nProvides: hello-data\nMD5sum: 0000stale\n\
                 Description: shared data for hello\n",
                "pool/main/h/hello/hello-common_1.2-3+b1_all.deb",
                b"hello-common",
            ),
        ]
    }

    fn golden_meta() -> ReleaseMeta {
        ReleaseMeta {
            origin: "osrepo".into(),
            label: "offline".into(),
            suite: "stable".into(),
            codename: "testcodename".into(),
            date: chrono::Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
            architectures: vec!["amd64".into(), "arm64".into()],
            components: vec!["main".into()],
            description: "Offline repository".into(),
        }
    }

    /// Directory of the golden files, whichever crate compiles this module.
    fn golden_dir() -> PathBuf {
        let src = Path::new(file!());
        let src = if src.is_absolute() { src.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(src) };
        src.ancestors().nth(3).unwrap().join("tests/golden/deb")
    }

    /// Compare with a golden file; `UPDATE_GOLDEN=1` rewrites it instead.
    fn check_golden(name: &str, committed: &str, actual: &str) {
        if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
            let dir = golden_dir();
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(name), actual).unwrap();
            return;
        }
        assert_eq!(committed, actual, "golden {name} differs; rerun with UPDATE_GOLDEN=1 and review the diff");
    }

    fn run(cmd: &mut Command) -> Output {
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn require_tool(path: &str, hint: &str) {
        assert!(Path::new(path).exists(), "{path} is required: {hint}");
    }

    /// Build a .deb with the real dpkg-deb; returns its path.
    fn build_deb(work: &Path, control: &str, compression: &str) -> PathBuf {
        let ctl = Paragraph::parse(control).unwrap();
        let name = format!(
            "{}_{}_{}",
            ctl.get("Package").unwrap(),
            ctl.get("Version").unwrap(),
            ctl.get("Architecture").unwrap()
        );
        let tree = work.join(&name);
        fs::create_dir_all(tree.join("DEBIAN")).unwrap();
        fs::write(tree.join("DEBIAN/control"), control).unwrap();
        let doc = tree.join("usr/share/doc").join(ctl.get("Package").unwrap());
        fs::create_dir_all(&doc).unwrap();
        fs::write(doc.join("README"), format!("{name}\n")).unwrap();
        let deb = work.join(format!("{name}.deb"));
        run(Command::new("/usr/bin/dpkg-deb")
            .arg("--build")
            .arg("--root-owner-group")
            .arg(format!("-Z{compression}"))
            .arg(&tree)
            .arg(&deb));
        deb
    }

    const TOOL_CONTROL: &str = "\
Package: hello-tool
Source: hello (1.2-3)
Version: 1.2-3+b1
Architecture: amd64
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 12
Pre-Depends: hello-common
Depends: libhello1 (>= 1.0)
Provides: hello-cli
Section: utils
Priority: optional
Homepage: https://example.org/hello
Description: friendly greeter: says hello
 This is a longer description of hello-tool.
 .
 It has paragraphs: yes, and a URL https://example.org/x.
 .
  * and a verbatim bullet line
";
    const LIB_CONTROL: &str = "\
Package: libhello1
Source: libhello
Version: 1.0-1
Architecture: amd64
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 4
Section: libs
Priority: optional
Multi-Arch: same
Description: hello shared library
 The runtime library behind hello-tool.
 .
 Nothing to see here.
";
    const COMMON_CONTROL: &str = "\
Package: hello-common
Source: hello
Version: 1.2-3
Architecture: all
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 4
Section: utils
Priority: optional
Description: architecture-independent files for hello
 Data shared by every architecture.
";

    /// Build the three fixture packages and place them in ROOT/pool by pool_path.
    fn build_pool(root: &Path) {
        let stage = root.parent().unwrap().join("stage");
        fs::create_dir_all(&stage).unwrap();
        for (control, compression) in [(TOOL_CONTROL, "xz"), (LIB_CONTROL, "gzip"), (COMMON_CONTROL, "none")] {
            let deb = build_deb(&stage, control, compression);
            let ctl = read_control(&deb).unwrap();
            assert_eq!(ctl, Paragraph::parse(control).unwrap());
            let base = deb.file_name().unwrap().to_str().unwrap();
            let rel = pool_path("main", &ctl, base);
            let dest = root.join(&rel);
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(&deb, &dest).unwrap();
        }
    }

    // ---------- Paragraph ----------

    #[test]
    fn paragraph_round_trip() {
        let text = "Package: hello\nVersion: 1:2.0-1\nHomepage: https://example.org/a:b\n\
                    Depends: libc6 (>= 2.34)\nDescription: short: with colon\n long line\n .\n \
                    second paragraph\n  verbatim\nConffiles:\n /etc/hello.conf 0123\n";
        let p = Paragraph::parse(text).unwrap();
        assert_eq!(p.get("homepage"), Some("https://example.org/a:b"));
        assert_eq!(p.get("VERSION"), Some("1:2.0-1"));
        assert_eq!(p.get("Description"), Some("short: with colon\n long line\n .\n second paragraph\n  verbatim"));
        assert_eq!(p.get("Conffiles"), Some("\n /etc/hello.conf 0123"));
        assert_eq!(p.fields[0].0, "Package");
        assert_eq!(p.render(), text);
        assert_eq!(Paragraph::parse(&p.render()).unwrap(), p);
        // Surrounding blank lines and a missing final newline are fine.
        let p2 = Paragraph::parse(&format!("\n\n{}\n\n", text.trim_end())).unwrap();
        assert_eq!(p2, p);
    }

    #[test]
    fn paragraph_errors() {
        assert!(Paragraph::parse("").is_err());
        assert!(Paragraph::parse(" continuation\nA: b\n").is_err());
        assert!(Paragraph::parse("A: b\nno colon here\n").is_err());
        assert!(Paragraph::parse("A: b\na: c\n").is_err());
        assert!(Paragraph::parse("A: b\n\nC: d\n").is_err());
        let e = Paragraph::parse("A: b\nbad line\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    // ---------- layout and ordering ----------

    #[test]
    fn pool_paths() {
        let p = |t: &str| Paragraph::parse(t).unwrap();
        assert_eq!(pool_path("main", &p("Package: curl\n"), "curl_1_amd64.deb"), "pool/main/c/curl/curl_1_amd64.deb");
        assert_eq!(pool_path("main", &p("Package: libcurl4\nSource: curl\n"), "x.deb"), "pool/main/c/curl/x.deb");
        assert_eq!(pool_path("main", &p("Package: libfoo1\n"), "x.deb"), "pool/main/libf/libfoo1/x.deb");
        assert_eq!(
            pool_path("contrib", &p("Package: libc6\nSource: libc (2.36-9)\n"), "x.deb"),
            "pool/contrib/libc/libc/x.deb"
        );
        assert_eq!(pool_path("main", &p("Package: lib\n"), "x.deb"), "pool/main/l/lib/x.deb");
    }

    #[test]
    fn packages_sorted_in_dpkg_version_order() {
        let rec = |name: &str, version: &str, arch: &str| {
            fixed_record(
                &format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"),
                &format!("pool/{name}_{version}_{arch}.deb"),
                b"",
            )
        };
        let records = vec![
            rec("foo", "1:0.1", "amd64"),
            rec("foo", "1.10", "arm64"),
            rec("foo", "1.10", "amd64"),
            rec("foo", "1.9", "amd64"),
            rec("foo", "1.10~rc1", "amd64"),
            rec("foo", "1.10+b1", "amd64"),
            rec("bar", "2.0", "amd64"),
        ];
        let text = packages_index(&records);
        assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
        let order: Vec<(String, String, String)> = text
            .split("\n\n")
            .map(|s| {
                let p = Paragraph::parse(s).unwrap();
                (
                    p.get("Package").unwrap().into(),
                    p.get("Version").unwrap().into(),
                    p.get("Architecture").unwrap().into(),
                )
            })
            .collect();
        let expect: Vec<(String, String, String)> = [
            ("bar", "2.0", "amd64"),
            ("foo", "1.9", "amd64"),
            ("foo", "1.10~rc1", "amd64"),
            ("foo", "1.10", "amd64"),
            ("foo", "1.10", "arm64"),
            ("foo", "1.10+b1", "amd64"),
            ("foo", "1:0.1", "amd64"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(order, expect);
        assert_eq!(packages_index(&[]), "");
    }

    #[test]
    fn split_by_arch_rules() {
        let rec = |name: &str, arch: &str| {
            fixed_record(
                &format!("Package: {name}\nVersion: 1\nArchitecture: {arch}\n"),
                &format!("pool/{name}_{arch}.deb"),
                b"",
            )
        };
        let records = vec![rec("a", "amd64"), rec("b", "all"), rec("c", "arm64")];
        fn names(v: &[DebRecord]) -> Vec<&str> {
            v.iter().map(|r| r.package()).collect()
        }

        let auto = split_by_arch(&records, &[]).unwrap();
        assert_eq!(auto.keys().collect::<Vec<_>>(), ["amd64", "arm64"]);
        assert_eq!(names(&auto["amd64"]), ["a", "b"]);
        assert_eq!(names(&auto["arm64"]), ["b", "c"]);

        let explicit = split_by_arch(&records, &["amd64".into(), "i386".into()]).unwrap();
        assert_eq!(names(&explicit["amd64"]), ["a", "b"]);
        assert_eq!(names(&explicit["i386"]), ["b"]);

        let err = split_by_arch(&[rec("b", "all")], &[]).unwrap_err();
        assert!(err.to_string().contains("explicit"), "{err}");
        let only_all = split_by_arch(&[rec("b", "all")], &["amd64".into()]).unwrap();
        assert_eq!(names(&only_all["amd64"]), ["b"]);

        let mut dup = rec("a", "amd64");
        dup.filename = "pool/other/a.deb".into();
        assert!(split_by_arch(&[rec("a", "amd64"), dup], &[]).is_err());
    }

    // ---------- golden files ----------

    #[test]
    fn golden_packages() {
        let text = packages_index(&golden_records());
        check_golden("Packages", include_str!("../../tests/golden/deb/Packages"), &text);
        // The stale MD5sum carried by a control file is not duplicated.
        assert_eq!(text.matches("MD5sum:").count(), golden_records().len());
    }

    #[test]
    fn golden_release() {
        let packages = packages_index(&golden_records());
        let files = vec![
            ("main/binary-arm64/Packages".to_string(), b"Package: x\n".to_vec()),
            ("main/binary-amd64/Packages".to_string(), packages.into()),
            ("contrib/binary-amd64/Packages".to_string(), Vec::new()),
        ];
        let text = release_file(&golden_meta(), &files);
        check_golden("Release", include_str!("../../tests/golden/deb/Release"), &text);
        assert!(text.lines().all(|l| l == l.trim_end()));
    }

    // ---------- files on disk ----------

    #[test]
    fn packages_files_are_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let text = packages_index(&golden_records());
        write_packages_files(&tmp.path().join("a/b"), &text).unwrap();
        write_packages_files(&tmp.path().join("c"), &text).unwrap();
        for name in ["Packages", "Packages.gz", "Packages.xz"] {
            let a = fs::read(tmp.path().join("a/b").join(name)).unwrap();
            let b = fs::read(tmp.path().join("c").join(name)).unwrap();
            assert_eq!(a, b, "{name} differs between runs");
        }
        let gz = fs::read(tmp.path().join("c/Packages.gz")).unwrap();
        assert_eq!(&gz[..3], [0x1f, 0x8b, 8]);
        assert_eq!(gz[3] & 0x08, 0, "gzip header carries a file name");
        assert_eq!(&gz[4..8], [0, 0, 0, 0], "gzip mtime is not 0");
        let mut s = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut s).unwrap();
        assert_eq!(s, text);
        let xzb = fs::read(tmp.path().join("c/Packages.xz")).unwrap();
        let mut s = String::new();
        xz2::read::XzDecoder::new(&xzb[..]).read_to_string(&mut s).unwrap();
        assert_eq!(s, text);
        let leftovers: Vec<_> = fs::read_dir(tmp.path().join("c"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn render_dist_is_what_write_dist_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let mut meta = golden_meta();
        meta.architectures.clear();
        meta.components.clear();
        let one = |arch: &str| BTreeMap::from([(arch.to_string(), golden_records())]);
        write_dist(tmp.path(), &meta, "main", &one("arm64")).unwrap();
        let release = write_dist(tmp.path(), &meta, "main", &one("amd64")).unwrap();
        let dist = tmp.path().join("dists/testcodename");
        let existing = collect_index_files(&dist).unwrap();
        let rendered = render_dist(&meta, "main", &one("amd64"), existing).unwrap();
        let names: Vec<&str> = rendered.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(
            names,
            [
                "dists/testcodename/main/binary-amd64/Packages",
                "dists/testcodename/main/binary-amd64/Packages.gz",
                "dists/testcodename/main/binary-amd64/Packages.xz",
                "dists/testcodename/Release",
            ]
        );
        for (rel, bytes) in &rendered {
            assert_eq!(&fs::read(tmp.path().join(rel)).unwrap(), bytes, "{rel}");
        }
        assert_eq!(release.as_bytes(), rendered[3].1.as_slice());
        // The arm64 index written before stays listed, and fills Architectures.
        assert!(release.contains("main/binary-arm64/Packages.xz\n"), "{release}");
        assert!(release.contains("\nArchitectures: amd64 arm64\n") && release.contains("\nComponents: main\n"));
        let only_new = render_dist(&meta, "main", &one("amd64"), Vec::new()).unwrap();
        let text = String::from_utf8(only_new[3].1.clone()).unwrap();
        assert!(!text.contains("arm64") && text.contains("\nArchitectures: amd64\n"), "{text}");
        assert!(render_dist(&meta, "../main", &one("amd64"), Vec::new()).is_err());
    }

    #[test]
    fn bad_deb_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pool/main/b/broken");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("broken_1_amd64.deb"), b"!<arch>\nnot really").unwrap();
        let err = format!("{:#}", scan_pool(tmp.path()).unwrap_err());
        assert!(err.contains("broken_1_amd64.deb"), "{err}");
        let err = format!("{:#}", scan_pool(&tmp.path().join("nowhere")).unwrap_err());
        assert!(err.contains("nowhere"), "{err}");
        assert!(DebRecord::from_file(tmp.path(), "../escape.deb").is_err());
        assert!(DebRecord::from_file(tmp.path(), "/etc/passwd").is_err());
    }

    #[test]
    fn real_debs_are_read_and_written() {
        require_tool("/usr/bin/dpkg-deb", "install dpkg");
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        build_pool(&root);
        let records = scan_pool(&root).unwrap();
        let files: Vec<&str> = records.iter().map(|r| r.filename.as_str()).collect();
        assert_eq!(
            files,
            [
                "pool/main/h/hello/hello-common_1.2-3_all.deb",
                "pool/main/h/hello/hello-tool_1.2-3+b1_amd64.deb",
                "pool/main/libh/libhello/libhello1_1.0-1_amd64.deb",
            ]
        );
        let tool = &records[1];
        assert_eq!((tool.package(), tool.version(), tool.architecture()), ("hello-tool", "1.2-3+b1", "amd64"));
        let bytes = fs::read(root.join(&tool.filename)).unwrap();
        assert_eq!(tool.size, bytes.len() as u64);
        assert_eq!(tool.md5, hex::encode(Md5::digest(&bytes)));
        assert_eq!(tool.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(tool.sha1.len(), 40);

        // Write amd64 + arm64, then rewrite only amd64: arm64 stays listed,
        // stale signatures go away.
        let meta = ReleaseMeta { architectures: vec![], components: vec![], ..golden_meta() };
        let by_arch = split_by_arch(&records, &["amd64".into(), "arm64".into()]).unwrap();
        write_dist(&root, &meta, "main", &by_arch).unwrap();
        let dist = root.join("dists/testcodename");
        fs::write(dist.join("InRelease"), "stale").unwrap();
        fs::write(dist.join("Release.gpg"), "stale").unwrap();
        let amd64_only = split_by_arch(&records, &["amd64".into()]).unwrap();
        let release = write_dist(&root, &meta, "main", &amd64_only).unwrap();
        assert!(!dist.join("InRelease").exists() && !dist.join("Release.gpg").exists());
        assert_eq!(fs::read_to_string(dist.join("Release")).unwrap(), release);
        assert!(release.contains("\nArchitectures: amd64 arm64\n"), "{release}");
        assert!(release.contains("\nComponents: main\n"), "{release}");
        for arch in ["amd64", "arm64"] {
            for ext in ["", ".gz", ".xz"] {
                let line = format!(" main/binary-{arch}/Packages{ext}\n");
                assert_eq!(release.matches(&line).count(), 2, "{line:?} in {release}");
            }
        }
        let arm = fs::read_to_string(dist.join("main/binary-arm64/Packages")).unwrap();
        assert!(arm.starts_with("Package: hello-common\n") && !arm.contains("hello-tool"));
    }

    // ---------- real apt as judge ----------

    /// A private apt configuration rooted in DIR, isolated from /etc/apt.
    struct Apt {
        dir: PathBuf,
        config: PathBuf,
    }

    impl Apt {
        fn new(dir: &Path, source_line: &str) -> Apt {
            for sub in [
                "etc/apt.conf.d",
                "etc/sources.list.d",
                "etc/preferences.d",
                "state/lists/partial",
                "cache",
                "archives/partial",
                "log",
            ] {
                fs::create_dir_all(dir.join(sub)).unwrap();
            }
            fs::write(dir.join("etc/sources.list"), format!("{source_line}\n")).unwrap();
            fs::write(dir.join("status"), "").unwrap();
            let d = dir.display();
            let config = dir.join("apt.conf");
            fs::write(
                &config,
                format!(
                    "Dir::Etc::main \"/dev/null\";\n\
                     Dir::Etc::Parts \"{d}/etc/apt.conf.d\";\n\
                     Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
                     Dir::Etc::SourceParts \"{d}/etc/sources.list.d\";\n\
                     Dir::Etc::preferences \"/dev/null\";\n\
                     Dir::Etc::PreferencesParts \"{d}/etc/preferences.d\";\n\
                     Dir::State \"{d}/state\";\n\
                     Dir::State::status \"{d}/status\";\n\
                     Dir::Cache \"{d}/cache\";\n\
                     Dir::Cache::archives \"{d}/archives\";\n\
                     Dir::Log \"{d}/log\";\n\
                     Debug::NoLocking \"1\";\n\
                     APT::Architecture \"amd64\";\n\
                     APT::Architectures {{ \"amd64\"; }};\n\
                     Acquire::Languages \"none\";\n\
                     APT::Sandbox::User \"root\";\n"
                ),
            )
            .unwrap();
            Apt { dir: dir.to_path_buf(), config }
        }

        fn cmd(&self, tool: &str) -> Command {
            let mut c = Command::new(tool);
            c.env("APT_CONFIG", &self.config)
                .env("LC_ALL", "C")
                .arg("-q")
                .arg("-o")
                .arg(format!("Dir::Etc::SourceList={}/etc/sources.list", self.dir.display()))
                .arg("-o")
                .arg("Dir::Etc::SourceParts=/dev/null")
                .arg("-o")
                .arg("Debug::NoLocking=1");
            c
        }

        fn archives(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(self.dir.join("archives"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".deb"))
                .collect();
            v.sort();
            v
        }
    }

    /// Every stanza of a Packages text, by package name, as field -> value.
    fn stanzas_by_package(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        text.split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                let p = Paragraph::parse(s).unwrap();
                let name = p.get("Package").unwrap().to_string();
                (name, p.fields.into_iter().collect())
            })
            .collect()
    }

    /// The checksum lines of one `Name:` section of a Release file.
    fn release_section<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
        text.lines().skip_while(|l| *l != header).skip(1).take_while(|l| l.starts_with(' ')).collect()
    }

    #[test]
    fn apt_accepts_the_repository() {
        require_tool("/usr/bin/dpkg-deb", "install dpkg");
        require_tool("/usr/bin/apt-get", "install apt");
        require_tool("/usr/bin/apt-ftparchive", "apt-get install -y apt-utils");
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        build_pool(&root);
        let records = scan_pool(&root).unwrap();
        let by_arch = split_by_arch(&records, &[]).unwrap();
        assert_eq!(by_arch.keys().collect::<Vec<_>>(), ["amd64"]);
        let release = write_dist(&root, &golden_meta(), "main", &by_arch).unwrap();

        // `copy:` behaves like a remote mirror: apt copies every file into its
        // own directories and verifies size and hashes against Release/Packages.
        let apt =
            Apt::new(&tmp.path().join("apt"), &format!("deb [trusted=yes] copy:{} testcodename main", root.display()));
        let out = run(apt.cmd("apt-get").arg("update"));
        let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(!log.contains("W:") && !log.contains("E:"), "{log}");

        let out = run(apt.cmd("apt-cache").args(["show", "hello-tool"]));
        let shown = String::from_utf8_lossy(&out.stdout);
        let description = Paragraph::parse(TOOL_CONTROL).unwrap().get("Description").unwrap().to_string();
        assert!(shown.contains(&format!("Description: {description}\n")), "{shown}");
        assert!(shown.contains("Pre-Depends: hello-common\n"), "{shown}");

        run(apt.cmd("apt-get").args(["install", "--download-only", "-y", "hello-tool"]));
        assert_eq!(
            apt.archives(),
            ["hello-common_1.2-3_all.deb", "hello-tool_1.2-3+b1_amd64.deb", "libhello1_1.0-1_amd64.deb",]
        );

        // The check has teeth: a same-size corrupted .deb is refused.
        for deb in apt.archives() {
            fs::remove_file(apt.dir.join("archives").join(deb)).unwrap();
        }
        let lib = root.join("pool/main/libh/libhello/libhello1_1.0-1_amd64.deb");
        let mut bytes = fs::read(&lib).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&lib, &bytes).unwrap();
        let out = apt.cmd("apt-get").args(["install", "--download-only", "-y", "hello-tool"]).output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "corrupted deb accepted");
        assert!(log.contains("Hash Sum mismatch"), "{log}");
        bytes[last] ^= 0xff;
        fs::write(&lib, &bytes).unwrap();

        // ... and so is a Release whose SHA256 lines do not match the indexes.
        let release_path = root.join("dists/testcodename/Release");
        let mut in_sha256 = false;
        let forged: String = release
            .lines()
            .map(|l| {
                in_sha256 = l == "SHA256:" || (in_sha256 && l.starts_with(' '));
                if in_sha256 && l.starts_with(' ') {
                    format!(" {}{}\n", "0".repeat(64), &l[65..])
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_ne!(forged, release);
        fs::write(&release_path, forged).unwrap();
        let out = apt.cmd("apt-get").arg("update").output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("Hash Sum mismatch"), "forged Release accepted: {log}");
        fs::write(&release_path, &release).unwrap();

        // Reference Packages from apt-ftparchive over the same pool.
        let out = run(apt.cmd("apt-ftparchive").current_dir(&root).args(["packages", "pool"]));
        let reference = stanzas_by_package(&String::from_utf8(out.stdout).unwrap());
        let ours = stanzas_by_package(&packages_index(&records));
        // Fields apt-ftparchive writes that this module deliberately does not.
        const ONLY_IN_FTPARCHIVE: &[&str] = &["SHA512"];
        assert_eq!(reference.keys().collect::<Vec<_>>(), ours.keys().collect::<Vec<_>>());
        for (package, mut theirs) in reference {
            for field in ONLY_IN_FTPARCHIVE {
                assert!(theirs.remove(*field).is_some(), "apt-ftparchive no longer writes {field}; update the list");
            }
            assert_eq!(ours[&package], theirs, "stanza of {package}");
        }

        // Reference checksum lines from `apt-ftparchive release`.
        let out = run(apt.cmd("apt-ftparchive").current_dir(root.join("dists/testcodename")).args(["release", "."]));
        let reference = String::from_utf8(out.stdout).unwrap();
        for header in ["MD5Sum:", "SHA256:"] {
            let theirs: Vec<&str> =
                release_section(&reference, header).into_iter().filter(|l| l.contains(" main/")).collect();
            assert_eq!(release_section(&release, header), theirs, "{header}");
        }
    }
}
