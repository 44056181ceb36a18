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

/// A cache holding two entries (named by made-up digests) and a lock that keeps the first.
fn gc_setup() -> (PathBuf, PathBuf, [String; 2]) {
    let dir = scratch("cache-gc");
    let shas = ["a".repeat(64), "b".repeat(64)];
    for s in &shas {
        let d = dir.join("cache/files").join(&s[..2]);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(s), "data").unwrap();
    }
    let lock = format!(
        "version: 1\njobs:\n  \"debian12/amd64\":\n    inputs: \"x\"\n    resolved: 0\n    packages:\n      - {{name: \"jq\", version: \"1.6\", arch: \"amd64\", repo: \"http://m/debian\", url: \"http://m/debian/jq.deb\", size: 4, sha256: \"{}\", file: \"jq.deb\"}}\n",
        shas[0]
    );
    std::fs::write(dir.join("osrepo.lock"), lock).unwrap();
    (dir.clone(), dir.join("cache"), shas)
}

fn gc(dir: &Path, cache: &Path, args: &[&str], ok: bool) -> String {
    let o = run(osrepo().current_dir(dir).args(["cache", "gc", "--cache"]).arg(cache).args(args), ok);
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o))
}

#[test]
fn cache_gc_needs_a_readable_lock_or_all() {
    let (dir, cache, shas) = gc_setup();
    let entry = |s: &String| cache.join("files").join(&s[..2]).join(s);
    let e = gc(&dir, &cache, &["--lock", "typo.lock"], false);
    assert!(e.contains("typo.lock does not exist; nothing removed"), "{e}");
    let empty = scratch("cache-gc-empty");
    let e = gc(&empty, &cache, &[], false);
    assert!(e.contains("osrepo.lock does not exist"), "{e}");
    assert!(shas.iter().all(|s| entry(s).exists()));
    let o = gc(&dir, &cache, &["--dry-run"], true);
    assert!(o.contains(&format!("would remove {} (4 bytes)", shas[1])) && o.contains("kept 1 cache entries"), "{o}");
    assert!(shas.iter().all(|s| entry(s).exists()));
    let o = gc(&dir, &cache, &[], true);
    assert!(o.contains("removed 1 cache entries (4 bytes)"), "{o}");
    assert!(entry(&shas[0]).exists() && !entry(&shas[1]).exists());
    let o = gc(&empty, &cache, &["--all"], true);
    assert!(o.contains("removed 1 cache entries"), "{o}");
    assert!(!entry(&shas[0]).exists());
}

/// Every file and directory under `root` with its permission bits.
fn modes(root: &Path) -> Vec<(String, u32, bool)> {
    use std::os::unix::fs::PermissionsExt;
    let mut v: Vec<_> = walk(root)
        .into_iter()
        .map(|p| {
            let m = std::fs::symlink_metadata(&p).unwrap();
            (p.strip_prefix(root).unwrap().display().to_string(), m.permissions().mode() & 0o777, m.is_dir())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn published_files_are_0644_and_directories_0755_whatever_the_umask() {
    use std::os::unix::process::CommandExt;
    let dir = scratch("modes");
    let tree = dir.join("t/DEBIAN");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("control"),
        "Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: J <j@e>\nDescription: hi\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("repo/pool/main/h/hello")).unwrap();
    let deb = dir.join("repo/pool/main/h/hello/hello_1.0-1_all.deb");
    run(std::process::Command::new("dpkg-deb").arg("--build").arg(dir.join("t")).arg(&deb), true);
    let mut c = osrepo();
    c.args(["index", "deb"]).arg(dir.join("repo")).args(["--codename", "x", "--arch", "amd64", "--key"]).arg(key());
    // SAFETY: umask is async-signal-safe; the child only sets it before exec.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    run(&mut c, true);
    let m = modes(&dir.join("repo/dists"));
    assert!(m.iter().any(|(p, _, _)| p.ends_with("InRelease")) && m.iter().any(|(p, _, _)| p.ends_with("Release.gpg")));
    for (p, mode, is_dir) in m {
        assert_eq!(mode, if is_dir { 0o755 } else { 0o644 }, "dists/{p}");
    }
}

/// Hold the flock of `file` from this process (as another osrepo would).
fn hold(file: &Path) -> std::fs::File {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(file).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    f
}

#[test]
fn a_second_writer_of_one_out_waits_or_fails_with_no_wait() {
    let (dir, distros, packages) = setup("out-lock", |_, t| t, "common: [jq]\n");
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("keys")).unwrap();
    std::fs::write(out.join("keys/osrepo.asc"), "k").unwrap();
    let held = hold(&dir.join(".out.lock"));
    let e = stderr(&run(&mut build(&dir, &distros, &packages, &out, &["--no-wait"]), false));
    assert!(e.contains("is locked by another osrepo"), "{e}");
    let mut pack = osrepo();
    pack.arg("pack").arg(&out).args(["--name", "p", "--dest"]).arg(dir.join("dest"));
    let e = stderr(&run(pack.arg("--no-wait"), false));
    assert!(e.contains("output") && e.contains("is locked"), "{e}");
    let lock_held = hold(&dir.join(".osrepo.lock.lock"));
    drop(held);
    let e = stderr(&run(&mut build(&dir, &distros, &packages, &out, &["--no-wait"]), false));
    assert!(e.contains("lockfile") && e.contains("is locked"), "{e}");
    drop(lock_held);
    let held = hold(&dir.join(".out.lock"));
    let mut waiting = osrepo();
    waiting.arg("pack").arg(&out).args(["--name", "p", "--dest"]).arg(dir.join("dest"));
    let child = waiting.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!dir.join("dest/sha256sum.txt").exists(), "pack did not wait");
    drop(held);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success() && stderr(&o).contains("waiting for another osrepo"), "{}", stderr(&o));
    assert!(dir.join("dest/sha256sum.txt").exists());
}

/// Debug logs (`-v`, `OSREPO_LOG=trace`) never carry the OpenPGP crate's packet dumps: at
/// debug it prints key packets, the secret key's bytes included.
#[test]
fn verbose_logs_never_dump_the_signing_key() {
    let (dir, distros, packages) = setup("key-log", |_, t| t, "common: [jq]\n");
    let o = run(
        build(&dir, &distros, &packages, &dir.join("out"), &["-v", "--locked"])
            .env("OSREPO_LOG", "trace")
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        false,
    );
    let e = stderr(&o);
    assert!(e.contains("osrepo.lock"), "the build should stop at the missing lock, after loading the key: {e}");
    assert!(!e.contains("SecretKey") && !e.contains("tag: Signature"), "{}", tail(&e, 10));
}
