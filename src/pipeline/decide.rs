//! decide: pure. For each job, take its closure from the lock or resolve it again; and say
//! whether the build has anything to do at all.

use crate::lock::{Lock, LockedJob};
use crate::pipeline::state::OutputState;
use crate::plan::Job;

/// How the lock is used (`--locked`, `--update-lock`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockMode {
    /// Build exactly what the lock says; changed inputs are an error.
    pub locked: bool,
    /// Resolve again even where the lock matches the inputs.
    pub update: bool,
}

/// How a job gets its closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The lock matches the inputs: its packages, fetched into the cache when missing.
    Lock(LockedJob),
    /// Resolve in a build container.
    Resolve,
}

/// A job with its inputs digest and where its closure comes from.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub job: Job,
    pub inputs: String,
    pub source: Source,
}

/// Why a `--locked` build cannot use the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The lock has the job, made from other inputs.
    Stale,
    /// The lock does not have the job.
    Missing,
}

/// The decision for one job: its lock entry (if any), its inputs digest, the mode.
pub(crate) fn choose(entry: Option<&LockedJob>, inputs: &str, mode: LockMode) -> Result<Source, Refusal> {
    match entry {
        Some(l) if l.inputs == inputs && !mode.update => Ok(Source::Lock(l.clone())),
        Some(_) if mode.locked => Err(Refusal::Stale),
        None if mode.locked => Err(Refusal::Missing),
        _ => Ok(Source::Resolve),
    }
}

/// Every job's source. Refusals are all reported at once, one line per job.
pub(crate) fn plan_sources(
    jobs: Vec<(Job, String)>,
    lock: &Lock,
    mode: LockMode,
    lock_name: &str,
) -> Result<Vec<Planned>, Vec<String>> {
    let mut planned = Vec::new();
    let mut refused = Vec::new();
    for (job, inputs) in jobs {
        let label = job.label();
        match choose(lock.jobs.get(&label), &inputs, mode) {
            Ok(source) => planned.push(Planned { job, inputs, source }),
            Err(Refusal::Stale) => refused.push(format!(
                "{label}: packages.yaml or {} changed since {lock_name} was written; run with --update-lock to resolve again",
                job.distro.file.display()
            )),
            Err(Refusal::Missing) => refused.push(format!("{label}: not in {lock_name} (run osrepo lock)")),
        }
    }
    if refused.is_empty() {
        Ok(planned)
    } else {
        Err(refused)
    }
}

/// Nothing to do: every job comes from the lock and its tree digest is the one the output
/// was last built with. `digest` gives a locked job's tree digest.
pub(crate) fn up_to_date(
    planned: &[Planned],
    state: &OutputState,
    digest: impl Fn(&Job, &LockedJob) -> String,
) -> bool {
    !planned.is_empty()
        && planned.iter().all(|p| match &p.source {
            Source::Lock(l) => !state.changed(&p.job.label(), &digest(&p.job, l)),
            Source::Resolve => false,
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::arch::Arch;
    use crate::config::Distro;

    fn job(arch: Arch) -> Job {
        let text = "name: debian12\nfamily: deb\nid: debian\nrelease: '12'\ncodename: bookworm\n\
                    image: debian:bookworm\narches: [amd64, arm64]\ngroups: [common]\n";
        let distro = Distro::parse(Path::new("distros/debian12.yaml"), text).unwrap();
        Job { distro, arch, specs: vec![], image: "debian:bookworm".into(), recommends: true }
    }

    fn entry(inputs: &str) -> LockedJob {
        LockedJob { inputs: inputs.into(), packages: vec![], resolved: 7, modules: None, keys: BTreeMap::new() }
    }

    const PLAIN: LockMode = LockMode { locked: false, update: false };
    const LOCKED: LockMode = LockMode { locked: true, update: false };
    const UPDATE: LockMode = LockMode { locked: false, update: true };

    #[test]
    fn lock_or_resolve_table() {
        let e = entry("sha256:in");
        type Case<'a> = (Option<&'a LockedJob>, &'a str, LockMode, Result<Source, Refusal>);
        let cases: [Case; 8] = [
            // lock matches the inputs: use it
            (Some(&e), "sha256:in", PLAIN, Ok(Source::Lock(e.clone()))),
            (Some(&e), "sha256:in", LOCKED, Ok(Source::Lock(e.clone()))),
            // inputs changed: resolve, unless --locked
            (Some(&e), "sha256:new", PLAIN, Ok(Source::Resolve)),
            (Some(&e), "sha256:new", LOCKED, Err(Refusal::Stale)),
            // --update-lock resolves although the lock matches
            (Some(&e), "sha256:in", UPDATE, Ok(Source::Resolve)),
            (Some(&e), "sha256:new", UPDATE, Ok(Source::Resolve)),
            // not in the lock
            (None, "sha256:in", PLAIN, Ok(Source::Resolve)),
            (None, "sha256:in", LOCKED, Err(Refusal::Missing)),
        ];
        for (i, (entry, inputs, mode, want)) in cases.into_iter().enumerate() {
            assert_eq!(choose(entry, inputs, mode), want, "case {i}");
        }
    }

    #[test]
    fn locked_refusals_are_listed_together() {
        let mut lock = Lock::default();
        lock.jobs.insert("debian12/amd64".into(), entry("sha256:old"));
        let jobs = vec![(job(Arch::Amd64), "sha256:new".to_string()), (job(Arch::Arm64), "sha256:x".to_string())];
        let e = plan_sources(jobs, &lock, LOCKED, "osrepo.lock").unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with("debian12/amd64: packages.yaml or distros/debian12.yaml changed"), "{}", e[0]);
        assert_eq!(e[1], "debian12/arm64: not in osrepo.lock (run osrepo lock)");
        let ok = plan_sources(vec![(job(Arch::Amd64), "sha256:old".to_string())], &lock, LOCKED, "l").unwrap();
        assert_eq!(ok[0].source, Source::Lock(entry("sha256:old")));
    }

    fn planned(arch: Arch, source: Source) -> Planned {
        Planned { job: job(arch), inputs: "sha256:in".into(), source }
    }

    #[test]
    fn up_to_date_table() {
        let digest = |j: &Job, l: &LockedJob| format!("{}@{}", j.label(), l.resolved);
        let both = OutputState {
            jobs: BTreeMap::from([
                ("debian12/amd64".to_string(), "debian12/amd64@7".to_string()),
                ("debian12/arm64".to_string(), "debian12/arm64@7".to_string()),
            ]),
            tree: None,
        };
        let locked = |a| planned(a, Source::Lock(entry("sha256:in")));
        // every job locked and recorded with the same digest: nothing to do
        assert!(up_to_date(&[locked(Arch::Amd64), locked(Arch::Arm64)], &both, digest));
        // one job resolves again
        assert!(!up_to_date(&[locked(Arch::Amd64), planned(Arch::Arm64, Source::Resolve)], &both, digest));
        // one arch's closure changed (another resolve time): only that arch is re-indexed
        let mut changed = entry("sha256:in");
        changed.resolved = 8;
        let jobs = [locked(Arch::Amd64), planned(Arch::Arm64, Source::Lock(changed.clone()))];
        assert!(!up_to_date(&jobs, &both, digest));
        assert!(!both.changed("debian12/amd64", &digest(&jobs[0].job, &entry("sha256:in"))));
        assert!(both.changed("debian12/arm64", &digest(&jobs[1].job, &changed)));
        // never built into this output, or no jobs at all
        assert!(!up_to_date(&[locked(Arch::Amd64)], &OutputState::default(), digest));
        assert!(!up_to_date(&[], &both, digest));
    }
}
