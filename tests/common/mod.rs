//! Shared helpers for the integration tests: they drive the real `osrepo` binary against the
//! real Docker engine and judge the result with real apt in `--network none` containers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod rpmfix;

pub const IMAGE: &str = "debian:bookworm";

pub fn osrepo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_osrepo"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a command, returning its output; panics with the output when `ok` differs.
pub fn run(cmd: &mut Command, ok: bool) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if out.status.success() != ok {
        panic!(
            "{cmd:?} {} unexpectedly ({})\n--- stdout\n{}\n--- stderr\n{}",
            if ok { "failed" } else { "succeeded" },
            out.status,
            String::from_utf8_lossy(&out.stdout),
            tail(&String::from_utf8_lossy(&out.stderr), 60)
        );
    }
    out
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The engine must answer: these tests fail (never skip) without one.
pub fn engine() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let v = Command::new("docker").args(["version", "--format", "{{.Server.APIVersion}}"]).output();
        match v {
            Ok(o) if o.status.success() => {}
            _ => panic!(
                "no Docker engine answers: these integration tests need one (run scripts/setup-engine.sh; CI={})",
                std::env::var("CI").unwrap_or_default()
            ),
        }
        // The base image: bootstrap it from the host's mirror when the engine lacks it.
        let have = Command::new("docker").args(["image", "inspect", IMAGE]).output().unwrap();
        if !have.status.success() {
            run(osrepo().args(["image", "bootstrap", "debian12", "--distros"]).arg(root().join("distros")), true);
        }
    });
}

/// One signing key for the whole test binary.
pub fn key() -> PathBuf {
    static KEY: OnceLock<PathBuf> = OnceLock::new();
    KEY.get_or_init(|| new_key("main")).clone()
}

/// A fresh key in a temp dir that lives for the test run.
pub fn new_key(name: &str) -> PathBuf {
    let dir = scratch(&format!("key-{name}"));
    run(
        osrepo().args(["key", "generate", "--uid", &format!("osrepo test {name} <t@localhost>"), "--out"]).arg(&dir),
        true,
    );
    dir.join("osrepo.key")
}

/// A directory for one test, kept under target/ so failures can be inspected.
pub fn scratch(name: &str) -> PathBuf {
    let d = root().join("target").join("itest").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A test distros dir holding copies of the shipped distro files (edited by `edit`).
pub fn distros_dir(dir: &Path, edit: impl Fn(&str, String) -> String) -> PathBuf {
    let d = dir.join("distros");
    std::fs::create_dir_all(&d).unwrap();
    for e in std::fs::read_dir(root().join("distros")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            run(Command::new("cp").arg("-a").arg(&p).arg(&d), true);
            continue;
        }
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(d.join(p.file_name().unwrap()), edit(&name, text)).unwrap();
    }
    d
}

/// `osrepo build` with the test's packages and distros.
pub fn build(dir: &Path, distros: &Path, packages: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = osrepo();
    c.current_dir(dir)
        .args(["build", "debian12", "--arch", "amd64", "--packages"])
        .arg(packages)
        .arg("--distros")
        .arg(distros)
        .arg("--out")
        .arg(out)
        .arg("--key")
        .arg(key())
        .args(extra);
    c
}

/// Run a shell script in a clean debian12 container with no network and `out` at /repo,
/// every apt source removed and only osrepo's emitted sources file and key installed.
/// `keyring` replaces the key file put into /etc/apt/keyrings (default: out's own).
pub fn on_node(out: &Path, keyring: Option<&Path>, script: &str) -> Output {
    on_node_of(IMAGE, "debian12", out, keyring, script)
}

