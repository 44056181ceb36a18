//! The lockfile, the cache, no-op rebuilds, reproducible output and `osrepo diff`, on debian12
//! from the real archive and on the fixture rpm distro.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EPOCH: &str = "1767225600";

/// These tests watch the engine's event log for container creations: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A DOCKER_HOST no engine answers: what must work without one does.
const NO_ENGINE: &str = "unix:///nonexistent/docker.sock";
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Env {
    dir: PathBuf,
    distros: PathBuf,
    packages: PathBuf,
}

impl Env {
    fn new(name: &str, packages: &str) -> Env {
        let dir = scratch(name);
        let distros = distros_dir(&dir, |_, t| t);
        let packages_path = dir.join("packages.yaml");
        std::fs::write(&packages_path, packages).unwrap();
        Env { dir, distros, packages: packages_path }
    }

    fn cmd(&self, verb: &str, cache: &Path, extra: &[&str]) -> Command {
        let mut c = osrepo();
        c.env("SOURCE_DATE_EPOCH", EPOCH)
            .args([verb, "debian12", "--arch", "amd64", "--no-recommends", "--packages"])
            .arg(&self.packages)
            .arg("--distros")
            .arg(&self.distros)
            .arg("--cache")
            .arg(cache)
            .arg("--key")
            .arg(key())
            .args(extra);
        c
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("osrepo.lock")
    }
}

/// The FETCHED column of a build's summary, summed.
fn fetched(o: &Output) -> usize {
    let s = String::from_utf8_lossy(&o.stdout);
    s.lines()
        .skip_while(|l| !l.starts_with("DISTRO"))
        .skip(1)
        .take_while(|l| l.split_whitespace().count() >= 7)
        .map(|l| l.split_whitespace().nth(4).and_then(|x| x.parse::<usize>().ok()).expect("FETCHED column"))
        .sum()
}

/// (path, inode, mtime) of every file of a tree.
fn stat_tree(root: &Path) -> Vec<(PathBuf, u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    snapshot(root)
        .into_iter()
        .map(|(p, _)| {
            let m = std::fs::metadata(&p).unwrap();
            (p, m.ino(), m.mtime_nsec() + m.mtime() * 1_000_000_000)
        })
        .collect()
}

/// Containers created while `f` runs, from the engine's own event log.
fn containers_created(f: impl FnOnce()) -> usize {
    let since = chrono_now();
    f();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let until = chrono_now();
    let o = run(
        Command::new("docker").args([
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=container",
            "--filter",
            "event=create",
            "--format",
            "{{.ID}}",
        ]),
        true,
    );
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.trim().is_empty()).count()
}

fn chrono_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    (secs - 1).to_string()
}

fn lock_lines(lock: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(lock)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("- {name: "))
        .map(|l| (l.split('"').nth(1).unwrap().to_string(), l.to_string()))
        .collect()
}

#[test]
fn debian12_lock_locked_noop_incremental_reproducible() {
    let _serial = serial();
    engine();
    let env = Env::new("lock-deb", "debian12:\n  - jq\n  - tzdata\n");
    let cache1 = env.dir.join("cache1");
    let out1 = env.dir.join("out1");
    let (lines, lock_text) = lock_then_locked_build_then_noop(&env, &cache1, &out1);
    let out2 = reproducible_from_an_empty_cache(&env, &out1, lines.len());
    let jq_sha = lines["jq"].split("sha256: \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    tampered_lock_names_the_package(&env, &lock_text, &jq_sha);
    corrupted_cache_entry_is_fetched_again(&env, &cache1, &out2, &jq_sha);
    let old_lock = changed_inputs_resolve_again(&env, &cache1, &out1, &lines);

    // diff between two output trees, and between the two locks, names the added packages.
    let o = run(osrepo().arg("diff").arg(&out2).arg(&out1), true);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("debian/bookworm/amd64:") && text.contains("  + socat "), "{text}");
    // diff between the two locks names the added packages.
    let o = run(osrepo().arg("diff").arg(&old_lock).arg(env.lock_path()), true);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("debian12/amd64:") && text.contains("  + socat "), "{text}");
}

