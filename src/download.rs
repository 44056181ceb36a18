//! download: the host-side fetcher. Files of a closure are downloaded by osrepo itself, with
//! one HTTP client (keep-alive, a bounded number of connections, `HTTP(S)_PROXY`/`NO_PROXY`
//! honoured), streamed through their checksum into a temporary file of the cache, checked
//! against the size and checksum the upstream's signed metadata (or the lock) gives, and
//! renamed into the cache. Interrupted downloads resume with a Range request; transient
//! failures are retried with backoff. `file:` URLs are read from the host directly.
//!
//! This module is an edge: network and the cache's directory. What to fetch and where it came
//! from is decided by `pipeline::fetch`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cache::Cache;
use crate::progress::Bar;
use crate::resolve::Checksum;

/// Connections open at once by default.
pub const DEFAULT_CONNECTIONS: usize = 8;
/// Attempts per file (the first and the retries).
const ATTEMPTS: u32 = 4;

/// Where a file is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Http(reqwest::Url),
    /// A host file (a `file:` URL, mapped from the build container's view).
    Local(PathBuf),
}

/// One file to download into the cache.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub location: Location,
    pub size: u64,
    pub checksum: Checksum,
}

/// A downloaded, verified file in the cache.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub sha256: String,
    pub path: PathBuf,
}

/// The bytes are not the ones the metadata describes (its size or checksum).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Mismatch(String);

/// Why one attempt failed: retry it, or give up.
#[derive(Debug)]
enum Failure {
    Transient(anyhow::Error),
    Permanent(anyhow::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Permanent(e.into())
    }
}

/// The fetcher: one client for every download of a build.
#[derive(Debug, Clone)]
pub struct Downloader {
    client: reqwest::Client,
    connections: usize,
    /// First backoff; doubled per retry.
    backoff: Duration,
}

impl Downloader {
    pub fn new(connections: usize) -> Result<Downloader> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("osrepo/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(connections.max(1))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Downloader { client, connections: connections.max(1), backoff: Duration::from_millis(400) })
    }

    /// Download every item into the cache, `connections` at a time; results in item order.
    #[cfg(test)]
    pub(crate) async fn fetch_all(&self, cache: &Cache, items: &[Item], bar: &Bar) -> Vec<Result<Fetched>> {
        self.fetch_all_then(cache, items, bar, &|_| {}).await
    }

    /// [`Downloader::fetch_all`], calling `landed` with each file as soon as it is in the
    /// cache (in the order they land), so that work on it can start while others download.
    /// The largest files are asked for first: they take the most work after landing, and a
    /// big file fetched last would leave one core working alone at the end.
    pub(crate) async fn fetch_all_then(
        &self,
        cache: &Cache,
        items: &[Item],
        bar: &Bar,
        landed: &(dyn Fn(&Fetched) + Sync),
    ) -> Vec<Result<Fetched>> {
        let one = |i: usize| async move {
            let r = self.fetch(cache, &items[i], bar).await;
            if let Ok(f) = &r {
                landed(f);
            }
            (i, r)
        };
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(items[i].size));
        let mut got: Vec<(usize, Result<Fetched>)> =
            futures_util::stream::iter(order.into_iter().map(one)).buffer_unordered(self.connections).collect().await;
        got.sort_by_key(|(i, _)| *i);
        got.into_iter().map(|(_, r)| r).collect()
    }

    /// One file: downloaded (resuming a partial one), verified, moved into the cache.
    async fn fetch(&self, cache: &Cache, item: &Item, bar: &Bar) -> Result<Fetched> {
        let part = cache.partial_path(item.checksum.kind(), item.checksum.hex())?;
        // Two jobs (amd64 and arm64 share `all` packages) or two builds may want one file.
        let _held = hold(&part).await?;
        if let Checksum::Sha256(h) = &item.checksum {
            if let Some(path) = cache.get(h, item.size)? {
                bar.inc(item.size);
                return Ok(Fetched { sha256: h.clone(), path });
            }
        }
        let sha256 = match &item.location {
            Location::Local(p) => copy_local(p, &part, item, bar).await?,
            Location::Http(url) => self.http(url, &part, item, bar).await?,
        };
        let path = cache.put(&part, &sha256)?;
        Ok(Fetched { sha256, path })
    }

    /// Attempts with backoff; a checksum mismatch after a resumed download is retried once
    /// from scratch (the partial file may have been the bad part).
    async fn http(&self, url: &reqwest::Url, part: &Path, item: &Item, bar: &Bar) -> Result<String> {
        let mut wait = self.backoff;
        let mut last = None;
        for attempt in 1..=ATTEMPTS {
            match self.attempt(url, part, item, bar).await {
                Ok(sha) => return Ok(sha),
                Err(Failure::Permanent(e)) => return Err(e),
                Err(Failure::Transient(e)) => {
                    tracing::debug!("{url}: attempt {attempt} failed: {e:#}");
                    last = Some(e);
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")).context(format!("after {ATTEMPTS} attempts")))
    }

    async fn attempt(&self, url: &reqwest::Url, part: &Path, item: &Item, bar: &Bar) -> Result<String, Failure> {
        let (mut file, mut hash, have) = resume(part, item).await?;
        let mut req = self.client.get(url.clone());
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = req.send().await.map_err(|e| Failure::Transient(e.into()))?;
        let status = resp.status();
        let mut got = have;
        if have > 0 && status != reqwest::StatusCode::PARTIAL_CONTENT {
            // The server sends the whole file (or cannot serve the range): start over.
            file = restart(part).await?;
            hash = Hashing::new(&item.checksum);
            got = 0;
            if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                return Err(Failure::Transient(anyhow::anyhow!("the partial download was longer than the file")));
            }
        }
        check_status(status)?;
        bar.inc(got);
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure::Transient(e.into()))?;
            got += chunk.len() as u64;
            if got > item.size {
                let _ = tokio::fs::remove_file(part).await;
                let m = Mismatch(format!("more than the {} bytes the metadata says", item.size));
                return Err(Failure::Permanent(m.into()));
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
            bar.inc(chunk.len() as u64);
        }
        file.flush().await?;
        drop(file);
        if got < item.size {
            return Err(Failure::Transient(anyhow::anyhow!("connection ended after {got} of {} bytes", item.size)));
        }
        finish(part, hash, item, have > 0).await
    }
}

