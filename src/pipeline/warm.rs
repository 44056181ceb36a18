//! warm: work on downloaded files while the others still download. Each file that lands in
//! the cache is handed to the family's `Backend::warm` on a few threads of its own; what it
//! reads lands in the cache's records, where the later stages (lock entry, index, SBOM) find
//! it. On a slow link the SBOM's license reading, the most CPU a cold build spends, is over
//! when the last file arrives.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::cache::Cache;
use crate::family::Backend;

/// A file waiting to be read; the largest is taken first (then the earliest handed over).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Waiting {
    size: u64,
    seq: std::cmp::Reverse<u64>,
    sha256: String,
    path: PathBuf,
}

/// The files waiting, and whether more can come.
#[derive(Default)]
struct Queue {
    waiting: BinaryHeap<Waiting>,
    seq: u64,
    closed: bool,
}

type Shared = (Mutex<Queue>, Condvar);

/// The workers of one job's downloads.
pub(crate) struct Warmer {
    queue: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Warmer {
    /// Start one worker per core, each running `work` on the files handed over.
    pub(crate) fn start(work: impl Fn(&str, &Path) + Send + Sync + 'static) -> Warmer {
        let n = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Warmer::with_workers(n, work)
    }

    /// `n` workers. The largest file waiting is read first: when files land faster than
    /// they are read, the small ones are left for the end, where they keep every core busy
    /// until the last is done.
    fn with_workers(n: usize, work: impl Fn(&str, &Path) + Send + Sync + 'static) -> Warmer {
        let queue: Arc<Shared> = Arc::default();
        let work = Arc::new(work);
        let workers = (0..n)
            .map(|_| {
                let (queue, work) = (queue.clone(), work.clone());
                std::thread::spawn(move || {
                    while let Some(w) = next(&queue) {
                        work(&w.sha256, &w.path);
                    }
                })
            })
            .collect();
        Warmer { queue, workers }
    }

    /// A warmer running the family's [`Backend::warm`] against `cache`.
    pub(crate) fn for_backend(be: &'static dyn Backend, cache: &Cache) -> Warmer {
        let cache = cache.clone();
        Warmer::start(move |sha256, path| be.warm(&cache, sha256, path))
    }

    /// Hand a file that just landed to the workers.
    pub(crate) fn submit(&self, sha256: &str, path: &Path) {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let Ok(mut q) = self.queue.0.lock() else { return };
        if q.closed {
            return;
        }
        q.seq += 1;
        let seq = std::cmp::Reverse(q.seq);
        q.waiting.push(Waiting { size, seq, sha256: sha256.to_string(), path: path.to_path_buf() });
        self.queue.1.notify_one();
    }

    /// Wait until every file handed over is done.
    pub(crate) fn finish(mut self) {
        self.close(false);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }

    /// No more files; `drop_waiting` also forgets the ones not started.
    fn close(&self, drop_waiting: bool) {
        if let Ok(mut q) = self.queue.0.lock() {
            q.closed = true;
            if drop_waiting {
                q.waiting.clear();
            }
        }
        self.queue.1.notify_all();
    }
}

/// The next file for a worker; None once the queue is closed and empty.
fn next(queue: &Shared) -> Option<Waiting> {
    let mut q = queue.0.lock().ok()?;
    loop {
        if let Some(w) = q.waiting.pop() {
            return Some(w);
        }
        if q.closed {
            return None;
        }
        q = queue.1.wait(q).ok()?;
    }
}

impl Drop for Warmer {
    /// A job that fails stops its workers after the file each is on.
    fn drop(&mut self) {
        self.close(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_handed_over_is_done_when_finish_returns() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let d = done.clone();
        let w = Warmer::start(move |sha, p| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            d.lock().unwrap().push(format!("{sha} {}", p.display()));
        });
        for i in 0..50 {
            w.submit(&format!("{i:02}"), Path::new("/f"));
        }
        w.finish();
        let mut got = done.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, (0..50).map(|i| format!("{i:02} /f")).collect::<Vec<_>>());
    }

    #[test]
    fn the_largest_file_waiting_is_read_first() {
        let d = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let (took_tx, took_rx) = std::sync::mpsc::channel::<()>();
        let (gate, took) = (Mutex::new(gate_rx), Mutex::new(took_tx));
        let done = Arc::new(Mutex::new(Vec::new()));
        let seen = done.clone();
        // One worker, held on the first file until every other one waits.
        let w = Warmer::with_workers(1, move |sha, _| {
            if sha == "first" {
                took.lock().unwrap().send(()).unwrap();
                gate.lock().unwrap().recv().unwrap();
            }
            seen.lock().unwrap().push(sha.to_string());
        });
        for (name, size) in [("first", 1), ("s5", 5), ("s50", 50), ("s1", 1), ("s20", 20), ("t5", 5)] {
            let p = d.path().join(name);
            std::fs::write(&p, vec![0u8; size]).unwrap();
            w.submit(name, &p);
            if name == "first" {
                took_rx.recv().unwrap();
            }
        }
        gate_tx.send(()).unwrap();
        w.finish();
        assert_eq!(*done.lock().unwrap(), ["first", "s50", "s20", "s5", "t5", "s1"]);
    }
}