/// lock, build --locked, then a no-op rebuild. Returns the lock's package lines and text.
fn lock_then_locked_build_then_noop(env: &Env, cache1: &Path, out1: &Path) -> (BTreeMap<String, String>, String) {
    // lock: resolves and writes osrepo.lock with every package of the closure.
    run(&mut env.cmd("lock", cache1, &[]), true);
    let lines = lock_lines(&env.lock_path());
    for p in ["jq", "libjq1", "libonig5", "tzdata", "libc6"] {
        let l = lines.get(p).unwrap_or_else(|| panic!("{p} not in the lock: {lines:?}"));
        assert!(l.contains("sha256: \"") && l.contains("url: \"http") && l.contains("size: "), "{l}");
    }
    let lock_text = std::fs::read_to_string(env.lock_path()).unwrap();
    assert!(lock_text.contains("inputs: \"sha256:"), "{lock_text}");

    // build --locked: exactly the lock, no resolution; everything is in the cache already.
    let o = run(env.cmd("build", cache1, &["--locked", "--out"]).arg(out1), true);
    assert_eq!(fetched(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    let names: Vec<String> = index_entries(out1, "amd64").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), lines.len());

    // No-op rebuild: no container, no download, no file rewritten.
    let before = stat_tree(out1);
    let started = std::time::Instant::now();
    let mut o = None;
    let created = containers_created(|| o = Some(run(env.cmd("build", cache1, &["--out"]).arg(out1), true)));
    let noop_secs = started.elapsed().as_secs_f64() - 1.1;
    let o = o.unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(created, 0, "a no-op build created containers");
    assert_eq!(before, stat_tree(out1), "a no-op build touched the tree");
    eprintln!("no-op rebuild: {noop_secs:.2} s");
    // Nothing to do needs no engine: the same no-op with no engine answering.
    let o = run(env.cmd("build", cache1, &["--out"]).arg(out1).env("DOCKER_HOST", NO_ENGINE), true);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"), "{}", String::from_utf8_lossy(&o.stdout));
    (lines, lock_text)
}

/// From the lock with an empty cache into another directory, byte for byte, and the same
/// archives from pack. Returns the second tree.
fn reproducible_from_an_empty_cache(env: &Env, out1: &Path, files: usize) -> PathBuf {
    let cache2 = env.dir.join("cache2");
    let out2 = env.dir.join("out2");
    // No engine: a locked build downloads on the host and starts no container.
    let o = run(env.cmd("build", &cache2, &["--locked", "--out"]).arg(&out2).env("DOCKER_HOST", NO_ENGINE), true);
    assert_eq!(fetched(&o), files, "an empty cache must fetch every file");
    assert_same_tree(out1, &out2);
    for (out, dest) in [(out1, "pack1"), (out2.as_path(), "pack2")] {
        run(
            osrepo()
                .env("SOURCE_DATE_EPOCH", EPOCH)
                .arg("pack")
                .arg(out)
                .args(["--name", "repro", "--dest"])
                .arg(env.dir.join(dest)),
            true,
        );
    }
    assert_eq!(
        std::fs::read(env.dir.join("pack1/sha256sum.txt")).unwrap(),
        std::fs::read(env.dir.join("pack2/sha256sum.txt")).unwrap(),
        "pack archives differ between the two builds"
    );
    out2
}

/// A tampered checksum in the lock fails by package name (an empty cache forces a fetch).
fn tampered_lock_names_the_package(env: &Env, lock_text: &str, jq_sha: &str) {
    let tampered = env.dir.join("tampered.lock");
    let bad_sha = format!("{}{}", if jq_sha.starts_with('0') { "1" } else { "0" }, &jq_sha[1..]);
    std::fs::write(&tampered, lock_text.replace(jq_sha, &bad_sha)).unwrap();
    let o = run(
        env.cmd("build", &env.dir.join("cache3"), &["--locked", "--out"])
            .arg(env.dir.join("out3"))
            .arg("--lock")
            .arg(&tampered),
        false,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("jq ") && err.contains("does not match the lock"), "{}", tail(&err, 20));
}

