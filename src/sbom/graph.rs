//! graph: the one dependency graph of a closure. Nodes are the closure's packages; an edge
//! goes from a package to the closure packages that satisfy one of its dependency clauses
//! (by name or Provides, with version constraints; rpm also by file). Of a clause's
//! alternatives (`a | b`) the first one the closure satisfies is taken, as apt does. Both
//! the SBOM writers and `osrepo why` read it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::{Cap, Flavor, Op, Package};

/// Why an edge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// Depends, Pre-Depends, Requires.
    Depends,
    /// Recommends (followed by default, like the resolvers).
    Recommends,
}

/// A closure and its edges. `packages` are sorted (name, arch, version, sha256).
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub flavor: Flavor,
    pub packages: Vec<Package>,
    /// (from, to) → kind; a Depends edge wins over a Recommends one.
    pub edges: BTreeMap<(usize, usize), EdgeKind>,
}

/// Compare two versions of the flavor; None when either does not parse.
fn compare(flavor: Flavor, a: &str, b: &str) -> Option<Ordering> {
    match flavor {
        Flavor::Deb => Some(a.parse::<debversion::Version>().ok()?.cmp(&b.parse::<debversion::Version>().ok()?)),
        Flavor::Rpm => Some(rpm_evr_cmp(a, b)),
    }
}

/// `[E:]V[-R]` comparison; a side without a release compares versions only (as rpm does).
fn rpm_evr_cmp(a: &str, b: &str) -> Ordering {
    use crate::index::rpm::rpmvercmp;
    let split = |s: &str| -> (u64, String, Option<String>) {
        let (e, vr) = match s.split_once(':') {
            Some((e, vr)) => (e.parse().unwrap_or(0), vr),
            None => (0, s),
        };
        match vr.rsplit_once('-') {
            Some((v, r)) => (e, v.to_string(), Some(r.to_string())),
            None => (e, vr.to_string(), None),
        }
    };
    let ((ea, va, ra), (eb, vb, rb)) = (split(a), split(b));
    ea.cmp(&eb).then_with(|| rpmvercmp(&va, &vb)).then_with(|| match (ra, rb) {
        (Some(x), Some(y)) => rpmvercmp(&x, &y),
        _ => Ordering::Equal,
    })
}

fn op_holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Eq => ord == Ordering::Equal,
        Op::Ge => ord != Ordering::Less,
        Op::Gt => ord == Ordering::Greater,
    }
}

/// Does `have` (a package's own version or a versioned Provides) satisfy `want`? A version
/// that does not parse is taken to satisfy (the resolver accepted it).
fn version_ok(flavor: Flavor, want: &Cap, have: Option<&str>) -> bool {
    let (Some(op), Some(v)) = (want.op, want.version.as_deref()) else { return true };
    match have {
        Some(h) => compare(flavor, h, v).is_none_or(|ord| op_holds(op, ord)),
        // deb: an unversioned Provides satisfies no versioned dependency; rpm: any.
        None => flavor == Flavor::Rpm,
    }
}

/// Does package `p` satisfy requirement `want`?
fn satisfies(flavor: Flavor, p: &Package, want: &Cap) -> bool {
    if p.name == want.name && version_ok(flavor, want, Some(&p.version)) {
        return true;
    }
    if p.provides.iter().any(|c| c.name == want.name && version_ok(flavor, want, c.version.as_deref())) {
        return true;
    }
    want.name.starts_with('/') && p.files.binary_search(&want.name).is_ok()
}

impl Graph {
    /// The graph of a closure (packages in any order; they are sorted here).
    pub(crate) fn build(flavor: Flavor, mut packages: Vec<Package>) -> Graph {
        packages
            .sort_by(|a, b| (&a.name, &a.arch, &a.version, &a.sha256).cmp(&(&b.name, &b.arch, &b.version, &b.sha256)));
        for p in &mut packages {
            p.files.sort();
        }
        // Candidates by name: own name, provided names, files.
        let mut by_name: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
        for (i, p) in packages.iter().enumerate() {
            by_name.entry(&p.name).or_default().insert(i);
            for c in &p.provides {
                by_name.entry(&c.name).or_default().insert(i);
            }
            for f in &p.files {
                by_name.entry(f).or_default().insert(i);
            }
        }
        let mut edges = BTreeMap::new();
        for (i, p) in packages.iter().enumerate() {
            for (clauses, kind) in [(&p.depends, EdgeKind::Depends), (&p.recommends, EdgeKind::Recommends)] {
                for clause in clauses {
                    let targets = clause.iter().find_map(|alt| {
                        let hit: Vec<usize> = by_name
                            .get(alt.name.as_str())
                            .into_iter()
                            .flatten()
                            .copied()
                            .filter(|&j| satisfies(flavor, &packages[j], alt))
                            .collect();
                        (!hit.is_empty()).then_some(hit)
                    });
                    for j in targets.into_iter().flatten().filter(|&j| j != i) {
                        let e = edges.entry((i, j)).or_insert(kind);
                        *e = (*e).min(kind);
                    }
                }
            }
        }
        Graph { flavor, packages, edges }
    }

