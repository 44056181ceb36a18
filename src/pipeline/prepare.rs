//! prepare: get a job's closure into the cache, from the lock or by resolving it in a build
//! container, and make it a lock entry.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::decide::Source;
use super::fetch::{fetch_verified, Have, Want};
use super::BuildContext;
use crate::family::{backend, Backend, Bind, Ready, Report};
use crate::lock::{LockedJob, LockedPackage};
use crate::plan::Job;

/// A job's closure, every file in the cache. `digest` and `date` are filled in by the caller.
pub(crate) async fn prepare(
    ctx: &BuildContext,
    job: &Job,
    inputs: String,
    source: Source,
    dir: &Path,
) -> Result<Ready> {
    let be = backend(job.distro.family);
    let inputs_c = be.container_inputs(job, &ctx.overrides)?;
    match source {
        Source::Lock(locked) => {
            let wants: Vec<Want> = locked.packages.iter().map(Want::locked).collect();
            let have = fetch_verified(ctx, job, &wants, &inputs_c.binds).await?;
            Ok(ready(job, locked, &have))
        }
        Source::Resolve => {
            tracing::info!("{}: resolving in {}", job.label(), job.image);
            // The resolver's state (apt's lists) persists in the cache, one build at a time.
            let state = ctx.cache.resolver_state(&job.label())?;
            let _held = crate::publish::lockfile::lock(&state, "resolver state", true)?;
            let mut binds = inputs_c.binds.clone();
            binds.push(Bind { host: state, inside: crate::resolve::STATE_DIR.to_string(), writable: true });
            let starting = format!("starting a {} container", job.image);
            let spinner = crate::progress::Bar::spinner(&format!("{}: resolving", job.label()), &starting);
            let c = super::container::start(ctx, job, &binds).await?;
            spinner.phase(&format!("the closure of {} requested packages", job.specs.len()));
            let report = super::container::resolve_all(&c, be, job, &inputs_c.files, dir).await;
            drop(spinner);
            // Removing the container (its network teardown takes a third of a second) runs
            // while the files are fetched and read; it is over before the job is.
            let removal = tokio::spawn(c.remove());
            let done = async {
                let report = report?;
                let wants: Vec<Want> = report.artifacts.iter().map(Want::upstream).collect();
                let have = fetch_verified(ctx, job, &wants, &inputs_c.binds).await?;
                let locked = lock_entry(ctx, be, job, inputs, &report, &have)?;
                Ok(ready(job, locked, &have))
            }
            .await;
            if let Err(e) = removal.await {
                tracing::warn!("{}: removing the build container: {e}", job.label());
            }
            done
        }
    }
}

fn ready(job: &Job, locked: LockedJob, have: &[Have]) -> Ready {
    Ready {
        job: job.clone(),
        files: have.iter().map(|h| (h.sha256.clone(), h.path.clone())).collect::<BTreeMap<_, _>>(),
        fetched: have.iter().filter(|h| h.fetched).count(),
        locked,
        digest: String::new(),
        date: chrono::DateTime::UNIX_EPOCH,
    }
}

/// The lock entry of a resolved closure: each file identified by its own metadata, every
/// request proven present.
fn lock_entry(
    ctx: &BuildContext,
    be: &dyn Backend,
    job: &Job,
    inputs: String,
    report: &Report,
    have: &[Have],
) -> Result<LockedJob> {
    let mut packages = Vec::with_capacity(have.len());
    let mut closure = Vec::with_capacity(have.len());
    // Package headers are read on every core (first error in closure order).
    let label = format!("{}: reading", job.label());
    let ids = crate::index::par_read_counted(&label, have, |h| be.identify(&ctx.cache, &h.sha256, &h.path))?;
    for ((a, h), id) in report.artifacts.iter().zip(have).zip(ids) {
        packages.push(LockedPackage {
            name: id.name.clone(),
            version: id.version.clone(),
            arch: id.arch.clone(),
            repo: be.upstream_repo(&a.url),
            url: a.url.clone(),
            size: a.size,
            sha256: h.sha256.clone(),
            file: a.pool_name(),
        });
        closure.push(id);
    }
    let missing = super::present::unsatisfied(be, &job.specs, &closure);
    if !missing.is_empty() {
        let (label, distro, arch) = (job.label(), job.distro.name.clone(), job.arch);
        return Err(super::container::ResolveError::NotInClosure { label, distro, arch, missing }.into());
    }
    for p in &packages {
        // Upstream metadata is untrusted: what becomes a path or a URL must fit its grammar.
        p.check().map_err(|(_, why)| anyhow::anyhow!("package {:?} from {} ({}): {why}", p.name, p.repo, p.url))?;
    }
    let extras = be.lock_extras(&packages, report)?;
    // The lockfile's order, so that a lock read back compares (and digests) equal.
    packages.sort();
    Ok(LockedJob { inputs, resolved: ctx.date.timestamp(), packages, modules: extras.modules, keys: extras.keys })
}
