//! build: run the pipeline for a set of jobs. plan → resolve (containers) → fetch (verify)
//! → index → sign → emit → publish.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{Distro, Family};
use crate::engine::{ContainerSpec, Engine, PullPolicy, UploadFile};
use crate::index::deb::{self, DebRecord, ReleaseMeta};
use crate::plan::Job;
use crate::publish::{write_file, Staging};
use crate::resolve::{apt, Artifact};
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
}

/// A job's verified closure: files on local disk.
pub struct Resolved {
    pub job: Job,
    pub artifacts: Vec<Artifact>,
    pub dir: PathBuf,
}

/// Outcome of one job, for the summary.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub label: String,
    pub packages: usize,
    pub bytes: u64,
    pub seconds: f64,
}

/// The build date: SOURCE_DATE_EPOCH when set, else now.
pub fn build_date() -> Result<DateTime<Utc>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) => {
            let secs: i64 = s
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number"))?;
            DateTime::from_timestamp(secs, 0)
                .with_context(|| format!("SOURCE_DATE_EPOCH={s} is out of range"))
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

/// Run every job; publish only when all of them resolved.
pub async fn build(ctx: &BuildContext, jobs: Vec<Job>) -> Result<Vec<JobReport>> {
    let parent = match ctx.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let work = tempfile::Builder::new()
        .prefix(".osrepo-work.")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a work directory in {}", parent.display()))?;

    let mut resolved = Vec::new();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let t = Instant::now();
        let dir = work.path().join(format!("job{i}"));
        match resolve_job(ctx, &job, &dir).await {
            Ok(r) => {
                let bytes = r.artifacts.iter().map(|a| a.size).sum();
                tracing::info!(
                    "{}: closure of {} packages, {} bytes",
                    job.label(),
                    r.artifacts.len(),
                    bytes
                );
                reports.push(JobReport {
                    label: job.label(),
                    packages: r.artifacts.len(),
                    bytes,
                    seconds: t.elapsed().as_secs_f64(),
                });
                resolved.push(r);
            }
            Err(e) => failures.push(format!("{:#}", e)),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{}\nnothing was published; {} is unchanged",
            failures.join("\n"),
            ctx.out.display()
        );
    }

    let staging = Staging::begin(&ctx.out)?;
    let mut dists = BTreeSet::new();
    for r in &resolved {
        match r.job.distro.family {
            Family::Deb => {
                index_deb_job(staging.path(), r, ctx.date)?;
                dists.insert((r.job.distro.id.clone(), r.job.distro.codename().to_string()));
            }
            Family::Rpm => bail!("{}: rpm distros are not supported yet", r.job.label()),
        }
    }
    for (id, codename) in &dists {
        sign_dist(
            &ctx.key,
            &staging.path().join(id).join("dists").join(codename),
            ctx.date,
        )?;
    }
    for id in dists.iter().map(|(id, _)| id).collect::<BTreeSet<_>>() {
        gc_pool(&staging.path().join(id))?;
    }
    crate::sign::write_public_key_files(&staging.path().join("keys"), &ctx.key)?;
    let mut seen = BTreeSet::new();
    for r in &resolved {
        let d = &r.job.distro;
        if seen.insert(d.name.clone()) {
            let (sources, list) = crate::emit::apt_sources(d, &ctx.base_url);
            write_file(
                &staging
                    .path()
                    .join("repos")
                    .join(format!("{}.sources", d.name)),
                sources.as_bytes(),
            )?;
            write_file(
                &staging
                    .path()
                    .join("repos")
                    .join(format!("{}.list", d.name)),
                list.as_bytes(),
            )?;
        }
    }
    staging.commit()?;
    Ok(reports)
}

