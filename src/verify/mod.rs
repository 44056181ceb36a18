//! verify: prove a published tree works offline before anyone ships it.
//!
//! Static checks (`static_deb`, `static_rpm`, `nodecfg`) read only the tree: every signature
//! with the tree's own key, every index against its Release or repomd.xml, every package
//! against its index, no unreferenced pool file, node config files that point at what
//! exists. Install checks (`install`) start a clean node container per distro × arch with
//! no network, the tree mounted read-only and only our config and key installed, and
//! install every requested package with signature checking on. `report` renders the table,
//! JSON and JUnit.

mod closure;
pub mod install;
mod nodecfg;
pub mod report;
mod static_deb;
mod static_rpm;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

pub use report::{Report, TargetReport};

/// One thing that is wrong, naming the file (relative to the tree) and what differs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub file: String,
    pub what: String,
}

impl Problem {
    pub(crate) fn new(file: impl Into<String>, what: impl Into<String>) -> Problem {
        Problem { file: file.into(), what: what.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.what)
    }
}

/// A repository found in a tree: an apt dist or a yum repo.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Repo {
    /// `debian/dists/bookworm` or `rocky/9/os/x86_64`, relative to the tree.
    pub path: String,
    pub family: crate::config::Family,
}

/// The outcome of the static checks of a tree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StaticReport {
    pub repos: Vec<Repo>,
    /// Files whose content was checked against an index.
    pub files_checked: usize,
    pub problems: Vec<Problem>,
    pub seconds: f64,
}

/// Every static check of the tree at `out`. Needs no engine.
pub fn check_static(out: &Path) -> Result<StaticReport> {
    let t = std::time::Instant::now();
    let files = crate::fsutil::files_under(out)?;
    let mut report = StaticReport::default();
    let deb = static_deb::check(out, &files)?;
    let rpm = static_rpm::check(out, &files)?;
    for part in [deb, rpm] {
        report.repos.extend(part.repos);
        report.files_checked += part.files_checked;
        report.problems.extend(part.problems);
    }
    report.problems.extend(nodecfg::check(out)?);
    if report.repos.is_empty() {
        report.problems.push(Problem::new(".", "no apt dists/ and no yum repodata/ found in the tree"));
    }
    report.problems.sort();
    report.problems.dedup();
    report.seconds = t.elapsed().as_secs_f64();
    Ok(report)
}

/// Install checks of a build's staged tree (`build --verify`).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// `--node-image DISTRO=REF` overrides.
    pub node_images: std::collections::BTreeMap<String, String>,
}

/// The install-check targets of a distro × arch, the image from `node_images` or the distro
/// file: one node for the specs, or one per pass when a name is pinned to several versions
/// (each pinned version is installed on a node of its own).
pub fn targets(
    d: &crate::config::Distro,
    arch: crate::arch::Arch,
    specs: &[crate::config::PackageSpec],
    node_images: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<install::Target>> {
    let image = match node_images.get(&d.name) {
        Some(i) => i.clone(),
        None => d.image_for(arch)?.to_string(),
    };
    let passes = crate::config::packages::passes(specs);
    Ok(passes
        .into_iter()
        .map(|p| {
            let specs = p.into_iter().map(|s| s.raw).collect();
            install::Target { distro: d.clone(), arch, specs, image: image.clone() }
        })
        .collect())
}

/// Static checks of `out`, then (unless `static_only`) the install check of each target.
/// Without an engine, each target fails with why.
pub async fn run(
    out: &Path,
    targets: &[install::Target],
    static_only: bool,
    engine: Option<&crate::engine::Engine>,
) -> Result<Report> {
    let mut report = Report { static_checks: Some(check_static(out)?), targets: Vec::new() };
    if static_only || targets.is_empty() {
        return Ok(report);
    }
    let abs = install::absolute(out)?;
    let foreign =
        crate::sign::SigningKey::generate("osrepo verify control <control@localhost>", std::time::SystemTime::now())?;
    for t in targets {
        let mut r = match engine {
            Some(e) => install::check(e, &abs, t, &foreign).await,
            None => TargetReport {
                distro: t.distro.name.clone(),
                arch: t.arch.to_string(),
                image: t.image.clone(),
                error: Some("no Docker engine answers (install checks need one; --static needs none)".into()),
                ..Default::default()
            },
        };
        if t.distro.family == crate::config::Family::Deb {
            let dist = format!("{}/dists/{}", t.distro.id, t.distro.codename());
            match closure::deb(engine, &abs, &dist, t.arch).await {
                Ok(problems) => r.closure = problems,
                Err(e) => r.closure.push(format!("closure not checked: {e:#}")),
            }
        }
        report.targets.push(r);
    }
    Ok(report)
}

/// `build --verify`: verify the staged tree; an error (naming every failure) when it fails.
pub(crate) async fn gate(
    staged: &Path,
    gate: &Gate,
    ready: &[crate::family::Ready],
    engine: Option<&crate::engine::Engine>,
) -> Result<()> {
    let mut targets = Vec::new();
    for r in ready {
        targets.extend(self::targets(&r.job.distro, r.job.arch, &r.job.specs, &gate.node_images)?);
    }
    let report = run(staged, &targets, false, engine).await?;
    eprint!("{}", report.table());
    if !report.ok() {
        anyhow::bail!("verification of the new tree failed:\n{}", report.failures().join("\n"));
    }
    Ok(())
}

/// A file's bytes, or a problem naming it.
pub(crate) fn read_rel(out: &Path, rel: &str) -> std::result::Result<Vec<u8>, Problem> {
    std::fs::read(out.join(rel)).map_err(|e| Problem::new(rel, format!("cannot read: {e}")))
}

/// The tree's own public key files (`keys/osrepo.gpg` for apt, `keys/osrepo.asc` for yum).
pub(crate) fn tree_key(out: &Path, name: &str) -> std::result::Result<crate::sign::PublicKeys, Problem> {
    let rel = format!("keys/{name}");
    crate::sign::PublicKeys::load(&out.join(&rel)).map_err(|e| Problem::new(rel, format!("{e:#}")))
}

/// The distros a tree has node config files for (`repos/<name>.sources` or `.repo`).
pub fn distros_in(out: &Path) -> Result<Vec<(String, crate::config::Family)>> {
    let mut v = Vec::new();
    let dir = out.join("repos");
    if !dir.exists() {
        return Ok(v);
    }
    for e in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_suffix(".sources") {
            v.push((n.to_string(), crate::config::Family::Deb));
        } else if let Some(n) = name.strip_suffix(".repo") {
            v.push((n.to_string(), crate::config::Family::Rpm));
        }
    }
    v.sort();
    Ok(v)
}
