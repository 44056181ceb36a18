//! The rpm family end to end: a fixture distro whose build image is dnf on the Debian base,
//! with a signed fixture upstream repo as its only source; the result judged by real dnf.

mod common;
use common::rpmfix::{self, DNF_IMAGE};
use common::*;
use std::path::Path;
use std::process::Command;

/// The fixture distro with a second, EPEL-like repo signed by its own key.
fn distro_file_with_epel(up: &Path, vendor_pub: &Path, epel: &Path, epel_pub: &Path) -> String {
    format!(
        "{}  - name: fixture-epel\n    url: file:{}\n    key_file: {}\n",
        rpmfix::distro_file(up, vendor_pub),
        epel.display(),
        epel_pub.display()
    )
}

/// Run a script in a clean dnf container with no network, out/ at /repo.
fn dnf_node(out: &Path, extra_mount: Option<(&Path, &str)>, script: &str) -> std::process::Output {
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "--network", "none", "-v"]).arg(format!("{}:/repo:ro", out.display()));
    if let Some((host, inside)) = extra_mount {
        c.arg("-v").arg(format!("{}:{inside}:ro", host.display()));
    }
    let setup = "set -e\nmkdir -p /etc/yum.repos.d /tmp/root\n\
        sed 's#http://OSREPO_HOST:8080#file:///repo#g' /repo/repos/fixturerpm.repo > /etc/yum.repos.d/osrepo.repo\n\
        DNF=\"dnf -y --setopt=reposdir=/etc/yum.repos.d --setopt=skip_if_unavailable=False --disableplugin=local --releasever 1 --installroot /tmp/root\"\n";
    c.args([DNF_IMAGE, "sh", "-c", &format!("{setup}{script}")]);
    c.output().unwrap()
}

