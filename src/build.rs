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
use crate::index::deb::{self, DebRecord, ReleaseMeta};
use crate::plan::Job;
use crate::publish::{write_file, Staging};
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
    /// Jobs resolved at once.
    pub jobs: usize,
}

/// A job's verified closure: files on local disk.
pub struct Resolved {
    pub job: Job,
    pub artifacts: Vec<Artifact>,
    pub dir: PathBuf,
    /// rpm: module metadata documents of the upstream repos.
    pub modules: Vec<String>,
    /// rpm: upstream package signing keys (file name, bytes).
    pub keys: Vec<(String, Vec<u8>)>,
}

/// Outcome of one job, for the summary.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub distro: String,
    pub arch: String,
    pub packages: usize,
    pub bytes: u64,
    pub seconds: f64,
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
    let mut t =
        format!("{:<16} {:<6} {:>9} {:>14} {:>8}  {}\n", "DISTRO", "ARCH", "PACKAGES", "BYTES", "SECONDS", "STATUS");
    for r in reports {
        t.push_str(&format!(
            "{:<16} {:<6} {:>9} {:>14} {:>8.1}  {}\n",
            r.distro,
            r.arch,
            r.packages,
            r.bytes,
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
}

/// Run every job; publish the distros whose jobs all resolved.
pub async fn build(ctx: &BuildContext, jobs: Vec<Job>) -> Result<BuildOutcome> {
    let parent = match ctx.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let work = tempfile::Builder::new()
        .prefix(".osrepo-work.")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;

    // Resolve every job, at most `ctx.jobs` at once; a failing job does not stop the others.
    use futures_util::StreamExt;
    let outcomes: Vec<(usize, Job, Result<Resolved>, f64)> = futures_util::stream::iter(jobs.into_iter().enumerate())
        .map(|(i, job)| {
            let dir = work.path().join(format!("job{i}"));
            async move {
                let t = Instant::now();
                tracing::info!("{}: resolving in {}", job.label(), job.image);
                let r = resolve_job(ctx, &job, &dir).await;
                (i, job, r, t.elapsed().as_secs_f64())
            }
        })
        .buffer_unordered(ctx.jobs.max(1))
        .collect()
        .await;
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|o| o.0);
    // A distro is published only when all its jobs resolved.
    let failed_distros: BTreeSet<String> =
        outcomes.iter().filter(|o| o.2.is_err()).map(|o| o.1.distro.name.clone()).collect();
    let mut resolved = Vec::new();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (_, job, r, seconds) in outcomes {
        let mut report = JobReport {
            distro: job.distro.name.clone(),
            arch: job.arch.clone(),
            packages: 0,
            bytes: 0,
            seconds,
            failure: None,
        };
        match r {
            Ok(r) => {
                report.packages = r.artifacts.len();
                report.bytes = r.artifacts.iter().map(|a| a.size).sum();
                tracing::info!("{}: closure of {} packages, {} bytes", job.label(), report.packages, report.bytes);
                if failed_distros.contains(&job.distro.name) {
                    report.failure = Some(format!("not published: another arch of {} failed", job.distro.name));
                } else {
                    resolved.push(r);
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
    if resolved.is_empty() {
        return Ok(BuildOutcome { reports, failures, published: false });
    }

    let staging = Staging::begin(&ctx.out)?;
    let mut dists = BTreeSet::new();
    for r in &resolved {
        match r.job.distro.family {
            Family::Deb => {
                index_deb_job(staging.path(), r, ctx.date)?;
                dists.insert((r.job.distro.id.clone(), r.job.distro.codename().to_string()));
            }
            Family::Rpm => {
                let repo_dir = index_rpm_job(staging.path(), r, ctx)?;
                sign_repomd(&ctx.key, &repo_dir, ctx.date)?;
            }
        }
    }
    for (id, codename) in &dists {
        sign_dist(&ctx.key, &staging.path().join(id).join("dists").join(codename), ctx.date)?;
    }
    for id in dists.iter().map(|(id, _)| id).collect::<BTreeSet<_>>() {
        gc_pool(&staging.path().join(id))?;
    }
    let saved = crate::publish::dedup_noarch(staging.path())?;
    if saved > 0 {
        tracing::info!("noarch packages shared between arches: {saved} bytes stored once");
    }
    crate::sign::write_public_key_files(&staging.path().join("keys"), &ctx.key)?;
    let mut seen = BTreeSet::new();
    for r in &resolved {
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
                for (name, data) in &r.keys {
                    write_file(&keydir.join(name), data)?;
                }
            }
            _ => {}
        }
    }
    for r in &resolved {
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
    Ok(BuildOutcome { reports, failures, published: true })
}

/// Resolve one job in a build container and bring its files out, verified.
pub async fn resolve_job(ctx: &BuildContext, job: &Job, dir: &Path) -> Result<Resolved> {
    let label = job.label();
    let container_arch = job.container_arch();
    ctx.engine
        .ensure_image(&job.image, &container_arch, ctx.pull)
        .await
        .with_context(|| format!("{label}: build image"))?;
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
    let spec =
        ContainerSpec { image: job.image.clone(), arch: container_arch, binds, network: None, label: label.clone() };
    let container = ctx.engine.start(&spec).await?;
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
                apt::parse_uris(&uris)?
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
        let filesdir = dir.join("files");
        let got = container.copy_out(&format!("{}/files", apt::WORK_DIR), &filesdir).await?;
        // fetch: every file must be there and match the upstream's checksum and size.
        let got: BTreeSet<String> = got.into_iter().collect();
        for a in &artifacts {
            if !got.contains(&a.file) {
                bail!("{label}: {} ({}) was not downloaded", a.file, a.url);
            }
            a.checksum
                .verify(&filesdir.join(&a.file), a.size)
                .with_context(|| format!("{label}: {} from {}", a.file, a.url))?;
        }
        Ok(Resolved { job: job.clone(), artifacts, dir: filesdir, modules, keys })
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
        let url = match r.host_dir() {
            Some(host) => {
                let host = std::fs::canonicalize(&host).with_context(|| {
                    format!("{}: extra repo {}: directory {} does not exist", d.file.display(), r.name, host.display())
                })?;
                let inside = format!("{}/{}", dnf::EXTRA_DIR, r.name);
                binds.push(format!("{}:{inside}:ro", host.display()));
                format!("file://{inside}")
            }
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
        let uri = match r.host_dir() {
            Some(host) => {
                let host = std::fs::canonicalize(&host).with_context(|| {
                    format!("{}: extra repo {}: directory {} does not exist", d.file.display(), r.name, host.display())
                })?;
                let inside = format!("{}/{}", apt::EXTRA_DIR, r.name);
                binds.push(format!("{}:{inside}:ro", host.display()));
                format!("file:{inside}")
            }
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

/// Place a deb job's files into `<root>/<id>/pool` and write its `dists/` index for its arch.
fn index_deb_job(root: &Path, r: &Resolved, date: DateTime<Utc>) -> Result<()> {
    let d = &r.job.distro;
    let repo = root.join(&d.id);
    let mut records = Vec::new();
    for a in &r.artifacts {
        let src = r.dir.join(&a.file);
        let control = deb::read_control(&src)?;
        let rel = deb::pool_path("main", &control, &a.pool_name());
        let dest = repo.join(&rel);
        if dest.exists() {
            let same =
                crate::resolve::hash_file::<sha2::Sha256>(&dest)? == crate::resolve::hash_file::<sha2::Sha256>(&src)?;
            if !same {
                bail!("{}: {} is already in the pool with different content", r.job.label(), dest.display());
            }
        } else {
            std::fs::create_dir_all(dest.parent().unwrap())?;
            std::fs::rename(&src, &dest)
                .or_else(|_| std::fs::copy(&src, &dest).map(|_| ()))
                .with_context(|| format!("cannot place {}", dest.display()))?;
        }
        records.push(DebRecord::from_file(&repo, &rel)?);
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
/// repodata (with the module metadata of modular packages). Returns the repo directory.
fn index_rpm_job(root: &Path, r: &Resolved, ctx: &BuildContext) -> Result<PathBuf> {
    use crate::index::rpm::{self as rpmidx, Compression, RepodataOptions};
    let d = &r.job.distro;
    let (releasever, basearch) = dnf::releasever_basearch(d, &r.job.arch);
    let repo_dir = root.join(&d.id).join(&releasever).join("os").join(&basearch);
    if repo_dir.exists() {
        std::fs::remove_dir_all(&repo_dir).with_context(|| format!("cannot clear {}", repo_dir.display()))?;
    }
    let pkgs = repo_dir.join("Packages");
    std::fs::create_dir_all(&pkgs)?;
    for a in &r.artifacts {
        let dest = pkgs.join(&a.file);
        std::fs::rename(r.dir.join(&a.file), &dest)
            .or_else(|_| std::fs::copy(r.dir.join(&a.file), &dest).map(|_| ()))
            .with_context(|| format!("cannot place {}", dest.display()))?;
        // Deterministic <time file=...>: the build date, not the download time.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(ctx.date.timestamp().max(0) as u64);
        std::fs::File::options().write(true).open(&dest)?.set_modified(t)?;
    }
    let records = rpmidx::scan_dir(&repo_dir)?;
    for rec in &records {
        if rec.arch != "noarch" && rec.arch != basearch {
            bail!("{}: {} is for {}, not {basearch}", r.job.label(), rec.location_href, rec.arch);
        }
    }
    let nevras: BTreeSet<String> =
        records.iter().map(|p| format!("{}-{}:{}-{}.{}", p.name, p.epoch, p.version, p.release, p.arch)).collect();
    let mut extra = Vec::new();
    if let Some(yaml) = crate::index::modules::select(&r.modules, &nevras)? {
        extra.push(("modules".to_string(), "modules.yaml".to_string(), yaml.into_bytes()));
    }
    let compression = match d.compress.as_deref() {
        None | Some("gz") | Some("gzip") => Compression::Gzip,
        Some("zstd") | Some("zst") => Compression::Zstd,
        Some(other) => bail!("{}: compress: {other:?} is not gz or zstd", d.file.display()),
    };
    let opts = RepodataOptions { compression, changelog_limit: 10, revision: ctx.date.timestamp().max(0) as u64 };
    rpmidx::write_repodata(&repo_dir, &records, &extra, &opts)?;
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
    for p in walk(&dists)? {
        if p.file_name().and_then(|n| n.to_str()) == Some("Packages") {
            let text = std::fs::read_to_string(&p)?;
            for line in text.lines() {
                if let Some(f) = line.strip_prefix("Filename: ") {
                    referenced.insert(repo.join(f.trim()));
                }
            }
        }
    }
    for p in walk(&repo.join("pool"))? {
        if !referenced.contains(&p) {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Distros by name from a directory, in the order asked.
pub fn load_distros(dir: &Path, names: &[String]) -> Result<Vec<Distro>> {
    names.iter().map(|n| crate::config::distro::load_one(dir, n)).collect()
}
