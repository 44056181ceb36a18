//! `Packages`, `Packages.gz` and `Packages.xz` of an index text, deterministically: gzip
//! level 9 with mtime 0 and no file name; xz preset 6 (CRC64) in independent blocks of
//! [`XZ_BLOCK`], compressed on every core. The bytes depend on the text alone, never on the
//! number of cores, nor on whether the text was given at once ([`render_packages_files`])
//! or stanza by stanza as it was made ([`PackagesWriter`]).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// The xz block size: blocks are compressed independently, on every core; the bytes
/// depend on it, never on the number of threads.
pub(super) const XZ_BLOCK: u64 = 1 << 20;

/// The LZMA2 dictionary for blocks of `block` bytes: the next power of two at least as
/// large, at least 64 KiB and at most preset 6's own 8 MiB. A block is compressed on its
/// own, so a larger dictionary finds nothing more; it only costs memory (and the page
/// faults of clearing its hash tables).
pub(super) fn xz_dict_size(block: u64) -> u32 {
    block.next_power_of_two().clamp(64 << 10, 8 << 20) as u32
}

/// The multi-threaded xz encoder: preset 6 with the dictionary of [`xz_dict_size`], CRC64,
/// blocks of [`XZ_BLOCK`], on up to `threads` threads.
fn xz_stream(threads: u32) -> Result<xz2::stream::Stream> {
    let mut lzma = xz2::stream::LzmaOptions::new_preset(6)?;
    lzma.dict_size(xz_dict_size(XZ_BLOCK));
    let mut filters = xz2::stream::Filters::new();
    filters.lzma2(&lzma);
    let stream = xz2::stream::MtStreamBuilder::new()
        .filters(filters)
        .check(xz2::stream::Check::Crc64)
        .block_size(XZ_BLOCK)
        .threads(threads.clamp(1, 16))
        .encoder()?;
    Ok(stream)
}

/// The cores of this machine.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Gzip `data` reproducibly: mtime 0, no file name, level 9.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = gzip_encoder();
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn gzip_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best())
}

/// Xz-compress `data` (see [`xz_stream`]), the blocks on up to `threads` threads at once.
pub(super) fn xz_with(data: &[u8], threads: u32) -> Result<Vec<u8>> {
    let mut enc = xz2::write::XzEncoder::new_stream(Vec::new(), xz_stream(threads)?);
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// [`xz_with`] on as many threads as there are cores and blocks.
pub(super) fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let blocks = (data.len() as u64).div_ceil(XZ_BLOCK).max(1);
    xz_with(data, cores().min(blocks as usize) as u32)
}

/// The three files (names and bytes).
fn named(text: Vec<u8>, gz: Vec<u8>, xz: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    vec![("Packages".to_string(), text), ("Packages.gz".to_string(), gz), ("Packages.xz".to_string(), xz)]
}

/// `Packages`, `Packages.gz` and `Packages.xz` (names and bytes) of an index text (see the
/// module's documentation). The two compressions run at once.
pub fn render_packages_files(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let data = text.as_bytes();
    let (gz, xz) = rayon::join(|| gzip(data).context("gzip of Packages"), || xz(data).context("xz of Packages"));
    Ok(named(data.to_vec(), gz?, xz?))
}

/// Write DIR/Packages, DIR/Packages.gz, DIR/Packages.xz as
/// [`render_packages_files`] makes them. Creates DIR.
pub fn write_packages_files(dir: &Path, text: &str) -> Result<()> {
    crate::fsutil::create_dirs(dir)?;
    for (name, bytes) in render_packages_files(text)? {
        crate::fsutil::write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// The files of [`render_packages_files`], made as the stanzas come: each is compressed
/// as soon as it is pushed (gzip on the caller's thread, xz blocks on their own threads
/// while the caller goes on), so compression overlaps whatever makes the stanzas. The
/// bytes are those [`render_packages_files`] gives for the stanzas joined with blank lines.
pub(crate) struct PackagesWriter {
    text: Vec<u8>,
    gz: flate2::write::GzEncoder<Vec<u8>>,
    xz: xz2::write::XzEncoder<Vec<u8>>,
}

impl PackagesWriter {
    /// A writer whose xz blocks use up to `threads` threads.
    pub(crate) fn new(threads: u32) -> Result<PackagesWriter> {
        let xz = xz2::write::XzEncoder::new_stream(Vec::new(), xz_stream(threads)?);
        Ok(PackagesWriter { text: Vec::new(), gz: gzip_encoder(), xz })
    }

    /// A writer on every core.
    pub(crate) fn on_every_core() -> Result<PackagesWriter> {
        PackagesWriter::new(cores() as u32)
    }

    /// Append one stanza (ending in `\n`); stanzas are separated by one blank line.
    pub(crate) fn push_stanza(&mut self, stanza: &str) -> Result<()> {
        if !self.text.is_empty() {
            self.write(b"\n")?;
        }
        self.write(stanza.as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.text.extend_from_slice(bytes);
        self.gz.write_all(bytes).context("gzip of Packages")?;
        self.xz.write_all(bytes).context("xz of Packages")
    }

    /// The three files (names and bytes), once the last block is compressed.
    pub(crate) fn finish(self) -> Result<Vec<(String, Vec<u8>)>> {
        let gz = self.gz.finish().context("gzip of Packages")?;
        let xz = self.xz.finish().context("xz of Packages")?;
        Ok(named(self.text, gz, xz))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text of several xz blocks, like a Packages file of a few thousand packages.
    fn stanzas() -> Vec<String> {
        (0..60_000).map(|i| format!("Package: p{i}\nVersion: {}\nSHA256: {:x}\n", i % 97, i * 7919)).collect()
    }

    #[test]
    fn the_dictionary_fits_the_block() {
        assert_eq!(xz_dict_size(XZ_BLOCK), 1 << 20);
        assert_eq!(xz_dict_size(1000), 64 << 10);
        assert_eq!(xz_dict_size((256 << 10) + 1), 512 << 10);
        assert_eq!(xz_dict_size(1 << 30), 8 << 20);
    }

    #[test]
    fn xz_bytes_do_not_depend_on_the_threads() {
        let text = stanzas().join("\n");
        assert!(text.len() as u64 > 2 * XZ_BLOCK);
        let one = xz_with(text.as_bytes(), 1).unwrap();
        assert_eq!(xz_with(text.as_bytes(), 2).unwrap(), one);
        assert_eq!(xz_with(text.as_bytes(), 4).unwrap(), one);
        assert_eq!(xz(text.as_bytes()).unwrap(), one);
        assert_eq!(crate::index::decompress("Packages.xz", &one).unwrap(), text.as_bytes());
        assert_eq!(crate::index::decompress("Packages.xz", &xz(b"").unwrap()).unwrap(), b"");
    }

    #[test]
    fn stanza_by_stanza_is_the_same_bytes_as_at_once() {
        let stanzas = stanzas();
        let batch = render_packages_files(&stanzas.join("\n")).unwrap();
        for threads in [1, 2, 3] {
            let mut w = PackagesWriter::new(threads).unwrap();
            for s in &stanzas {
                w.push_stanza(s).unwrap();
            }
            assert!(w.finish().unwrap() == batch, "{threads} threads");
        }
        let empty = PackagesWriter::on_every_core().unwrap().finish().unwrap();
        assert!(empty == render_packages_files("").unwrap());
        let mut one = PackagesWriter::new(2).unwrap();
        one.push_stanza("Package: a\n").unwrap();
        assert!(one.finish().unwrap() == render_packages_files("Package: a\n").unwrap());
    }
}
