//! pipeline: a build, as the stages it runs. decide (lock or resolve, anything to do?) →
//! prepare every job concurrently (resolve in a build container, fetch and verify into the
//! cache) → report → save the lock → stage → each family publishes (index, sign, emit) →
//! commit. Effects stay in the stages that need them: containers in `container`, downloads
//! in `fetch`, the output tree in `publish`.

pub(crate) mod container;
pub mod decide;
pub(crate) mod fetch;
pub(crate) mod prepare;
pub(crate) mod present;
pub mod report;
pub(crate) mod state;
pub(crate) mod warm;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};

use crate::cache::Cache;
use crate::config::Family;
use crate::engine::{Engine, EngineError, PullPolicy};
use crate::family::{backend, Overrides, PublishContext, Publishing, Ready};
use crate::lock::{Lock, LockedJob};
use crate::plan::Job;
use crate::publish::Staging;
use crate::sign::SigningKey;
use decide::{LockMode, Planned};
pub use report::{summary_table, BuildOutcome, JobReport, JobStatus};
use state::OutputState;

/// Everything a build needs besides the jobs.
pub struct BuildContext {
    /// The engine, or why none answers (only jobs that need a container fail on it).
    pub engine: Result<Engine, EngineError>,
    pub out: PathBuf,
    pub key: SigningKey,
    pub pull: PullPolicy,
    pub base_url: String,
    pub overrides: Overrides,
    /// Index and signature time (SOURCE_DATE_EPOCH or now).
    pub date: DateTime<Utc>,
    /// SOURCE_DATE_EPOCH was set: `date` is used for every job. Otherwise each job's
    /// indexes carry the time its closure was resolved (from the lock).
    pub date_fixed: bool,
    /// Jobs prepared at once.
    pub jobs: usize,
    pub cache: Cache,
    /// The lockfile (next to packages.yaml by default).
    pub lock_path: PathBuf,
    pub lock_mode: LockMode,
    /// `osrepo lock`: resolve and fetch, write the lock, publish nothing.
    pub lock_only: bool,
    /// The host-side fetcher (one HTTP client for every job).
    pub downloader: crate::download::Downloader,
    /// `build --verify`: static and install checks of the staged tree before the swap.
    pub verify: Option<crate::verify::Gate>,
    /// The checksums apt indexes carry (`--hashes`; SHA256 alone by default).
    pub deb_hashes: crate::index::deb::DebHashes,
}

impl BuildContext {
    pub(crate) fn engine(&self) -> Result<&Engine> {
        self.engine.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// The date a job's indexes carry.
    fn job_date(&self, l: &LockedJob) -> DateTime<Utc> {
        if self.date_fixed {
            self.date
        } else {
            DateTime::from_timestamp(l.resolved, 0).unwrap_or(self.date)
        }
    }

    fn tree_digest(&self, job: &Job, l: &LockedJob) -> String {
        let date = self.job_date(l).timestamp();
        // Only apt trees carry the apt checksums.
        let hashes = match job.distro.family {
            crate::config::Family::Deb => self.deb_hashes,
            _ => crate::index::deb::DebHashes::default(),
        };
        state::tree_digest(&job.label(), l, &self.key.fingerprint(), &self.base_url, date, hashes)
    }
}

/// The build date: SOURCE_DATE_EPOCH when set, else now (whole seconds).
pub fn build_date() -> Result<DateTime<Utc>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: i64 = s.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number"))?;
            DateTime::from_timestamp(secs, 0).with_context(|| format!("SOURCE_DATE_EPOCH={s} is out of range"))
        }
        Err(_) => Ok(DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now)),
    }
}

/// Run every job; publish the distros whose jobs all succeeded.
pub async fn build(ctx: &BuildContext, jobs: Vec<Job>) -> Result<BuildOutcome> {
    let lock = Lock::load(&ctx.lock_path)?;
    let planned = plan_sources(ctx, jobs, &lock)?;
    let state = OutputState::load(&ctx.cache, &ctx.out).verified(&ctx.out);
    if !ctx.lock_only && ctx.out.is_dir() && decide::up_to_date(&planned, &state, |j, l| ctx.tree_digest(j, l)) {
        return Ok(unchanged(&planned));
    }
    let work = work_dir(ctx)?;
    let outcomes = prepare_all(ctx, planned, work.path()).await;
    let Sorted { ready, locked, reports, failures } = sort_outcomes(outcomes);
    save_lock(ctx, lock, locked, !ready.is_empty())?;
    if ctx.lock_only || ready.is_empty() {
        return Ok(BuildOutcome { reports, failures, published: false, unchanged: false });
    }
    publish(ctx, &ready, &state).await?;
    Ok(BuildOutcome { reports, failures, published: true, unchanged: false })
}

/// Each job's inputs digest and source; refusals of a `--locked` build are one error.
fn plan_sources(ctx: &BuildContext, jobs: Vec<Job>, lock: &Lock) -> Result<Vec<Planned>> {
    let mut with_inputs = Vec::with_capacity(jobs.len());
    for job in jobs {
        let o = &ctx.overrides;
        let inputs = crate::lock::inputs_digest(&job, o.mirror.as_deref(), o.security_mirror.as_deref())?;
        with_inputs.push((job, inputs));
    }
    let lock_name = ctx.lock_path.display().to_string();
    decide::plan_sources(with_inputs, lock, ctx.lock_mode, &lock_name)
        .map_err(|refused| anyhow!("{}\nnothing was published; {} is unchanged", refused.join("\n"), ctx.out.display()))
}

