//! warm: work on downloaded files while the others still download. Each file that lands in
//! the cache is handed to the family's `Backend::warm` on a few threads of its own; what it
//! reads lands in the cache's records, where the later stages (lock entry, index, SBOM) find
//! it. On a slow link the SBOM's license reading, the most CPU a cold build spends, is over
//! when the last file arrives.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::cache::Cache;
use crate::family::Backend;

/// The workers of one job's downloads.
pub(crate) struct Warmer {
    tx: Option<mpsc::Sender<(String, PathBuf)>>,
    workers: Vec<JoinHandle<()>>,
}

impl Warmer {
    /// Start one worker per core, each running `work` on the files handed over.
    pub(crate) fn start(work: impl Fn(&str, &Path) + Send + Sync + 'static) -> Warmer {
        let (tx, rx) = mpsc::channel::<(String, PathBuf)>();
        let shared = Arc::new((Mutex::new(rx), work));
        let n = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let workers = (0..n)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || loop {
                    // The lock is held only while taking the next file.
                    let next = shared.0.lock().map(|r| r.recv());
                    let Ok(Ok((sha256, path))) = next else { return };
                    (shared.1)(&sha256, &path);
                })
            })
            .collect();
        Warmer { tx: Some(tx), workers }
    }

    /// A warmer running the family's [`Backend::warm`] against `cache`.
    pub(crate) fn for_backend(be: &'static dyn Backend, cache: &Cache) -> Warmer {
        let cache = cache.clone();
        Warmer::start(move |sha256, path| be.warm(&cache, sha256, path))
    }

    /// Hand a file that just landed to the workers.
    pub(crate) fn submit(&self, sha256: &str, path: &Path) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((sha256.to_string(), path.to_path_buf()));
        }
    }

    /// Wait until every file handed over is done.
    pub(crate) fn finish(mut self) {
        self.tx = None;
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }
}

impl Drop for Warmer {
    /// A job that fails stops its workers after the file each is on.
    fn drop(&mut self) {
        self.tx = None;
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
}