/// A corrupted cache entry is detected, fetched again, and the output is right. One whose
/// mtime was put back is found by `cache verify`, which hashes every entry.
fn corrupted_cache_entry_is_fetched_again(env: &Env, cache1: &Path, out2: &Path, jq_sha: &str) {
    let cached = cache1.join("files").join(&jq_sha[..2]).join(jq_sha);
    let mtime = std::fs::metadata(&cached).unwrap().modified().unwrap();
    let mut data = std::fs::read(&cached).unwrap();
    data[100] ^= 0xff;
    std::fs::write(&cached, data).unwrap();
    std::fs::File::options().write(true).open(&cached).unwrap().set_modified(mtime).unwrap();
    let o = run(osrepo().args(["cache", "verify", "--cache"]).arg(cache1), false);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(&format!("corrupted: {jq_sha}")) && err.contains("1 corrupted cache entries"), "{out}{err}");
    assert!(!cached.exists(), "the corrupted entry is removed");
    run(osrepo().args(["cache", "verify", "--cache"]).arg(cache1), true);
    let out4 = env.dir.join("out4");
    let o = run(env.cmd("build", cache1, &["--locked", "--out"]).arg(&out4), true);
    assert_eq!(fetched(&o), 1, "only the corrupted file is fetched again");
    // (out1 shares the corrupted inode through its hard link; out2 came from another cache.)
    assert_same_tree(out2, &out4);
}

/// Changed packages.yaml: --locked refuses; a plain build resolves again and fetches only
/// the new files, and is followed by a no-op. Returns a copy of the old lock.
fn changed_inputs_resolve_again(env: &Env, cache1: &Path, out1: &Path, lines: &BTreeMap<String, String>) -> PathBuf {
    let old_lock = env.dir.join("old.lock");
    std::fs::copy(env.lock_path(), &old_lock).unwrap();
    std::fs::write(&env.packages, "debian12:\n  - jq\n  - tzdata\n  - socat\n").unwrap();
    let o = run(env.cmd("build", cache1, &["--locked", "--out"]).arg(out1), false);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--update-lock"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(env.cmd("build", cache1, &["--out"]).arg(out1), true);
    let new_lines = lock_lines(&env.lock_path());
    let new_files = new_lines.keys().filter(|k| !lines.contains_key(*k)).count();
    assert!(new_lines.contains_key("socat") && new_files >= 1);
    assert_eq!(fetched(&o), new_files, "only the new files may be fetched:\n{}", String::from_utf8_lossy(&o.stdout));
    assert!(index_entries(out1, "amd64").iter().any(|(n, _)| n == "socat"));
    // A build that resolved is followed by a no-op too (the lock read back equals the one written).
    let lock_before = std::fs::read(env.lock_path()).unwrap();
    let o = run(env.cmd("build", cache1, &["--out"]).arg(out1), true);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(lock_before, std::fs::read(env.lock_path()).unwrap(), "a no-op build rewrote the lock");
    old_lock
}

#[test]
fn diff_shows_added_removed_and_upgraded_packages() {
    let _serial = serial();
    engine();
    let (pkg, old) = package_with_older_version();
    let env = Env::new("diff", &format!("debian12:\n  - {pkg}={old}\n  - tzdata\n"));
    let cache = env.dir.join("cache");
    run(&mut env.cmd("lock", &cache, &[]), true);
    let a = env.dir.join("a.lock");
    std::fs::copy(env.lock_path(), &a).unwrap();
    std::fs::write(&env.packages, format!("debian12:\n  - {pkg}\n  - sysvinit-utils\n")).unwrap();
    run(&mut env.cmd("lock", &cache, &[]), true);
    let o = run(osrepo().arg("diff").arg(&a).arg(env.lock_path()), true);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("  ~ {pkg} {old} -> ")), "{text}");
    assert!(text.contains("  - tzdata "), "{text}");
    assert!(text.contains("  + sysvinit-utils "), "{text}");
    let o = run(osrepo().arg("diff").arg(&a).arg(env.lock_path()).arg("--json"), true);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let j = &v["debian12/amd64"];
    assert!(j["changed"].as_array().unwrap().iter().any(|c| c["name"] == pkg.as_str() && c["old"] == old.as_str()));
    assert!(j["removed"].as_array().unwrap().iter().any(|c| c["name"] == "tzdata"));
    assert!(j["added"].as_array().unwrap().iter().any(|c| c["name"] == "sysvinit-utils"));
}

