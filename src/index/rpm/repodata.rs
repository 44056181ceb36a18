//! `repodata/`: compressed, checksum-named package documents and `repomd.xml`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};

use super::xml::{filelists_xml, other_xml, primary_xml, xml_attr, NS_REPO, NS_RPM, XML_DECL};
use super::RpmRecord;

/// How the package documents and extra metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = anyhow::Error;

    /// `gz`/`gzip` or `zstd`/`zst`.
    fn from_str(s: &str) -> Result<Compression> {
        match s {
            "gz" | "gzip" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            other => bail!("{other:?} is not gz or zstd"),
        }
    }
}

impl Compression {
    pub(super) fn suffix(self) -> &'static str {
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

/// What [`render_repodata`] makes besides the documents themselves.
#[derive(Debug, Clone)]
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

/// The files of `repodata/`, as (path relative to the repository directory,
/// bytes): `repodata/<sha256>-primary.xml.gz`, `-filelists.xml.gz`,
/// `-other.xml.gz` (`.zst` with [`Compression::Zstd`]), then each `extra`
/// metadata file `(type, file name, bytes)` compressed the same way (a
/// `.gz`/`.zst` name is taken as already compressed content, as modifyrepo_c
/// does), and last `repodata/repomd.xml`. Pure: nothing is read or written.
pub fn render_repodata(
    records: &[RpmRecord],
    extra: &[(String, String, Vec<u8>)],
    opts: &RepodataOptions,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::with_capacity(extra.len() + 4);
    // The three documents are rendered and compressed at once.
    let doc = |kind: &str, render: &(dyn Fn() -> String + Sync)| {
        let mut packed = Vec::with_capacity(1);
        let file = data_file(kind, &format!("{kind}.xml"), render().as_bytes(), opts, &mut packed);
        file.map(|f| (f, packed))
    };
    let (primary, (filelists, other)) = rayon::join(
        || doc("primary", &|| primary_xml(records)),
        || {
            rayon::join(
                || doc("filelists", &|| filelists_xml(records)),
                || doc("other", &|| other_xml(records, opts.changelog_limit)),
            )
        },
    );
    let mut files = Vec::with_capacity(extra.len() + 3);
    for made in [primary, filelists, other] {
        let (file, packed) = made?;
        files.push(file);
        out.extend(packed);
    }
    let mut seen: HashSet<String> = files.iter().map(|f| f.kind.clone()).collect();
    for (kind, name, bytes) in extra {
        check_extra(kind, name, &mut seen)?;
        let (base, content) = open_extra(name, bytes).with_context(|| format!("repodata file {name} ({kind})"))?;
        files.push(data_file(kind, base, &content, opts, &mut out)?);
    }
    files.sort_by(|a, b| {
        let rank = |k: &str| ["primary", "filelists", "other"].iter().position(|&p| p == k);
        let (ra, rb) = (rank(&a.kind).unwrap_or(3), rank(&b.kind).unwrap_or(3));
        ra.cmp(&rb).then_with(|| a.kind.cmp(&b.kind)).then_with(|| a.href.cmp(&b.href))
    });
    out.push(("repodata/repomd.xml".to_owned(), repomd_xml(opts.revision, &files).into_bytes()));
    Ok(out)
}

/// Write `dir/repodata/` as [`render_repodata`] makes it, `repomd.xml` last.
/// Files previously in `repodata/` (including a stale `repomd.xml.asc`) are
/// removed once the new `repomd.xml` is in place. Returns the repomd.xml text
/// for signing.
pub fn write_repodata(
    dir: &Path,
    records: &[RpmRecord],
    extra: &[(String, String, Vec<u8>)],
    opts: &RepodataOptions,
) -> Result<String> {
    let repodata = dir.join("repodata");
    crate::fsutil::create_dirs(&repodata)?;
    let mut files = render_repodata(records, extra, opts)?;
    let (_, repomd) = files.pop().expect("render_repodata ends with repomd.xml");
    for (rel, bytes) in &files {
        crate::fsutil::write_atomic(&dir.join(rel), bytes)?;
    }
    crate::fsutil::write_atomic(&repodata.join("repomd.xml"), &repomd)?;

    let keep: HashSet<&str> =
        files.iter().map(|(rel, _)| rel.trim_start_matches("repodata/")).chain(["repomd.xml"]).collect();
    let listing = fs::read_dir(&repodata).with_context(|| format!("cannot list {}", repodata.display()))?;
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot list {}", repodata.display()))?;
        let stale = !entry.file_type()?.is_dir() && entry.file_name().to_str().is_none_or(|n| !keep.contains(n));
        if stale {
            fs::remove_file(entry.path()).with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(String::from_utf8(repomd).expect("repomd.xml is text"))
}

/// An extra metadata file's type and name must be plain, the type not taken.
fn check_extra(kind: &str, name: &str, seen: &mut HashSet<String>) -> Result<()> {
    ensure!(
        !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "bad repodata type {kind:?}"
    );
    ensure!(seen.insert(kind.to_owned()), "repodata type {kind:?} given twice");
    ensure!(
        !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\']),
        "bad repodata file name {name:?} for type {kind}"
    );
    Ok(())
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

/// Compress one document into `out` (as `repodata/<sha256>-<base>.<suffix>`)
/// and describe it for repomd.xml.
fn data_file(
    kind: &str,
    base: &str,
    content: &[u8],
    opts: &RepodataOptions,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<DataFile> {
    let packed = opts.compression.compress(content).with_context(|| format!("cannot compress {base}"))?;
    let checksum = hex::encode(Sha256::digest(&packed));
    let href = format!("repodata/{checksum}-{base}.{}", opts.compression.suffix());
    let file = DataFile {
        kind: kind.to_owned(),
        href: href.clone(),
        checksum,
        open_checksum: hex::encode(Sha256::digest(content)),
        size: packed.len() as u64,
        open_size: content.len() as u64,
    };
    out.push((href, packed));
    Ok(file)
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
