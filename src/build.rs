//! build: run the pipeline for a set of jobs. plan → resolve (containers) → fetch (verify)
//! → index → sign → emit → publish.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::config::distro::RpmResolver;
use crate::config::{Distro, Family};
use crate::engine::{ContainerSpec, Engine, PullPolicy, UploadFile};
use crate::fetch::Cache;
use crate::index::deb::{self, DebRecord, ReleaseMeta};
use crate::lock::{Lock, LockedJob, LockedPackage};
use crate::plan::Job;
use crate::fsutil::write_atomic as write_file;
use crate::publish::Staging;
use crate::resolve::{apt, dnf, Artifact};
use crate::sign::SigningKey;

/// Everything a build needs besides the jobs.
pub struct BuildContext {
    pub engine: Engine,
    pub out: PathBuf,
    pub key: SigningKey,
    pub pull: PullPolicy,
    pub base_url: String,
    /// Mirror overrides from the command line (they beat the distro file's).
    pub mirror: Option<String>,
    pub security_mirror: Option<String>,
    /// Index and signature time (SOURCE_DATE_EPOCH or now).
    pub date: DateTime<Utc>,
    /// SOURCE_DATE_EPOCH was set: `date` is used for every job. Otherwise each job's
    /// indexes carry the time its closure was resolved (from the lock).
    pub date_fixed: bool,
    /// Jobs resolved at once.
    pub jobs: usize,
    /// The content-addressed cache.
    pub cache: Cache,
    /// The lockfile (next to packages.yaml by default).
    pub lock_path: PathBuf,
    /// `--locked`: build exactly what the lock says; changed inputs are an error.
    pub locked: bool,
    /// `--update-lock`: resolve again even where the lock matches the inputs.
    pub update_lock: bool,
    /// `osrepo lock`: resolve and fetch, write the lock, publish nothing.
    pub lock_only: bool,
}

/// What a resolver container reported: verified files on local disk.
pub struct Resolved {
    pub job: Job,
    pub artifacts: Vec<Artifact>,
    /// Where fetched files are (named as `Artifact::file`).
    pub dir: PathBuf,
    /// Files the cache already had, by `Artifact::file`.
    pub cached: BTreeMap<String, PathBuf>,
    /// rpm: module metadata documents of the upstream repos.
    pub modules: Vec<String>,
    /// rpm: upstream package signing keys (file name, bytes).
    pub keys: Vec<(String, Vec<u8>)>,
}

/// A job ready to index: its locked closure, every file in the cache.
pub struct Ready {
    pub job: Job,
    pub locked: LockedJob,
    /// sha256 → cached file.
    pub files: BTreeMap<String, PathBuf>,
    /// Files downloaded for this job in this build.
    pub fetched: usize,
    /// The digest of everything the job's published tree depends on.
    pub digest: String,
}

/// Outcome of one job, for the summary.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub distro: String,
    pub arch: String,
    pub packages: usize,
    pub bytes: u64,
    pub seconds: f64,
    /// Files downloaded (not taken from the cache).
    pub fetched: usize,
    /// None when the job's output was published; else why not.
    pub failure: Option<String>,
}

impl JobReport {
    pub fn status(&self) -> &str {
        match &self.failure {
            None => "ok",
            Some(f) if f.starts_with("not published") => "skipped",
            Some(_) => "FAILED",
        }
    }
}

/// The summary table of a build.
pub fn summary_table(reports: &[JobReport]) -> String {
    let mut t = format!(
        "{:<16} {:<6} {:>9} {:>14} {:>8} {:>8}  {}\n",
        "DISTRO", "ARCH", "PACKAGES", "BYTES", "FETCHED", "SECONDS", "STATUS"
    );
    for r in reports {
        t.push_str(&format!(
            "{:<16} {:<6} {:>9} {:>14} {:>8} {:>8.1}  {}\n",
            r.distro,
            r.arch,
            r.packages,
            r.bytes,
            r.fetched,
            r.seconds,
            r.status()
        ));
    }
    t
}

/// The build date: SOURCE_DATE_EPOCH when set, else now.
pub fn build_date() -> Result<DateTime<Utc>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: i64 = s.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number"))?;
            DateTime::from_timestamp(secs, 0).with_context(|| format!("SOURCE_DATE_EPOCH={s} is out of range"))
        }
        Err(_) => Ok(Utc::now().with_nanosecond_zero()),
    }
}

trait NanoZero {
    fn with_nanosecond_zero(self) -> Self;
}
impl NanoZero for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).unwrap_or(self)
    }
}

/// What a build did: per-job reports, the failures, whether anything was published.
pub struct BuildOutcome {
    pub reports: Vec<JobReport>,
    pub failures: Vec<String>,
    pub published: bool,
    /// Nothing changed since the last build of this output: nothing was done.
    pub unchanged: bool,
}

/// How a job gets its closure.
enum Source {
    /// The lock matches the inputs: its packages, fetched into the cache when missing.
    Lock(LockedJob),
    /// Resolve in a build container.
    Resolve,
}

