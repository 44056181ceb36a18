//! amd64 + arm64 in one tree: one build for both arches, the arm64 half judged in an emulated
//! arm64 container; native-arch resolution equals emulated resolution; merge of separately
//! built parts equals the combined build byte for byte; pack archives per arch.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const ARM_IMAGE: &str = "arm64v8/debian:bookworm";
const EPOCH: &str = "1767225600"; // 2026-01-01

fn arm_image() {
    let have = Command::new("docker").args(["image", "inspect", ARM_IMAGE]).output().unwrap();
    if !have.status.success() {
        run(
            osrepo()
                .args(["image", "bootstrap", "debian12", "--arch", "arm64", "--distros"])
                .arg(root().join("distros")),
            true,
        );
    }
}

fn packages(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("packages.yaml");
    // jq: arch-specific with an arch-specific library; tzdata and ca-certificates: Architecture all.
    std::fs::write(&p, "debian12:\n  - jq\n  - tzdata\n  - ca-certificates\n").unwrap();
    p
}

fn build_arches(dir: &Path, distros: &Path, out: &Path, arches: &str) {
    let mut c = osrepo();
    c.env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["build", "debian12", "--no-recommends", "--arch", arches, "--packages"])
        .arg(packages(dir))
        .arg("--distros")
        .arg(distros)
        .arg("--out")
        .arg(out)
        .arg("--key")
        .arg(key());
    run(&mut c, true);
}

/// `osrepo pack` of `tree` into `dest`, with fixed dates and extra arguments.
fn pack(tree: &Path, dest: &Path, extra: &[&str]) {
    run(
        osrepo()
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .arg("pack")
            .arg(tree)
            .args(["--name", "os-packages-test", "--dest"])
            .arg(dest)
            .args(extra),
        true,
    );
}

fn arches_of(out: &Path, arch: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(out.join(format!("debian/dists/bookworm/main/binary-{arch}/Packages"))).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("Architecture: ")).map(String::from).collect()
}

