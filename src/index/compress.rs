//! Reading compressed metadata files (upstream primary.xml and modules.yaml,
//! the repodata of output trees).

use std::io::Read;

use anyhow::{bail, Result};

/// Decompress a metadata file by its extension (.gz, .zst, .xz, or plain).
pub fn decompress(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
    } else if name.ends_with(".zst") {
        out = zstd::decode_all(data)?;
    } else if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(data).read_to_end(&mut out)?;
    } else if name.ends_with(".bz2") {
        bail!("{name}: bzip2 metadata is not supported");
    } else {
        out = data.to_vec();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn decompresses_by_extension() {
        let text = b"<metadata/>\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(text).unwrap();
        assert_eq!(decompress("a-primary.xml.gz", &gz.finish().unwrap()).unwrap(), text);
        assert_eq!(decompress("a-primary.xml.zst", &zstd::encode_all(&text[..], 1).unwrap()).unwrap(), text);
        assert_eq!(decompress("a-primary.xml.xz", &xz.finish().unwrap()).unwrap(), text);
        assert_eq!(decompress("primary.xml", text).unwrap(), text);
        assert!(decompress("primary.xml.bz2", text).is_err());
    }
}
