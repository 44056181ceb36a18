//! Install checks: per distro × arch, a clean node container (the distro's own image for
//! that arch, or `--node-image`), `--network none`, the tree mounted read-only at /repo,
//! every stock source removed, our node config and key installed as the README tells an
//! operator, a refresh with signature checking on, every requested package installed in one
//! transaction (then one by one to name the failing ones), and a control refresh with a
//! foreign key that must be refused.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::report::{PackageResult, TargetReport};
use crate::arch::Arch;
use crate::config::{Distro, Family};
use crate::engine::{ContainerSpec, Engine, PullPolicy};

/// Where the check's files live in the node container.
const DIR: &str = "/osrepo-verify";

/// One distro × arch to install-check.
#[derive(Debug, Clone)]
pub struct Target {
    pub distro: Distro,
    pub arch: Arch,
    /// Requested package specs (raw, as packages.yaml writes them).
    pub specs: Vec<String>,
    /// The node image (the distro's own for the arch, or `--node-image`).
    pub image: String,
}

impl Target {
    fn label(&self) -> String {
        format!("{}/{}", self.distro.name, self.arch)
    }
}

/// Shell-quote one word.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The pieces of a node script that differ between apt and dnf.
struct Node {
    setup: String,
    refresh: String,
    install: String,
    is_installed: String,
    control: String,
    closure: String,
}

fn apt_node(t: &Target, base: &str) -> Node {
    let name = &t.distro.name;
    Node {
        setup: format!(
            "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\n\
             install -D -m 644 /repo/keys/osrepo.gpg /etc/apt/keyrings/osrepo.gpg\n\
             sed 's#{base}#file:/repo#' /repo/repos/{name}.sources > /etc/apt/sources.list.d/osrepo.sources\n"
        ),
        // Any error or warning of the refresh is fatal.
        refresh:
            "rm -rf /var/lib/apt/lists/*; apt-get update > $R/update.log 2>&1 && ! grep -qE '^(W|E|Err):' $R/update.log"
                .into(),
        install: "apt-get install -y".into(),
        is_installed: "n=${1%%=*}; dpkg-query -W -f='${db:Status-Status}' \"$n\" 2>/dev/null | grep -qx installed || \
             dpkg-query -W -f='${Provides}\\n' | tr ',' '\\n' | sed 's/ *(.*//; s/^ *//' | grep -qx \"$n\""
            .into(),
        control: "install -m 644 $R/foreign.gpg /etc/apt/keyrings/osrepo.gpg".into(),
        closure: String::new(),
    }
}

fn dnf_node(t: &Target, base: &str) -> Node {
    let (name, rel, arch) = (&t.distro.name, &t.distro.release, t.arch.rpm());
    let dnf = |root: &str| {
        format!(
            "dnf -y -q --setopt=reposdir=/etc/yum.repos.d --setopt=skip_if_unavailable=False \
             --disableplugin=local --releasever {rel} --forcearch {arch} --installroot {root}"
        )
    };
    Node {
        setup: format!(
            "mkdir -p /etc/yum.repos.d /tmp/root /tmp/control $R/stock\n\
             mv /etc/yum.repos.d/* $R/stock/ 2>/dev/null || true\n\
             sed 's#{base}#file:///repo#g' /repo/repos/{name}.repo > /etc/yum.repos.d/osrepo.repo\n\
             DNF=\"{}\"\n",
            dnf("/tmp/root")
        ),
        refresh: "$DNF makecache > $R/update.log 2>&1".into(),
        install: "$DNF install".into(),
        is_installed: "rpm --root /tmp/root -q \"$1\" >/dev/null 2>&1 || rpm --root /tmp/root -q --whatprovides \"$1\" >/dev/null 2>&1".into(),
        control: format!(
            "sed -i 's#file:///repo/keys/osrepo.asc#file://$R/foreign.asc#' /etc/yum.repos.d/osrepo.repo; DNF=\"{}\"",
            dnf("/tmp/control")
        ),
        closure: format!(
            "$DNF repoclosure --repo osrepo-{name} --arch {arch} --arch noarch > $R/closure.log 2>&1\n\
             awk '/^package: /{{p=$2}} /^ +unresolved deps/{{u=1; next}} u && /^ +/{{print \"OSREPO-CLOSURE \" p \" needs \" $1; next}} {{u=0}}' $R/closure.log\n"
        ),
    }
}

