//! The apt closure check: every package of an index has its dependencies satisfied inside
//! the repository, as Debian's `dose-debcheck` (package `dose-distcheck`) says. It runs on
//! the host when it is installed there, else in a tool container that installs it. (The rpm
//! closure is `dnf repoclosure`, run in the node container by `install`.)

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::engine::{ContainerSpec, Engine, PullPolicy};

/// The image the tool container starts from when the host has no dose-debcheck.
const TOOL_IMAGE: &str = "debian:bookworm";

fn dose_args(packages: &str, arch: Arch) -> Vec<String> {
    vec!["--failures".into(), "--explain".into(), format!("--deb-native-arch={}", arch.deb()), packages.into()]
}

/// The problems dose-debcheck reports for `<dist>/main/binary-<arch>/Packages` of the tree
/// at `out` (absolute): `package: dependency-holder needs dependency`.
pub(crate) async fn deb(engine: Option<&Engine>, out: &Path, dist: &str, arch: Arch) -> Result<Vec<String>> {
    let rel = format!("{dist}/main/binary-{}/Packages", arch.deb());
    let host =
        std::process::Command::new("dose-debcheck").args(dose_args(&out.join(&rel).to_string_lossy(), arch)).output();
    let report = match host {
        Ok(o) if o.status.code().is_some_and(|c| c <= 1) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => bail!("dose-debcheck failed on {rel}: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(_) => {
            in_container(engine.context("dose-debcheck is not installed and no engine answers")?, out, &rel, arch)
                .await?
        }
    };
    Ok(parse(&report))
}

/// Install dose-distcheck in a tool container (default network) and run it there.
async fn in_container(engine: &Engine, out: &Path, rel: &str, arch: Arch) -> Result<String> {
    let host = Arch::host();
    engine.ensure_image(TOOL_IMAGE, host, PullPolicy::Missing).await?;
    let spec = ContainerSpec {
        image: TOOL_IMAGE.into(),
        arch: host,
        binds: vec![format!("{}:/repo:ro", out.display())],
        network: None,
        label: "verify closure".into(),
    };
    let c = engine.start(&spec).await?;
    let args = dose_args(&format!("/repo/{rel}"), arch).join(" ");
    let script = format!(
        "apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends dose-distcheck >/dev/null \
         || exit 90; dose-debcheck {args}"
    );
    let r = c.exec(&["sh", "-c", &script]).await;
    c.remove().await;
    let r = r?;
    if r.code > 1 {
        bail!("dose-debcheck in a tool container failed (exit {}): {}", r.code, r.output.trim());
    }
    Ok(r.output)
}

/// Read dose-debcheck's YAML report: one line per unsatisfied dependency or conflict.
pub(crate) fn parse(report: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut top, mut holder) = (String::new(), String::new());
    for line in report.lines() {
        let indent = line.len() - line.trim_start().len();
        let l = line.trim();
        if let Some(p) = l.strip_prefix("package: ") {
            if indent == 2 {
                top = p.to_string();
                holder = p.to_string();
            } else if indent == 6 {
                holder = p.to_string();
            }
        } else if let Some(dep) = l.strip_prefix("unsat-dependency: ") {
            let who = if holder == top { String::new() } else { format!(" (via {holder})") };
            out.push(format!("{top}{who} needs {dep}, which nothing in the repository provides"));
        } else if let Some(c) = l.strip_prefix("unsat-conflict: ") {
            out.push(format!("{top}: conflict {c}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dose_report_names_the_package_and_the_missing_dependency() {
        let r = "report:\n -\n  package: jq\n  version: 1\n  status: broken\n  reasons:\n   -\n    missing:\n     pkg:\n      \
                 package: libjq1\n      version: 1\n      unsat-dependency: libonig5:amd64 (>= 6.8.1)\n -\n  package: libjq1\n  \
                 reasons:\n   -\n    missing:\n     pkg:\n      package: libjq1\n      unsat-dependency: libonig5:amd64 (>= 6.8.1)\n";
        assert_eq!(
            super::parse(r),
            [
                "jq (via libjq1) needs libonig5:amd64 (>= 6.8.1), which nothing in the repository provides",
                "libjq1 needs libonig5:amd64 (>= 6.8.1), which nothing in the repository provides"
            ]
        );
    }
}
