//! End to end on the real engine and the real Debian archive: `osrepo build debian12`,
//! then a clean debian12 node with no network installs every requested package.

mod common;
use common::*;

const REQUESTED: &[&str] = &[
    "curl",
    "socat",
    "ipvsadm",
    "ipset",
    "conntrack",
    "ebtables",
    "ethtool",
    "lvm2",
    "tcpdump",
    "strace",
    "lsof",
    "jq",
    "gnupg",
    "psmisc",
    // Pre-Depends (on init-system-helpers and others)
    "rsync",
    "chrony",
    "nfs-common",
    "e2fsprogs",
    // a virtual package with a single provider (bind9-host)
    "host",
];

#[test]
fn debian12_repo_installs_every_requested_package_offline() {
    engine();
    let dir = scratch("debian12");
    let packages = dir.join("packages.yaml");
    let mut yaml = String::from("kubespray:\n  common:\n");
    for p in &REQUESTED[..8] {
        yaml.push_str(&format!("    - {p}\n"));
    }
    yaml.push_str("tools:\n");
    for p in &REQUESTED[8..] {
        yaml.push_str(&format!("  - {p}\n"));
    }
    std::fs::write(&packages, yaml).unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    run(&mut build(&dir, &distros, &packages, &out, &["--base-url", "http://OSREPO_HOST:8080"]), true);

    // The index: every requested real package, the provider of the virtual one, and the
    // closure's alternatives and Pre-Depends are all present.
    let entries = index_entries(&out, "amd64");
    let names: std::collections::BTreeSet<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for p in REQUESTED.iter().filter(|p| **p != "host") {
        assert!(names.contains(p), "{p} missing from the index");
    }
    assert!(names.contains("bind9-host"), "the provider of the virtual package `host` is missing");
    // A complete closure includes what the build image already has installed.
    for base in ["libc6", "libssl3", "init-system-helpers", "debconf"] {
        assert!(names.contains(base), "{base} is missing: the closure is not complete for a fresh node");
    }
    let text = std::fs::read_to_string(out.join("debian/dists/bookworm/main/binary-amd64/Packages")).unwrap();
    assert!(text.contains("\nPre-Depends: "), "no Pre-Depends in the closure");
    assert!(text.lines().any(|l| l.starts_with("Depends: ") && l.contains(" | ")), "no alternatives in the closure");
    // Every file the index names exists with that size.
    for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let f = stanza.lines().find_map(|l| l.strip_prefix("Filename: ")).unwrap();
        let size: u64 = stanza.lines().find_map(|l| l.strip_prefix("Size: ")).unwrap().parse().unwrap();
        assert_eq!(std::fs::metadata(out.join("debian").join(f)).unwrap().len(), size, "{f}");
    }
    // Only public key material in the output.
    for (p, data) in snapshot(&out) {
        assert!(!String::from_utf8_lossy(&data).contains("PRIVATE KEY"), "secret key material in {}", p.display());
    }
    let sources = std::fs::read_to_string(out.join("repos/debian12.sources")).unwrap();
    assert!(sources.contains("Signed-By: /etc/apt/keyrings/osrepo.gpg"));
    assert!(!sources.contains("trusted"));

    // A clean node: apt verifies InRelease with our key and installs everything offline.
    let node = on_node(
        &out,
        None,
        &format!(
            "apt-get update > /tmp/u.log 2>&1 || {{ cat /tmp/u.log; exit 1; }}\n\
             grep -q 'InRelease' /tmp/u.log\n\
             ! grep -E '^(W|E):' /tmp/u.log\n\
             apt-get install -y -q {} > /tmp/i.log 2>&1 || {{ tail -40 /tmp/i.log; exit 1; }}\n\
             for p in {}; do dpkg-query -W -f '${{Status}}\\n' $p | grep -q 'install ok installed' || {{ echo \"not installed: $p\"; exit 1; }}; done\n\
             echo NODE-OK",
            REQUESTED.join(" "),
            REQUESTED.iter().filter(|p| **p != "host").copied().collect::<Vec<_>>().join(" ")
        ),
    );
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success() && stdout.contains("NODE-OK"),
        "node install failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&node.stderr)
    );

    // The same node with another key in signed-by: apt-get update must refuse the repo.
    let other = new_key("other");
    let other_pub = other.parent().unwrap().join("osrepo.gpg");
    let bad = on_node(&out, Some(&other_pub), "apt-get update || echo rc=$?");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(stdout.contains("rc=100"), "apt-get update accepted a repo signed by another key:\n{stdout}");
}