/// The tree of one arch: the whole closure (requests, a provides-only name, the second repo),
/// one provider of virt-thing, no other arches, no older versions, signed repodata, modules.
fn check_tree(out: &Path, basearch: &str) {
    let pkgs = out.join(format!("fixture/1/os/{basearch}/Packages"));
    let mut files: Vec<String> =
        std::fs::read_dir(&pkgs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    for want in rpmfix::EXPECTED.iter().chain(rpmfix::EXPECTED_EXTRA) {
        assert!(files.iter().any(|f| f.starts_with(&format!("{want}."))), "{basearch}: {want} missing from {files:?}");
    }
    let providers = files.iter().filter(|f| f.starts_with("prov-")).count();
    assert_eq!(providers, 1, "{basearch}: exactly one provider of virt-thing expected: {files:?}");
    let expected = rpmfix::EXPECTED.len() + rpmfix::EXPECTED_EXTRA.len() + 1;
    assert_eq!(files.len(), expected, "{basearch}: unexpected extra packages (i686 twins?): {files:?}");
    assert!(files.iter().all(|f| f.ends_with(&format!(".{basearch}.rpm")) || f.ends_with(".noarch.rpm")), "{files:?}");
    assert!(!files.iter().any(|f| f.starts_with("bar-1.0")), "the older bar must not be taken");
    let repodata = out.join(format!("fixture/1/os/{basearch}/repodata"));
    assert!(repodata.join("repomd.xml.asc").exists());
    let repomd = std::fs::read_to_string(repodata.join("repomd.xml")).unwrap();
    assert!(repomd.contains("type=\"modules\""), "{basearch}: no module metadata in {repomd}");
}

#[test]
fn fixture_rpm_distro_builds_and_installs_for_both_arches() {
    engine();
    rpmfix::dnf_image();
    let dir = scratch("rpm");
    let vendor = new_key("vendor");
    let up = rpmfix::upstream_repo(&dir, &vendor);
    let epel_vendor = new_key("epel-vendor");
    let epel = rpmfix::epel_repo(&dir, &epel_vendor);
    let distros = dir.join("distros");
    std::fs::create_dir_all(&distros).unwrap();
    let asc = |k: &Path| k.parent().unwrap().join("osrepo.asc");
    std::fs::write(
        distros.join("fixturerpm.yaml"),
        distro_file_with_epel(&up, &asc(&vendor), &epel, &asc(&epel_vendor)),
    )
    .unwrap();
    let packages = dir.join("packages.yaml");
    // aliasname exists only as a Provides of realname; epeltool only in the second repo.
    std::fs::write(&packages, "fixture:\n  - app\n  - modpkg\n  - aliasname\n  - epeltool\n").unwrap();
    let out = dir.join("out");
    rpmfix::build_both_arches(&packages, &distros, &out);

    for basearch in ["x86_64", "aarch64"] {
        check_tree(&out, basearch);
    }
    // noarch packages are stored once for both arches.
    use std::os::unix::fs::MetadataExt;
    let ino =
        |a: &str| std::fs::metadata(out.join(format!("fixture/1/os/{a}/Packages/bar-2.0-1.noarch.rpm"))).unwrap().ino();
    assert_eq!(ino("x86_64"), ino("aarch64"), "noarch rpm stored twice");
    let repo = std::fs::read_to_string(out.join("repos/fixturerpm.repo")).unwrap();
    assert!(repo.contains("gpgcheck=1") && repo.contains("repo_gpgcheck=1") && !repo.contains("gpgcheck=0"), "{repo}");
    assert!(repo.contains("/keys/osrepo.asc") && repo.contains("/keys/fixturerpm/fixture-upstream.asc"), "{repo}");
    // The second repo's own key ships too, so nodes can check epeltool's signature offline.
    assert!(repo.contains("/keys/fixturerpm/fixture-epel.asc"), "{repo}");

    // Real dnf on a clean node with no network: repo and package signatures checked.
    for basearch in ["x86_64", "aarch64"] {
        let script = format!(
            "$DNF --forcearch {basearch} install app modpkg aliasname epeltool > /tmp/i.log 2>&1 || {{ tail -40 /tmp/i.log; exit 1; }}\n\
             rpm --root /tmp/root -q app modpkg libfoo bar weakdep realname epeltool\n\
             $DNF --forcearch {basearch} repoclosure --repo osrepo-fixturerpm --arch {basearch} --arch noarch > /tmp/c.log 2>&1 || {{ cat /tmp/c.log; exit 1; }}\n\
             ! grep -q unresolved /tmp/c.log\n\
             echo NODE-OK"
        );
        let o = dnf_node(&out, None, &script);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && stdout.contains("NODE-OK"),
            "{basearch}: dnf node failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains(&format!("app-1.0-1.{basearch}")), "{stdout}");
        assert!(stdout.contains("bar-2.0-1.noarch"), "{stdout}");
    }

    // A different key in place of ours: repo_gpgcheck must refuse the metadata.
    let other = new_key("rpm-other").parent().unwrap().join("osrepo.asc");
    let o = dnf_node(
        &out,
        Some((&other, "/other.asc")),
        "sed -i 's#file:///repo/keys/osrepo.asc#file:///other.asc#' /etc/yum.repos.d/osrepo.repo\n\
         $DNF --forcearch x86_64 install app > /tmp/i.log 2>&1 && echo ACCEPTED || { tail -5 /tmp/i.log; echo REFUSED; }",
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("REFUSED") && !stdout.contains("ACCEPTED"),
        "dnf accepted metadata signed by another key:\n{stdout}"
    );
}

#[test]
fn one_failing_distro_does_not_stop_the_others() {
    engine();
    rpmfix::dnf_image();
    let dir = scratch("partial");
    let vendor = new_key("partial-vendor");
    let up = rpmfix::upstream_repo(&dir, &vendor);
    let distros = distros_dir(&dir, |_, t| t);
    std::fs::write(
        distros.join("fixturerpm.yaml"),
        rpmfix::distro_file(&up, &vendor.parent().unwrap().join("osrepo.asc")),
    )
    .unwrap();
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - app\ndebian12:\n  - osrepo-no-such-package\n").unwrap();
    let out = dir.join("out");
    let mut c = osrepo();
    c.args(["build", "debian12", "fixturerpm", "--arch", "amd64", "--no-recommends", "--packages"])
        .arg(&packages)
        .arg("--distros")
        .arg(&distros)
        .arg("--out")
        .arg(&out)
        .arg("--key")
        .arg(key());
    let o = run(&mut c, false);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let row = |d: &str| stdout.lines().find(|l| l.starts_with(d)).unwrap_or_default().to_string();
    assert!(row("debian12").contains("FAILED"), "summary:\n{stdout}");
    assert!(row("fixturerpm").ends_with("ok"), "summary:\n{stdout}");
    assert!(stderr.contains("osrepo-no-such-package") && stderr.contains("debian12"), "{stderr}");
    assert!(!out.join("debian").exists(), "the failed distro was published");
    assert!(out.join("fixture/1/os/x86_64/repodata/repomd.xml.asc").exists());
    let o = dnf_node(
        &out,
        None,
        "$DNF --forcearch x86_64 install app > /tmp/i.log 2>&1 || { tail -30 /tmp/i.log; exit 1; }; echo NODE-OK",
    );
    let so = String::from_utf8_lossy(&o.stdout);
    assert!(so.contains("NODE-OK"), "{so}\n{}", String::from_utf8_lossy(&o.stderr));
}

/// Two pins of one rpm name (`bar-1.0` and `bar-2.0`, yum's spelling): both versions are in
/// the pool and primary.xml, and a node installs each by its version.
#[test]
fn two_pins_of_one_rpm_name_put_both_versions_in_the_repository() {
    let (dir, distros) = rpmfix::fixture_distro("rpm-two-pins", "vendor-two-pins");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - bar-1.0\n  - realname\nother:\n  - bar-2.0\n").unwrap();
    let distro = std::fs::read_to_string(distros.join("fixturerpm.yaml")).unwrap();
    std::fs::write(distros.join("fixturerpm.yaml"), distro.replace("groups: [fixture]", "groups: [fixture, other]"))
        .unwrap();
    let out = dir.join("out");
    let mut c = osrepo();
    c.args(["build", "fixturerpm", "--arch", "amd64", "--packages"]).arg(&packages).arg("--distros").arg(&distros);
    let o = run(c.arg("--out").arg(&out).arg("--key").arg(key()), true);
    assert!(String::from_utf8_lossy(&o.stderr).contains("resolving pass 2"));
    let pool = out.join("fixture/1/os/x86_64/Packages");
    for f in ["bar-1.0-1.noarch.rpm", "bar-2.0-1.noarch.rpm"] {
        assert!(pool.join(f).is_file(), "{f} missing from the pool");
    }
    for v in ["1.0", "2.0"] {
        let script = format!(
            "$DNF --forcearch x86_64 install bar-{v} > /tmp/i.log 2>&1 || {{ tail -40 /tmp/i.log; exit 1; }}\n\
             rpm --root /tmp/root -q --qf '%{{VERSION}}\\n' bar\n"
        );
        let node = dnf_node(&out, None, &script);
        let stdout = String::from_utf8_lossy(&node.stdout);
        assert!(node.status.success(), "bar-{v}: {stdout}\n{}", String::from_utf8_lossy(&node.stderr));
        assert_eq!(stdout.trim().lines().last().unwrap_or(""), v, "the node installed another bar");
    }
}