/// The whole node script: its output lines starting with `OSREPO-` are the result.
fn script(t: &Target, base: &str) -> String {
    let n = match t.distro.family {
        Family::Deb => apt_node(t, base),
        Family::Rpm => dnf_node(t, base),
    };
    let specs: Vec<String> = t.specs.iter().map(|s| q(s)).collect();
    let specs = specs.join(" ");
    format!(
        "R={DIR}\nset -u\n{setup}\
         refresh() {{ {refresh}; }}\n\
         is_installed() {{ {is_installed}; }}\n\
         reason() {{ grep -E '^E:|Depends:|nothing provides|^Error|[Pp]roblem|conflicts|No match|Unable to locate|not installable|has no installation candidate' \"$1\" | head -4 | tr '\\n' ' '; }}\n\
         if ! refresh; then echo OSREPO-REFRESH-FAILED; tail -20 $R/update.log; exit 0; fi\n\
         {install} {specs} > $R/all.log 2>&1 && all=0 || all=1\n\
         for s in {specs}; do\n\
           if [ $all -ne 0 ] && ! {install} \"$s\" > $R/one.log 2>&1; then echo \"OSREPO-PKG-FAIL $s $(reason $R/one.log)\"; continue; fi\n\
           if is_installed \"$s\"; then echo \"OSREPO-PKG-OK $s\"; else echo \"OSREPO-PKG-FAIL $s not installed after the install command\"; fi\n\
         done\n{closure}\
         {control}\n\
         if refresh; then echo OSREPO-CONTROL-ACCEPTED; else echo OSREPO-CONTROL-REFUSED; fi\n",
        setup = n.setup,
        refresh = n.refresh,
        is_installed = n.is_installed,
        install = n.install,
        closure = n.closure,
        control = n.control,
    )
}

/// Read the script's `OSREPO-` lines into the report.
fn parse(output: &str, r: &mut TargetReport) {
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        if line == "OSREPO-REFRESH-FAILED" {
            let rest: Vec<&str> = lines.by_ref().filter(|l| !l.trim().is_empty()).collect();
            r.refresh_error = Some(rest.join("\n"));
            return;
        }
        if let Some(rest) = line.strip_prefix("OSREPO-PKG-OK ") {
            r.packages.push(PackageResult { spec: rest.trim().into(), installed: true, reason: String::new() });
        } else if let Some(rest) = line.strip_prefix("OSREPO-PKG-FAIL ") {
            let (spec, why) = rest.split_once(' ').unwrap_or((rest, ""));
            r.packages.push(PackageResult { spec: spec.into(), installed: false, reason: why.trim().into() });
        } else if let Some(rest) = line.strip_prefix("OSREPO-CLOSURE ") {
            r.closure.push(rest.trim().into());
        } else if line == "OSREPO-CONTROL-ACCEPTED" {
            r.control_refused = Some(false);
        } else if line == "OSREPO-CONTROL-REFUSED" {
            r.control_refused = Some(true);
        }
    }
}

/// The arch to run the node container as: the target's when the image is for it; an rpm
/// node image of another arch runs natively with `dnf --forcearch` (as the tests' dnf image).
async fn container_arch(engine: &Engine, t: &Target) -> Result<Arch> {
    match engine.image_arch(&t.image).await? {
        Some(a) if a == t.arch.oci() => Ok(t.arch),
        Some(_) if t.distro.family == Family::Rpm => Ok(Arch::host()),
        _ => {
            engine.ensure_image(&t.image, t.arch, PullPolicy::Missing).await?;
            Ok(t.arch)
        }
    }
}