#[test]
fn missing_packages_fail_the_build_by_name_and_leave_out_untouched() {
    engine();
    let dir = scratch("missing");
    // The k8sli/os-packages file of 2021: several of its names are gone from bookworm.
    let packages = root().join("tests/fixtures/k8sli-packages.yaml");
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("debian")).unwrap();
    std::fs::write(out.join("debian/previous-build"), b"keep me").unwrap();
    let before = snapshot(&out);
    let o = run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends"]), false);
    let err = String::from_utf8_lossy(&o.stderr);
    for name in ["python-apt", "aufs-tools", "netcat"] {
        assert!(err.contains(&format!("\n  {name}:")), "error does not name {name}:\n{}", tail(&err, 30));
    }
    assert!(err.contains("debian12") && err.contains("amd64"), "error does not name distro and arch:\n{err}");
    assert!(!err.contains("\n  curl:"), "an existing package was reported missing:\n{err}");
    assert_eq!(before, snapshot(&out), "out/ changed after a failed build");
    assert_no_leftovers(&dir);
    // Requests that exist but cannot be installed together: apt's own explanation, per package.
    let conflicting = dir.join("conflicting.yaml");
    std::fs::write(&conflicting, "debian12:\n  - jq\n  - mtr\n  - mtr-tiny\n").unwrap();
    let o = run(&mut build(&dir, &distros, &conflicting, &out, &["--no-recommends"]), false);
    let err = String::from_utf8_lossy(&o.stderr);
    for (name, other) in [("mtr", "mtr-tiny"), ("mtr-tiny", "mtr")] {
        let why = format!("\n  {name}: Breaks: {other} ");
        assert!(err.contains(&why), "error does not say that {name} breaks {other}:\n{}", tail(&err, 30));
    }
    assert!(!err.contains("\n  jq:"), "jq was reported:\n{err}");
    assert_eq!(before, snapshot(&out), "out/ changed after a failed build");
}

#[test]
fn interrupted_build_removes_its_containers_and_leaves_out_untouched() {
    engine();
    let dir = scratch("interrupt");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "debian12:\n  - curl\n").unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("previous"), b"keep").unwrap();
    let before = snapshot(&out);
    // A distro of its own name, so that its container label is this test's alone.
    let text = std::fs::read_to_string(distros.join("debian12.yaml")).unwrap();
    std::fs::write(distros.join("debian12intr.yaml"), text.replace("name: debian12\n", "name: debian12intr\n"))
        .unwrap();
    let mut c = osrepo();
    c.args(["build", "debian12intr", "--arch", "amd64", "--packages"])
        .arg(&packages)
        .arg("--distros")
        .arg(&distros)
        .arg("--out")
        .arg(&out)
        .arg("--key")
        .arg(key())
        .arg("--cache")
        .arg(dir.join("cache"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait until its build container exists, then interrupt it as Ctrl-C would.
    let label = "label=osrepo=debian12intr/amd64";
    let ours = || {
        let o = run(std::process::Command::new("docker").args(["ps", "-aq", "--filter", label]), true);
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let t = std::time::Instant::now();
    while ours() == 0 {
        assert!(t.elapsed().as_secs() < 60, "no build container appeared");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0);
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "an interrupted build must fail");
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ours(), 0, "the interrupted build left its container behind");
    assert_eq!(before, snapshot(&out), "out/ changed");
    assert_no_leftovers(&dir);
}

/// Two builds of different distros into one out/ and one lock at once: both are published
/// and both lock entries kept (the writer locks serialize them; before them, one was lost).
#[test]
fn concurrent_builds_into_one_out_keep_both_distros() {
    engine();
    let dir = scratch("concurrent");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "debian12:\n  - jq\n").unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let text = std::fs::read_to_string(distros.join("debian12.yaml")).unwrap();
    let alt = text.replace("name: debian12\n", "name: debian12alt\n").replace("id: debian\n", "id: debianalt\n");
    std::fs::write(distros.join("debian12alt.yaml"), alt.replace("groups: [", "groups: [debian12, ")).unwrap();
    let out = dir.join("out");
    let start = |distro: &str| {
        let mut c = osrepo();
        c.current_dir(&dir)
            .args(["build", distro, "--arch", "amd64", "--packages"])
            .arg(&packages)
            .arg("--distros")
            .arg(&distros)
            .arg("--out")
            .arg(&out)
            .arg("--cache")
            .arg(dir.join("cache"))
            .arg("--key")
            .arg(key())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let (a, b) = (start("debian12"), start("debian12alt"));
    for (name, child) in [("debian12", a), ("debian12alt", b)] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{name}: {}", tail(&String::from_utf8_lossy(&o.stderr), 20));
    }
    for id in ["debian", "debianalt"] {
        let p = out.join(id).join("dists/bookworm/main/binary-amd64/Packages");
        let idx = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(idx.contains("Package: jq\n"), "{id}");
        assert!(out.join(id).join("dists/bookworm/InRelease").is_file(), "{id}");
    }
    let lock = std::fs::read_to_string(dir.join("osrepo.lock")).unwrap();
    assert!(lock.contains("\"debian12/amd64\":") && lock.contains("\"debian12alt/amd64\":"), "{lock}");
    assert_no_leftovers(&dir);
}
