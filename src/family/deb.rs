//! The deb family (Debian, Ubuntu): apt resolves in the build container, osrepo writes
//! `dists/<codename>/` (Packages, Release, InRelease, Release.gpg) over one pool per distro
//! id, and emits `.sources`/`.list` files for nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use super::{Backend, ContainerInputs, Identity, LockExtras, Overrides, PublishContext, Publishing, Ready, Report};
use crate::cache::Cache;
use crate::config::distro::{SourceEntry, SourceRole};
use crate::config::Distro;
use crate::fsutil::write_atomic;
use crate::index::deb::{self, DebHashes, DebRecord, Paragraph, ReleaseMeta};
use crate::lock::{LockedJob, LockedPackage};
use crate::plan::Job;
use crate::resolve::{apt, JOB_DIR};
use crate::sbom::{Flavor, Package};
use crate::sign::SigningKey;

/// The deb backend.
pub(crate) struct Deb;

/// The one component osrepo writes.
const COMPONENT: &str = "main";

impl Backend for Deb {
    fn name(&self) -> &'static str {
        "deb"
    }

    fn validate(&self, d: &Distro) -> Result<()> {
        let f = d.file.display();
        if d.codename.is_none() {
            bail!("{f}: distro {} is a deb distro and needs a codename", d.name);
        }
        for r in &d.extra_repos {
            if r.suites.is_empty() {
                bail!("{f}: distro {}: extra repo {} lists no suites", d.name, r.name);
            }
        }
        Ok(())
    }

    fn split_pin<'a>(&self, raw: &'a str) -> Option<(&'a str, &'a str)> {
        raw.split_once('=')
    }

    fn pin_matches(&self, pin: &str, version: &str) -> bool {
        pin == version
    }

    fn container_inputs(&self, job: &Job, overrides: &Overrides) -> Result<ContainerInputs> {
        let d = &job.distro;
        let mut inputs = ContainerInputs::resolver(&apt::script(), job);
        let archive = overrides.mirror.clone().or_else(|| d.mirror.as_ref().and_then(|m| m.archive.clone()));
        let security = overrides.security_mirror.clone().or_else(|| d.mirror.as_ref().and_then(|m| m.security.clone()));
        if archive.is_some() || security.is_some() {
            inputs.files.push(("replace-sources".into(), Vec::new(), 0o644));
            let text = apt::mirror_sources(d, archive.as_deref(), security.as_deref())?;
            inputs.files.push(("osrepo-mirror.sources".into(), text.into_bytes(), 0o644));
        }
        extra_repo_inputs(d, &mut inputs)?;
        Ok(inputs)
    }

    fn resolve_command(&self, job: &Job) -> Vec<String> {
        let rec = if job.recommends { "true" } else { "false" };
        vec!["sh".into(), format!("{JOB_DIR}/resolve.sh"), job.arch.deb().into(), rec.into()]
    }

    fn report_dirs(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn parse_report(&self, _: &Job, dir: &Path) -> Result<Report> {
        let out = dir.join("out");
        let uris = std::fs::read_to_string(out.join("uris.txt")).context("resolver wrote no uris.txt")?;
        let show = std::fs::read_to_string(out.join("show.txt")).context("resolver wrote no show.txt")?;
        Ok(Report { artifacts: apt::parse_resolution(&uris, &show)?, ..Report::default() })
    }

    fn identify(&self, cache: &Cache, sha256: &str, path: &Path) -> Result<Identity> {
        let rec = record(cache, sha256, path, DebHashes::default())?;
        Ok(Identity {
            name: rec.package().to_string(),
            version: rec.version().to_string(),
            arch: rec.architecture().to_string(),
            provides: rec.control.get("Provides").map(provided_names).unwrap_or_default(),
        })
    }

    fn warm(&self, cache: &Cache, sha256: &str, path: &Path) {
        // The license needs the data.tar decompressed up to the copyright file: the most CPU a
        // cold build spends on a package.
        let name = self.identify(cache, sha256, path).map(|id| id.name);
        if let Err(e) = name.and_then(|n| crate::sbom::read::deb_license(cache, path, sha256, &n)) {
            tracing::debug!("{}: not read ahead: {e:#}", path.display());
        }
    }

    fn upstream_repo(&self, url: &str) -> String {
        url.split("/pool/").next().unwrap_or(url).to_string()
    }

    fn lock_extras(&self, _: &[LockedPackage], _: &Report) -> Result<LockExtras> {
        Ok(LockExtras::default())
    }

    fn publish(&self, tree: &Path, jobs: &[Publishing<'_>], ctx: &PublishContext<'_>) -> Result<()> {
        let dists = changed_dists(jobs);
        // Every arch of a touched codename is indexed with the codename's latest date; then
        // Release is written once over all its arches and signed.
        let mut placed = BTreeMap::new();
        for j in jobs {
            if let Some(date) = dists.get(&dist_key(&j.ready.job.distro)) {
                index_job(tree, j.ready, ctx, *date, &mut placed)?;
            }
        }
        for ((id, codename), date) in &dists {
            sign_dist(ctx.key, &tree.join(id).join("dists").join(codename), *date)?;
        }
        for id in dists.keys().map(|(id, _)| id).collect::<BTreeSet<_>>() {
            gc_pool(&tree.join(id))?;
        }
        emit_sources(tree, jobs, ctx.base_url)
    }

    fn sbom_closure(
        &self,
        tree: &Path,
        job: &Job,
        locked: &LockedJob,
        cache: &Cache,
    ) -> Result<Option<(Flavor, Vec<Package>)>> {
        let d = &job.distro;
        let packages = crate::sbom::read::deb(tree, (&d.id, d.codename()), job.arch.deb(), locked, cache)?;
        Ok(packages.map(|p| (Flavor::Deb, p)))
    }

    fn regenerated_by_merge(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        parts.len() == 4 && parts[1] == "dists" && matches!(parts[3], "Release" | "InRelease" | "Release.gpg")
    }

    fn finish_merge(&self, tree: &Path, parts: &[PathBuf], key: &SigningKey) -> Result<()> {
        let mut dists: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for part in parts {
            for (rel, src) in crate::fsutil::files_under(part)? {
                if self.regenerated_by_merge(&rel) && rel.ends_with("/Release") {
                    dists.entry(rel.trim_end_matches("/Release").to_string()).or_default().push(src);
                }
            }
        }
        let mut ids = BTreeSet::new();
        for (dist, releases) in &dists {
            let (meta, date) = merged_meta(releases)?;
            let id = dist.split('/').next().unwrap_or_default();
            deb::write_dist(&tree.join(id), &meta, COMPONENT, &BTreeMap::new())?;
            sign_dist(key, &tree.join(dist), date)?;
            ids.insert(id.to_string());
        }
        for id in ids {
            gc_pool(&tree.join(id))?;
        }
        Ok(())
    }
}

/// The names of a `Provides` field (`foo (= 1.0), bar:any` → foo, bar).
fn provided_names(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter_map(|p| p.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_string())
        .collect()
}

/// The index record of a cached .deb with the digests of `hashes`. Its SHA-256 is the
/// cache key (checked when the file entered or left the cache), never computed again; other
/// digests a cached record lacks are computed in one read and cached with it.
fn record(cache: &Cache, sha256: &str, path: &Path, hashes: DebHashes) -> Result<DebRecord> {
    let mut rec = super::cached_record(cache, "deb", sha256, || {
        let (dir, name) = super::split_path(path)?;
        DebRecord::read(dir, &name, hashes, Some(sha256))
    })?;
    let missing = rec.missing(hashes);
    if !missing.is_empty() {
        rec.add_digests(path, &missing)?;
        cache.put_record("deb", sha256, &rec)?;
    }
    Ok(rec)
}

/// The sources, keys and mounts of a deb distro's extra repos.
fn extra_repo_inputs(d: &Distro, inputs: &mut ContainerInputs) -> Result<()> {
    let mut key_urls = String::new();
    for r in &d.extra_repos {
        let uri = match super::mount_file_repo(d, r, &mut inputs.binds)? {
            Some(inside) => format!("file:{inside}"),
            None => r.url.clone(),
        };
        let armored = format!("keys/{}.asc", r.name);
        let keyfile = if let Some(k) = &r.key {
            inputs.files.push((armored.clone(), k.as_bytes().to_vec(), 0o644));
            armored
        } else if let Some(data) = super::read_key_file(d, r)? {
            let name = if data.starts_with(b"-----BEGIN") { armored } else { format!("keys/{}.gpg", r.name) };
            inputs.files.push((name.clone(), data, 0o644));
            name
        } else {
            key_urls.push_str(&format!("{} {}\n", r.name, r.key_url.clone().unwrap_or_default()));
            armored
        };
        let entry = SourceEntry {
            role: SourceRole::Archive,
            path: None,
            signed_by: None,
            suites: r.suites.clone(),
            components: if r.components.is_empty() { vec![COMPONENT.into()] } else { r.components.clone() },
            arches: Vec::new(),
        };
        let stanza = apt::source_stanza(&uri, &entry, Some(&format!("{JOB_DIR}/{keyfile}")));
        inputs.files.push((format!("osrepo-extra-{}.sources", r.name), stanza.into_bytes(), 0o644));
    }
    if !key_urls.is_empty() {
        inputs.files.push(("key-urls".into(), key_urls.into_bytes(), 0o644));
    }
    Ok(())
}

/// (id, codename): one `dists/` entry.
fn dist_key(d: &Distro) -> (String, String) {
    (d.id.clone(), d.codename().to_string())
}

/// The dists with a changed job, each with the latest date of its changed jobs.
fn changed_dists(jobs: &[Publishing<'_>]) -> BTreeMap<(String, String), DateTime<Utc>> {
    let mut dists: BTreeMap<(String, String), DateTime<Utc>> = BTreeMap::new();
    for j in jobs.iter().filter(|j| j.changed) {
        let date = dists.entry(dist_key(&j.ready.job.distro)).or_insert(j.ready.date);
        *date = (*date).max(j.ready.date);
    }
    dists
}

/// Place a job's files into `<tree>/<id>/pool` (linked from the cache) and write its
/// `dists/` index for its arch.
fn index_job(
    tree: &Path,
    r: &Ready,
    ctx: &PublishContext<'_>,
    date: DateTime<Utc>,
    placed: &mut BTreeMap<PathBuf, String>,
) -> Result<()> {
    let (d, cache) = (&r.job.distro, ctx.cache);
    let repo = tree.join(&d.id);
    let label = format!("{}: indexing", r.job.label());
    let read = crate::index::par_read_counted(&label, &r.locked.packages, |p| {
        record(cache, &p.sha256, &r.files[&p.sha256], ctx.deb_hashes)
    })?;
    let mut records = Vec::with_capacity(read.len());
    for (p, mut rec) in r.locked.packages.iter().zip(read) {
        let cached = &r.files[&p.sha256];
        let rel = deb::pool_path(COMPONENT, &rec.control, &p.file).with_context(|| {
            format!("{}: package {} {} from {} ({})", r.job.label(), p.name, p.version, p.repo, p.file)
        })?;
        place(&repo.join(&rel), cached, &p.sha256, placed, cache).with_context(|| r.job.label())?;
        rec.filename = rel;
        records.push(rec);
    }
    let codename = d.codename().to_string();
    let dist = repo.join("dists").join(&codename);
    let mut arches: BTreeSet<String> = list_binary_arches(&dist.join(COMPONENT))?;
    arches.insert(r.job.arch.deb().to_string());
    let meta = ReleaseMeta {
        origin: "osrepo".into(),
        label: format!("osrepo {}", d.name),
        suite: codename.clone(),
        codename: codename.clone(),
        date,
        architectures: arches.into_iter().collect(),
        components: vec![COMPONENT.into()],
        description: format!("osrepo offline repository for {} {}", d.name, codename),
        hashes: ctx.deb_hashes,
    };
    let by_arch = BTreeMap::from([(r.job.arch.deb().to_string(), records)]);
    deb::write_dist(&repo, &meta, COMPONENT, &by_arch).map(|_| ())
}

/// Put a cached file at its pool path, once per build: a path two packages of this build
/// claim with different content is an error; a file from the previous tree is kept only
/// when it is the verified one.
fn place(dest: &Path, cached: &Path, sha: &str, placed: &mut BTreeMap<PathBuf, String>, cache: &Cache) -> Result<()> {
    match placed.get(dest) {
        Some(other) if other != sha => bail!("{} is already in the pool with different content", dest.display()),
        Some(_) => Ok(()),
        None => {
            if !dest.exists() || !crate::fsutil::same_content(dest, cached)? {
                cache.link(cached, dest)?;
            }
            placed.insert(dest.to_path_buf(), sha.to_string());
            Ok(())
        }
    }
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

/// `<distro>.sources` and `<distro>.list` of every published deb distro.
fn emit_sources(tree: &Path, jobs: &[Publishing<'_>], base_url: &str) -> Result<()> {
    let repos = tree.join("repos");
    let mut seen = BTreeSet::new();
    for j in jobs {
        let d = &j.ready.job.distro;
        if seen.insert(d.name.clone()) {
            let (sources, list) = crate::emit::apt_sources(d, base_url);
            write_atomic(&repos.join(format!("{}.sources", d.name)), sources.as_bytes())?;
            write_atomic(&repos.join(format!("{}.list", d.name)), list.as_bytes())?;
            crate::emit::write_node_entry(tree, d, base_url)?;
        }
    }
    Ok(())
}

/// Sign `dists/<codename>/Release` into InRelease and Release.gpg.
pub fn sign_dist(key: &SigningKey, dist: &Path, date: DateTime<Utc>) -> Result<()> {
    let release = std::fs::read_to_string(dist.join("Release"))
        .with_context(|| format!("cannot read {}", dist.join("Release").display()))?;
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    write_atomic(&dist.join("InRelease"), key.clearsign(&release, when)?.as_bytes())?;
    write_atomic(&dist.join("Release.gpg"), key.sign_detached(release.as_bytes(), when)?.as_bytes())?;
    Ok(())
}

/// Remove pool files that no `Packages` index of this repo references any more.
fn gc_pool(repo: &Path) -> Result<()> {
    let mut referenced = BTreeSet::new();
    for (_, p) in crate::fsutil::files_under(&repo.join("dists"))? {
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

/// The Release fields of merged parts (they agree but for Architectures), with the latest
/// Date and every checksum kind a part's Release carries.
fn merged_meta(releases: &[PathBuf]) -> Result<(ReleaseMeta, DateTime<Utc>)> {
    let mut best: Option<(ReleaseMeta, DateTime<Utc>)> = None;
    let mut hashes = DebHashes::default();
    for r in releases {
        let text = std::fs::read_to_string(r).with_context(|| format!("cannot read {}", r.display()))?;
        let p = Paragraph::parse(&text).with_context(|| format!("{}", r.display()))?;
        let get = |f: &str| p.get(f).unwrap_or("").to_string();
        hashes = hashes.union(DebHashes::of_release(&text));
        let date = DateTime::parse_from_rfc2822(&get("Date").replace(" UTC", " +0000"))
            .with_context(|| format!("{}: Date {:?}", r.display(), get("Date")))?
            .with_timezone(&Utc);
        let meta = ReleaseMeta {
            origin: get("Origin"),
            label: get("Label"),
            suite: get("Suite"),
            codename: get("Codename"),
            date,
            architectures: Vec::new(),
            components: get("Components").split_whitespace().map(String::from).collect(),
            description: get("Description"),
            hashes: DebHashes::default(),
        };
        if best.as_ref().is_none_or(|b| date > b.1) {
            best = Some((meta, date));
        }
    }
    let (meta, date) = best.context("no Release among the parts")?;
    Ok((ReleaseMeta { hashes, ..meta }, date))
}
