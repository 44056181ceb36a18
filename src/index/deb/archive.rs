//! archive: the members of a `.deb` (an ar archive: `debian-binary`, `control.tar[.*]`,
//! `data.tar[.*]`), read as a stream, and their decompression. The control reader and the
//! SBOM's copyright reader both walk a package through here.

use std::io::Read;

use anyhow::{bail, Context, Result};

/// Skip to the first member whose name starts with `prefix` (`control.tar`, `data.tar`):
/// its name (`data.tar.xz`) and size. The reader is left at the member's first byte.
pub(crate) fn member(r: &mut impl Read, prefix: &str) -> Result<(String, u64)> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).context("not a .deb (too short for an ar header)")?;
    if &magic != b"!<arch>\n" {
        bail!("not a .deb (no ar header)");
    }
    loop {
        let mut h = [0u8; 60];
        r.read_exact(&mut h).map_err(|_| anyhow::anyhow!("not a .deb: no {prefix} member"))?;
        if &h[58..] != b"`\n" {
            bail!("not a .deb: a damaged ar member header");
        }
        let name = String::from_utf8_lossy(&h[..16]).trim_end().trim_end_matches('/').to_string();
        let size: u64 = std::str::from_utf8(&h[48..58])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .with_context(|| format!("not a .deb: member {name:?} has no valid size"))?;
        if name.starts_with(prefix) {
            return Ok((name, size));
        }
        // Members are padded to an even size.
        let skip = size.checked_add(size % 2).context("not a .deb: member size overflows")?;
        let skipped = std::io::copy(&mut r.take(skip), &mut std::io::sink())?;
        if skipped < size {
            bail!("not a .deb: member {name:?} is cut short");
        }
    }
}

/// The member `name` (`control.tar.gz`, `data.tar.xz`, …) decompressed, by its suffix:
/// none, `.gz`, `.xz`, `.zst` or `.lzma`.
pub(crate) fn decompressed<'a>(name: &str, member: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let suffix = name.find(".tar").map_or("", |i| &name[i + 4..]);
    Ok(match suffix {
        "" => Box::new(member),
        // The package's SHA-256 was checked against signed metadata: xz's own CRC of each
        // block adds nothing but time.
        ".xz" => Box::new(liblzma::read::XzDecoder::new_stream(
            member,
            liblzma::stream::Stream::new_stream_decoder(u64::MAX, liblzma::stream::IGNORE_CHECK)?,
        )),
        ".lzma" => {
            Box::new(liblzma::read::XzDecoder::new_stream(member, liblzma::stream::Stream::new_lzma_decoder(u64::MAX)?))
        }
        ".gz" => Box::new(flate2::read::GzDecoder::new(member)),
        ".zst" => Box::new(zstd::stream::read::Decoder::new(member)?),
        other => bail!("{name}: unknown compression {other:?}"),
    })
}

/// The tar archive of the first member starting with `prefix`, decompressed.
pub(crate) fn tar_member<'a>(r: &'a mut impl Read, prefix: &str) -> Result<tar::Archive<Box<dyn Read + 'a>>> {
    let (name, size) = member(r, prefix)?;
    Ok(tar::Archive::new(decompressed(&name, r.take(size))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An ar archive of (name, bytes) members, names padded as dpkg-deb writes them.
    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            writeln!(out, "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`", 0, 0, 0, 100644, data.len()).unwrap();
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn members_are_found_past_odd_sized_ones_and_decompressed_by_suffix() {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(b"payload").unwrap();
        let deb = ar(&[("debian-binary", b"2.0\n"), ("control.tar", b"odd"), ("data.tar.xz/", &xz.finish().unwrap())]);
        let mut r = &deb[..];
        let (name, size) = member(&mut r, "data.tar").unwrap();
        assert_eq!(name, "data.tar.xz");
        let mut text = String::new();
        decompressed(&name, r.take(size)).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "payload");
    }

    #[test]
    fn every_compression_dpkg_writes_is_read() {
        use liblzma::stream::{LzmaOptions, Stream};
        let opts = LzmaOptions::new_preset(1).unwrap();
        let mut lzma = liblzma::write::XzEncoder::new_stream(Vec::new(), Stream::new_lzma_encoder(&opts).unwrap());
        lzma.write_all(b"payload").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"payload").unwrap();
        let zst = zstd::encode_all(&b"payload"[..], 1).unwrap();
        for (name, bytes) in [
            ("data.tar.lzma", lzma.finish().unwrap()),
            ("data.tar.gz", gz.finish().unwrap()),
            ("data.tar.zst", zst),
            ("data.tar", b"payload".to_vec()),
        ] {
            let mut text = String::new();
            decompressed(name, &bytes[..]).unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, "payload", "{name}");
        }
    }

    #[test]
    fn damaged_archives_are_errors_naming_what_is_wrong() {
        let err = |deb: &[u8]| format!("{:#}", member(&mut &deb[..], "data.tar").unwrap_err());
        assert!(err(b"PK\x03\x04zipfile").contains("no ar header"));
        assert!(err(b"!<arch>").contains("too short"));
        assert!(err(&ar(&[("debian-binary", b"2.0\n")])).contains("no data.tar member"));
        let mut cut = ar(&[("control.tar", &[0u8; 100]), ("data.tar", b"")]);
        cut.truncate(90);
        assert!(err(&cut).contains("cut short"));
        let mut bad = ar(&[("data.tar", b"")]);
        bad[8 + 48..8 + 58].copy_from_slice(b"-1        ");
        assert!(err(&bad).contains("no valid size"));
        assert!(decompressed("data.tar.bz2", &b""[..]).is_err());
    }
}
