//! Issue 9: untrusted input stays inside out/, bad input is refused at load with its place,
//! the cache is only collected against a readable lock. These tests need no engine: every
//! refusal happens before a container would start.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// A test dir with the shipped distros (edited), a package list and a cache.
fn setup(name: &str, edit: impl Fn(&str, String) -> String, packages: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(name);
    let distros = distros_dir(&dir, edit);
    let p = dir.join("packages.yaml");
    std::fs::write(&p, packages).unwrap();
    (dir, distros, p)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Everything under a directory, for "nothing was written" checks.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        walk(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn distro_ids_that_are_paths_are_refused_before_anything_is_written() {
    for (field, bad) in [
        ("id: debian", "id: ../escape"),
        ("id: debian", "id: /tmp/osrepo-abs"),
        ("codename: bookworm", "codename: ../c"),
    ] {
        let (dir, distros, packages) =
            setup("bad-id", |n, t| if n == "debian12" { t.replacen(field, bad, 1) } else { t }, "common: [jq]\n");
        let before = listing(&dir);
        let o = run(&mut build(&dir, &distros, &packages, &dir.join("out"), &[]), false);
        let e = stderr(&o);
        assert!(e.contains("debian12.yaml:") && e.contains("must be a plain name"), "{bad}: {e}");
        assert_eq!(listing(&dir), before, "{bad}: something was written");
        assert!(!Path::new("/tmp/osrepo-abs").exists());
    }
}

#[test]
fn a_distro_argument_that_is_a_path_is_refused() {
    let (dir, distros, packages) = setup("bad-arg", |_, t| t, "common: [jq]\n");
    let mut c = build(&dir, &distros, &packages, &dir.join("out"), &[]);
    c.arg("../distros/debian12");
    let e = stderr(&run(&mut c, false));
    assert!(e.contains("distro \"../distros/debian12\" must be a plain name"), "{e}");
}

#[test]
fn specs_that_are_options_or_globs_are_refused() {
    for spec in ["-oDir::State::status=/var/lib/dpkg/status", "'*'", "null", "5"] {
        let (dir, distros, packages) = setup("bad-spec", |_, t| t, &format!("common:\n  - jq\n  - {spec}\n"));
        let e = stderr(&run(&mut build(&dir, &distros, &packages, &dir.join("out"), &[]), false));
        assert!(e.contains("packages.yaml:3:5: "), "{spec}: {e}");
        assert!(!dir.join("out").exists() && !dir.join("osrepo.lock").exists());
    }
}

#[test]
fn a_lock_with_a_crafted_sha256_or_file_is_refused_with_its_line() {
    let (dir, distros, packages) = setup("bad-lock", |_, t| t, "common: [jq]\n");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    for (sha, file) in [("../../../victim", "jq_1.6-2.1_amd64.deb"), (&"a".repeat(64)[..], "../../escape.deb")] {
        let lock = format!(
            "version: 1\njobs:\n  \"debian12/amd64\":\n    inputs: \"x\"\n    resolved: 0\n    packages:\n      - {{name: \"jq\", version: \"1.6-2.1\", arch: \"amd64\", repo: \"http://m/debian\", url: \"http://m/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb\", size: 8, sha256: \"{sha}\", file: \"{file}\"}}\n"
        );
        std::fs::write(dir.join("osrepo.lock"), &lock).unwrap();
        let e = stderr(&run(&mut build(&dir, &distros, &packages, &dir.join("out"), &["--locked"]), false));
        assert!(e.contains("osrepo.lock:7:") && e.contains("package \"jq\" from http://m/debian"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dir.join("escape.deb").exists() && !dir.join("out").exists());
        assert_eq!(std::fs::read_to_string(dir.join("osrepo.lock")).unwrap(), lock, "the lock was rewritten");
    }
}

#[test]
fn a_base_url_with_a_newline_is_refused() {
    let (dir, distros, packages) = setup("bad-base-url", |_, t| t, "common: [jq]\n");
    for url in ["http://repo:8080\nTypes: deb", "repo.internal", "http://a b"] {
        let e = stderr(&run(&mut build(&dir, &distros, &packages, &dir.join("out"), &["--base-url", url]), false));
        assert!(e.contains("base URL"), "{url:?}: {e}");
    }
}

#[test]
fn pack_names_stay_inside_dest() {
    let dir = scratch("pack-name");
    std::fs::create_dir_all(dir.join("out/keys")).unwrap();
    std::fs::write(dir.join("out/keys/osrepo.asc"), "k").unwrap();
    std::fs::create_dir_all(dir.join("dest/a/b")).unwrap();
    let o = run(
        osrepo().arg("pack").arg(dir.join("out")).args(["--name", "../../X", "--dest"]).arg(dir.join("dest/a/b")),
        false,
    );
    assert!(stderr(&o).contains("pack --name \"../../X\" must be a plain name"), "{}", stderr(&o));
    assert!(listing(&dir).iter().all(|p| !p.contains('X')), "{:?}", listing(&dir));
}
