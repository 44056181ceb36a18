//! Fixture RPMs for the rpm tests, built with the rpm crate's builder and signed by a
//! "vendor" key, plus an upstream repo of them (createrepo_c + modifyrepo_c, as a vendor would).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rpm::{Dependency, FileOptions, PackageBuilder};

use super::{engine, new_key, run, scratch};

/// The dnf-capable image made from the Debian base (Debian's dnf, dnf-plugins-core, createrepo-c).
pub const DNF_IMAGE: &str = "osrepo-test/dnf:bookworm";

pub fn dnf_image() {
    let have = Command::new("docker").args(["image", "inspect", DNF_IMAGE]).output().unwrap();
    if have.status.success() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
             dnf dnf-plugins-core createrepo-c rpm gnupg && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb\n",
            super::IMAGE
        ),
    )
    .unwrap();
    run(Command::new("docker").args(["build", "-q", "-t", DNF_IMAGE]).arg(dir.path()), true);
}

struct Spec<'a> {
    name: &'a str,
    version: &'a str,
    arch: &'a str,
    deps: Vec<(&'a str, Dependency)>,
    files: Vec<&'a str>,
}

fn pkg<'a>(name: &'a str, version: &'a str, arch: &'a str) -> Spec<'a> {
    Spec { name, version, arch, deps: vec![], files: vec![] }
}

impl<'a> Spec<'a> {
    fn dep(mut self, kind: &'a str, d: Dependency) -> Self {
        self.deps.push((kind, d));
        self
    }
    fn file(mut self, f: &'a str) -> Self {
        self.files.push(f);
        self
    }
}

/// Every fixture package, for the given arch-specific arches.
fn specs() -> Vec<Spec<'static>> {
    let mut v = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        v.push(
            pkg("app", "1.0", arch)
                .dep("requires", Dependency::any("libfoo.so.1()(64bit)"))
                .dep("requires", Dependency::greater_eq("bar", "2.0"))
                .dep("requires", Dependency::any("virt-thing"))
                .dep("requires", Dependency::any("/usr/bin/filedep-tool"))
                .dep("requires", Dependency::script_pre("preuser"))
                .dep("recommends", Dependency::any("weakdep"))
                .dep("suggests", Dependency::any("unrelated"))
                .file("/usr/bin/app"),
        );
        v.push(
            pkg("libfoo", "1.0", arch)
                .dep("provides", Dependency::any("libfoo.so.1()(64bit)"))
                .file("/usr/lib64/libfoo.so.1"),
        );
    }
    v.push(pkg("libfoo", "1.0", "i686").dep("provides", Dependency::any("libfoo.so.1")).file("/usr/lib/libfoo.so.1"));
    v.push(pkg("bar", "1.0", "noarch").file("/usr/share/bar/v1"));
    v.push(pkg("bar", "2.0", "noarch").file("/usr/share/bar/v2"));
    v.push(pkg("prov-a", "1.0", "noarch").dep("provides", Dependency::any("virt-thing")).file("/usr/share/prov-a"));
    v.push(pkg("prov-b", "1.0", "noarch").dep("provides", Dependency::any("virt-thing")).file("/usr/share/prov-b"));
    v.push(pkg("filetool", "1.0", "noarch").file("/usr/bin/filedep-tool"));
    v.push(pkg("preuser", "1.0", "noarch").file("/usr/share/preuser"));
    v.push(pkg("weakdep", "1.0", "noarch").file("/usr/share/weakdep"));
    v.push(pkg("unrelated", "1.0", "noarch").file("/usr/share/unrelated"));
    v.push(pkg("modpkg", "1.0", "noarch").file("/usr/share/modpkg"));
    // A name that exists only as a Provides (as conntrack is of conntrack-tools on EL).
    v.push(pkg("realname", "1.0", "noarch").dep("provides", Dependency::any("aliasname")).file("/usr/share/realname"));
    v
}

/// The packages of the second, EPEL-like repo: its own key, a dependency into the first.
fn epel_specs() -> Vec<Spec<'static>> {
    vec![pkg("epeltool", "1.0", "noarch").dep("requires", Dependency::any("bar")).file("/usr/bin/epeltool")]
}

/// The names (without arch) a closure of `app` + `modpkg` must hold, besides one provider of virt-thing.
pub const EXPECTED: &[&str] =
    &["app-1.0-1", "libfoo-1.0-1", "bar-2.0-1", "filetool-1.0-1", "preuser-1.0-1", "weakdep-1.0-1", "modpkg-1.0-1"];

/// What `aliasname` (a Provides only) and `epeltool` (second repo) add to the closure.
pub const EXPECTED_EXTRA: &[&str] = &["realname-1.0-1", "epeltool-1.0-1"];