/// The reports of a build that has nothing to do.
fn unchanged(planned: &[Planned]) -> BuildOutcome {
    let reports = planned
        .iter()
        .filter_map(|p| match &p.source {
            decide::Source::Lock(l) => Some(JobReport::of(&p.job.distro.name, p.job.arch, l, 0, 0.0)),
            decide::Source::Resolve => None,
        })
        .collect();
    BuildOutcome { reports, failures: vec![], published: false, unchanged: true }
}

/// A scratch directory beside the output, removed when dropped.
fn work_dir(ctx: &BuildContext) -> Result<tempfile::TempDir> {
    let parent = crate::fsutil::parent_of(&ctx.out);
    std::fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
    tempfile::Builder::new()
        // The owner's pid in the name: a later build removes it once this process is gone.
        .prefix(&format!(".osrepo-work.{}.", std::process::id()))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))
}

type Outcome = (Job, Result<Ready>, f64);

/// Prepare every job, at most `ctx.jobs` at once; a failing job does not stop the others.
/// Outcomes come back in the jobs' order.
async fn prepare_all(ctx: &BuildContext, planned: Vec<Planned>, work: &std::path::Path) -> Vec<Outcome> {
    use futures_util::StreamExt;
    let mut outcomes: Vec<(usize, Outcome)> = futures_util::stream::iter(planned.into_iter().enumerate())
        .map(|(i, p)| {
            let dir = work.join(format!("job{i}"));
            async move {
                let t = Instant::now();
                let r = prepare::prepare(ctx, &p.job, p.inputs, p.source, &dir).await.map(|mut r| {
                    r.date = ctx.job_date(&r.locked);
                    r.digest = ctx.tree_digest(&r.job, &r.locked);
                    r
                });
                (i, (p.job, r, t.elapsed().as_secs_f64()))
            }
        })
        .buffer_unordered(ctx.jobs.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|o| o.0);
    outcomes.into_iter().map(|o| o.1).collect()
}

/// The outcomes of a build's jobs, sorted out.
struct Sorted {
    /// Jobs to publish: a distro is published only when all its jobs succeeded.
    ready: Vec<Ready>,
    /// The lock entries of every successful job.
    locked: Vec<(String, LockedJob)>,
    reports: Vec<JobReport>,
    failures: Vec<String>,
}

fn sort_outcomes(outcomes: Vec<Outcome>) -> Sorted {
    let failed: BTreeSet<String> = outcomes.iter().filter(|o| o.1.is_err()).map(|o| o.0.distro.name.clone()).collect();
    let (mut ready, mut locked, mut reports, mut failures) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (job, r, seconds) in outcomes {
        let name = &job.distro.name;
        match r {
            Ok(r) => {
                let mut report = JobReport::of(name, job.arch, &r.locked, r.fetched, seconds);
                locked.push((job.label(), r.locked.clone()));
                if failed.contains(name) {
                    report.status = JobStatus::Skipped { why: format!("not published: another arch of {name} failed") };
                } else {
                    ready.push(r);
                }
                reports.push(report);
            }
            Err(e) => {
                let why = format!("{e:#}");
                failures.push(why.clone());
                reports.push(JobReport::failed(name, job.arch, why, seconds));
            }
        }
    }
    Sorted { ready, locked, reports, failures }
}

/// Write the lock when it changed and something is ready (`--locked` never writes it).
fn save_lock(ctx: &BuildContext, mut lock: Lock, entries: Vec<(String, LockedJob)>, any_ready: bool) -> Result<()> {
    let before = lock.clone();
    lock.jobs.extend(entries);
    if !ctx.lock_mode.locked && any_ready && lock != before {
        lock.save(&ctx.lock_path)?;
    }
    Ok(())
}

/// Stage the new tree, let each family publish its jobs into it, swap it in.
async fn publish(ctx: &BuildContext, ready: &[Ready], state: &OutputState) -> Result<()> {
    let staging = Staging::begin(&ctx.out)?;
    let mut next = state.clone();
    let mut by_family: BTreeMap<Family, Vec<Publishing<'_>>> = BTreeMap::new();
    for r in ready {
        let label = r.job.label();
        let changed = state.changed(&label, &r.digest);
        if !changed {
            tracing::info!("{label}: unchanged since the last build; its tree is kept as it is");
        }
        next.jobs.insert(label, r.digest.clone());
        by_family.entry(r.job.distro.family).or_default().push(Publishing { ready: r, changed });
    }
    let pctx = PublishContext { key: &ctx.key, cache: &ctx.cache, base_url: &ctx.base_url, deb_hashes: ctx.deb_hashes };
    for (family, jobs) in &by_family {
        backend(*family).publish(staging.path(), jobs, &pctx)?;
    }
    // The SBOMs describe what was just staged: written before the swap, like the indexes.
    let t = Instant::now();
    for r in ready {
        crate::sbom::write_job(staging.path(), &r.job, &r.locked, r.date, (&ctx.cache, &ctx.key))?;
    }
    tracing::info!("SBOMs of {} job(s) written in {:.3} s", ready.len(), t.elapsed().as_secs_f64());
    crate::sign::write_public_key_files(&staging.path().join("keys"), &ctx.key)?;
    crate::emit::write_tree_files(staging.path())?;
    if let Some(gate) = &ctx.verify {
        // A tree that fails is never published: staging is dropped, out/ stays.
        let why = crate::verify::gate(staging.path(), gate, ready, ctx.engine.as_ref().ok()).await;
        why.with_context(|| format!("nothing was published; {} is unchanged", ctx.out.display()))?;
    }
    staging.commit()?;
    next.describe(&ctx.out)?;
    next.save(&ctx.cache, &ctx.out)
}