/// Resolve one job in a build container and bring its files out, verified.
pub async fn resolve_job(ctx: &BuildContext, job: &Job, dir: &Path) -> Result<Resolved> {
    let label = job.label();
    match job.distro.family {
        Family::Deb => {}
        Family::Rpm => bail!("{label}: rpm distros are not supported yet"),
    }
    ctx.engine
        .ensure_image(&job.image, &job.arch, ctx.pull)
        .await
        .with_context(|| format!("{label}: build image"))?;
    let (files, binds) = apt_job_files(ctx, job)?;
    let spec = ContainerSpec {
        image: job.image.clone(),
        arch: job.arch.clone(),
        binds,
        network: None,
        label: label.clone(),
    };
    let container = ctx.engine.start(&spec).await?;
    let result = async {
        container.upload(apt::JOB_DIR, &files).await?;
        let rec = if job.recommends { "true" } else { "false" };
        let run = container
            .exec(&[
                "sh",
                &format!("{}/resolve.sh", apt::JOB_DIR),
                &job.arch,
                rec,
            ])
            .await?;
        let outdir = dir.join("out");
        if run.code == apt::EXIT_MISSING {
            container
                .copy_out(&format!("{}/out", apt::WORK_DIR), &outdir)
                .await?;
            let missing = apt::parse_missing(
                &std::fs::read_to_string(outdir.join("missing.tsv")).unwrap_or_default(),
            );
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
            bail!(
                "{label}: the resolver failed (exit {}):\n{}",
                run.code,
                tail.join("\n")
            );
        }
        container
            .copy_out(&format!("{}/out", apt::WORK_DIR), &outdir)
            .await?;
        let uris = std::fs::read_to_string(outdir.join("uris.txt"))
            .context("resolver wrote no uris.txt")?;
        let artifacts = apt::parse_uris(&uris)?;
        if artifacts.is_empty() {
            bail!("{label}: the resolver reported an empty closure");
        }
        let filesdir = dir.join("files");
        let got = container
            .copy_out(&format!("{}/files", apt::WORK_DIR), &filesdir)
            .await?;
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
        Ok(Resolved {
            job: job.clone(),
            artifacts,
            dir: filesdir,
        })
    }
    .await;
    container.remove().await;
    result
}

/// Files uploaded into the container for an apt job, and its bind mounts.
fn apt_job_files(ctx: &BuildContext, job: &Job) -> Result<(Vec<UploadFile>, Vec<String>)> {
    let d = &job.distro;
    let mut files = vec![
        (
            "resolve.sh".to_string(),
            apt::script().as_bytes().to_vec(),
            0o755,
        ),
        (
            "specs".to_string(),
            apt::specs_file(&job.specs).into_bytes(),
            0o644,
        ),
    ];
    let mut binds = Vec::new();
    let archive = ctx
        .mirror
        .clone()
        .or_else(|| d.mirror.as_ref().and_then(|m| m.archive.clone()));
    let security = ctx
        .security_mirror
        .clone()
        .or_else(|| d.mirror.as_ref().and_then(|m| m.security.clone()));
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
                    format!(
                        "{}: extra repo {}: directory {} does not exist",
                        d.file.display(),
                        r.name,
                        host.display()
                    )
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
                format!(
                    "{}: extra repo {}: cannot read key file {}",
                    d.file.display(),
                    r.name,
                    p.display()
                )
            })?;
            let name = if data.starts_with(b"-----BEGIN") {
                keyname.clone()
            } else {
                format!("keys/{}.gpg", r.name)
            };
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
            components: if r.components.is_empty() {
                vec!["main".into()]
            } else {
                r.components.clone()
            },
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
            let same = crate::resolve::hash_file::<sha2::Sha256>(&dest)?
                == crate::resolve::hash_file::<sha2::Sha256>(&src)?;
            if !same {
                bail!(
                    "{}: {} is already in the pool with different content",
                    r.job.label(),
                    dest.display()
                );
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
    let when =
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    write_file(
        &dist.join("InRelease"),
        key.clearsign(&release, when)?.as_bytes(),
    )?;
    write_file(
        &dist.join("Release.gpg"),
        key.sign_detached(release.as_bytes(), when)?.as_bytes(),
    )?;
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
    names
        .iter()
        .map(|n| crate::config::distro::load_one(dir, n))
        .collect()
}
