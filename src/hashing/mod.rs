//! SHA-256 of many files at once, on every core. Indexing a repository hashes every
//! package file, and that is nearly all of its work: with AVX-512 each worker reads up to
//! sixteen files side by side and compresses one block of each per step (`avx512`), and
//! the last few files of a worker, or every file on CPUs without it, go through
//! `sha2` (SHA-NI where the CPU has it) one stream each.
//!
//! Memory stays bounded whatever the file sizes: each worker holds one 64 KiB buffer per
//! lane, and files are read, never mapped (a file truncated while it is read is an error,
//! not a SIGBUS).

#[cfg(target_arch = "x86_64")]
mod avx512;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use sha2::digest::generic_array::GenericArray;

/// The initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Bytes buffered per file being hashed.
const CHUNK: usize = 64 * 1024;

/// The lower-case hex SHA-256 of each file, in the order given; an unreadable file's entry
/// is an error naming it. Larger files are started first, so that the workers finish
/// together.
pub(crate) fn sha256_files(paths: &[PathBuf]) -> Vec<Result<String>> {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() && std::env::var_os("OSREPO_NO_AVX512").is_none() {
        return lanes::sha256_files(paths);
    }
    paths.par_iter().map(|p| crate::fsutil::sha256_file(p)).collect()
}

/// One file being read into its part of a buffer and hashed.
struct Stream {
    job: usize,
    path: PathBuf,
    file: File,
    state: [u32; 8],
    /// Bytes read so far.
    total: u64,
    eof: bool,
    /// The unhashed bytes are `region[start..end]`.
    start: usize,
    end: usize,
}

