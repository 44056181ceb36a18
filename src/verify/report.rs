//! The verify report: a table per distro × arch, the same data as JSON, and JUnit XML
//! (one test case per distro × arch × package, plus the static checks and the controls).

use std::fmt::Write as _;

use serde::Serialize;

use super::StaticReport;

/// One requested package on one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackageResult {
    pub spec: String,
    pub installed: bool,
    /// The package manager's reason when it did not install.
    pub reason: String,
}

/// The install check of one distro × arch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetReport {
    pub distro: String,
    pub arch: String,
    pub image: String,
    pub packages: Vec<PackageResult>,
    /// Why the metadata refresh failed (signature checking on), if it did.
    pub refresh_error: Option<String>,
    /// The control run with a foreign key: true when the refresh was refused, as it must be.
    pub control_refused: Option<bool>,
    /// Packages of the index whose dependencies the repository cannot satisfy.
    pub closure: Vec<String>,
    /// Anything else that stopped the check (no image, no engine...).
    pub error: Option<String>,
    pub seconds: f64,
}

impl TargetReport {
    pub fn installed(&self) -> usize {
        self.packages.iter().filter(|p| p.installed).count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &PackageResult> {
        self.packages.iter().filter(|p| !p.installed)
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.refresh_error.is_none()
            && self.control_refused != Some(false)
            && self.closure.is_empty()
            && self.failed().next().is_none()
    }

    /// Every reason this target failed, one line each.
    pub fn reasons(&self) -> Vec<String> {
        let mut v = Vec::new();
        let label = format!("{}/{}", self.distro, self.arch);
        if let Some(e) = &self.error {
            v.push(format!("{label}: {e}"));
        }
        if let Some(e) = &self.refresh_error {
            v.push(format!("{label}: metadata refresh failed: {e}"));
        }
        if self.control_refused == Some(false) {
            v.push(format!("{label}: a foreign key was accepted: signatures are not enforced"));
        }
        for p in self.failed() {
            v.push(format!("{label}: {} does not install: {}", p.spec, p.reason));
        }
        for c in &self.closure {
            v.push(format!("{label}: closure: {c}"));
        }
        v
    }
}

/// Everything `osrepo verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    #[serde(rename = "static")]
    pub static_checks: Option<StaticReport>,
    pub targets: Vec<TargetReport>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.static_checks.as_ref().is_none_or(|s| s.problems.is_empty()) && self.targets.iter().all(TargetReport::ok)
    }

    /// Every failure, one line each (static problems name the file).
    pub fn failures(&self) -> Vec<String> {
        let mut v: Vec<String> = self.static_checks.iter().flat_map(|s| &s.problems).map(|p| p.to_string()).collect();
        v.extend(self.targets.iter().flat_map(TargetReport::reasons));
        v
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        if let Some(st) = &self.static_checks {
            let _ = writeln!(
                s,
                "static: {} repositories, {} package files, {} problem(s), {:.2} s",
                st.repos.len(),
                st.files_checked,
                st.problems.len(),
                st.seconds
            );
        }
        if !self.targets.is_empty() {
            let _ = writeln!(
                s,
                "{:<16} {:<6} {:>9} {:>9} {:>6} {:>7} {:>8}  status",
                "distro", "arch", "requested", "installed", "failed", "closure", "seconds"
            );
        }
        for t in &self.targets {
            let status = if t.ok() { "ok" } else { "FAILED" };
            let _ = writeln!(
                s,
                "{:<16} {:<6} {:>9} {:>9} {:>6} {:>7} {:>8.1}  {status}",
                t.distro,
                t.arch,
                t.packages.len(),
                t.installed(),
                t.failed().count(),
                t.closure.len(),
                t.seconds
            );
        }
        for f in self.failures() {
            let _ = writeln!(s, "  {f}");
        }
        s
    }

    /// JUnit XML: a `static` suite (one case per repository) and one suite per distro × arch.
    pub fn junit(&self) -> String {
        let mut suites = String::new();
        let mut total = (0, 0);
        if let Some(st) = &self.static_checks {
            let mut cases = Vec::new();
            for r in &st.repos {
                let mine: Vec<String> = st
                    .problems
                    .iter()
                    .filter(|p| p.file.starts_with(&format!("{}/", r.path)) || pool_of(&r.path, &p.file))
                    .map(|p| p.to_string())
                    .collect();
                cases.push((r.path.clone(), mine));
            }
            let other: Vec<String> = st
                .problems
                .iter()
                .filter(|p| {
                    !st.repos.iter().any(|r| p.file.starts_with(&format!("{}/", r.path)) || pool_of(&r.path, &p.file))
                })
                .map(|p| p.to_string())
                .collect();
            cases.push(("keys and node config".into(), other));
            suites.push_str(&suite("static", st.seconds, &cases, &mut total));
        }
        for t in &self.targets {
            suites.push_str(&suite(&format!("{}/{}", t.distro, t.arch), t.seconds, &target_cases(t), &mut total));
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"osrepo verify\" tests=\"{}\" failures=\"{}\">\n{suites}</testsuites>\n",
            total.0, total.1
        )
    }
}