const MODULES: &str = "---
document: modulemd
version: 2
data:
  name: osrepo-mod
  stream: \"1\"
  version: 20260101
  context: c0ffee42
  arch: ARCH
  summary: osrepo fixture module
  description: A module stream holding modpkg.
  license:
    module: [MIT]
  profiles:
    default:
      rpms: [modpkg]
  artifacts:
    rpms:
      - modpkg-0:1.0-1.noarch
...
---
document: modulemd-defaults
version: 1
data:
  module: osrepo-mod
  stream: \"1\"
  profiles:
    \"1\": [default]
...
";

/// Build `specs` signed with `vendor_key` into `dir`.
fn write_signed(dir: &Path, specs: Vec<Spec<'_>>, vendor_key: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let key = std::fs::read(vendor_key).unwrap();
    for s in specs {
        let mut b = PackageBuilder::new(s.name, s.version, "MIT", s.arch, &format!("osrepo fixture {}", s.name));
        b.release("1")
            .description(format!("Fixture package {} for the osrepo rpm tests.", s.name))
            .vendor("osrepo tests");
        for f in &s.files {
            b.with_file_contents(format!("{} {}\n", s.name, f), FileOptions::new(*f)).unwrap();
        }
        for (kind, d) in s.deps {
            match kind {
                "requires" => b.requires(d),
                "provides" => b.provides(d),
                "recommends" => b.recommends(d),
                "suggests" => b.suggests(d),
                _ => unreachable!(),
            };
        }
        let signer = rpm::signature::pgp::Signer::from_asc_bytes(&key).unwrap();
        let p = b.build_and_sign(signer).unwrap();
        p.write_file(dir.join(format!("{}-{}-1.{}.rpm", s.name, s.version, s.arch))).unwrap();
    }
}

/// The second, EPEL-like upstream repo, signed by its own vendor key, in `dir/epel`.
pub fn epel_repo(dir: &Path, vendor_key: &Path) -> PathBuf {
    let up = dir.join("epel");
    write_signed(&up, epel_specs(), vendor_key);
    run(Command::new("createrepo_c").args(["--no-database", "-q"]).arg(&up), true);
    up
}

/// Build the signed fixture RPMs into `dir/upstream` with repodata and module metadata.
/// `vendor_key` is an armored secret key (osrepo key generate's osrepo.key).
pub fn upstream_repo(dir: &Path, vendor_key: &Path) -> PathBuf {
    let up = dir.join("upstream");
    write_signed(&up, specs(), vendor_key);
    run(Command::new("createrepo_c").args(["--no-database", "-q"]).arg(&up), true);
    let mut docs = String::new();
    for arch in ["x86_64", "aarch64"] {
        let m = MODULES.replace("ARCH", arch);
        // one defaults document is enough
        docs.push_str(if docs.is_empty() { &m } else { m.split("---\ndocument: modulemd-defaults").next().unwrap() });
    }
    std::fs::write(dir.join("modules.yaml"), docs).unwrap();
    run(
        Command::new("modifyrepo_c").args(["--mdtype=modules"]).arg(dir.join("modules.yaml")).arg(up.join("repodata")),
        true,
    );
    up
}

/// The start of a fixture-rpm test: the engine and the dnf image there, a scratch directory
/// `name` with the upstream repo signed by a new vendor key `key`, and
/// `distros/fixturerpm.yaml` ([`distro_file`]) for it. Returns (scratch dir, distros dir).
pub fn fixture_distro(name: &str, key: &str) -> (PathBuf, PathBuf) {
    engine();
    dnf_image();
    let dir = scratch(name);
    let vendor = new_key(key);
    let up = upstream_repo(&dir, &vendor);
    let distros = dir.join("distros");
    std::fs::create_dir_all(&distros).unwrap();
    std::fs::write(distros.join("fixturerpm.yaml"), distro_file(&up, &vendor.with_file_name("osrepo.asc"))).unwrap();
    (dir, distros)
}

/// The fixture rpm distro file: dnf on the Debian base, the fixture upstream as its only
/// source (a host directory), signed by `vendor_pub`.
pub fn distro_file(up: &Path, vendor_pub: &Path) -> String {
    format!(
        "name: fixturerpm\nfamily: rpm\nid: fixture\nrelease: \"1\"\nimage: {DNF_IMAGE}\narches: [amd64, arm64]\n\
         groups: [fixture]\nresolve_on: native\nextra_repos:\n  - name: fixture-upstream\n    url: file:{}\n    key_file: {}\n",
        up.display(),
        vendor_pub.display()
    )
}

/// `osrepo build fixturerpm` for amd64 and arm64 with the test's packages and distros.
pub fn build_both_arches(packages: &Path, distros: &Path, out: &Path) {
    let mut c = super::osrepo();
    c.args(["build", "fixturerpm", "--arch", "amd64,arm64", "--packages"]).arg(packages).arg("--distros").arg(distros);
    run(c.arg("--out").arg(out).arg("--key").arg(super::key()), true);
}