#[test]
fn debian12_both_arches_build_merge_and_pack() {
    engine();
    arm_image();
    let dir = scratch("multiarch");
    let distros = distros_dir(&dir, |_, t| t);

    // One build, both arches.
    let both = dir.join("both");
    build_arches(&dir, &distros, &both, "amd64,arm64");
    assert_eq!(arches_of(&both, "arm64"), BTreeSet::from(["arm64".to_string(), "all".to_string()]));
    assert_eq!(arches_of(&both, "amd64"), BTreeSet::from(["amd64".to_string(), "all".to_string()]));
    let release = std::fs::read_to_string(both.join("debian/dists/bookworm/Release")).unwrap();
    assert!(release.contains("\nArchitectures: amd64 arm64\n"), "{release}");
    // Architecture: all packages are listed for both arches and stored once.
    let all_debs: Vec<_> = std::fs::read_dir(both.join("debian/pool/main/t/tzdata")).unwrap().collect();
    assert_eq!(all_debs.len(), 1);
    let amd = index_entries(&both, "amd64");
    let arm = index_entries(&both, "arm64");
    assert!(amd.iter().any(|(n, _)| n == "tzdata") && arm.iter().any(|(n, _)| n == "tzdata"));

    // The arm64 half on an emulated clean arm64 node with no network.
    let o = Command::new("docker")
        .args(["run", "--rm", "--platform", "linux/arm64", "--network", "none", "-v"])
        .arg(format!("{}:/repo:ro", both.display()))
        .args([
            ARM_IMAGE,
            "sh",
            "-c",
            "set -e; rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; mkdir -p /etc/apt/keyrings; \
             cp /repo/keys/osrepo.gpg /etc/apt/keyrings/osrepo.gpg; \
             sed 's#http://OSREPO_HOST:8080#file:/repo#' /repo/repos/debian12.sources > /etc/apt/sources.list.d/osrepo.sources; \
             apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq >/tmp/i.log 2>&1 || { tail -20 /tmp/i.log; exit 1; }; \
             dpkg --print-architecture; echo '{\"k\":42}' | jq .k",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "arm64 node failed: {stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("arm64") && stdout.trim().ends_with("42"), "{stdout}");

    // Resolving arm64 natively (APT::Architecture) gives the same closure as under emulation.
    let emulated_distros = distros_dir(&dir.join("emulated"), |n, t| {
        if n == "debian12" {
            t.replace("recommends: true", "recommends: true\nresolve_on: target")
        } else {
            t
        }
    });
    let emulated = dir.join("emulated-out");
    build_arches(&dir, &emulated_distros, &emulated, "arm64");
    assert_eq!(index_entries(&emulated, "arm64"), arm, "native and emulated arm64 closures differ");

    // Parts built separately and merged equal the combined build, byte for byte.
    let part_amd = dir.join("part-amd64");
    let part_arm = dir.join("part-arm64");
    build_arches(&dir, &distros, &part_amd, "amd64");
    build_arches(&dir, &distros, &part_arm, "arm64");
    let merged = dir.join("merged");
    run(
        osrepo()
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .arg("merge")
            .arg(&merged)
            .arg(&part_amd)
            .arg(&part_arm)
            .arg("--key")
            .arg(key()),
        true,
    );
    assert_same_tree(&both, &merged);

    // A part that disagrees on a shared file is rejected by name.
    let bad = dir.join("part-bad");
    run(Command::new("cp").arg("-a").arg(&part_arm).arg(&bad), true);
    let deb = std::fs::read_dir(bad.join("debian/pool/main/t/tzdata")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&deb, b"not the same package").unwrap();
    let o =
        run(osrepo().arg("merge").arg(dir.join("merged-bad")).arg(&part_amd).arg(&bad).arg("--key").arg(key()), false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("debian/pool/main/t/tzdata/") && err.contains("differs"), "{err}");
    assert!(!dir.join("merged-bad").exists());

    // pack: per-arch archives hold only their arch; checksums verify; side by side they are the tree.
    let packed = dir.join("packed");
    pack(&both, &packed, &[]);
    run(Command::new("sha256sum").arg("-c").arg("sha256sum.txt").current_dir(&packed), true);
    for (arch, other) in [("amd64", "arm64"), ("arm64", "amd64")] {
        let list =
            run(Command::new("tar").arg("-tzf").arg(packed.join(format!("os-packages-test-{arch}.tar.gz"))), true);
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(
            !list.contains(&format!("_{other}.deb")) && !list.contains(&format!("binary-{other}")),
            "{arch} archive holds {other} files"
        );
        assert!(list.contains(&format!("_{arch}.deb")), "{arch} archive lacks its packages");
    }
    let side = dir.join("side-by-side");
    std::fs::create_dir_all(&side).unwrap();
    for arch in ["amd64", "arm64"] {
        run(
            Command::new("tar")
                .arg("-xzf")
                .arg(packed.join(format!("os-packages-test-{arch}.tar.gz")))
                .arg("-C")
                .arg(&side),
            true,
        );
    }
    assert_same_tree(&both, &side.join("os-packages-test"));
    // --oci: the tree as a FROM scratch image; the engine loads it and holds the same files.
    let oci = dir.join("oci");
    pack(&both, &dir.join("packed-oci"), &["--oci", oci.to_str().unwrap()]);
    run(
        Command::new("skopeo").args([
            "copy",
            "--quiet",
            &format!("oci:{}", oci.display()),
            "docker-daemon:osrepo-test/os-packages:test",
        ]),
        true,
    );
    let cid = run(Command::new("docker").args(["create", "osrepo-test/os-packages:test", "x"]), true);
    let cid = String::from_utf8_lossy(&cid.stdout).trim().to_string();
    let from_image = dir.join("from-image");
    run(Command::new("docker").args(["cp", &format!("{cid}:/os-packages-test")]).arg(&from_image), true);
    run(Command::new("docker").args(["rm", &cid]), true);
    assert_same_tree(&both, &from_image);
    // Packing twice gives identical archives.
    let again = dir.join("packed-again");
    pack(&both, &again, &[]);
    assert_eq!(
        std::fs::read(packed.join("sha256sum.txt")).unwrap(),
        std::fs::read(again.join("sha256sum.txt")).unwrap()
    );
}
