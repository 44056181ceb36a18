//! `osrepo verify` against real trees: a good debian12 tree passes the static and install
//! checks; each sabotage fails naming the right file and only it; `build --verify` on a
//! failing tree publishes nothing; the fixture rpm distro passes and an rpm signed by
//! another key than the shipped upstream key fails.

mod common;
use common::rpmfix::{self, DNF_IMAGE};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A small debian12 amd64 tree (jq, a virtual package), built once for this binary.
fn debian_tree() -> &'static (PathBuf, PathBuf, PathBuf) {
    static TREE: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    TREE.get_or_init(|| {
        engine();
        let dir = scratch("verify-deb");
        let packages = dir.join("packages.yaml");
        std::fs::write(&packages, "debian12:\n  - jq\n  - host\n").unwrap();
        let distros = distros_dir(&dir, |_, t| t);
        let out = dir.join("out");
        // A passing `build --verify` publishes.
        let o = run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends", "--verify"]), true);
        assert!(String::from_utf8_lossy(&o.stderr).contains("debian12         amd64"), "no verify table");
        assert!(out.join("debian/dists/bookworm/InRelease").is_file());
        (dir, distros, packages)
    })
}

/// `osrepo verify` of a tree with the test's config.
fn verify(out: &Path, extra: &[&str]) -> Command {
    let (_, distros, packages) = debian_tree();
    let mut c = osrepo();
    c.arg("verify").arg("--out").arg(out).arg("--packages").arg(packages).arg("--distros").arg(distros).args(extra);
    c
}

/// A copy of the good tree to sabotage (hard links broken: every file its own copy).
fn copy_of_tree(name: &str) -> PathBuf {
    let (dir, _, _) = debian_tree();
    let dest = dir.join(name);
    let _ = std::fs::remove_dir_all(&dest);
    run(Command::new("cp").arg("-r").arg(dir.join("out")).arg(&dest), true);
    dest
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The problem lines of a static report (`  file: what`).
fn problems(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("  ")).map(|l| l.trim().to_string()).collect()
}

/// Static verification fails, and every problem names `file`.
fn assert_static_fails_only_on(out: &Path, file: &str, what: &str) {
    let o = run(&mut verify(out, &["--static"]), false);
    let p = problems(&o);
    assert!(!p.is_empty(), "no problems reported:\n{}", text(&o));
    assert!(p.iter().all(|l| l.starts_with(file)), "a problem not about {file}:\n{}", p.join("\n"));
    assert!(p.iter().any(|l| l.contains(what)), "no problem says {what:?}:\n{}", p.join("\n"));
}

fn pool_deb(out: &Path, prefix: &str) -> String {
    let (dir, _) = ("debian/pool/main/j/jq", ());
    let name = std::fs::read_dir(out.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(prefix))
        .unwrap();
    format!("{dir}/{name}")
}

#[test]
fn good_debian12_tree_passes_static_and_install_checks() {
    let (dir, _, _) = debian_tree();
    let out = dir.join("out");
    let o = run(&mut verify(&out, &["--static"]), true);
    assert!(text(&o).contains("0 problem(s)"), "{}", text(&o));
    let junit = dir.join("verify.xml");
    let o = run(verify(&out, &["--arch", "amd64", "--junit"]).arg(&junit), true);
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table.lines().find(|l| l.starts_with("debian12")).unwrap_or_default();
    assert!(row.contains("amd64") && row.ends_with("ok"), "{table}");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[2], cols[3], cols[4]), ("2", "2", "0"), "requested, installed, failed: {table}");
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(x.contains("name=\"install jq\"/>") && x.contains("name=\"install host\"/>"), "{x}");
    assert!(x.contains("name=\"foreign key is refused\"/>") && x.contains("failures=\"0\""), "{x}");
    let o = run(&mut verify(&out, &["--static", "--json"]), true);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["static"]["repos"][0]["path"], "debian/dists/bookworm");
    assert!(v["static"]["files_checked"].as_u64().unwrap() > 10, "{v}");
}