/// Does a problem in `<id>/pool/` belong to the dist `<id>/dists/<codename>`?
fn pool_of(repo: &str, file: &str) -> bool {
    let id = repo.split('/').next().unwrap_or_default();
    repo.contains("/dists/") && file.starts_with(&format!("{id}/pool/"))
}

/// The test cases of a target: refresh, the foreign-key control, each package, closure.
fn target_cases(t: &TargetReport) -> Vec<(String, Vec<String>)> {
    let mut cases = Vec::new();
    let mut setup: Vec<String> = t.error.iter().cloned().collect();
    setup.extend(t.refresh_error.iter().map(|e| format!("metadata refresh failed: {e}")));
    cases.push(("refresh with signature checking".to_string(), setup));
    if let Some(refused) = t.control_refused {
        let why = if refused { vec![] } else { vec!["a foreign key was accepted".to_string()] };
        cases.push(("foreign key is refused".to_string(), why));
    }
    for p in &t.packages {
        let why = if p.installed { vec![] } else { vec![p.reason.clone()] };
        cases.push((format!("install {}", p.spec), why));
    }
    cases.push(("closure".to_string(), t.closure.clone()));
    cases
}

fn suite(name: &str, seconds: f64, cases: &[(String, Vec<String>)], total: &mut (usize, usize)) -> String {
    let failures = cases.iter().filter(|c| !c.1.is_empty()).count();
    total.0 += cases.len();
    total.1 += failures;
    let mut s = format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{seconds:.3}\">\n",
        esc(name),
        cases.len()
    );
    for (case, why) in cases {
        let _ = write!(s, "    <testcase classname=\"{}\" name=\"{}\"", esc(name), esc(case));
        if why.is_empty() {
            s.push_str("/>\n");
        } else {
            let msg = why.join("\n");
            let first = why[0].lines().next().unwrap_or_default();
            let _ =
                write!(s, ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n", esc(first), esc(&msg));
        }
    }
    s.push_str("  </testsuite>\n");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_has_a_case_per_package_and_marks_failures() {
        let t = TargetReport {
            distro: "debian12".into(),
            arch: "amd64".into(),
            packages: vec![
                PackageResult { spec: "jq".into(), installed: true, reason: String::new() },
                PackageResult {
                    spec: "a<b".into(),
                    installed: false,
                    reason: "Depends: x but it is not installable".into(),
                },
            ],
            control_refused: Some(true),
            ..Default::default()
        };
        let r = Report { static_checks: None, targets: vec![t] };
        assert!(!r.ok());
        let x = r.junit();
        assert!(x.contains("tests=\"5\" failures=\"1\""), "{x}");
        assert!(x.contains("name=\"install jq\"/>"), "{x}");
        assert!(
            x.contains("name=\"install a&lt;b\">\n      <failure message=\"Depends: x but it is not installable\""),
            "{x}"
        );
        assert!(r.table().contains("debian12/amd64: a<b does not install: Depends: x"), "{}", r.table());
    }
}
