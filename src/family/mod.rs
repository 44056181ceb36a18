//! family: one backend per package family (deb, rpm) behind one trait. A backend owns
//! everything that differs between families: how a distro file is checked, how pins are
//! written, what goes into the build container and how its report is read, how a package
//! file is identified, how a job's tree is indexed, signed and published, which node files
//! are emitted, and how merged trees are re-signed. The pipeline only calls the trait.
//!
//! Adding a family (zypper, apk): one new file implementing [`Backend`], a `Family` variant,
//! and one line in [`backend`].

pub mod deb;
pub mod rpm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::cache::Cache;
use crate::config::{Distro, ExtraRepo, Family};
use crate::engine::UploadFile;
use crate::lock::{LockedJob, LockedPackage, UpstreamKey};
use crate::plan::Job;
use crate::resolve::Artifact;
use crate::sign::SigningKey;

/// The backend of a family: the one place that matches on `Family`.
pub(crate) fn backend(f: Family) -> &'static dyn Backend {
    match f {
        Family::Deb => &deb::Deb,
        Family::Rpm => &rpm::Rpm,
    }
}

/// Every backend, in publishing order.
pub(crate) fn all() -> [&'static dyn Backend; 2] {
    [backend(Family::Deb), backend(Family::Rpm)]
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(backend(*self).name())
    }
}

/// What a build container gets: files uploaded into the job directory, bind mounts.
#[derive(Debug, Default)]
pub(crate) struct ContainerInputs {
    pub files: Vec<UploadFile>,
    /// Read-only bind mounts.
    pub binds: Vec<Bind>,
}

/// A host directory mounted into the build container: read-only for a `file:` repo (its
/// `file:` URLs are read on the host through the same mapping), writable for the resolver's
/// state kept in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind {
    pub host: PathBuf,
    pub inside: String,
    pub writable: bool,
}

impl Bind {
    /// The engine's spelling, `host:inside:ro` (or `:rw`).
    pub(crate) fn spec(&self) -> String {
        format!("{}:{}:{}", self.host.display(), self.inside, if self.writable { "rw" } else { "ro" })
    }

    /// The host path of a path inside the container, when it is under this mount and
    /// stays there (no `..`).
    pub(crate) fn host_path(&self, inside: &str) -> Option<PathBuf> {
        let rest = inside.strip_prefix(&self.inside)?.strip_prefix('/')?;
        let rel = Path::new(rest);
        rel.components().all(|c| matches!(c, std::path::Component::Normal(_))).then(|| self.host.join(rel))
    }
}

impl ContainerInputs {
    /// What every resolver container starts with: the family's resolver script and the
    /// job's specs (the container protocol's `resolve.sh` and `specs`).
    pub(crate) fn resolver(script: &str, job: &Job) -> ContainerInputs {
        ContainerInputs {
            files: vec![("resolve.sh".to_string(), script.as_bytes().to_vec(), 0o755), specs_upload(&job.specs)],
            binds: Vec::new(),
        }
    }
}

/// The container protocol's `specs` upload: one spec per line.
pub(crate) fn specs_upload(specs: &[crate::config::PackageSpec]) -> UploadFile {
    (SPECS_FILE.to_string(), crate::resolve::specs_file(specs).into_bytes(), 0o644)
}

/// Its name in the job directory.
const SPECS_FILE: &str = "specs";

/// Mirror overrides from the command line (they beat the distro file's).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub mirror: Option<String>,
    pub security_mirror: Option<String>,
}

/// What a resolver reported: the closure's files, as the upstream's signed metadata
/// describes them, and family extras.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub artifacts: Vec<Artifact>,
    /// rpm: module metadata documents of the upstream repos.
    pub modules: Vec<String>,
    /// rpm: upstream package signing keys (file name, bytes).
    pub keys: Vec<(String, Vec<u8>)>,
}

impl Report {
    /// The reports of several resolver passes as one: each file, module document and key
    /// once (first seen wins), files in name order as a single pass gives them.
    pub(crate) fn union(reports: Vec<Report>) -> Report {
        let mut out = Report::default();
        let mut urls = std::collections::BTreeSet::new();
        for r in reports {
            for a in r.artifacts {
                if urls.insert(a.url.clone()) {
                    out.artifacts.push(a);
                }
            }
            for m in r.modules {
                if !out.modules.contains(&m) {
                    out.modules.push(m);
                }
            }
            for k in r.keys {
                if !out.keys.iter().any(|(n, _)| *n == k.0) {
                    out.keys.push(k);
                }
            }
        }
        out.artifacts.sort_by(|a, b| a.file.cmp(&b.file).then_with(|| a.url.cmp(&b.url)));
        out
    }
}

/// A package file's own idea of what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub name: String,
    /// Debian version, or rpm `[epoch:]version-release`.
    pub version: String,
    pub arch: String,
    /// The names it provides besides its own (virtual packages, capabilities).
    pub provides: Vec<String>,
}

/// The lock fields a family adds to a closure.
#[derive(Debug, Default)]
pub(crate) struct LockExtras {
    pub modules: Option<String>,
    pub keys: BTreeMap<String, UpstreamKey>,
}

/// A job ready to publish: its locked closure, every file in the cache.
#[derive(Debug)]
pub(crate) struct Ready {
    pub job: Job,
    pub locked: LockedJob,
    /// sha256 → cached file.
    pub files: BTreeMap<String, PathBuf>,
    /// Files downloaded for this job in this build.
    pub fetched: usize,
    /// The digest of everything the job's published tree depends on.
    pub digest: String,
    /// The date its indexes and signatures carry.
    pub date: DateTime<Utc>,
}

