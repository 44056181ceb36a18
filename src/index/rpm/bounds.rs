//! bounds: the sizes an RPM file declares, checked against the file before the rpm crate
//! reads it. The crate allocates what a header's index count and data size say (a count
//! of 0xffffffff is a 64 GB allocation and an abort) and panics on some inconsistent
//! counts; a header whose declared size does not fit in the file is refused here instead.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

/// The lead before the signature header.
const LEAD: u64 = 96;
/// Header magic, version 1.
const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits (rpmlib's HEADER_MAX_INDEX / HEADER_DATA_MAX).
const MAX_INDEX: u64 = 0x0000_ffff;
const MAX_DATA: u64 = 0x0fff_ffff;

/// Check the signature and main headers of `path`: magic, index count and data size within
/// rpm's limits and within the file. Errors say which header and value, never the bytes.
pub(super) fn check_headers(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    ensure!(len >= LEAD, "file of {len} bytes is shorter than an RPM lead");
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic)?;
    ensure!(magic == [0xed, 0xab, 0xee, 0xdb], "not an RPM file (no lead magic)");
    let sig_end = check_one(&mut f, LEAD, len, "signature")?;
    // The signature header is padded to a multiple of 8 bytes.
    let main = sig_end.div_ceil(8) * 8;
    check_one(&mut f, main, len, "main")?;
    Ok(())
}

/// One header at `at`: returns where it ends.
fn check_one(f: &mut std::fs::File, at: u64, len: u64, which: &str) -> Result<u64> {
    let mut intro = [0u8; 16];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut intro).with_context(|| format!("{which} header: truncated at offset {at}"))?;
    ensure!(intro[..4] == MAGIC, "{which} header at offset {at}: no header magic");
    let count = u64::from(u32::from_be_bytes(intro[8..12].try_into()?));
    let size = u64::from(u32::from_be_bytes(intro[12..16].try_into()?));
    if count == 0 || count > MAX_INDEX || size > MAX_DATA {
        bail!("{which} header: index count {count} or data size {size} out of range");
    }
    let end = at + 16 + count * 16 + size;
    if end > len {
        bail!("{which} header: index count {count} and data size {size} need {end} bytes, the file has {len}");
    }
    let mut index = vec![0u8; (count * 16) as usize];
    f.read_exact(&mut index)?;
    for (i, e) in index.chunks_exact(16).enumerate() {
        check_entry(e, size).with_context(|| format!("{which} header: index entry {i}"))?;
    }
    Ok(end)
}

/// One index entry (tag, type, offset, count): its values must fit in the data store, so
/// no count makes the reader allocate more than the file holds.
fn check_entry(e: &[u8], size: u64) -> Result<()> {
    let word = |k: usize| u64::from(u32::from_be_bytes([e[k], e[k + 1], e[k + 2], e[k + 3]]));
    let (tag, kind, offset, count) = (word(0), word(4), word(8), word(12));
    // NULL, CHAR, INT8, INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING.
    let unit = match kind {
        0 => 0,
        1 | 2 | 6 | 7 | 8 | 9 => 1,
        3 => 2,
        4 => 4,
        5 => 8,
        _ => bail!("tag {tag}: unknown type {kind}"),
    };
    if offset > size || count.saturating_mul(unit) > size - offset {
        bail!("tag {tag}: {count} values at offset {offset} do not fit in {size} bytes of data");
    }
    Ok(())
}