    /// The packages `i` depends on (any kind), sorted.
    pub(crate) fn deps_of(&self, i: usize) -> Vec<(usize, EdgeKind)> {
        self.edges.range((i, 0)..(i + 1, 0)).map(|(&(_, j), &k)| (j, k)).collect()
    }

    /// The packages named `name` (all arches and versions of it).
    pub(crate) fn named(&self, name: &str) -> Vec<usize> {
        (0..self.packages.len()).filter(|&i| self.packages[i].name == name).collect()
    }

    /// Every path from a requested package to `target` (each a list of package indexes,
    /// requested first). A path stops at the first requested package met going up; paths
    /// with a cycle are not followed. At most `limit` paths; the bool says whether more exist.
    pub(crate) fn paths_to(&self, target: usize, requested: &BTreeSet<usize>, limit: usize) -> (Vec<Vec<usize>>, bool) {
        let mut rev: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &(from, to) in self.edges.keys() {
            rev.entry(to).or_default().push(from);
        }
        let mut out = Vec::new();
        let mut more = false;
        let mut path = vec![target];
        walk_up(&rev, requested, &mut path, &mut out, limit, &mut more);
        out.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        (out, more)
    }
}

fn walk_up(
    rev: &BTreeMap<usize, Vec<usize>>,
    requested: &BTreeSet<usize>,
    path: &mut Vec<usize>,
    out: &mut Vec<Vec<usize>>,
    limit: usize,
    more: &mut bool,
) {
    let at = *path.last().unwrap_or(&0);
    if requested.contains(&at) {
        if out.len() >= limit {
            *more = true;
        } else {
            out.push(path.iter().rev().copied().collect());
        }
        return;
    }
    for &up in rev.get(&at).into_iter().flatten() {
        if *more {
            return;
        }
        if !path.contains(&up) {
            path.push(up);
            walk_up(rev, requested, path, out, limit, more);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::tests::{cap, pkg};

    #[test]
    fn alternatives_provides_versions_and_files() {
        let mut app = pkg("app", "1.0");
        app.depends = vec![
            vec![cap("mawk", None), cap("awk", None)],
            vec![cap("libc6", Some((Op::Ge, "2.36")))],
            vec![cap("virt", Some((Op::Ge, "2")))],
        ];
        let mut gawk = pkg("gawk", "5");
        gawk.provides = vec![cap("awk", None)];
        let mut old = pkg("prov-old", "1");
        old.provides = vec![cap("virt", Some((Op::Eq, "1")))];
        let mut new = pkg("prov-new", "1");
        new.provides = vec![cap("virt", Some((Op::Eq, "3")))];
        let mut unversioned = pkg("prov-none", "1");
        unversioned.provides = vec![cap("virt", None)];
        let g = Graph::build(Flavor::Deb, vec![app, gawk, pkg("libc6", "2.36-9"), old, new, unversioned]);
        let names = |v: Vec<(usize, EdgeKind)>| v.iter().map(|(j, _)| g.packages[*j].name.clone()).collect::<Vec<_>>();
        assert_eq!(names(g.deps_of(g.named("app")[0])), ["gawk", "libc6", "prov-new"]);
        // rpm: unversioned provides satisfy, file requires resolve to the file's owner.
        let mut r = pkg("r", "1-1");
        r.depends = vec![vec![cap("virt", Some((Op::Ge, "2")))], vec![cap("/usr/bin/tool", None)]];
        let mut t = pkg("tool", "1-1");
        t.files = vec!["/usr/bin/tool".into()];
        let mut v = pkg("v", "1-1");
        v.provides = vec![cap("virt", None)];
        let g = Graph::build(Flavor::Rpm, vec![r, t, v]);
        assert_eq!(g.deps_of(g.named("r")[0]).len(), 2);
    }

    #[test]
    fn paths_stop_at_requested_and_survive_cycles() {
        let mut a = pkg("a", "1");
        a.depends = vec![vec![cap("b", None)], vec![cap("c", None)]];
        let mut b = pkg("b", "1");
        b.depends = vec![vec![cap("c", None)]];
        let mut c = pkg("c", "1");
        c.depends = vec![vec![cap("lib", None)]];
        let mut lib = pkg("lib", "1");
        lib.depends = vec![vec![cap("c", None)]]; // a cycle
        let g = Graph::build(Flavor::Deb, vec![a, b, c, lib]);
        let req: BTreeSet<usize> = g.named("a").into_iter().collect();
        let (paths, more) = g.paths_to(g.named("lib")[0], &req, 10);
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.iter().map(|&i| g.packages[i].name.as_str()).collect::<Vec<_>>().join(">"))
            .collect();
        assert_eq!(names, ["a>c>lib", "a>b>c>lib"]);
        assert!(!more);
        let (one, more) = g.paths_to(g.named("lib")[0], &req, 1);
        assert_eq!((one.len(), more), (1, true));
    }
}