/// One job handed to its family for publishing.
pub(crate) struct Publishing<'a> {
    pub ready: &'a Ready,
    /// Its closure, key, base URL or date differ from the last build of this output: its
    /// indexes are written again. Unchanged jobs keep their tree; their node files are
    /// still written.
    pub changed: bool,
}

/// What publishing needs besides the jobs.
pub(crate) struct PublishContext<'a> {
    pub key: &'a SigningKey,
    pub cache: &'a Cache,
    pub base_url: &'a str,
    /// The checksums apt indexes carry.
    pub deb_hashes: crate::index::deb::DebHashes,
}

/// One package family.
pub(crate) trait Backend: Send + Sync {
    /// `deb`, `rpm`: as distro files spell the family.
    fn name(&self) -> &'static str;

    /// Family rules of a distro file (the common ones are checked by `config`).
    fn validate(&self, d: &Distro) -> Result<()>;

    /// Split a package spec into name and pin, as the family's tools read it.
    fn split_pin<'a>(&self, raw: &'a str) -> Option<(&'a str, &'a str)>;

    /// Does a package version (as the lock writes it) satisfy a pin (as the spec wrote it)?
    fn pin_matches(&self, pin: &str, version: &str) -> bool;

    /// What the build container of a job gets.
    fn container_inputs(&self, job: &Job, overrides: &Overrides) -> Result<ContainerInputs>;

    /// The resolver command, run in the container after the inputs are uploaded.
    fn resolve_command(&self, job: &Job) -> Vec<String>;

    /// Directories below the container's work directory copied out after resolving, besides
    /// `out/` (path inside, local directory name).
    fn report_dirs(&self) -> &'static [(&'static str, &'static str)];

    /// Read the report copied out into `dir` (`dir/out/` and the report dirs).
    fn parse_report(&self, job: &Job, dir: &Path) -> Result<Report>;

    /// Name, version and arch of a package file (its index record is cached by sha256).
    fn identify(&self, cache: &Cache, sha256: &str, path: &Path) -> Result<Identity>;

    /// Read what the later stages will want of a file just downloaded into the cache (its
    /// cached records), while other files still download. Errors are left for those stages.
    fn warm(&self, _cache: &Cache, _sha256: &str, _path: &Path) {}

    /// The upstream repository a package URL belongs to.
    fn upstream_repo(&self, url: &str) -> String;

    /// Lock fields the family adds to a resolved closure.
    fn lock_extras(&self, packages: &[LockedPackage], report: &Report) -> Result<LockExtras>;

    /// Index, sign and emit the node files of this family's jobs into the staging tree.
    fn publish(&self, tree: &Path, jobs: &[Publishing<'_>], ctx: &PublishContext<'_>) -> Result<()>;

    /// The closure of a job as published in `tree`, for the SBOMs and `osrepo why`; None
    /// when the tree does not hold the job's index.
    fn sbom_closure(
        &self,
        tree: &Path,
        job: &Job,
        locked: &LockedJob,
        cache: &Cache,
    ) -> Result<Option<(crate::sbom::Flavor, Vec<crate::sbom::Package>)>>;

    /// `merge`: files of a part this family regenerates instead of copying (`rel` is
    /// relative to the tree, `/`-separated).
    fn regenerated_by_merge(&self, rel: &str) -> bool;

    /// `merge`: rewrite and re-sign what spans parts, after every part's files are in `tree`.
    fn finish_merge(&self, tree: &Path, parts: &[PathBuf], key: &SigningKey) -> Result<()>;
}

/// The bytes of an extra repo's `key_file` (a host file, relative to the distro file).
pub(crate) fn read_key_file(d: &Distro, r: &ExtraRepo) -> Result<Option<Vec<u8>>> {
    let Some(p) = d.key_file_path(r) else { return Ok(None) };
    let data = std::fs::read(&p).with_context(|| {
        format!("{}: extra repo {}: cannot read key file {}", d.file.display(), r.name, p.display())
    })?;
    Ok(Some(data))
}

/// A `file:` extra repo is a host directory mounted read-only into the build container:
/// adds the bind and returns the path inside (None for network repos).
pub(crate) fn mount_file_repo(d: &Distro, r: &ExtraRepo, binds: &mut Vec<Bind>) -> Result<Option<String>> {
    let Some(host) = r.host_dir() else { return Ok(None) };
    let host = std::fs::canonicalize(&host).with_context(|| {
        format!("{}: extra repo {}: directory {} does not exist", d.file.display(), r.name, host.display())
    })?;
    let inside = format!("{}/{}", crate::resolve::EXTRA_DIR, r.name);
    binds.push(Bind { host, inside: inside.clone(), writable: false });
    Ok(Some(inside))
}

/// The index record of a package file, from the cache (by sha256) or read and cached.
pub(crate) fn cached_record<T>(cache: &Cache, kind: &str, sha256: &str, read: impl FnOnce() -> Result<T>) -> Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    if let Some(r) = cache.record::<T>(kind, sha256) {
        return Ok(r);
    }
    let rec = read()?;
    cache.put_record(kind, sha256, &rec)?;
    Ok(rec)
}

/// The directory and file name of a path (index readers take them apart).
pub(crate) fn split_path(path: &Path) -> Result<(&Path, String)> {
    let dir = path.parent().with_context(|| format!("{} has no directory", path.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    Ok((dir, name.to_string_lossy().into_owned()))
}
