//! `repodata/`: compressed, checksum-named package documents and `repomd.xml`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};

use super::xml::{filelists_xml, other_xml, primary_xml, xml_attr, NS_REPO, NS_RPM, XML_DECL};
use super::RpmRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
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
    crate::fsutil::write_atomic(&repodata.join("repomd.xml"), repomd.as_bytes())?;

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
    crate::fsutil::write_atomic(&repodata.join(&name), &packed)?;
    Ok(DataFile {
        kind: kind.to_owned(),
        href: format!("repodata/{name}"),
        checksum,
        open_checksum: hex::encode(Sha256::digest(content)),
        size: packed.len() as u64,
        open_size: content.len() as u64,
    })
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
