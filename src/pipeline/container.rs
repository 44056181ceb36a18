//! container: the build container of a job, and the resolver protocol run in it (upload the
//! family's inputs, run its command, copy its report out).

use std::path::Path;

use anyhow::{Context, Result};

use super::BuildContext;
use crate::arch::Arch;
use crate::engine::{Container, ContainerSpec};
use crate::family::{Backend, Report};
use crate::plan::Job;
use crate::resolve::{parse_missing, EXIT_MISSING, JOB_DIR, WORK_DIR};

/// Why resolving a job failed, where callers (and users) tell the cases apart.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    /// Requested packages do not exist for the distro and arch.
    #[error("{label}: {} requested package(s) cannot be installed on {distro} {arch}:{}", .missing.len(), list(.missing))]
    Missing { label: String, distro: String, arch: Arch, missing: Vec<(String, String)> },
    /// The resolver script failed otherwise.
    #[error("{label}: the resolver failed (exit {code}):\n{tail}")]
    Failed { label: String, code: i64, tail: String },
    /// The resolver's closure lacks requested packages (it dropped them, or got other pins).
    #[error("{label}: {} requested package(s) are not satisfied by the resolved closure of {distro} {arch}:{}", .missing.len(), list(.missing))]
    NotInClosure { label: String, distro: String, arch: Arch, missing: Vec<(String, String)> },
    /// The resolver reported no files.
    #[error("{label}: the resolver reported an empty closure")]
    Empty { label: String },
}

fn list(missing: &[(String, String)]) -> String {
    missing.iter().map(|(spec, why)| format!("\n  {spec}: {why}")).collect()
}

/// Make sure the job's build image is there and start its build container.
pub(crate) async fn start(ctx: &BuildContext, job: &Job, binds: &[crate::family::Bind]) -> Result<Container> {
    let label = job.label();
    let engine = ctx.engine()?;
    let arch = job.container_arch();
    engine.ensure_image(&job.image, arch, ctx.pull).await.with_context(|| format!("{label}: build image"))?;
    let binds = binds.iter().map(crate::family::Bind::spec).collect();
    let spec = ContainerSpec { image: job.image.clone(), arch, binds, network: None, label };
    engine.start(&spec).await
}

/// Resolve the job in `c`: one resolver run, or one per pass when a name is pinned to
/// several versions (`config::packages::passes`), their reports as one.
pub(crate) async fn resolve_all(
    c: &Container,
    backend: &dyn Backend,
    job: &Job,
    files: &[crate::engine::UploadFile],
    dir: &Path,
) -> Result<Report> {
    let passes = crate::config::packages::passes(&job.specs);
    if passes.len() == 1 {
        return resolve_in(c, backend, job, files, dir).await;
    }
    let mut reports = Vec::with_capacity(passes.len());
    for (i, specs) in passes.into_iter().enumerate() {
        let pass = Job { specs, ..job.clone() };
        tracing::info!("{}: resolving pass {} (several pins of one name are resolved apart)", job.label(), i + 1);
        // The job's uploads with this pass's specs in place of the job's.
        let specs = crate::family::specs_upload(&pass.specs);
        let files: Vec<_> = files.iter().map(|f| if f.0 == specs.0 { specs.clone() } else { f.clone() }).collect();
        reports.push(resolve_in(c, backend, &pass, &files, &dir.join(format!("pass{i}"))).await?);
    }
    Ok(Report::union(reports))
}

/// Run the family's resolver in `c` and read its report (copied out below `dir`).
pub(crate) async fn resolve_in(
    c: &Container,
    backend: &dyn Backend,
    job: &Job,
    files: &[crate::engine::UploadFile],
    dir: &Path,
) -> Result<Report> {
    let label = job.label();
    c.upload(JOB_DIR, files).await?;
    let cmd = backend.resolve_command(job);
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let run = c.exec(&cmd).await?;
    let outdir = dir.join("out");
    if run.code == EXIT_MISSING {
        c.copy_out(&format!("{WORK_DIR}/out"), &outdir).await?;
        let missing = parse_missing(&std::fs::read_to_string(outdir.join("missing.tsv")).unwrap_or_default());
        return Err(ResolveError::Missing { label, distro: job.distro.name.clone(), arch: job.arch, missing }.into());
    }
    if run.code != 0 {
        let lines: Vec<&str> = run.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(ResolveError::Failed { label, code: run.code, tail }.into());
    }
    c.copy_out(&format!("{WORK_DIR}/out"), &outdir).await?;
    for (inside, local) in backend.report_dirs() {
        c.copy_out(&format!("{WORK_DIR}/{inside}"), &dir.join(local)).await?;
    }
    let report = backend.parse_report(job, dir).with_context(|| format!("{label}: the resolver's report"))?;
    if report.artifacts.is_empty() {
        return Err(ResolveError::Empty { label }.into());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_packages_are_listed_by_spec_with_distro_and_arch() {
        let e = ResolveError::Missing {
            label: "debian12/arm64".into(),
            distro: "debian12".into(),
            arch: Arch::Arm64,
            missing: vec![
                ("aufs-tools".into(), "Unable to locate package aufs-tools".into()),
                ("netcat".into(), "virtual".into()),
            ],
        };
        assert_eq!(
            e.to_string(),
            "debian12/arm64: 2 requested package(s) cannot be installed on debian12 arm64:\n  \
             aufs-tools: Unable to locate package aufs-tools\n  netcat: virtual"
        );
    }
}