/// The same on a node of `image`, configured from `out/repos/<distro>.sources`. A container
/// has no init: services are not started (policy-rc.d, as in any chroot or container install),
/// and `systemctl` is diverted to a no-op that succeeds, as on a booted node (noble's pcp,
/// which dstat now is, calls `systemctl start` from its postinst whenever systemctl exists).
pub fn on_node_of(image: &str, distro: &str, out: &Path, keyring: Option<&Path>, script: &str) -> Output {
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "--network", "none", "-v"]).arg(format!("{}:/repo:ro", out.display()));
    if let Some(k) = keyring {
        c.arg("-v").arg(format!("{}:/testkey.gpg:ro", k.display()));
    }
    let keysrc = if keyring.is_some() { "/testkey.gpg" } else { "/repo/keys/osrepo.gpg" };
    let setup = format!(
        "set -e\nrm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\nmkdir -p /etc/apt/keyrings\n\
         cp {keysrc} /etc/apt/keyrings/osrepo.gpg\n\
         sed 's#http://OSREPO_HOST:8080#file:/repo#' /repo/repos/{distro}.sources > /etc/apt/sources.list.d/osrepo.sources\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d\n\
         dpkg-divert --local --rename --add /usr/bin/systemctl > /dev/null\n\
         printf '#!/bin/sh\\nexit 0\\n' > /usr/bin/systemctl && chmod 755 /usr/bin/systemctl\n"
    );
    c.args([image, "sh", "-c", &format!("{setup}{script}")]);
    c.output().expect("docker run")
}

/// Package names listed in an index (`Package:` lines), with versions.
pub fn index_entries(out: &Path, arch: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(out.join(format!("debian/dists/bookworm/main/binary-{arch}/Packages"))).unwrap();
    let mut v = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Package: ") {
            name = n.to_string();
        }
        if let Some(ver) = line.strip_prefix("Version: ") {
            v.push((name.clone(), ver.to_string()));
        }
    }
    v
}

/// Every file under a directory with its content, for before/after comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let data = std::fs::read(&p).unwrap();
                v.push((p, data));
            }
        }
    }
    v.sort();
    v
}

/// A package whose bookworm and bookworm-updates/-security versions differ, and its older version.
pub fn package_with_older_version() -> (String, String) {
    let (p, old, _) = package_with_two_versions();
    (p, old)
}

/// A package whose bookworm and bookworm-updates/-security versions differ: (name, oldest, newest).
pub fn package_with_two_versions() -> (String, String, String) {
    let script = "apt-get update -qq >/dev/null 2>&1; for p in xz-utils openssl curl tzdata libxml2 ca-certificates; do apt-cache madison $p; done";
    let o = run(Command::new("docker").args(["run", "--rm", IMAGE, "sh", "-c", script]), true);
    let text = String::from_utf8_lossy(&o.stdout);
    let mut by_pkg: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() >= 3 && cols[2].contains("Packages") {
            let v = by_pkg.entry(cols[0].to_string()).or_default();
            if !v.contains(&cols[1].to_string()) {
                v.push(cols[1].to_string());
            }
        }
    }
    // madison lists newest first: take the last (oldest) of a package with two or more.
    for p in ["xz-utils", "openssl", "curl", "tzdata", "libxml2", "ca-certificates"] {
        if let Some(v) = by_pkg.get(p) {
            if v.len() >= 2 {
                return (p.to_string(), v.last().unwrap().clone(), v[0].clone());
            }
        }
    }
    panic!("no candidate package has two versions in the archive:\n{text}");
}

/// Two trees hold the same files with the same bytes.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let strip = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        snapshot(root).into_iter().map(|(p, d)| (p.strip_prefix(root).unwrap().to_path_buf(), d)).collect()
    };
    let (sa, sb) = (strip(a), strip(b));
    let na: Vec<&PathBuf> = sa.iter().map(|x| &x.0).collect();
    let nb: Vec<&PathBuf> = sb.iter().map(|x| &x.0).collect();
    assert_eq!(na, nb, "file lists differ: {} vs {}", a.display(), b.display());
    for ((p, x), (_, y)) in sa.iter().zip(sb.iter()) {
        assert!(x == y, "{} differs between {} and {}", p.display(), a.display(), b.display());
    }
}

/// No hidden work or staging directories were left in `dir`. The writer locks
/// (`.<out>.lock`, `.<lockfile>.lock`: empty regular files) stay by design: removing a flock
/// file races with the next writer.
pub fn assert_no_leftovers(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let lock = n.ends_with(".lock") && e.file_type().unwrap().is_file() && e.metadata().unwrap().len() < 64;
            n.starts_with('.') && !lock
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "staging or work directories left behind: {leftovers:?}");
}
