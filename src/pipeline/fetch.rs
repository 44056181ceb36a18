//! fetch: get every file of a closure into the cache, checked against the checksum and size
//! the upstream's signed metadata (or the lock) gives. Files the cache has are not fetched;
//! the others are downloaded inside a build container (curl or apt-helper, `file:` URLs
//! copied), then verified and stored under their sha256. One path for resolving and for
//! locked builds.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::BuildContext;
use crate::engine::Container;
use crate::lock::LockedPackage;
use crate::plan::Job;
use crate::resolve::{percent_decode, Artifact, Checksum, FETCH_SCRIPT, JOB_DIR, WORK_DIR};

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

/// Where missing files are downloaded: a build container already running, or one started
/// for the purpose (and removed again).
pub(crate) enum Via<'a> {
    Running(&'a Container),
    Start,
}

/// Every wanted file, in order, from the cache or fetched into it and verified.
pub(crate) async fn fetch_verified(
    ctx: &BuildContext,
    job: &Job,
    via: Via<'_>,
    wants: &[Want],
    dir: &Path,
) -> Result<Vec<Have>> {
    let mut have: Vec<Option<Have>> = Vec::with_capacity(wants.len());
    for w in wants {
        have.push(match &w.checksum {
            Checksum::Sha256(h) => {
                ctx.cache.get(h, w.size)?.map(|path| Have { sha256: h.clone(), path, fetched: false })
            }
            _ => None,
        });
    }
    let missing: Vec<usize> = (0..wants.len()).filter(|i| have[*i].is_none()).collect();
    if !missing.is_empty() {
        let kind = if wants[missing[0]].from_lock { "locked files" } else { "files" };
        tracing::info!("{}: fetching {} {kind} of {} the cache lacks", job.label(), missing.len(), wants.len());
        let need: Vec<&Want> = missing.iter().map(|i| &wants[*i]).collect();
        let got = match via {
            Via::Running(c) => download(ctx, job, c, &need, dir).await?,
            Via::Start => {
                // The job's mounts: locked `file:` URLs point into them.
                let inputs = crate::family::backend(job.distro.family).container_inputs(job, &ctx.overrides)?;
                let c = super::container::start(ctx, job, inputs.binds).await?;
                let r = download(ctx, job, &c, &need, dir).await;
                c.remove().await;
                r?
            }
        };
        for (i, h) in missing.into_iter().zip(got) {
            have[i] = Some(h);
        }
    }
    Ok(have.into_iter().flatten().collect())
}

/// Download `need` in the container, verify each and move it into the cache.
async fn download(ctx: &BuildContext, job: &Job, c: &Container, need: &[&Want], dir: &Path) -> Result<Vec<Have>> {
    let label = job.label();
    let got = dir.join("fetched");
    let urls: Vec<&str> = need.iter().map(|w| w.url.as_str()).collect();
    let failed = fetch_in(c, &urls, &got).await?;
    if !failed.is_empty() {
        let kind = if need[0].from_lock { "locked files" } else { "files" };
        let lines: Vec<String> = failed.iter().map(|(i, why)| format!("\n  {}: {why}", need[*i].what)).collect();
        bail!("{label}: {kind} cannot be fetched:{}", lines.concat());
    }
    let mut out = Vec::with_capacity(need.len());
    for (i, w) in need.iter().enumerate() {
        let path = got.join(format!("f{i}"));
        let source = if w.from_lock { "the lock" } else { "the upstream metadata" };
        w.checksum.verify(&path, w.size).with_context(|| format!("{label}: {} does not match {source}", w.what))?;
        let sha256 = match &w.checksum {
            Checksum::Sha256(h) => h.clone(),
            _ => crate::fsutil::sha256_file(&path)?,
        };
        let path = ctx.cache.put(&path, &sha256)?;
        out.push(Have { sha256, path, fetched: true });
    }
    Ok(out)
}

/// Download `urls` inside a running build container into `dest` as `f0`, `f1`, ...
/// Returns the indexes that failed, with why.
async fn fetch_in(container: &Container, urls: &[&str], dest: &Path) -> Result<Vec<(usize, String)>> {
    let mut list = String::new();
    for (i, url) in urls.iter().enumerate() {
        let url = match url.strip_prefix("file:") {
            Some(path) => format!("file:{}", percent_decode(path)),
            None => url.to_string(),
        };
        list.push_str(&format!("{url} f{i}\n"));
    }
    let files = vec![
        ("fetch.sh".to_string(), FETCH_SCRIPT.as_bytes().to_vec(), 0o755),
        ("fetch.list".to_string(), list.into_bytes(), 0o644),
    ];
    container.upload(JOB_DIR, &files).await?;
    let run = container.exec(&["sh", &format!("{JOB_DIR}/fetch.sh")]).await?;
    let outdir = dest.with_extension("out");
    container.copy_out(&format!("{WORK_DIR}/out"), &outdir).await?;
    let failed = std::fs::read_to_string(outdir.join("failed.tsv")).unwrap_or_default();
    let mut out: Vec<(usize, String)> = failed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(f, why)| Some((f.strip_prefix('f')?.parse().ok()?, why.to_string())))
        .filter(|(i, _)| *i < urls.len())
        .collect();
    if run.code != 0 && out.is_empty() {
        bail!("the fetch script failed (exit {}): {}", run.code, run.output.lines().last().unwrap_or(""));
    }
    if out.is_empty() {
        container.copy_out(&format!("{WORK_DIR}/files"), dest).await?;
    }
    out.sort();
    Ok(out)
}