#[test]
fn deleted_pool_file_and_flipped_byte_are_named() {
    let out = copy_of_tree("deleted");
    let jq = pool_deb(&out, "jq_");
    std::fs::remove_file(out.join(&jq)).unwrap();
    assert_static_fails_only_on(&out, &jq, "missing, but debian/dists/bookworm/main/binary-amd64/Packages lists it");

    let out = copy_of_tree("flipped");
    let lib = pool_deb(&out, "libjq1_");
    let mut data = std::fs::read(out.join(&lib)).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    std::fs::write(out.join(&lib), data).unwrap();
    assert_static_fails_only_on(&out, &lib, "SHA256");
}

#[test]
fn stale_release_and_foreign_signature_are_named() {
    let out = copy_of_tree("stale");
    let packages = out.join("debian/dists/bookworm/main/binary-amd64/Packages");
    let t = std::fs::read_to_string(&packages).unwrap();
    std::fs::write(&packages, t.replacen("Priority: ", "Priority:  ", 1)).unwrap();
    assert_static_fails_only_on(
        &out,
        "debian/dists/bookworm/main/binary-amd64/Packages",
        "but debian/dists/bookworm/Release says",
    );

    // Re-signed with a key that is not the one in keys/.
    let out = copy_of_tree("resigned");
    let other = new_key("verify-other");
    run(
        osrepo()
            .args(["index", "deb"])
            .arg(out.join("debian"))
            .args(["--codename", "bookworm", "--arch", "amd64", "--key"])
            .arg(&other),
        true,
    );
    let o = run(&mut verify(&out, &["--static"]), false);
    let p = problems(&o);
    for f in ["debian/dists/bookworm/InRelease", "debian/dists/bookworm/Release.gpg"] {
        assert!(
            p.iter().any(|l| l.starts_with(f) && l.contains("does not verify") && l.contains("with keys/osrepo.gpg")),
            "{f}:\n{}",
            p.join("\n")
        );
    }
    assert!(p.iter().all(|l| l.starts_with("debian/dists/bookworm/")), "{}", p.join("\n"));
}

#[test]
fn build_verify_that_fails_leaves_out_byte_for_byte() {
    let (dir, distros, _) = debian_tree();
    // A node image on which apt cannot refresh: the new tree must not be published.
    let broken = "osrepo-test/no-apt:bookworm";
    let ctx = dir.join("no-apt");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {IMAGE}\nRUN rm /usr/bin/apt-get\n")).unwrap();
    run(Command::new("docker").args(["build", "-q", "-t", broken]).arg(&ctx), true);
    let out = copy_of_tree("gate");
    let before = snapshot(&out);
    let packages = dir.join("gate-packages.yaml");
    std::fs::write(&packages, "debian12:\n  - jq\n  - host\n  - socat\n").unwrap();
    let node = format!("debian12={broken}");
    let o =
        run(&mut build(dir, distros, &packages, &out, &["--no-recommends", "--verify", "--node-image", &node]), false);
    let t = text(&o);
    assert!(t.contains("verification of the new tree failed") && t.contains("metadata refresh failed"), "{t}");
    assert!(t.contains("is unchanged"), "{t}");
    assert!(snapshot(&out) == before, "out/ changed although verification failed");
    assert_no_leftovers(dir);
}

/// A fixture rpm tree for x86_64 and aarch64, built with the dnf image.
fn rpm_tree() -> (PathBuf, PathBuf, PathBuf) {
    let (dir, distros) = rpmfix::fixture_distro("verify-rpm", "verify-vendor");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - app\n  - modpkg\n").unwrap();
    let out = dir.join("out");
    rpmfix::build_both_arches(&packages, &distros, &out);
    (dir, distros, packages)
}