/// Run the install check of one target against the tree at `out` (an absolute path).
pub async fn check(engine: &Engine, out: &Path, t: &Target, foreign: &crate::sign::SigningKey) -> TargetReport {
    let started = Instant::now();
    let mut r = TargetReport {
        distro: t.distro.name.clone(),
        arch: t.arch.to_string(),
        image: t.image.clone(),
        ..Default::default()
    };
    if let Err(e) = run(engine, out, t, foreign, &mut r).await {
        r.error = Some(format!("{e:#}"));
    }
    for s in &t.specs {
        if r.refresh_error.is_none() && r.error.is_none() && !r.packages.iter().any(|p| &p.spec == s) {
            r.packages.push(PackageResult {
                spec: s.clone(),
                installed: false,
                reason: "no result from the node".into(),
            });
        }
    }
    r.seconds = started.elapsed().as_secs_f64();
    r
}

async fn run(
    engine: &Engine,
    out: &Path,
    t: &Target,
    foreign: &crate::sign::SigningKey,
    r: &mut TargetReport,
) -> Result<()> {
    let base = super::nodecfg::base_url(out, &t.distro.name, t.distro.family)?;
    let arch = container_arch(engine, t).await.with_context(|| format!("{}: node image {}", t.label(), t.image))?;
    let spec = ContainerSpec {
        image: t.image.clone(),
        arch,
        binds: vec![format!("{}:/repo:ro", out.display())],
        network: Some("none".into()),
        label: format!("verify {}", t.label()),
    };
    let c = engine.start(&spec).await?;
    let result = async {
        let files = vec![
            ("check.sh".to_string(), script(t, &base).into_bytes(), 0o755),
            ("foreign.gpg".to_string(), foreign.public_binary()?, 0o644),
            ("foreign.asc".to_string(), foreign.public_armored()?.into_bytes(), 0o644),
        ];
        c.upload(DIR, &files).await?;
        c.exec(&["sh", &format!("{DIR}/check.sh")]).await
    }
    .await;
    c.remove().await;
    parse(&result?.output, r);
    Ok(())
}

/// The arches of a distro present in the tree.
pub fn arches_in(out: &Path, d: &Distro) -> Vec<Arch> {
    d.arches
        .iter()
        .copied()
        .filter(|a| match d.family {
            Family::Deb => {
                let dir = out.join(&d.id).join("dists").join(d.codename()).join("main");
                dir.join(format!("binary-{}", a.deb())).join("Packages").is_file()
            }
            Family::Rpm => {
                out.join(&d.id).join(&d.release).join("os").join(a.rpm()).join("repodata/repomd.xml").is_file()
            }
        })
        .collect()
}

/// The absolute path of a tree (bind mounts need one).
pub fn absolute(out: &Path) -> Result<PathBuf> {
    out.canonicalize().with_context(|| format!("{}: no such tree", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_output_is_read_into_the_report() {
        let mut r = TargetReport::default();
        parse(
            "noise\nOSREPO-PKG-OK jq\nOSREPO-PKG-FAIL app E: Unable to locate package app \n\
             OSREPO-CLOSURE app-1.0-1.x86_64 needs libfoo.so.1()(64bit)\nOSREPO-CONTROL-REFUSED\n",
            &mut r,
        );
        assert_eq!(r.installed(), 1);
        assert_eq!(r.failed().next().unwrap().reason, "E: Unable to locate package app");
        assert_eq!(r.closure, ["app-1.0-1.x86_64 needs libfoo.so.1()(64bit)"]);
        assert_eq!(r.control_refused, Some(true));
        let mut r = TargetReport::default();
        parse(
            "OSREPO-REFRESH-FAILED\nErr:1 file:/repo bookworm InRelease\n  The following signatures were invalid\n",
            &mut r,
        );
        assert!(r.refresh_error.unwrap().contains("signatures were invalid"));
    }
}