#[test]
fn fixture_rpm_lock_then_locked_build() {
    let _serial = serial();
    engine();
    common::rpmfix::dnf_image();
    let dir = scratch("lock-rpm");
    let vendor = new_key("lock-vendor");
    let up = common::rpmfix::upstream_repo(&dir, &vendor);
    let distros = dir.join("distros");
    std::fs::create_dir_all(&distros).unwrap();
    std::fs::write(
        distros.join("fixturerpm.yaml"),
        format!(
            "name: fixturerpm\nfamily: rpm\nid: fixture\nrelease: \"1\"\nimage: {}\narches: [amd64, arm64]\ngroups: [fixture]\n\
             extra_repos:\n  - name: fixture-upstream\n    url: file:{}\n    key_file: {}\n",
            common::rpmfix::DNF_IMAGE,
            up.display(),
            vendor.parent().unwrap().join("osrepo.asc").display()
        ),
    )
    .unwrap();
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - app\n  - modpkg\n").unwrap();
    let cmd = |verb: &str, cache: &str, extra: &[&str]| {
        let mut c = osrepo();
        c.env("SOURCE_DATE_EPOCH", EPOCH)
            .args([verb, "fixturerpm", "--arch", "amd64,arm64", "--packages"])
            .arg(&packages)
            .arg("--distros")
            .arg(&distros)
            .arg("--cache")
            .arg(dir.join(cache))
            .arg("--key")
            .arg(key())
            .args(extra);
        c
    };
    run(&mut cmd("lock", "c1", &[]), true);
    let lock = std::fs::read_to_string(dir.join("osrepo.lock")).unwrap();
    assert!(lock.contains("\"fixturerpm/amd64\":") && lock.contains("\"fixturerpm/arm64\":"), "{lock}");
    assert!(lock.contains("name: \"app\"") && lock.contains("modules: \""), "{lock}");
    // --locked with an empty cache: every file read through its `file:` repo on the host,
    // with no engine (so no container).
    let out = dir.join("out");
    run(cmd("build", "c2", &["--locked", "--out"]).arg(&out).env("DOCKER_HOST", NO_ENGINE), true);
    let o = run(cmd("build", "c2", &["--out"]).arg(&out), true);
    assert!(String::from_utf8_lossy(&o.stdout).contains("up to date"), "{}", String::from_utf8_lossy(&o.stdout));
    let out_b = dir.join("out-b");
    run(cmd("build", "c1", &["--locked", "--out"]).arg(&out_b), true);
    assert_same_tree(&out, &out_b);
    assert!(out.join("fixture/1/os/aarch64/Packages/app-1.0-1.aarch64.rpm").exists());
    let repomd = std::fs::read_to_string(out.join("fixture/1/os/x86_64/repodata/repomd.xml")).unwrap();
    assert!(repomd.contains("type=\"modules\""));
    // Tampered checksum in the lock: named by package.
    let sha = lock.split("name: \"app\"").nth(1).unwrap().split("sha256: \"").nth(1).unwrap()[..64].to_string();
    let flipped = format!("{}{}", if sha.starts_with('0') { "1" } else { "0" }, &sha[1..]);
    let bad = dir.join("bad.lock");
    std::fs::write(&bad, lock.replace(&sha, &flipped)).unwrap();
    let o = run(cmd("build", "c3", &["--locked", "--out"]).arg(dir.join("out-bad")).arg("--lock").arg(&bad), false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("app ") && err.contains("does not match the lock"), "{}", tail(&err, 20));
}