#[test]
fn fixture_rpm_tree_passes_and_a_foreign_package_signature_fails() {
    let (dir, distros, packages) = rpm_tree();
    let out = dir.join("out");
    let mut c = osrepo();
    c.arg("verify").arg("--out").arg(&out).arg("--packages").arg(&packages).arg("--distros").arg(&distros);
    c.args(["--node-image", &format!("fixturerpm={DNF_IMAGE}")]);
    let o = run(&mut c, true);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    for arch in ["amd64", "arm64"] {
        let row = table.lines().find(|l| l.starts_with("fixturerpm") && l.contains(arch)).unwrap_or_default();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(row.ends_with("ok") && cols[3] == "2" && cols[5] == "0", "{arch}: {table}");
    }

    // bar signed by another vendor, re-indexed and re-signed with our key: only its
    // own signature is wrong.
    let other = new_key("verify-other-vendor");
    let up2 = rpmfix::upstream_repo(&dir.join("other"), &other);
    let repo = out.join("fixture/1/os/x86_64");
    let bar = repo.join("Packages/bar-2.0-1.noarch.rpm");
    std::fs::remove_file(&bar).unwrap();
    std::fs::copy(up2.join("bar-2.0-1.noarch.rpm"), &bar).unwrap();
    run(osrepo().args(["index", "rpm"]).arg(&repo).arg("--key").arg(key()), true);
    let o = run(osrepo().arg("verify").arg("--static").arg("--out").arg(&out), false);
    let p = problems(&o);
    assert!(
        !p.is_empty()
            && p.iter().all(|l| l
                .starts_with("fixture/1/os/x86_64/Packages/bar-2.0-1.noarch.rpm: package signature does not verify")),
        "{}",
        text(&o)
    );

    // One flipped byte in an rpm: its checksum against primary.xml.
    let libfoo = out.join("fixture/1/os/aarch64/Packages/libfoo-1.0-1.aarch64.rpm");
    let mut data = std::fs::read(&libfoo).unwrap();
    let last = data.len() - 10;
    data[last] ^= 0x01;
    std::fs::remove_file(&libfoo).unwrap();
    std::fs::write(&libfoo, data).unwrap();
    let o = run(osrepo().arg("verify").arg("--static").arg("--out").arg(&out), false);
    let p = problems(&o);
    assert!(
        p.iter().any(|l| l.starts_with("fixture/1/os/aarch64/Packages/libfoo-1.0-1.aarch64.rpm: checksum")),
        "{}",
        p.join("\n")
    );
    assert_eq!(p.len(), 2, "{}", p.join("\n"));
}

#[test]
fn removed_dependency_passes_static_but_fails_install_and_closure() {
    let out = copy_of_tree("nodep");
    let dir = out.join("debian/pool/main/libo/libonig");
    std::fs::remove_dir_all(&dir).unwrap();
    // The index written again from the pool and signed with the tree's own key.
    run(
        osrepo()
            .args(["index", "deb"])
            .arg(out.join("debian"))
            .args(["--codename", "bookworm", "--arch", "amd64", "--key"])
            .arg(key()),
        true,
    );
    run(&mut verify(&out, &["--static"]), true);
    let o = run(&mut verify(&out, &["--arch", "amd64", "--json"]), false);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["targets"][0];
    let failed: Vec<&serde_json::Value> =
        t["packages"].as_array().unwrap().iter().filter(|p| p["installed"] == false).collect();
    assert_eq!(failed.len(), 1, "{t}");
    assert_eq!(failed[0]["spec"], "jq", "{t}");
    assert!(failed[0]["reason"].as_str().unwrap().contains("libonig5"), "{t}");
    let closure: Vec<&str> = t["closure"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(closure.iter().any(|c| c.starts_with("jq") && c.contains("needs libonig5")), "{closure:?}");
    assert!(closure.iter().all(|c| c.contains("libonig5")), "{closure:?}");
}

#[test]
fn debian12_amd64_and_emulated_arm64_trees_pass() {
    engine();
    let dir = scratch("verify-arm64");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "debian12:\n  - jq\n").unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let out = dir.join("out");
    let mut b = build(&dir, &distros, &packages, &out, &["--no-recommends"]);
    // build() asks for amd64; this adds arm64.
    run(b.args(["--arch", "arm64"]), true);
    let mut c = osrepo();
    c.arg("verify")
        .arg("debian12")
        .arg("--out")
        .arg(&out)
        .arg("--packages")
        .arg(&packages)
        .arg("--distros")
        .arg(&distros);
    let o = run(&mut c, true);
    let table = String::from_utf8_lossy(&o.stdout);
    for arch in ["amd64", "arm64"] {
        let row = table.lines().find(|l| l.starts_with("debian12") && l.contains(arch)).unwrap_or_default();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(row.ends_with("ok") && cols[3] == "1", "{arch}: {table}");
    }
}