/// Run every job; publish the distros whose jobs all succeeded.
pub async fn build(ctx: &BuildContext, jobs: Vec<Job>) -> Result<BuildOutcome> {
    let mut lock = Lock::load(&ctx.lock_path)?;
    let lock_before = lock.clone();
    let mut plan = Vec::new();
    let mut input_errors = Vec::new();
    for job in jobs {
        let inputs = crate::lock::inputs_digest(&job, ctx.mirror.as_deref(), ctx.security_mirror.as_deref())?;
        let src = match lock.jobs.get(&job.label()) {
            Some(l) if l.inputs == inputs && !ctx.update_lock => Source::Lock(l.clone()),
            Some(_) if ctx.locked => {
                input_errors.push(format!(
                    "{}: packages.yaml or {} changed since {} was written; run with --update-lock to resolve again",
                    job.label(),
                    job.distro.file.display(),
                    ctx.lock_path.display()
                ));
                continue;
            }
            None if ctx.locked => {
                input_errors.push(format!("{}: not in {} (run osrepo lock)", job.label(), ctx.lock_path.display()));
                continue;
            }
            _ => Source::Resolve,
        };
        plan.push((job, inputs, src));
    }
    if !input_errors.is_empty() {
        bail!("{}\nnothing was published; {} is unchanged", input_errors.join("\n"), ctx.out.display());
    }

    // Nothing changed since the last build of this output: do nothing at all.
    let state = ctx.cache.state(&ctx.out);
    let digest_of = |label: &str, l: &LockedJob| -> String {
        tree_digest(label, l, &ctx.key.fingerprint(), &ctx.base_url, job_date(ctx, l).timestamp())
    };
    let previous =
        |label: &str| -> Option<String> { state.as_ref()?.get("jobs")?.get(label)?.as_str().map(String::from) };
    if !ctx.lock_only && ctx.out.is_dir() {
        let all_same = plan.iter().all(|(job, _, src)| match src {
            Source::Lock(l) => previous(&job.label()) == Some(digest_of(&job.label(), l)),
            Source::Resolve => false,
        });
        if all_same && !plan.is_empty() {
            let reports = plan
                .iter()
                .map(|(job, _, src)| {
                    let Source::Lock(l) = src else { unreachable!() };
                    JobReport {
                        distro: job.distro.name.clone(),
                        arch: job.arch.clone(),
                        packages: l.packages.len(),
                        bytes: l.packages.iter().map(|p| p.size).sum(),
                        seconds: 0.0,
                        fetched: 0,
                        failure: None,
                    }
                })
                .collect();
            return Ok(BuildOutcome { reports, failures: vec![], published: false, unchanged: true });
        }
    }

    let parent = match ctx.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let work = tempfile::Builder::new()
        .prefix(".osrepo-work.")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;

    // Every job, at most `ctx.jobs` at once; a failing job does not stop the others.
    use futures_util::StreamExt;
    let mut outcomes: Vec<(usize, Job, Result<Ready>, f64)> = futures_util::stream::iter(plan.into_iter().enumerate())
        .map(|(i, (job, inputs, src))| {
            let dir = work.path().join(format!("job{i}"));
            async move {
                let t = Instant::now();
                let r = prepare_job(ctx, &job, inputs, src, &dir).await.map(|mut r| {
                    r.digest = digest_of(&job.label(), &r.locked);
                    r
                });
                (i, job, r, t.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(ctx.jobs.max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|o| o.0);
    // A distro is published only when all its jobs succeeded.
    let failed_distros: BTreeSet<String> =
        outcomes.iter().filter(|o| o.2.is_err()).map(|o| o.1.distro.name.clone()).collect();
    let mut ready = Vec::new();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (_, job, r, seconds) in outcomes {
        let mut report = JobReport {
            distro: job.distro.name.clone(),
            arch: job.arch.clone(),
            packages: 0,
            bytes: 0,
            seconds,
            fetched: 0,
            failure: None,
        };
        match r {
            Ok(r) => {
                report.packages = r.locked.packages.len();
                report.bytes = r.locked.packages.iter().map(|p| p.size).sum();
                report.fetched = r.fetched;
                lock.jobs.insert(job.label(), r.locked.clone());
                if failed_distros.contains(&job.distro.name) {
                    report.failure = Some(format!("not published: another arch of {} failed", job.distro.name));
                } else {
                    ready.push(r);
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                failures.push(msg.clone());
                report.failure = Some(msg);
            }
        }
        reports.push(report);
    }
    if !ctx.locked && !ready.is_empty() && lock != lock_before {
        lock.save(&ctx.lock_path)?;
    }
    if ctx.lock_only || ready.is_empty() {
        return Ok(BuildOutcome { reports, failures, published: false, unchanged: false });
    }

    let staging = Staging::begin(&ctx.out)?;
    let mut dists: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    let mut job_state = serde_json::Map::new();
    if let Some(old) = state.as_ref().and_then(|s| s.get("jobs")).and_then(|j| j.as_object()) {
        job_state = old.clone();
    }
    for r in &ready {
        let label = r.job.label();
        let unchanged = previous(&label).as_deref() == Some(r.digest.as_str());
        job_state.insert(label.clone(), serde_json::Value::String(r.digest.clone()));
        if unchanged {
            tracing::info!("{label}: unchanged since the last build; its tree is kept as it is");
            continue;
        }
        match r.job.distro.family {
            Family::Deb => {
                let key = (r.job.distro.id.clone(), r.job.distro.codename().to_string());
                let date = dists.get(&key).copied().into_iter().chain([job_date(ctx, &r.locked)]).max().unwrap();
                dists.insert(key, date);
            }
            Family::Rpm => {
                let repo_dir = index_rpm_job(staging.path(), r, ctx)?;
                sign_repomd(&ctx.key, &repo_dir, job_date(ctx, &r.locked))?;
            }
        }
    }
    // apt: every touched arch of a codename is indexed with the codename's latest date, then
    // Release is written once over all its arches and signed.
    let mut placed = BTreeMap::new();
    for r in &ready {
        let key = (r.job.distro.id.clone(), r.job.distro.codename().to_string());
        if let Some(date) = dists.get(&key) {
            index_deb_job(staging.path(), r, ctx, *date, &mut placed)?;
        }
    }
    for ((id, codename), date) in &dists {
        sign_dist(&ctx.key, &staging.path().join(id).join("dists").join(codename), *date)?;
    }
    for id in dists.keys().map(|(id, _)| id).collect::<BTreeSet<_>>() {
        gc_pool(&staging.path().join(id))?;
    }
    let saved = crate::publish::dedup_noarch(staging.path())?;
    if saved > 0 {
        tracing::info!("noarch packages shared between arches: {saved} bytes stored once");
    }
    crate::sign::write_public_key_files(&staging.path().join("keys"), &ctx.key)?;
    let mut seen = BTreeSet::new();
    for r in &ready {
        let d = &r.job.distro;
        let repos = staging.path().join("repos");
        match d.family {
            Family::Deb if seen.insert(d.name.clone()) => {
                let (sources, list) = crate::emit::apt_sources(d, &ctx.base_url);
                write_file(&repos.join(format!("{}.sources", d.name)), sources.as_bytes())?;
                write_file(&repos.join(format!("{}.list", d.name)), list.as_bytes())?;
            }
            Family::Rpm => {
                // Upstream package keys go next to ours, so package signatures stay checkable offline.
                let keydir = staging.path().join("keys").join(&d.name);
                for (name, data) in &r.locked.keys {
                    let bytes = match data.strip_prefix("hex:") {
                        Some(h) => hex::decode(h).with_context(|| format!("lock: key {name} of {}", d.name))?,
                        None => data.as_bytes().to_vec(),
                    };
                    write_file(&keydir.join(name), &bytes)?;
                }
            }
            _ => {}
        }
    }
    for r in &ready {
        let d = &r.job.distro;
        if d.family == Family::Rpm && seen.insert(d.name.clone()) {
            let keydir = staging.path().join("keys").join(&d.name);
            let mut names: Vec<String> = Vec::new();
            for e in std::fs::read_dir(&keydir).into_iter().flatten().flatten() {
                names.push(format!("{}/{}", d.name, e.file_name().to_string_lossy()));
            }
            names.sort();
            let text = crate::emit::yum_repo(d, &ctx.base_url, &names);
            write_file(&staging.path().join("repos").join(format!("{}.repo", d.name)), text.as_bytes())?;
        }
    }
    staging.commit()?;
    ctx.cache.put_state(&ctx.out, &serde_json::json!({ "jobs": job_state }))?;
    Ok(BuildOutcome { reports, failures, published: true, unchanged: false })
}

/// The digest of everything a job's published tree depends on.
pub fn tree_digest(label: &str, l: &LockedJob, fingerprint: &str, base_url: &str, date: i64) -> String {
    let v = serde_json::json!({
        "job": label, "lock": l, "key": fingerprint, "base_url": base_url,
        "date": date, "osrepo": env!("CARGO_PKG_VERSION"),
    });
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(v.to_string().as_bytes()))
}

/// The date a job's indexes carry.
fn job_date(ctx: &BuildContext, l: &LockedJob) -> DateTime<Utc> {
    if ctx.date_fixed {
        ctx.date
    } else {
        DateTime::from_timestamp(l.resolved, 0).unwrap_or(ctx.date)
    }
}

/// Get a job's closure into the cache: from the lock (fetching what the cache lacks) or by
/// resolving it in a build container.
async fn prepare_job(ctx: &BuildContext, job: &Job, inputs: String, src: Source, dir: &Path) -> Result<Ready> {
    let label = job.label();
    match src {
        Source::Lock(locked) => {
            let mut files = BTreeMap::new();
            let mut missing = Vec::new();
            for p in &locked.packages {
                match ctx.cache.get(&p.sha256, p.size)? {
                    Some(path) => {
                        files.insert(p.sha256.clone(), path);
                    }
                    None => missing.push(p.clone()),
                }
            }
            let fetched = missing.len();
            if !missing.is_empty() {
                tracing::info!("{label}: fetching {} locked files the cache lacks", missing.len());
                for (sha, path) in fetch_locked(ctx, job, &missing, dir).await? {
                    files.insert(sha, path);
                }
            }
            Ok(Ready { job: job.clone(), locked, files, fetched, digest: String::new() })
        }
        Source::Resolve => {
            tracing::info!("{label}: resolving in {}", job.image);
            let r = resolve_job(ctx, job, dir).await?;
            let mut packages = Vec::new();
            let mut files = BTreeMap::new();
            let mut fetched = 0;
            for a in &r.artifacts {
                let path = match r.cached.get(&a.file) {
                    Some(p) => p.clone(),
                    None => {
                        fetched += 1;
                        r.dir.join(&a.file)
                    }
                };
                let sha = match (&a.checksum, r.cached.contains_key(&a.file)) {
                    (crate::resolve::Checksum::Sha256(h), true) => h.clone(),
                    _ => crate::fsutil::hash_file::<sha2::Sha256>(&path)?,
                };
                let (name, version, arch) = match job.distro.family {
                    Family::Deb => {
                        let rec = cached_deb_record(&ctx.cache, &sha, &path)?;
                        (rec.package().to_string(), rec.version().to_string(), rec.architecture().to_string())
                    }
                    Family::Rpm => {
                        let rec = cached_rpm_record(
                            &ctx.cache,
                            &sha,
                            path.parent().unwrap(),
                            &path.file_name().unwrap().to_string_lossy(),
                        )?;
                        let v = if rec.epoch > 0 {
                            format!("{}:{}-{}", rec.epoch, rec.version, rec.release)
                        } else {
                            format!("{}-{}", rec.version, rec.release)
                        };
                        (rec.name.clone(), v, rec.arch.clone())
                    }
                };
                let cached = ctx.cache.put(&path, &sha)?;
                files.insert(sha.clone(), cached);
                packages.push(LockedPackage {
                    name,
                    version,
                    arch,
                    repo: upstream_repo_of(&a.url, job.distro.family),
                    url: a.url.clone(),
                    size: a.size,
                    sha256: sha,
                    file: a.pool_name(),
                });
            }
            let nevras: BTreeSet<String> = packages
                .iter()
                .map(|p| {
                    let v = if p.version.contains(':') { p.version.clone() } else { format!("0:{}", p.version) };
                    format!("{}-{v}.{}", p.name, p.arch)
                })
                .collect();
            let modules = crate::index::modules::select(&r.modules, &nevras)?;
            let keys = r
                .keys
                .iter()
                .map(|(n, b)| {
                    let v = match std::str::from_utf8(b) {
                        Ok(t) if t.contains("-----BEGIN") => t.to_string(),
                        _ => format!("hex:{}", hex::encode(b)),
                    };
                    (n.clone(), v)
                })
                .collect();
            // The lockfile's order, so that a lock read back compares (and digests) equal.
            packages.sort();
            let locked = LockedJob { inputs, resolved: ctx.date.timestamp(), packages, modules, keys };
            Ok(Ready { job: job.clone(), locked, files, fetched, digest: String::new() })
        }
    }
}

/// The upstream repository of a package URL: the archive root for apt, the directory for rpm.
fn upstream_repo_of(url: &str, family: Family) -> String {
    match family {
        Family::Deb => url.split("/pool/").next().unwrap_or(url).to_string(),
        Family::Rpm => match url.find("/Packages/") {
            Some(i) => url[..i].to_string(),
            None => url.rsplit_once('/').map(|x| x.0).unwrap_or(url).to_string(),
        },
    }
}

fn cached_deb_record(cache: &Cache, sha: &str, path: &Path) -> Result<DebRecord> {
    if let Some(r) = cache.record::<DebRecord>("deb", sha) {
        return Ok(r);
    }
    let dir = path.parent().unwrap();
    let rec = DebRecord::from_file(dir, &path.file_name().unwrap().to_string_lossy())?;
    cache.put_record("deb", sha, &rec)?;
    Ok(rec)
}

fn cached_rpm_record(cache: &Cache, sha: &str, dir: &Path, rel: &str) -> Result<crate::index::rpm::RpmRecord> {
    if let Some(r) = cache.record::<crate::index::rpm::RpmRecord>("rpm", sha) {
        return Ok(r);
    }
    let rec = crate::index::rpm::RpmRecord::from_file(dir, rel)?;
    cache.put_record("rpm", sha, &rec)?;
    Ok(rec)
}

/// Download locked files the cache lacks, through the job's build container (same mounts as
/// resolving), and check each against the lock's size and sha256.
async fn fetch_locked(
    ctx: &BuildContext,
    job: &Job,
    missing: &[LockedPackage],
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let label = job.label();
    let (_, binds) = match job.distro.family {
        Family::Deb => apt_job_files(ctx, job)?,
        Family::Rpm => dnf_job_files(job)?,
    };
    let container = start_job_container(ctx, job, binds).await?;
    let result = async {
        let got = dir.join("fetched");
        let items: Vec<String> = missing.iter().map(|p| p.url.clone()).collect();
        let failed = fetch_in(&container, &items, &got).await?;
        if !failed.is_empty() {
            let lines: Vec<String> = failed
                .iter()
                .map(|(i, why)| {
                    format!("\n  {} {} ({}): {why}", missing[*i].name, missing[*i].version, missing[*i].url)
                })
                .collect();
            bail!("{label}: locked files cannot be fetched:{}", lines.concat());
        }
        let mut out = Vec::new();
        for (i, p) in missing.iter().enumerate() {
            let path = got.join(format!("f{i}"));
            crate::resolve::Checksum::Sha256(p.sha256.clone())
                .verify(&path, p.size)
                .with_context(|| format!("{label}: {} {} ({}) does not match the lock", p.name, p.version, p.url))?;
            out.push((p.sha256.clone(), ctx.cache.put(&path, &p.sha256)?));
        }
        Ok(out)
    }
    .await;
    container.remove().await;
    result
}

/// Download `urls` inside a running build container (curl or apt-helper; `file:` URLs are
/// copied) into `dest` as `f0`, `f1`, ... Returns the indexes that failed, with why.
async fn fetch_in(container: &crate::engine::Container, urls: &[String], dest: &Path) -> Result<Vec<(usize, String)>> {
    let mut list = String::new();
    for (i, url) in urls.iter().enumerate() {
        let url = match url.strip_prefix("file:") {
            Some(path) => format!("file:{}", crate::resolve::percent_decode(path)),
            None => url.clone(),
        };
        list.push_str(&format!("{url} f{i}\n"));
    }
    let files = vec![
        ("fetch.sh".to_string(), crate::resolve::FETCH_SCRIPT.as_bytes().to_vec(), 0o755),
        ("fetch.list".to_string(), list.into_bytes(), 0o644),
    ];
    container.upload(apt::JOB_DIR, &files).await?;
    let run = container.exec(&["sh", &format!("{}/fetch.sh", apt::JOB_DIR)]).await?;
    let outdir = dest.with_extension("out");
    container.copy_out(&format!("{}/out", apt::WORK_DIR), &outdir).await?;
    let failed = std::fs::read_to_string(outdir.join("failed.tsv")).unwrap_or_default();
    let mut out: Vec<(usize, String)> = failed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, why)| (f.trim_start_matches('f').parse().unwrap_or(0), why.to_string()))
        .collect();
    if run.code != 0 && out.is_empty() {
        bail!("the fetch script failed (exit {}): {}", run.code, run.output.lines().last().unwrap_or(""));
    }
    if out.is_empty() {
        container.copy_out(&format!("{}/files", apt::WORK_DIR), dest).await?;
    }
    out.sort();
    Ok(out)
}

/// Make sure the job's build image is there and start its build container.
async fn start_job_container(ctx: &BuildContext, job: &Job, binds: Vec<String>) -> Result<crate::engine::Container> {
    let label = job.label();
    let arch = job.container_arch();
    ctx.engine.ensure_image(&job.image, &arch, ctx.pull).await.with_context(|| format!("{label}: build image"))?;
    let spec = ContainerSpec { image: job.image.clone(), arch, binds, network: None, label };
    ctx.engine.start(&spec).await
}

/// Resolve one job in a build container and bring its files out, verified.
pub async fn resolve_job(ctx: &BuildContext, job: &Job, dir: &Path) -> Result<Resolved> {
    let label = job.label();
    let (files, binds, cmd) = match job.distro.family {
        Family::Deb => {
            let (f, b) = apt_job_files(ctx, job)?;
            let rec = if job.recommends { "true" } else { "false" };
            (f, b, vec!["sh".to_string(), format!("{}/resolve.sh", apt::JOB_DIR), job.arch.clone(), rec.into()])
        }
        Family::Rpm => {
            let (f, b) = dnf_job_files(job)?;
            let (releasever, basearch) = dnf::releasever_basearch(&job.distro, &job.arch);
            let tool = match job.distro.resolver {
                RpmResolver::Dnf => "dnf",
                RpmResolver::Repotrack => "repotrack",
            };
            let weak = if job.recommends { "1" } else { "0" };
            (
                f,
                b,
                vec![
                    "sh".into(),
                    format!("{}/resolve.sh", dnf::JOB_DIR),
                    basearch,
                    releasever,
                    weak.into(),
                    tool.into(),
                ],
            )
        }
    };
    let container = start_job_container(ctx, job, binds).await?;
    let result = async {
        // Both families use the same job and work directories.
        container.upload(apt::JOB_DIR, &files).await?;
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let run = container.exec(&cmd).await?;
        let outdir = dir.join("out");
        if run.code == apt::EXIT_MISSING {
            container.copy_out(&format!("{}/out", apt::WORK_DIR), &outdir).await?;
            let missing = apt::parse_missing(&std::fs::read_to_string(outdir.join("missing.tsv")).unwrap_or_default());
            let mut msg = format!(
                "{label}: {} requested package(s) cannot be installed on {} {}:",
                missing.len(),
                job.distro.name,
                job.arch
            );
            for (spec, why) in &missing {
                msg.push_str(&format!("\n  {spec}: {why}"));
            }
            bail!(msg);
        }
        if run.code != 0 {
            let tail: Vec<&str> = run.output.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{label}: the resolver failed (exit {}):\n{}", run.code, tail.join("\n"));
        }
        container.copy_out(&format!("{}/out", apt::WORK_DIR), &outdir).await?;
        let mut modules = Vec::new();
        let mut keys = Vec::new();
        let artifacts = match job.distro.family {
            Family::Deb => {
                let uris = std::fs::read_to_string(outdir.join("uris.txt")).context("resolver wrote no uris.txt")?;
                let show = std::fs::read_to_string(outdir.join("show.txt")).context("resolver wrote no show.txt")?;
                apt::parse_resolution(&uris, &show).with_context(|| format!("{label}: resolution"))?
            }
            Family::Rpm => {
                let md = dir.join("md");
                let names = container.copy_out(&format!("{}/out/md", dnf::WORK_DIR), &md).await?;
                let mut upstream = Vec::new();
                for n in &names {
                    let data = dnf::decompress(n, &std::fs::read(md.join(n))?)?;
                    if n.contains("primary.xml") {
                        upstream.extend(
                            dnf::read_primary(&String::from_utf8_lossy(&data))
                                .with_context(|| format!("{label}: upstream {n}"))?,
                        );
                    } else if n.contains("modules.yaml") {
                        modules.push(String::from_utf8_lossy(&data).into_owned());
                    }
                }
                let kd = dir.join("keys");
                for k in container.copy_out(&format!("{}/keys", dnf::WORK_DIR), &kd).await? {
                    keys.push((k.clone(), std::fs::read(kd.join(&k))?));
                }
                let urls = std::fs::read_to_string(outdir.join("urls.txt")).context("resolver wrote no urls.txt")?;
                dnf::artifacts(&urls, &upstream)
                    .with_context(|| format!("{label}: matching downloads to upstream metadata"))?
            }
        };
        if artifacts.is_empty() {
            bail!("{label}: the resolver reported an empty closure");
        }
        // fetch: what the cache lacks, checked against the upstream's checksum and size.
        let mut cached = BTreeMap::new();
        let mut need = Vec::new();
        for a in &artifacts {
            if let crate::resolve::Checksum::Sha256(h) = &a.checksum {
                if let Some(p) = ctx.cache.get(h, a.size)? {
                    cached.insert(a.file.clone(), p);
                    continue;
                }
            }
            need.push(a);
        }
        let filesdir = dir.join("files");
        if !need.is_empty() {
            tracing::info!(
                "{label}: fetching {} of {} files ({} in the cache)",
                need.len(),
                artifacts.len(),
                cached.len()
            );
            let items: Vec<String> = need.iter().map(|a| a.url.clone()).collect();
            let failed = fetch_in(&container, &items, &filesdir).await?;
            if !failed.is_empty() {
                let lines: Vec<String> =
                    failed.iter().map(|(i, why)| format!("\n  {} ({}): {why}", need[*i].file, need[*i].url)).collect();
                bail!("{label}: files cannot be fetched:{}", lines.concat());
            }
            for (i, a) in need.iter().enumerate() {
                let got = filesdir.join(format!("f{i}"));
                a.checksum.verify(&got, a.size).with_context(|| format!("{label}: {} from {}", a.file, a.url))?;
                std::fs::rename(&got, filesdir.join(&a.file))?;
            }
        }
        Ok(Resolved { job: job.clone(), artifacts, dir: filesdir, cached, modules, keys })
    }
    .await;
    container.remove().await;
    result
}

/// Files uploaded into the container for an rpm job, and its bind mounts.
fn dnf_job_files(job: &Job) -> Result<(Vec<UploadFile>, Vec<String>)> {
    let d = &job.distro;
    let mut files = vec![
        ("resolve.sh".to_string(), dnf::script().as_bytes().to_vec(), 0o755),
        ("specs".to_string(), apt::specs_file(&job.specs).into_bytes(), 0o644),
    ];
    let mut binds = Vec::new();
    if !d.repos.is_empty() {
        files.push(("replace-repos".into(), Vec::new(), 0o644));
        for r in &d.repos {
            let url = dnf::baseurl_for(d, &r.baseurl, &job.arch)?;
            let text = dnf::repo_file(&r.name, url, &r.gpgkey, !r.gpgkey.is_empty());
            files.push((format!("repos/{}.repo", r.name), text.into_bytes(), 0o644));
        }
    }
    let mut key_urls = String::new();
    for r in &d.extra_repos {
        let url = match mount_file_repo(d, r, &mut binds)? {
            Some(inside) => format!("file://{inside}"),
            None => r.url.clone(),
        };
        let key = if let Some(k) = &r.key {
            files.push((format!("keys/{}.asc", r.name), k.as_bytes().to_vec(), 0o644));
            format!("file://{}/keys/{}.asc", dnf::JOB_DIR, r.name)
        } else if let Some(p) = d.key_file_path(r) {
            let data = std::fs::read(&p).with_context(|| {
                format!("{}: extra repo {}: cannot read key file {}", d.file.display(), r.name, p.display())
            })?;
            files.push((format!("keys/{}.asc", r.name), data, 0o644));
            format!("file://{}/keys/{}.asc", dnf::JOB_DIR, r.name)
        } else {
            let u = r.key_url.clone().unwrap_or_default();
            key_urls.push_str(&format!("{} {u}\n", r.name));
            u
        };
        let text = dnf::repo_file(&r.name, &url, &[key], true);
        files.push((format!("repos/{}.repo", r.name), text.into_bytes(), 0o644));
    }
    if !key_urls.is_empty() {
        files.push(("key-urls".into(), key_urls.into_bytes(), 0o644));
    }
    Ok((files, binds))
}

/// A `file:` extra repo is a host directory mounted read-only into the build container:
/// adds the bind and returns the path inside (None for network repos).
fn mount_file_repo(d: &Distro, r: &crate::config::ExtraRepo, binds: &mut Vec<String>) -> Result<Option<String>> {
    let Some(host) = r.host_dir() else { return Ok(None) };
    let host = std::fs::canonicalize(&host).with_context(|| {
        format!("{}: extra repo {}: directory {} does not exist", d.file.display(), r.name, host.display())
    })?;
    let inside = format!("{}/{}", apt::EXTRA_DIR, r.name);
    binds.push(format!("{}:{inside}:ro", host.display()));
    Ok(Some(inside))
}

/// Files uploaded into the container for an apt job, and its bind mounts.
fn apt_job_files(ctx: &BuildContext, job: &Job) -> Result<(Vec<UploadFile>, Vec<String>)> {
    let d = &job.distro;
    let mut files = vec![
        ("resolve.sh".to_string(), apt::script().as_bytes().to_vec(), 0o755),
        ("specs".to_string(), apt::specs_file(&job.specs).into_bytes(), 0o644),
    ];
    let mut binds = Vec::new();
    let archive = ctx.mirror.clone().or_else(|| d.mirror.as_ref().and_then(|m| m.archive.clone()));
    let security = ctx.security_mirror.clone().or_else(|| d.mirror.as_ref().and_then(|m| m.security.clone()));
    if archive.is_some() || security.is_some() {
        files.push(("replace-sources".into(), Vec::new(), 0o644));
        let text = apt::mirror_sources(d, archive.as_deref(), security.as_deref())?;
        files.push(("osrepo-mirror.sources".into(), text.into_bytes(), 0o644));
    }
    let mut key_urls = String::new();
    for r in &d.extra_repos {
        let uri = match mount_file_repo(d, r, &mut binds)? {
            Some(inside) => format!("file:{inside}"),
            None => r.url.clone(),
        };
        let keyname = format!("keys/{}.asc", r.name);
        if let Some(k) = &r.key {
            files.push((keyname.clone(), k.as_bytes().to_vec(), 0o644));
        } else if let Some(p) = d.key_file_path(r) {
            let data = std::fs::read(&p).with_context(|| {
                format!("{}: extra repo {}: cannot read key file {}", d.file.display(), r.name, p.display())
            })?;
            let name = if data.starts_with(b"-----BEGIN") { keyname.clone() } else { format!("keys/{}.gpg", r.name) };
            files.push((name, data, 0o644));
        } else if let Some(u) = &r.key_url {
            key_urls.push_str(&format!("{} {}\n", r.name, u));
        }
        let signed_by = files
            .iter()
            .find(|(n, _, _)| n.starts_with(&format!("keys/{}.", r.name)))
            .map(|(n, _, _)| format!("{}/{n}", apt::JOB_DIR))
            .unwrap_or_else(|| format!("{}/{keyname}", apt::JOB_DIR));
        let entry = crate::config::distro::SourceEntry {
            role: crate::config::distro::SourceRole::Archive,
            path: None,
            signed_by: None,
            suites: r.suites.clone(),
            components: if r.components.is_empty() { vec!["main".into()] } else { r.components.clone() },
        };
        files.push((
            format!("osrepo-extra-{}.sources", r.name),
            apt::source_stanza(&uri, &entry, Some(&signed_by)).into_bytes(),
            0o644,
        ));
    }
    if !key_urls.is_empty() {
        files.push(("key-urls".into(), key_urls.into_bytes(), 0o644));
    }
    Ok((files, binds))
}

/// Place a deb job's files into `<root>/<id>/pool` (linked from the cache) and write its
/// `dists/` index for its arch. Records of known files come from the cache.
fn index_deb_job(
    root: &Path,
    r: &Ready,
    ctx: &BuildContext,
    date: DateTime<Utc>,
    placed: &mut BTreeMap<PathBuf, String>,
) -> Result<()> {
    let d = &r.job.distro;
    let repo = root.join(&d.id);
    let mut records = Vec::new();
    for p in &r.locked.packages {
        let cached = &r.files[&p.sha256];
        let mut rec = cached_deb_record(&ctx.cache, &p.sha256, cached)?;
        let rel = deb::pool_path("main", &rec.control, &p.file);
        let dest = repo.join(&rel);
        match placed.get(&dest) {
            // Two packages of this build claim one pool path.
            Some(sha) if *sha != p.sha256 => {
                bail!("{}: {} is already in the pool with different content", r.job.label(), dest.display())
            }
            Some(_) => {}
            None => {
                // A file from the previous tree is kept only when it is the verified one.
                if !dest.exists() || !crate::fsutil::same_content(&dest, cached)? {
                    ctx.cache.link(cached, &dest)?;
                }
                placed.insert(dest.clone(), p.sha256.clone());
            }
        }
        rec.filename = rel;
        records.push(rec);
    }
    let codename = d.codename().to_string();
    let dist = repo.join("dists").join(&codename);
    let mut arches: BTreeSet<String> = list_binary_arches(&dist.join("main"))?;
    arches.insert(r.job.arch.clone());
    let meta = ReleaseMeta {
        origin: "osrepo".into(),
        label: format!("osrepo {}", d.name),
        suite: codename.clone(),
        codename: codename.clone(),
        date,
        architectures: arches.into_iter().collect(),
        components: vec!["main".into()],
        description: format!("osrepo offline repository for {} {}", d.name, codename),
    };
    let by_arch = BTreeMap::from([(r.job.arch.clone(), records)]);
    deb::write_dist(&repo, &meta, "main", &by_arch)?;
    Ok(())
}

/// Place an rpm job's files in `<root>/<id>/<release>/os/<basearch>/Packages/` and write its
/// repodata (with the module metadata of its module streams). Returns the repo directory.
fn index_rpm_job(root: &Path, r: &Ready, ctx: &BuildContext) -> Result<PathBuf> {
    use crate::index::rpm::{Compression, RepodataOptions};
    let d = &r.job.distro;
    let (releasever, basearch) = dnf::releasever_basearch(d, &r.job.arch);
    let repo_dir = root.join(&d.id).join(&releasever).join("os").join(&basearch);
    if repo_dir.exists() {
        std::fs::remove_dir_all(&repo_dir).with_context(|| format!("cannot clear {}", repo_dir.display()))?;
    }
    let pkgs = repo_dir.join("Packages");
    std::fs::create_dir_all(&pkgs)?;
    let date = job_date(ctx, &r.locked).timestamp().max(0) as u64;
    let mut records = Vec::new();
    for p in &r.locked.packages {
        let cached = &r.files[&p.sha256];
        let rel = format!("Packages/{}", p.file);
        ctx.cache.link(cached, &repo_dir.join(&rel))?;
        let mut rec = cached_rpm_record(
            &ctx.cache,
            &p.sha256,
            cached.parent().unwrap(),
            &cached.file_name().unwrap().to_string_lossy(),
        )?;
        if rec.arch != "noarch" && rec.arch != basearch {
            bail!("{}: {} is for {}, not {basearch}", r.job.label(), p.file, rec.arch);
        }
        // Deterministic <time file=...>: the build date, not the download time.
        rec.location_href = rel;
        rec.time_file = date;
        records.push(rec);
    }
    records.sort_by(|a, b| a.order(b));
    let mut extra = Vec::new();
    if let Some(yaml) = &r.locked.modules {
        extra.push(("modules".to_string(), "modules.yaml".to_string(), yaml.clone().into_bytes()));
    }
    let compression = match d.compress.as_deref() {
        None | Some("gz") | Some("gzip") => Compression::Gzip,
        Some("zstd") | Some("zst") => Compression::Zstd,
        Some(other) => bail!("{}: compress: {other:?} is not gz or zstd", d.file.display()),
    };
    let opts = RepodataOptions { compression, changelog_limit: 10, revision: date };
    crate::index::rpm::write_repodata(&repo_dir, &records, &extra, &opts)?;
    Ok(repo_dir)
}

/// Sign `repodata/repomd.xml` into `repomd.xml.asc`.
pub fn sign_repomd(key: &SigningKey, repo_dir: &Path, date: DateTime<Utc>) -> Result<()> {
    let p = repo_dir.join("repodata/repomd.xml");
    let data = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    write_file(&repo_dir.join("repodata/repomd.xml.asc"), key.sign_detached(&data, when)?.as_bytes())
}

fn list_binary_arches(component_dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(component_dir) {
        for e in rd {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(a) = name.strip_prefix("binary-") {
                out.insert(a.to_string());
            }
        }
    }
    Ok(out)
}

/// Sign `dists/<codename>/Release` into InRelease and Release.gpg.
pub fn sign_dist(key: &SigningKey, dist: &Path, date: DateTime<Utc>) -> Result<()> {
    let release = std::fs::read_to_string(dist.join("Release"))
        .with_context(|| format!("cannot read {}", dist.join("Release").display()))?;
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    write_file(&dist.join("InRelease"), key.clearsign(&release, when)?.as_bytes())?;
    write_file(&dist.join("Release.gpg"), key.sign_detached(release.as_bytes(), when)?.as_bytes())?;
    Ok(())
}

/// Remove pool files that no `Packages` index of this repo references any more.
pub fn gc_pool(repo: &Path) -> Result<()> {
    let mut referenced = BTreeSet::new();
    let dists = repo.join("dists");
    for (_, p) in crate::fsutil::files_under(&dists)? {
        if p.file_name().and_then(|n| n.to_str()) == Some("Packages") {
            let text = std::fs::read_to_string(&p)?;
            for line in text.lines() {
                if let Some(f) = line.strip_prefix("Filename: ") {
                    referenced.insert(repo.join(f.trim()));
                }
            }
        }
    }
    for (_, p) in crate::fsutil::files_under(&repo.join("pool"))? {
        if !referenced.contains(&p) {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}

/// Distros by name from a directory, in the order asked.
pub fn load_distros(dir: &Path, names: &[String]) -> Result<Vec<Distro>> {
    names.iter().map(|n| crate::config::distro::load_one(dir, n)).collect()
}

#[cfg(test)]
mod digest_golden {
    use super::*;

    #[test]
    fn tree_digest_is_unchanged() {
        let p = |name: &str, arch: &str| LockedPackage {
            name: name.into(),
            version: "1:2.0-1".into(),
            arch: arch.into(),
            repo: "http://m.invalid/debian".into(),
            url: format!("http://m.invalid/debian/pool/main/{name}.deb"),
            size: 42,
            sha256: "ab".repeat(32),
            file: format!("{name}.deb"),
        };
        let plain = LockedJob {
            inputs: "sha256:00".into(),
            packages: vec![p("a", "amd64"), p("b", "all")],
            resolved: 1767225600,
            modules: None,
            keys: BTreeMap::new(),
        };
        let mut rpm = plain.clone();
        rpm.modules = Some("---\ndocument: modulemd\n".into());
        rpm.keys.insert("k.asc".into(), "hex:00ff".into());
        let got = [
            tree_digest("debian12/amd64", &plain, "F00D", "http://OSREPO_HOST:8080", 1767225600),
            tree_digest("rocky9/arm64", &rpm, "F00D", "http://r.invalid", 0),
        ];
        // Pinned: a change makes every existing output look changed (no more no-op builds).
        assert_eq!(
            got,
            [
                "294df6e70d07cc4ed9b301ab2097b7c47a3f7916d1e9142a8b31d36266248fae".to_string(),
                "3b17c1d2478eec98d3306546474f2cacc3418250de1c2a99d824860c53589da8".to_string(),
            ]
        );
    }
}
