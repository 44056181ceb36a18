//! fetch: get every file of a closure into the cache, checked against the checksum and size
//! the upstream's signed metadata (or the lock) gives. Files the cache has are not fetched;
//! the others are downloaded on the host by `download` (`file:` URLs of mounted repos read
//! through their mounts), and read as they land (`warm`). One path for resolving and for
//! locked builds: neither needs a container to fetch.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::BuildContext;
use crate::download::{Item, Location, Mismatch};
use crate::family::Bind;
use crate::lock::LockedPackage;
use crate::plan::Job;
use crate::progress::Bar;
use crate::resolve::{percent_decode, Artifact, Checksum};

/// One file to have.
#[derive(Debug, Clone)]
pub(crate) struct Want {
    pub url: String,
    pub size: u64,
    pub checksum: Checksum,
    /// How errors name it (`jq 1.6-2.1 (URL)`, `jq_1.6-2.1_amd64.deb (URL)`).
    pub what: String,
    /// Where the checksum came from: a locked build names the lock in its errors.
    pub from_lock: bool,
}

impl Want {
    pub fn locked(p: &LockedPackage) -> Want {
        Want {
            url: p.url.clone(),
            size: p.size,
            checksum: Checksum::Sha256(p.sha256.clone()),
            what: format!("{} {} ({})", p.name, p.version, p.url),
            from_lock: true,
        }
    }

    pub(crate) fn upstream(a: &Artifact) -> Want {
        Want {
            url: a.url.clone(),
            size: a.size,
            checksum: a.checksum.clone(),
            what: format!("{} ({})", a.file, a.url),
            from_lock: false,
        }
    }
}

/// A file in the cache.
#[derive(Debug, Clone)]
pub(crate) struct Have {
    pub sha256: String,
    pub path: PathBuf,
    /// Downloaded in this build (not taken from the cache).
    pub fetched: bool,
}

/// Every wanted file, in order, from the cache or downloaded into it and verified. `binds`
/// are the job's mounts: `file:` URLs point into them.
pub(crate) async fn fetch_verified(ctx: &BuildContext, job: &Job, wants: &[Want], binds: &[Bind]) -> Result<Vec<Have>> {
    let mut have = cached(ctx, wants)?;
    let missing: Vec<usize> = (0..wants.len()).filter(|i| have[*i].is_none()).collect();
    if missing.is_empty() {
        return Ok(have.into_iter().flatten().collect());
    }
    let label = job.label();
    let kind = if wants[missing[0]].from_lock { "locked files" } else { "files" };
    let items = missing
        .iter()
        .map(|i| item(&wants[*i], binds))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{label}: {kind}"))?;
    let total: u64 = items.iter().map(|i| i.size).sum();
    tracing::info!(
        "{label}: downloading {} {kind} of {} the cache lacks ({:.1} MiB)",
        items.len(),
        wants.len(),
        total as f64 / 1048576.0
    );
    let bar = Bar::bytes(&format!("{label}: downloading"), total);
    // Files are read (headers, licenses) as they land, on the cores the download leaves idle.
    let warmer = super::warm::Warmer::for_backend(crate::family::backend(job.distro.family), &ctx.cache);
    let landed = |f: &crate::download::Fetched| warmer.submit(&f.sha256, &f.path);
    let got = ctx.downloader.fetch_all_then(&ctx.cache, &items, &bar, &landed).await;
    tracing::info!("{label}: downloaded {}", bar.finish());
    let t = std::time::Instant::now();
    if tokio::task::spawn_blocking(move || warmer.finish()).await.is_err() {
        tracing::debug!("{label}: a reader of downloaded files panicked");
    }
    tracing::debug!("{label}: reading the downloaded files took {:.2} s after the last one", t.elapsed().as_secs_f64());
    let source = if kind == "files" { "the upstream metadata" } else { "the lock" };
    let mut failed = Vec::new();
    for (i, r) in missing.into_iter().zip(got) {
        match r {
            Ok(f) => have[i] = Some(Have { sha256: f.sha256, path: f.path, fetched: true }),
            Err(e) if e.downcast_ref::<Mismatch>().is_some() => {
                failed.push(format!("\n  {} does not match {source}: {e:#}", wants[i].what));
            }
            Err(e) => failed.push(format!("\n  {} cannot be fetched: {e:#}", wants[i].what)),
        }
    }
    if !failed.is_empty() {
        bail!("{label}: {} of the {kind} failed:{}", failed.len(), failed.concat());
    }
    Ok(have.into_iter().flatten().collect())
}

/// What the cache has of `wants` (each checked against its sha256, on every core).
fn cached(ctx: &BuildContext, wants: &[Want]) -> Result<Vec<Option<Have>>> {
    use rayon::prelude::*;
    wants
        .par_iter()
        .map(|w| match &w.checksum {
            Checksum::Sha256(h) => {
                Ok(ctx.cache.get(h, w.size)?.map(|path| Have { sha256: h.clone(), path, fetched: false }))
            }
            _ => Ok(None),
        })
        .collect()
}

/// The download of one wanted file.
fn item(w: &Want, binds: &[Bind]) -> Result<Item> {
    Ok(Item {
        location: location(&w.url, binds).with_context(|| w.what.clone())?,
        size: w.size,
        checksum: w.checksum.clone(),
    })
}

/// Where a URL is read from: http(s) as it is; `file:` through the mount it points into
/// (a path outside every mount is refused, whatever the lock or the resolver says).
pub(crate) fn location(url: &str, binds: &[Bind]) -> Result<Location> {
    if let Some(rest) = url.strip_prefix("file:") {
        let path = percent_decode(rest.strip_prefix("//").unwrap_or(rest));
        return binds
            .iter()
            .find_map(|b| b.host_path(&path))
            .map(Location::Local)
            .with_context(|| format!("{url}: not inside a mounted file: repo"));
    }
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(Location::Http(parsed)),
        s => bail!("{url}: the {s}: scheme is not supported (http, https, file)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_map_through_their_mount_and_stay_inside_it() {
        let binds = vec![Bind { host: PathBuf::from("/srv/extra"), inside: "/osrepo/extra/x".into(), writable: false }];
        let l = location("file:/osrepo/extra/x/pool/a_1%2b2_all.deb", &binds).unwrap();
        assert_eq!(l, Location::Local(PathBuf::from("/srv/extra/pool/a_1+2_all.deb")));
        let l = location("file:///osrepo/extra/x/Packages/b.rpm", &binds).unwrap();
        assert_eq!(l, Location::Local(PathBuf::from("/srv/extra/Packages/b.rpm")));
        for bad in [
            "file:/osrepo/extra/x/../../../etc/shadow",
            "file:/osrepo/extra/x%2f..%2f..%2fetc/shadow",
            "file:/osrepo/extra/xy/a.deb",
            "file:/etc/shadow",
            "ftp://h/a.deb",
            "gopher",
        ] {
            assert!(location(bad, &binds).is_err(), "{bad}");
        }
        assert!(matches!(location("https://h/p/a.deb", &binds).unwrap(), Location::Http(_)));
    }
}
