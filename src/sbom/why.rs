//! why: `osrepo why PKG` — every path from a requested package to PKG through a closure's
//! dependency graph (the graph the SBOMs are written from), read from the lock and the
//! published tree; no engine. The text form is an inverted tree like `cargo tree -i`
//! (a subtree shown once, later mentions marked `(*)`); `--json` lists the paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Result};
use serde::Serialize;

use super::graph::{EdgeKind, Graph};
use crate::arch::Arch;
use crate::cache::Cache;
use crate::config::{Distro, PackageSet};
use crate::lock::{Lock, LockedJob};
use crate::plan::Job;

/// At most this many paths per package are listed.
pub const PATH_LIMIT: usize = 1000;

/// One package on a path.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The specs it satisfies, when requested.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested: Vec<String>,
    /// How the next package on the path is reached from this one (none on the last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<EdgeKind>,
}

/// Why one package (one version and arch of the name) is in one job's closure.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// `debian12/amd64`.
    pub job: String,
    pub package: Step,
    /// Requested first, the package last.
    pub paths: Vec<Vec<Step>>,
    /// More paths exist than were listed.
    pub truncated: bool,
    /// The inverted tree (the text form).
    #[serde(skip)]
    pub tree: String,
}

/// The jobs of the lock that `distros` and `arch` select, with their specs from the package
/// list.
pub fn locked_jobs(
    packages: &PackageSet,
    distros: &[Distro],
    lock: &Lock,
    arch: Option<Arch>,
) -> Result<Vec<(Job, LockedJob)>> {
    let jobs = crate::plan::plan(packages, distros, &crate::plan::PlanOptions::default())?;
    Ok(jobs
        .into_iter()
        .filter(|j| arch.is_none_or(|a| a == j.arch))
        .filter_map(|j| lock.jobs.get(&j.label()).cloned().map(|l| (j, l)))
        .collect())
}

/// The distro names the lock has jobs for.
pub fn lock_distros(lock: &Lock) -> Vec<String> {
    let names: BTreeSet<&str> = lock.jobs.keys().filter_map(|l| l.split('/').next()).collect();
    names.into_iter().map(str::to_string).collect()
}

/// Why `name` is in each job's closure in `out`; an error when no job has it.
pub fn why(out: &Path, jobs: &[(Job, LockedJob)], cache: &Cache, name: &str) -> Result<Vec<Answer>> {
    let mut answers = Vec::new();
    for (job, locked) in jobs {
        let Some(g) = super::job_graph(out, job, locked, cache)? else { continue };
        let requested = super::requested(job, &g);
        for target in g.named(name) {
            answers.push(answer(&g, &requested, target, &job.label()));
        }
    }
    if answers.is_empty() {
        let labels: Vec<String> = jobs.iter().map(|(j, _)| j.label()).collect();
        bail!("{name} is in no closure published in {} ({})", out.display(), labels.join(", "));
    }
    Ok(answers)
}

fn step(g: &Graph, requested: &BTreeMap<usize, Vec<String>>, i: usize, via: Option<EdgeKind>) -> Step {
    let p = &g.packages[i];
    Step {
        name: p.name.clone(),
        version: p.version.clone(),
        arch: p.arch.clone(),
        requested: requested.get(&i).cloned().unwrap_or_default(),
        via,
    }
}

fn answer(g: &Graph, requested: &BTreeMap<usize, Vec<String>>, target: usize, job: &str) -> Answer {
    let roots: BTreeSet<usize> = requested.keys().copied().collect();
    let (paths, truncated) = g.paths_to(target, &roots, PATH_LIMIT);
    let paths = paths
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .map(|(k, &i)| step(g, requested, i, p.get(k + 1).and_then(|&next| g.edges.get(&(i, next)).copied())))
                .collect()
        })
        .collect();
    Answer {
        job: job.to_string(),
        package: step(g, requested, target, None),
        paths,
        truncated,
        tree: inverted_tree(g, requested, target),
    }
}

/// Packages some requested package reaches (only they lead anywhere in the inverted tree).
fn reached(g: &Graph, roots: &BTreeSet<usize>) -> BTreeSet<usize> {
    let mut seen: BTreeSet<usize> = roots.clone();
    let mut todo: Vec<usize> = roots.iter().copied().collect();
    while let Some(i) = todo.pop() {
        for (j, _) in g.deps_of(i) {
            if seen.insert(j) {
                todo.push(j);
            }
        }
    }
    seen
}