impl Stream {
    fn open(job: usize, path: &Path) -> Result<Stream> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Stream { job, path: path.to_owned(), file, state: H0, total: 0, eof: false, start: 0, end: 0 })
    }

    fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Move what is left of the data to the front of `region` and read until it is full
    /// or the file ends.
    fn fill(&mut self, region: &mut [u8]) -> Result<()> {
        region.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while !self.eof && self.end < region.len() {
            let n = match self.file.read(&mut region[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.path.display())),
            };
            self.eof = n == 0;
            self.end += n;
            self.total += n as u64;
        }
        Ok(())
    }

    /// Hash the whole blocks of `region[start..end]` one stream wide.
    fn compress_serial(&mut self, region: &[u8]) {
        let whole = self.pending() / 64 * 64;
        for block in region[self.start..self.start + whole].chunks_exact(64) {
            sha2::compress256(&mut self.state, std::slice::from_ref(GenericArray::from_slice(block)));
        }
        self.start += whole;
    }

    /// The digest, once the file has ended and fewer than 64 bytes are left: those bytes,
    /// the padding and the length in bits (FIPS 180-4, 5.1.1).
    fn finish(mut self, region: &[u8]) -> String {
        debug_assert!(self.eof && self.pending() < 64);
        let tail = &region[self.start..self.end];
        let mut last = [0u8; 128];
        last[..tail.len()].copy_from_slice(tail);
        last[tail.len()] = 0x80;
        let len = if tail.len() < 56 { 64 } else { 128 };
        last[len - 8..len].copy_from_slice(&(self.total * 8).to_be_bytes());
        for block in last[..len].chunks_exact(64) {
            sha2::compress256(&mut self.state, std::slice::from_ref(GenericArray::from_slice(block)));
        }
        hex::encode(self.state.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>())
    }

    /// Hash the rest of the file one stream wide.
    fn run_serial(mut self, region: &mut [u8]) -> Result<String> {
        loop {
            self.compress_serial(region);
            if self.eof {
                return Ok(self.finish(region));
            }
            self.fill(region)?;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use anyhow::Result;

    use super::avx512::{self, LANES};
    use super::{Stream, CHUNK};

    /// Below this many busy lanes, one SHA-NI stream per file is faster than sixteen
    /// lanes with most of them idle.
    const MIN_BUSY: usize = 6;

    /// Files by size, largest first; the shared queue workers take them from.
    struct Queue<'a> {
        paths: &'a [PathBuf],
        order: Vec<usize>,
        next: AtomicUsize,
    }

    impl Queue<'_> {
        fn take(&self) -> Option<usize> {
            self.order.get(self.next.fetch_add(1, Ordering::Relaxed)).copied()
        }
    }

    pub(super) fn sha256_files(paths: &[PathBuf]) -> Vec<Result<String>> {
        let size = |p: &PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let sizes: Vec<u64> = paths.iter().map(size).collect();
        let mut order: Vec<usize> = (0..paths.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
        let queue = Queue { paths, order, next: AtomicUsize::new(0) };
        let done: Vec<Vec<(usize, Result<String>)>> = rayon::broadcast(|_| worker(&queue));
        let mut out: Vec<Option<Result<String>>> = (0..paths.len()).map(|_| None).collect();
        for (job, result) in done.into_iter().flatten() {
            out[job] = Some(result);
        }
        out.into_iter().map(|r| r.expect("every file is hashed once")).collect()
    }

    /// One worker: sixteen lanes, each hashing a file from the queue and taking the next
    /// when it is done.
    fn worker(queue: &Queue) -> Vec<(usize, Result<String>)> {
        let mut buf = vec![0u8; LANES * CHUNK];
        let mut lanes: [Option<Stream>; LANES] = std::array::from_fn(|_| None);
        let mut done = Vec::new();
        let mut queue_empty = false;
        loop {
            for (i, lane) in lanes.iter_mut().enumerate() {
                let region = &mut buf[i * CHUNK..(i + 1) * CHUNK];
                refill(lane, region, queue, &mut queue_empty, &mut done);
            }
            let busy = lanes.iter().flatten().count();
            if busy == 0 {
                return done;
            }
            if queue_empty && busy < MIN_BUSY {
                for (i, lane) in lanes.iter_mut().enumerate() {
                    if let Some(s) = lane.take() {
                        done.push((s.job, s.run_serial(&mut buf[i * CHUNK..(i + 1) * CHUNK])));
                    }
                }
                return done;
            }
            step(&mut lanes, &buf);
        }
    }

    /// Make `lane` busy with at least one whole block, or empty: reads more of its file,
    /// finishes it when it has ended, and opens the next file from the queue.
    fn refill(
        lane: &mut Option<Stream>,
        region: &mut [u8],
        queue: &Queue,
        queue_empty: &mut bool,
        done: &mut Vec<(usize, Result<String>)>,
    ) {
        loop {
            if lane.is_none() {
                let Some(job) = (!*queue_empty).then(|| queue.take()).flatten() else {
                    *queue_empty = true;
                    return;
                };
                match Stream::open(job, &queue.paths[job]) {
                    Ok(s) => *lane = Some(s),
                    Err(e) => {
                        done.push((job, Err(e)));
                        continue;
                    }
                }
            }
            let s = lane.as_mut().expect("set above");
            if s.pending() >= 64 {
                return;
            }
            if let Err(e) = s.fill(region) {
                done.push((s.job, Err(e)));
                *lane = None;
                continue;
            }
            if s.eof && s.pending() < 64 {
                let s = lane.take().expect("set above");
                done.push((s.job, Ok(s.finish(region))));
                continue;
            }
        }
    }

    /// Compress as many blocks as every busy lane has, sixteen lanes at a time.
    fn step(lanes: &mut [Option<Stream>; LANES], buf: &[u8]) {
        let blocks = lanes.iter().flatten().map(|s| s.pending() / 64).min().expect("a busy lane");
        let mut states = [super::H0; LANES];
        // An idle lane hashes its own region, whatever is in it, and the result is dropped.
        let mut offsets: [usize; LANES] = std::array::from_fn(|i| i * CHUNK);
        for (i, s) in lanes.iter().enumerate() {
            if let Some(s) = s {
                states[i] = s.state;
                offsets[i] = i * CHUNK + s.start;
            }
        }
        avx512::compress(&mut states, buf, &offsets, blocks);
        for (s, state) in lanes.iter_mut().zip(states) {
            if let Some(s) = s {
                s.state = state;
                s.start += 64 * blocks;
            }
        }
    }
}

#[cfg(test)]
mod tests;
