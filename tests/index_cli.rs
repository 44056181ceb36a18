//! `osrepo index deb` as a user runs it: what it says it indexed and the `--hashes` option.
//! No engine needed (dpkg-deb builds the packages).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{osrepo, run};

fn scratch(name: &str) -> PathBuf {
    let d = common::root().join("target/itest/index-cli").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ROOT/pool/<name>_1.0-1_<arch>.deb`, built by the real dpkg-deb.
fn deb(root: &Path, name: &str, arch: &str) {
    let tree = root.join("build").join(format!("{name}-{arch}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    let control =
        format!("Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\nMaintainer: J <j@e>\nDescription: hi\n");
    std::fs::write(tree.join("DEBIAN/control"), control).unwrap();
    std::fs::create_dir_all(root.join("repo/pool")).unwrap();
    let out = root.join("repo/pool").join(format!("{name}_1.0-1_{arch}.deb"));
    run(Command::new("dpkg-deb").arg("--build").arg(&tree).arg(out), true);
}

/// `osrepo index deb ROOT/repo --codename x ARGS...`: (stderr, ok).
fn index(root: &Path, args: &[&str], ok: bool) -> String {
    let mut c = osrepo();
    c.args(["index", "deb"]).arg(root.join("repo")).args(["--codename", "x"]).args(args);
    String::from_utf8_lossy(&run(&mut c, ok).stderr).into_owned()
}

fn packages(root: &Path, arch: &str) -> String {
    std::fs::read_to_string(root.join(format!("repo/dists/x/main/binary-{arch}/Packages"))).unwrap()
}

#[test]
fn the_count_is_what_the_indexes_list() {
    let d = scratch("count");
    deb(&d, "foreign", "arm64");
    // The only package is of another arch: it is dropped, and the count says so.
    let e = index(&d, &["--arch", "amd64"], true);
    assert!(e.contains("indexed 0 packages"), "{e}");
    assert_eq!(packages(&d, "amd64"), "");
    deb(&d, "native", "amd64");
    deb(&d, "common", "all");
    let e = index(&d, &["--arch", "amd64"], true);
    assert!(e.contains("indexed 2 packages"), "{e}");
    // An `all` package listed in two arches is one package.
    let e = index(&d, &["--arch", "amd64,arm64"], true);
    assert!(e.contains("indexed 3 packages"), "{e}");
}

#[test]
fn hashes_are_sha256_alone_unless_asked_for() {
    let d = scratch("hashes");
    deb(&d, "native", "amd64");
    index(&d, &[], true);
    let p = packages(&d, "amd64");
    assert!(p.contains("\nSHA256: ") && !p.contains("MD5sum") && !p.contains("SHA1") && !p.contains("SHA512"), "{p}");
    let release = std::fs::read_to_string(d.join("repo/dists/x/Release")).unwrap();
    assert!(release.contains("\nSHA256:\n") && !release.contains("MD5Sum:"), "{release}");

    index(&d, &["--hashes", "md5,sha1,sha256"], true);
    let p = packages(&d, "amd64");
    assert!(p.contains("\nMD5sum: ") && p.contains("\nSHA1: ") && !p.contains("SHA512"), "{p}");
    let release = std::fs::read_to_string(d.join("repo/dists/x/Release")).unwrap();
    assert!(release.contains("\nMD5Sum:\n") && release.contains("\nSHA1:\n"), "{release}");

    let e = index(&d, &["--hashes", "md5,sha1"], false);
    assert!(e.contains("--hashes") && e.contains("leaves out sha256"), "{e}");
    let e = index(&d, &["--hashes", "sha256,crc"], false);
    assert!(e.contains("\"crc\" is not one of md5, sha1, sha256, sha512"), "{e}");
}