/// `cargo tree -i` style: the package, then what depends on it, up to requested packages.
fn inverted_tree(g: &Graph, requested: &BTreeMap<usize, Vec<String>>, target: usize) -> String {
    let roots: BTreeSet<usize> = requested.keys().copied().collect();
    let useful = reached(g, &roots);
    let mut rev: BTreeMap<usize, Vec<(usize, EdgeKind)>> = BTreeMap::new();
    for (&(from, to), &k) in &g.edges {
        if useful.contains(&from) {
            rev.entry(to).or_default().push((from, k));
        }
    }
    let mut out = String::new();
    let mut shown = BTreeSet::new();
    let mut on_path = Vec::new();
    let ctx = TreeCtx { g, requested, rev: &rev };
    ctx.node(target, None, "", "", &mut shown, &mut on_path, &mut out);
    if !useful.contains(&target) {
        out.push_str("  (no requested package depends on it through Depends/Pre-Depends/Requires/Recommends)\n");
    }
    out
}

struct TreeCtx<'a> {
    g: &'a Graph,
    requested: &'a BTreeMap<usize, Vec<String>>,
    rev: &'a BTreeMap<usize, Vec<(usize, EdgeKind)>>,
}

impl TreeCtx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn node(
        &self,
        i: usize,
        via: Option<EdgeKind>,
        lead: &str,
        indent: &str,
        shown: &mut BTreeSet<usize>,
        on_path: &mut Vec<usize>,
        out: &mut String,
    ) {
        let p = &self.g.packages[i];
        let mut line = format!("{lead}{} {} ({})", p.name, p.version, p.arch);
        if via == Some(EdgeKind::Recommends) {
            line.push_str(" [recommends]");
        }
        if let Some(specs) = self.requested.get(&i) {
            line.push_str(&format!(" [requested: {}]", specs.join(", ")));
        }
        let parents: Vec<(usize, EdgeKind)> =
            self.rev.get(&i).into_iter().flatten().copied().filter(|(j, _)| !on_path.contains(j)).collect();
        let repeat = !shown.insert(i) && !parents.is_empty() && !self.requested.contains_key(&i);
        if repeat {
            line.push_str(" (*)");
        }
        out.push_str(&line);
        out.push('\n');
        if repeat || (self.requested.contains_key(&i) && !on_path.is_empty()) {
            return;
        }
        on_path.push(i);
        for (k, &(j, kind)) in parents.iter().enumerate() {
            let last = k + 1 == parents.len();
            let (branch, more) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
            self.node(j, Some(kind), &format!("{indent}{branch}"), &format!("{indent}{more}"), shown, on_path, out);
        }
        on_path.pop();
    }
}

/// The answers as text.
pub fn render_text(answers: &[Answer]) -> String {
    let mut t = String::new();
    for a in answers {
        let n = a.paths.len();
        let more = if a.truncated { " (more not listed)" } else { "" };
        t.push_str(&format!("{}: {} path(s) from requested packages{more}\n", a.job, n));
        t.push_str(&a.tree);
        t.push('\n');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::tests::{cap, pkg};
    use crate::sbom::Flavor;

    #[test]
    fn inverted_tree_marks_repeats_and_requests() {
        let mut curl = pkg("curl", "7");
        curl.depends = vec![vec![cap("libcurl4", None)], vec![cap("libc6", None)]];
        let mut libcurl = pkg("libcurl4", "7");
        libcurl.depends = vec![vec![cap("libc6", None)]];
        let mut jq = pkg("jq", "1.6");
        jq.recommends = vec![vec![cap("libc6", None)]];
        let g = Graph::build(Flavor::Deb, vec![curl, libcurl, pkg("libc6", "2.36"), jq, pkg("orphan", "1")]);
        let req = BTreeMap::from([(g.named("curl")[0], vec!["curl".into()]), (g.named("jq")[0], vec!["jq".into()])]);
        let a = answer(&g, &req, g.named("libc6")[0], "d/amd64");
        assert_eq!(a.paths.len(), 3);
        assert_eq!(a.paths[0][0].via, Some(EdgeKind::Depends));
        let t = a.tree;
        assert!(t.starts_with("libc6 2.36 (amd64)\n"), "{t}");
        assert!(t.contains("jq 1.6 (amd64) [recommends] [requested: jq]"), "{t}");
        assert!(t.contains("└── curl 7 (amd64) [requested: curl]"), "{t}");
        let o = answer(&g, &req, g.named("orphan")[0], "d/amd64");
        assert!(o.paths.is_empty() && o.tree.contains("no requested package"), "{}", o.tree);
    }
}
