//! Pins and extra upstream repos, end to end on the real engine and archive.

mod common;
use common::*;
use std::process::Command;

#[test]
fn pin_to_an_older_version_is_honoured_exactly() {
    engine();
    let (pkg, old) = package_with_older_version();
    let dir = scratch("pin");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, format!("debian12:\n  - {pkg}={old}\n  - jq\n")).unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends"]), true);
    let versions: Vec<String> =
        index_entries(&out, "amd64").into_iter().filter(|(n, _)| *n == pkg).map(|(_, v)| v).collect();
    assert_eq!(versions, vec![old.clone()], "{pkg} should be exactly the pinned version");
    let node = on_node(
        &out,
        None,
        &format!("apt-get update -q >/dev/null && apt-get install -y -q {pkg} >/tmp/i.log 2>&1 || {{ tail -30 /tmp/i.log; exit 1; }}; dpkg-query -W -f '${{Version}}\\n' {pkg}"),
    );
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(node.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&node.stderr));
    assert_eq!(stdout.trim().lines().last().unwrap_or(""), old, "node installed another version");
}

/// Two pins of one name: both versions and their closures are in the repository (resolved in
/// passes of their own), `build --verify` installs each on a node of its own, and a node gets
/// each version by asking for it.
#[test]
fn two_pins_of_one_name_put_both_versions_in_the_repository() {
    engine();
    let (pkg, old, new) = package_with_two_versions();
    let dir = scratch("two-pins");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, format!("debian12:\n  - {pkg}={old}\n  - jq\ntools:\n  - {pkg}={new}\n")).unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    let o = run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends", "--verify"]), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resolving pass 2"), "{}", tail(&err, 30));
    let mut versions: Vec<String> =
        index_entries(&out, "amd64").into_iter().filter(|(n, _)| *n == pkg).map(|(_, v)| v).collect();
    versions.sort();
    let mut want = vec![old.clone(), new.clone()];
    want.sort();
    assert_eq!(versions, want, "both pinned versions of {pkg} must be indexed");
    let lock = std::fs::read_to_string(dir.join("osrepo.lock")).unwrap();
    for v in [&old, &new] {
        assert!(lock.contains(&format!("name: \"{pkg}\", version: \"{v}\"")), "{v} not locked:\n{lock}");
    }
    for v in [&old, &new] {
        let node = on_node(
            &out,
            None,
            &format!("apt-get update -q >/dev/null && apt-get install -y -q {pkg}={v} >/tmp/i.log 2>&1 || {{ tail -30 /tmp/i.log; exit 1; }}; dpkg-query -W -f '${{Version}}\\n' {pkg}"),
        );
        let stdout = String::from_utf8_lossy(&node.stdout);
        assert!(node.status.success(), "{v}: {stdout}\n{}", String::from_utf8_lossy(&node.stderr));
        assert_eq!(stdout.trim().lines().last().unwrap_or(""), v.as_str(), "node installed another version");
    }
}

/// A small signed apt repo of our own: one package depending on `jq` from the Debian archive.
fn fixture_repo(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share/doc/osrepo-fixture-hello")).unwrap();
    std::fs::write(pkg.join("usr/share/doc/osrepo-fixture-hello/README"), "fixture\n").unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: osrepo-fixture-hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: osrepo tests <t@localhost>\n\
         Depends: jq\nDescription: internal package for the osrepo tests\n Built by the test itself.\n .\n Second paragraph.\n",
    )
    .unwrap();
    let repo = dir.join("internal-repo");
    let pool = repo.join("pool/main/o/osrepo-fixture-hello");
    std::fs::create_dir_all(&pool).unwrap();
    run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&pkg)
            .arg(pool.join("osrepo-fixture-hello_1.0-1_all.deb")),
        true,
    );
    let key = new_key("internal");
    run(
        osrepo()
            .args(["index", "deb"])
            .arg(&repo)
            .args(["--codename", "internal", "--arch", "amd64", "--key"])
            .arg(&key),
        true,
    );
    (repo, key.parent().unwrap().join("osrepo.asc"))
}

fn with_extra_repo(text: String, repo: &std::path::Path, key: &std::path::Path) -> String {
    text.replace(
        "extra_repos: []",
        &format!(
            "extra_repos:\n  - name: internal\n    url: file:{}\n    suites: [internal]\n    components: [main]\n    key_file: {}\n",
            repo.display(),
            key.display()
        ),
    )
}

#[test]
fn extra_file_repo_joins_the_closure() {
    engine();
    let dir = scratch("extra");
    let (repo, key) = fixture_repo(&dir);
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "debian12:\n  - osrepo-fixture-hello\n").unwrap();

    // Signed by a key the distro file does not name: the build must refuse the repo.
    let wrong = new_key("not-internal").parent().unwrap().join("osrepo.asc");
    let bad_distros =
        distros_dir(&dir.join("bad"), |n, t| if n == "debian12" { with_extra_repo(t, &repo, &wrong) } else { t });
    let o = run(&mut build(&dir, &bad_distros, &packages, &dir.join("bad-out"), &["--no-recommends"]), false);
    assert!(!dir.join("bad-out").exists(), "a failed build published something");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("debian12/amd64"), "{}", tail(&err, 20));

    let distros = distros_dir(&dir, |n, t| if n == "debian12" { with_extra_repo(t, &repo, &key) } else { t });
    let out = dir.join("out");
    run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends"]), true);
    let names: Vec<String> = index_entries(&out, "amd64").into_iter().map(|(n, _)| n).collect();
    for p in ["osrepo-fixture-hello", "jq", "libjq1", "libonig5"] {
        assert!(names.iter().any(|n| n == p), "{p} missing from {names:?}");
    }
    let text = std::fs::read_to_string(out.join("debian/dists/bookworm/main/binary-amd64/Packages")).unwrap();
    assert!(text.contains(" Built by the test itself.\n .\n Second paragraph.\n"), "multi-line Description lost");
    let node = on_node(
        &out,
        None,
        "apt-get update -q >/dev/null && apt-get install -y -q osrepo-fixture-hello >/tmp/i.log 2>&1 || { tail -30 /tmp/i.log; exit 1; }; echo '{\"a\":1}' | jq .a",
    );
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success() && stdout.trim().ends_with('1'),
        "{stdout}\n{}",
        String::from_utf8_lossy(&node.stderr)
    );
}
