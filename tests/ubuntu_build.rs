//! Ubuntu for real: the base image is bootstrapped (keyring-verified, inside a Debian 13
//! container) when the engine lacks it, the shipped packages.yaml is built from the real
//! Ubuntu archive, and every requested package installs on a clean `--network none` Ubuntu
//! node that has only our repository, with signatures checked.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

/// The specs a distro requests from the shipped packages.yaml (`osrepo list DISTRO`).
fn requested(distro: &str) -> Vec<String> {
    let o = run(osrepo().current_dir(root()).args(["list", distro]), true);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.lines().filter(|l| !l.starts_with("group ")).filter_map(|l| l.split('\t').next()).map(String::from).collect()
}

/// The distro's image for amd64, bootstrapped when missing (one bootstrap at a time: they
/// share the Debian 13 image they run in).
fn ensure_image(distro: &str, image: &str) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    engine();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let have = Command::new("docker").args(["image", "inspect", image]).output().unwrap();
    if !have.status.success() {
        run(osrepo().args(["image", "bootstrap", distro, "--distros"]).arg(root().join("distros")), true);
    }
}

/// Installed package names and everything they provide, from `dpkg-query` output lines
/// `Status|Package|Provides`.
fn installed_names(dpkg: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in dpkg.lines() {
        let mut f = line.split('|');
        let (Some(status), Some(pkg), provides) = (f.next(), f.next(), f.next().unwrap_or("")) else { continue };
        if status != "install ok installed" {
            continue;
        }
        names.insert(pkg.to_string());
        for p in provides.split(',') {
            if let Some(n) = p.split_whitespace().next() {
                names.insert(n.to_string());
            }
        }
    }
    names
}

fn ubuntu_release_installs_offline(distro: &str, image: &str) {
    ensure_image(distro, image);
    let specs = requested(distro);
    assert!(specs.len() > 20, "{distro} requests too few packages: {specs:?}");
    let dir = scratch(distro);
    let out = dir.join("out");
    run(
        osrepo()
            .current_dir(root())
            .args(["build", distro, "--arch", "amd64", "--out"])
            .arg(&out)
            .arg("--key")
            .arg(key())
            .arg("--lock")
            .arg(dir.join("osrepo.lock")),
        true,
    );
    let script = format!(
        "apt-get update > /tmp/u.log 2>&1 || {{ cat /tmp/u.log; exit 1; }}\n\
         ! grep -E '^(W|E):' /tmp/u.log\n\
         apt-get install -y -q {} > /tmp/i.log 2>&1 || {{ tail -40 /tmp/i.log; exit 1; }}\n\
         echo INSTALLED\n\
         dpkg-query -W -f '${{Status}}|${{Package}}|${{Provides}}\\n'",
        specs.join(" ")
    );
    let o = on_node_of(image, distro, &out, None, &script);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && stdout.contains("INSTALLED"), "{distro}: node install failed:\n{stdout}");
    let names = installed_names(&stdout);
    for s in &specs {
        let name = s.split('=').next().unwrap();
        assert!(names.contains(name), "{distro}: requested {s} is not installed on the node");
    }
    // Another key in signed-by: apt-get update must refuse the repository.
    let other = new_key(&format!("other-{distro}"));
    let bad = on_node_of(
        image,
        distro,
        &out,
        Some(&other.parent().unwrap().join("osrepo.gpg")),
        "apt-get update || echo rc=$?",
    );
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(stdout.contains("rc=100"), "{distro}: apt-get update accepted a repo signed by another key:\n{stdout}");
    setup_sh_configures_a_stock_node_and_restores_it(distro, image, &out);
}

/// `repos/setup.sh` on a stock node of the image (its own sources in place, no network):
/// it finds the distro from /etc/os-release, configures our repo, apt installs with the
/// signature checked, and `--restore` gives back every stock file byte for byte.
fn setup_sh_configures_a_stock_node_and_restores_it(distro: &str, image: &str, out: &std::path::Path) {
    let sums = "find /etc/apt -type f | sort | xargs -r sha256sum";
    let script = format!(
        "set -e\n{sums} > /tmp/before\n\
         sh /repo/repos/setup.sh file:/repo > /tmp/setup.log 2>&1 || {{ cat /tmp/setup.log; exit 1; }}\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq > /tmp/i.log 2>&1 || {{ tail -30 /tmp/i.log; exit 1; }}\n\
         jq --version\n\
         sh /repo/repos/setup.sh --restore\n\
         {sums} > /tmp/after\n\
         diff /tmp/before /tmp/after\n\
         echo NODE-OK"
    );
    let o = run(
        std::process::Command::new("docker")
            .args(["run", "--rm", "--network", "none", "-v"])
            .arg(format!("{}:/repo:ro", out.display()))
            .args([image, "sh", "-c", &script]),
        true,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("NODE-OK"),
        "{distro}: setup.sh on a stock node:\n{stdout}\n{}",
        tail(&String::from_utf8_lossy(&o.stderr), 20)
    );
}

#[test]
fn ubuntu2204_shipped_packages_install_offline() {
    ubuntu_release_installs_offline("ubuntu2204", "ubuntu:22.04");
}

#[test]
fn ubuntu2004_shipped_packages_install_offline() {
    ubuntu_release_installs_offline("ubuntu2004", "ubuntu:20.04");
}

#[test]
fn ubuntu2404_shipped_packages_install_offline() {
    ubuntu_release_installs_offline("ubuntu2404", "ubuntu:24.04");
}

#[test]
fn installed_names_include_provides() {
    let n = installed_names(
        "install ok installed|bind9-host|host\ninstall ok installed|a|b (= 1), c\ndeinstall ok config-files|gone|\n",
    );
    assert!(n.contains("host") && n.contains("b") && n.contains("c") && n.contains("a"));
    assert!(!n.contains("gone"));
}
