//! `Packages`, `Packages.gz` and `Packages.xz` of an index text, deterministically: gzip
//! level 9 with mtime 0 and no file name; xz preset 6 (CRC64) with a smaller dictionary, in
//! independent blocks of equal size (at most [`XZ_BLOCK`]), compressed on every core. The
//! bytes depend on the text alone, never on the number of cores.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// The largest xz block: blocks are compressed independently, on every core (the bytes
/// depend on the block size, never on the number of threads).
pub(super) const XZ_BLOCK: u64 = 1 << 20;

/// The largest LZMA2 dictionary. Preset 6's 8 MiB is more than a block can use (each is
/// compressed on its own), and the match finder's work grows with the dictionary: 512 KiB
/// takes ~15% less CPU time than 1 MiB for blocks of 1 MiB, for 0.5% more bytes.
const XZ_DICT_MAX: u64 = 512 << 10;

/// The xz block size for `len` bytes: the fewest blocks of at most [`XZ_BLOCK`], of equal
/// size, so that the last one is no shorter than the others and the cores finish together.
pub(super) fn xz_block_size(len: u64) -> u64 {
    let blocks = len.div_ceil(XZ_BLOCK).max(1);
    len.div_ceil(blocks).max(4096)
}

/// The LZMA2 dictionary for blocks of `block` bytes: the next power of two at least as
/// large (a block finds nothing further back), at least 64 KiB and at most [`XZ_DICT_MAX`].
pub(super) fn xz_dict_size(block: u64) -> u32 {
    block.next_power_of_two().clamp(64 << 10, XZ_DICT_MAX) as u32
}

/// The multi-threaded xz encoder of `len` bytes: preset 6 with the dictionary of
/// [`xz_dict_size`], CRC64, blocks of [`xz_block_size`], on up to `threads` threads.
fn xz_stream(len: u64, threads: u32) -> Result<liblzma::stream::Stream> {
    let block = xz_block_size(len);
    let mut lzma = liblzma::stream::LzmaOptions::new_preset(6)?;
    lzma.dict_size(xz_dict_size(block));
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&lzma);
    let stream = liblzma::stream::MtStreamBuilder::new()
        .filters(filters)
        .check(liblzma::stream::Check::Crc64)
        .block_size(block)
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
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// Xz-compress `data` (see [`xz_stream`]), the blocks on up to `threads` threads at once.
pub(super) fn xz_with(data: &[u8], threads: u32) -> Result<Vec<u8>> {
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), xz_stream(data.len() as u64, threads)?);
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// [`xz_with`] on as many threads as there are cores and blocks.
pub(super) fn xz(data: &[u8]) -> Result<Vec<u8>> {
    let blocks = (data.len() as u64).div_ceil(xz_block_size(data.len() as u64)).max(1);
    xz_with(data, cores().min(blocks as usize) as u32)
}

/// `Packages`, `Packages.gz` and `Packages.xz` (names and bytes) of an index text (see the
/// module's documentation). The two compressions run at once.
pub fn render_packages_files(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let data = text.as_bytes();
    let (gz, xz) = rayon::join(|| gzip(data).context("gzip of Packages"), || xz(data).context("xz of Packages"));
    Ok(vec![
        ("Packages".to_string(), data.to_vec()),
        ("Packages.gz".to_string(), gz?),
        ("Packages.xz".to_string(), xz?),
    ])
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Text of several xz blocks, like a Packages file of a few thousand packages.
    fn stanzas() -> Vec<String> {
        (0..60_000).map(|i| format!("Package: p{i}\nVersion: {}\nSHA256: {:x}\n", i % 97, i * 7919)).collect()
    }

    #[test]
    fn blocks_are_equal_and_the_dictionary_fits_them() {
        assert_eq!(xz_block_size(0), 4096);
        assert_eq!(xz_block_size(1000), 4096);
        assert_eq!(xz_block_size(XZ_BLOCK), XZ_BLOCK);
        assert_eq!(xz_block_size(XZ_BLOCK + 1), (XZ_BLOCK / 2) + 1);
        // The bench corpus' Packages: two blocks of 861,337 bytes, not 1 MiB and 0.64 MiB.
        assert_eq!(xz_block_size(1_722_674), 861_337);
        assert_eq!(xz_block_size(3 * XZ_BLOCK), XZ_BLOCK);
        assert_eq!(xz_block_size(3 * XZ_BLOCK + 3), 786_433);
        assert_eq!(xz_dict_size(1000), 64 << 10);
        assert_eq!(xz_dict_size(100_000), 128 << 10);
        assert_eq!(xz_dict_size(256 << 10), 256 << 10);
        assert_eq!(xz_dict_size(861_337), 512 << 10);
        assert_eq!(xz_dict_size(1 << 30), 512 << 10);
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
    fn the_files_do_not_depend_on_the_rayon_threads() {
        let text = stanzas().join("\n");
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| render_packages_files(&text).unwrap())
        };
        let one = on(1);
        assert!(one == on(2), "files differ between 1 and 2 threads");
        assert_eq!(one[0].1, text.as_bytes());
    }
}
