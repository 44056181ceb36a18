//! report: what each job did, for the summary table and the exit status.

use std::fmt;

use crate::arch::Arch;
use crate::lock::LockedJob;

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Its closure is ready (and published, unless the build only locks).
    Ok,
    /// It succeeded but was not published (another arch of its distro failed).
    Skipped { why: String },
    /// It failed.
    Failed { why: String },
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobStatus::Ok => "ok",
            JobStatus::Skipped { .. } => "skipped",
            JobStatus::Failed { .. } => "FAILED",
        })
    }
}

/// Outcome of one job, for the summary.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub distro: String,
    pub arch: Arch,
    pub packages: usize,
    pub bytes: u64,
    pub seconds: f64,
    /// Files downloaded (not taken from the cache).
    pub fetched: usize,
    pub status: JobStatus,
}

impl JobReport {
    /// A job whose closure is `locked`.
    pub fn of(distro: &str, arch: Arch, locked: &LockedJob, fetched: usize, seconds: f64) -> JobReport {
        JobReport {
            distro: distro.to_string(),
            arch,
            packages: locked.packages.len(),
            bytes: locked.packages.iter().map(|p| p.size).sum(),
            seconds,
            fetched,
            status: JobStatus::Ok,
        }
    }

    /// A job that failed.
    pub fn failed(distro: &str, arch: Arch, why: String, seconds: f64) -> JobReport {
        JobReport {
            distro: distro.to_string(),
            arch,
            packages: 0,
            bytes: 0,
            seconds,
            fetched: 0,
            status: JobStatus::Failed { why },
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
            r.arch.deb(),
            r.packages,
            r.bytes,
            r.fetched,
            r.seconds,
            r.status
        ));
    }
    t
}

/// What a build did.
#[derive(Debug)]
pub struct BuildOutcome {
    pub reports: Vec<JobReport>,
    /// Why each failed job failed.
    pub failures: Vec<String>,
    pub published: bool,
    /// Nothing changed since the last build of this output: nothing was done.
    pub unchanged: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_the_table() {
        let l =
            LockedJob { inputs: String::new(), packages: vec![], resolved: 0, modules: None, keys: Default::default() };
        let mut skipped = JobReport::of("debian12", Arch::Arm64, &l, 0, 1.0);
        skipped.status = JobStatus::Skipped { why: "another arch of debian12 failed".into() };
        let rows = [
            JobReport::of("debian12", Arch::Amd64, &l, 3, 2.5),
            skipped,
            JobReport::failed("rocky9", Arch::Amd64, "boom".into(), 0.1),
        ];
        let t = summary_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("DISTRO"));
        assert!(lines[1].starts_with("debian12         amd64") && lines[1].ends_with("  ok"), "{t}");
        assert!(lines[2].ends_with("  skipped") && lines[3].ends_with("  FAILED"), "{t}");
    }
}
