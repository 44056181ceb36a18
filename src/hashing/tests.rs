use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::*;

/// Deterministic bytes (xorshift), different per seed.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Lengths around every boundary: the padding's 56 and 64 bytes, a lane's buffer, and a
/// few sizes that keep some lanes busy long after the others.
fn lengths() -> Vec<usize> {
    let mut out = vec![0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129];
    out.extend([CHUNK - 1, CHUNK, CHUNK + 1, CHUNK + 63, CHUNK + 64, 2 * CHUNK, 3 * CHUNK + 17, 9 * CHUNK + 5]);
    out.extend((0..40).map(|i| (i * 7919 + 13) % (2 * CHUNK)));
    out
}

fn write_files(dir: &std::path::Path, lens: &[usize]) -> (Vec<PathBuf>, Vec<String>) {
    let mut paths = Vec::new();
    let mut want = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let data = bytes(i as u64 + 1, len);
        let p = dir.join(format!("f{i}"));
        std::fs::write(&p, &data).unwrap();
        want.push(hex::encode(Sha256::digest(&data)));
        paths.push(p);
    }
    (paths, want)
}

#[test]
fn every_file_gets_its_own_digest_in_the_order_given() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, want) = write_files(dir.path(), &lengths());
    let got: Vec<String> = sha256_files(&paths).into_iter().map(Result::unwrap).collect();
    assert_eq!(got, want);
}

#[test]
fn the_one_stream_path_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, want) = write_files(dir.path(), &lengths());
    for (p, want) in paths.iter().zip(want) {
        let mut region = vec![0u8; CHUNK];
        let got = Stream::open(0, p).unwrap().run_serial(&mut region).unwrap();
        assert_eq!(got, want, "{}", p.display());
    }
}

#[test]
fn an_unreadable_file_is_an_error_naming_it_and_the_others_are_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut paths, want) = write_files(dir.path(), &[10, 70_000, 3]);
    paths.insert(1, dir.path().join("missing.rpm"));
    std::fs::create_dir(dir.path().join("a-directory.rpm")).unwrap();
    paths.push(dir.path().join("a-directory.rpm"));
    let got = sha256_files(&paths);
    assert_eq!(got.len(), 5);
    let err = format!("{:#}", got[1].as_ref().unwrap_err());
    assert!(err.contains("missing.rpm"), "{err}");
    let err = format!("{:#}", got[4].as_ref().unwrap_err());
    assert!(err.contains("a-directory.rpm"), "{err}");
    assert_eq!(got[0].as_ref().unwrap(), &want[0]);
    assert_eq!(got[2].as_ref().unwrap(), &want[1]);
    assert_eq!(got[3].as_ref().unwrap(), &want[2]);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sixteen_lanes_compress_like_sha2() {
    use sha2::digest::generic_array::GenericArray;
    if !avx512::available() {
        eprintln!("no AVX-512 on this CPU: only the one-stream path is used here");
        return;
    }
    let buf = bytes(7, avx512::LANES * 4096);
    for blocks in [1, 2, 5] {
        let offsets: [usize; avx512::LANES] = std::array::from_fn(|i| i * 4096 + i * 4 + 64 * (i % 3));
        let mut states: [[u32; 8]; avx512::LANES] = std::array::from_fn(|i| [i as u32 * 0x0101_0101; 8]);
        let mut want = states;
        avx512::compress(&mut states, &buf, &offsets, blocks);
        for (state, off) in want.iter_mut().zip(offsets) {
            for block in buf[off..off + 64 * blocks].chunks_exact(64) {
                sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
            }
        }
        assert_eq!(states, want, "{blocks} blocks");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
#[should_panic(expected = "outside the buffer")]
fn lanes_outside_the_buffer_are_refused() {
    let buf = vec![0u8; 1024];
    let mut states = [H0; avx512::LANES];
    let mut offsets = [0usize; avx512::LANES];
    offsets[3] = 1000;
    avx512::compress(&mut states, &buf, &offsets, 1);
}