/// An exclusive lock on a partial file's `.lock` beside it, held while it is downloaded
/// (released when dropped). The lock files stay: removing one could let two holders in.
async fn hold(part: &Path) -> Result<std::fs::File> {
    let path = PathBuf::from(format!("{}.lock", part.display()));
    loop {
        if let Some(f) = crate::publish::lockfile::try_hold(&path)? {
            return Ok(f);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 2xx goes on; 404, 403 and 410 are final ("gone upstream?"); other errors are retried.
fn check_status(status: reqwest::StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let e = anyhow::anyhow!("HTTP {status}");
    match status.as_u16() {
        403 | 404 | 410 => Err(Failure::Permanent(e.context("gone upstream? (the mirror no longer has it)"))),
        _ => Err(Failure::Transient(e)),
    }
}

/// Open the partial file for appending: its bytes so far are hashed again (a resumed
/// download is checked as a whole). A partial file as long as the item or longer is dropped.
async fn resume(part: &Path, item: &Item) -> Result<(tokio::fs::File, Hashing, u64), Failure> {
    let mut hash = Hashing::new(&item.checksum);
    let len = tokio::fs::metadata(part).await.map(|m| m.len()).unwrap_or(0);
    if len == 0 || len >= item.size {
        return Ok((restart(part).await?, hash, 0));
    }
    let mut f = tokio::fs::File::open(part).await?;
    hash_through(&mut f, &mut hash, None, &Bar::hidden()).await?;
    let file = tokio::fs::OpenOptions::new().append(true).open(part).await?;
    Ok((file, hash, len))
}

async fn restart(part: &Path) -> Result<tokio::fs::File, Failure> {
    if let Some(dir) = part.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    Ok(tokio::fs::File::create(part).await?)
}

/// Compare what was hashed with the metadata; a mismatch removes the file. A resumed
/// download that does not match is retried from scratch.
async fn finish(part: &Path, hash: Hashing, item: &Item, resumed: bool) -> Result<String, Failure> {
    let (sha256, checked) = hash.finish();
    if checked == item.checksum.hex() {
        return Ok(sha256);
    }
    let _ = tokio::fs::remove_file(part).await;
    let e = Mismatch(format!("checksum {checked} but the metadata says {}", item.checksum.hex())).into();
    Err(if resumed { Failure::Transient(e) } else { Failure::Permanent(e) })
}

/// A host file, hashed while it is copied into the cache's temporary file.
async fn copy_local(src: &Path, part: &Path, item: &Item, bar: &Bar) -> Result<String> {
    let meta = tokio::fs::metadata(src).await.with_context(|| format!("cannot read {}", src.display()))?;
    if meta.len() != item.size {
        let m = Mismatch(format!("{}: size {} but the metadata says {}", src.display(), meta.len(), item.size));
        return Err(m.into());
    }
    let mut from = tokio::fs::File::open(src).await.with_context(|| format!("cannot read {}", src.display()))?;
    let mut to = restart(part).await.map_err(failure_error)?;
    let mut hash = Hashing::new(&item.checksum);
    hash_through(&mut from, &mut hash, Some(&mut to), bar).await?;
    to.flush().await?;
    finish(part, hash, item, false).await.map_err(failure_error)
}

/// Read `from` to its end through `hash`, copying it into `to` when given.
async fn hash_through(
    from: &mut tokio::fs::File,
    hash: &mut Hashing,
    mut to: Option<&mut tokio::fs::File>,
    bar: &Bar,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        hash.update(&buf[..n]);
        if let Some(t) = to.as_deref_mut() {
            t.write_all(&buf[..n]).await?;
        }
        bar.inc(n as u64);
    }
}

fn failure_error(f: Failure) -> anyhow::Error {
    match f {
        Failure::Transient(e) | Failure::Permanent(e) => e,
    }
}

/// SHA-256 (the cache key) and, when the metadata gives another kind, that one too.
enum Hashing {
    Sha256(Sha256),
    Md5(Sha256, Md5),
    Sha512(Sha256, Sha512),
}

impl Hashing {
    fn new(c: &Checksum) -> Hashing {
        match c {
            Checksum::Sha256(_) => Hashing::Sha256(Sha256::new()),
            Checksum::Md5(_) => Hashing::Md5(Sha256::new(), Md5::new()),
            Checksum::Sha512(_) => Hashing::Sha512(Sha256::new(), Sha512::new()),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Hashing::Sha256(s) => s.update(b),
            Hashing::Md5(s, o) => {
                s.update(b);
                o.update(b);
            }
            Hashing::Sha512(s, o) => {
                s.update(b);
                o.update(b);
            }
        }
    }

    /// (sha256, the digest of the metadata's kind), lower-case hex.
    fn finish(self) -> (String, String) {
        match self {
            Hashing::Sha256(s) => {
                let h = hex::encode(s.finalize());
                (h.clone(), h)
            }
            Hashing::Md5(s, o) => (hex::encode(s.finalize()), hex::encode(o.finalize())),
            Hashing::Sha512(s, o) => (hex::encode(s.finalize()), hex::encode(o.finalize())),
        }
    }
}

#[cfg(test)]
mod tests;
