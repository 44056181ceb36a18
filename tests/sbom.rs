//! SBOMs end to end: a debian12 build and the fixture rpm distro write SPDX 2.3 and
//! CycloneDX 1.6 documents that the real validators accept (spdx-tools' `pyspdxtools`,
//! cyclonedx-python-lib's strict JSON schema validator; scripts/test.sh installs them), that
//! list every package file of the tree exactly once with its SHA-256, mark every request,
//! verify with gpgv, are byte-identical from one lock with another cache, travel with pack
//! and merge; `osrepo why` names paths the Depends fields confirm.

mod common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The validators' directory: $OSREPO_SBOM_TOOLS or the venv scripts/test.sh makes.
fn tools() -> PathBuf {
    let dir = std::env::var_os("OSREPO_SBOM_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/sbom-tools/bin"));
    for t in ["pyspdxtools", "python"] {
        assert!(
            dir.join(t).exists(),
            "{} is missing: the SBOM validators are required (scripts/test.sh installs them: \
             pip install spdx-tools cyclonedx-python-lib[json-validation] into target/sbom-tools)",
            dir.join(t).display()
        );
    }
    dir
}

/// Both documents of one SBOM pass the real validators.
fn validate(spdx: &Path, cdx: &Path) {
    let t = tools();
    let o = run(Command::new(t.join("pyspdxtools")).arg("-i").arg(spdx), true);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!text.to_lowercase().contains("invalid"), "{}: {text}", spdx.display());
    run(Command::new(t.join("python")).arg(root().join("scripts/validate-cdx.py")).arg(cdx), true);
}

/// The validators reject what they should: these tests cannot pass on a validator that
/// accepts anything.
fn validators_reject_broken_documents(dir: &Path, spdx: &Path, cdx: &Path) {
    let t = tools();
    let bad_spdx = dir.join("bad.spdx.json");
    let text = std::fs::read_to_string(spdx).unwrap().replacen("\"SPDX-2.3\"", "\"SPDX-9.9\"", 1);
    std::fs::write(&bad_spdx, text.replacen("\"NOASSERTION\"", "\"Not A License (\"", 1)).unwrap();
    let o = Command::new(t.join("pyspdxtools")).arg("-i").arg(&bad_spdx).output().unwrap();
    assert!(!o.status.success(), "pyspdxtools accepted a broken document");
    let bad_cdx = dir.join("bad.cdx.json");
    std::fs::write(&bad_cdx, std::fs::read_to_string(cdx).unwrap().replace("\"SHA-256\"", "\"SHA-257\"")).unwrap();
    let o = Command::new(t.join("python")).arg(root().join("scripts/validate-cdx.py")).arg(&bad_cdx).output().unwrap();
    assert!(!o.status.success(), "the CycloneDX validator accepted a broken BOM");
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn sha256(p: &Path) -> String {
    let o = run(Command::new("sha256sum").arg(p), true);
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

/// Every package file of the tree (path → sha256) for one job.
fn tree_files(out: &Path, dir: &str, ext: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out.join(dir)).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(ext) {
            m.insert(p.strip_prefix(out).unwrap().to_string_lossy().into_owned(), sha256(&p));
        }
    }
    m
}

/// Every package file the index names appears exactly once in both documents with its
/// SHA-256, no component is absent from the tree, every request is marked.
fn check_contents(out: &Path, stem: &str, files: &BTreeMap<String, String>, requests: &[&str]) {
    let cdx = json(&out.join(format!("sbom/{stem}.cdx.json")));
    let prop = |c: &Value, name: &str| -> Option<String> {
        c["properties"].as_array()?.iter().find(|p| p["name"] == name).map(|p| p["value"].as_str().unwrap().to_string())
    };
    let comps = cdx["components"].as_array().unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in comps {
        let path = prop(c, "osrepo:path").expect("component without osrepo:path");
        let sha = c["hashes"][0]["content"].as_str().unwrap();
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            files.get(&path).map(String::as_str),
            Some(sha),
            "{stem}: {path} is not in the tree with that sha256"
        );
        assert!(c["purl"].as_str().unwrap().contains(&format!("arch={}", prop(c, "osrepo:arch").unwrap())));
        *seen.entry(path).or_default() += 1;
    }
    for path in files.keys() {
        assert_eq!(seen.get(path), Some(&1), "{stem}: {path} is in the tree but listed {:?} times", seen.get(path));
    }
    let marked: BTreeSet<String> = comps
        .iter()
        .filter_map(|c| prop(c, "osrepo:requested"))
        .flat_map(|v| v.split(", ").map(str::to_string).collect::<Vec<_>>())
        .collect();
    for r in requests {
        assert!(marked.contains(*r), "{stem}: request {r} is not marked ({marked:?})");
    }
    let spdx = json(&out.join(format!("sbom/{stem}.spdx.json")));
    let pkgs = spdx["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), files.len() + 1, "{stem}: SPDX packages are the closure and the repository");
    for p in pkgs.iter().filter(|p| p["SPDXID"] != "SPDXRef-Repository") {
        let sha = p["checksums"][0]["checksumValue"].as_str().unwrap();
        assert!(files.values().any(|s| s == sha), "{stem}: {} has a sha256 no tree file has", p["name"]);
    }
    let annotated = pkgs.iter().filter(|p| p["annotations"].is_array()).count();
    assert!(annotated >= 1 && annotated <= requests.len(), "{stem}: {annotated} requested packages annotated");
}

/// Each SBOM and its signature verify with gpgv and the tree's public key.
fn check_signatures(out: &Path) {
    let home = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(out.join("sbom")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let sig = PathBuf::from(format!("{}.asc", p.display()));
            let mut c = Command::new("gpgv");
            c.env("GNUPGHOME", home.path()).arg("--keyring").arg(out.join("keys/osrepo.gpg")).arg(&sig).arg(&p);
            run(&mut c, true);
            n += 1;
        }
    }
    assert!(n >= 2, "no SBOMs in {}", out.display());
}

/// Tampering with a signed SBOM is detected by gpgv.
fn tampered_sbom_fails_gpgv(out: &Path, dir: &Path, stem: &str) {
    let copy = dir.join("tampered.json");
    let text = std::fs::read_to_string(out.join(format!("sbom/{stem}.spdx.json"))).unwrap();
    std::fs::write(&copy, text.replacen("NOASSERTION", "NOASSERTIOM", 1)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let o = Command::new("gpgv")
        .env("GNUPGHOME", home.path())
        .arg("--keyring")
        .arg(out.join("keys/osrepo.gpg"))
        .arg(out.join(format!("sbom/{stem}.spdx.json.asc")))
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!o.status.success(), "gpgv accepted a tampered SBOM");
}

/// The Packages stanzas of a deb tree by package name.
fn stanzas(out: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(out.join("debian/dists/bookworm/main/binary-amd64/Packages")).unwrap();
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| (s.lines().next().unwrap().trim_start_matches("Package: ").to_string(), s.to_string()))
        .collect()
}

/// The names a relationship field of a stanza mentions (`Depends: a (>= 1), b | c`).
fn mentioned(stanza: &str, fields: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in stanza.lines() {
        if let Some((f, v)) = l.split_once(": ") {
            if fields.contains(&f) {
                for alt in v.split([',', '|']) {
                    let n = alt.split_whitespace().next().unwrap_or("");
                    out.insert(n.split(':').next().unwrap().to_string());
                }
            }
        }
    }
    out
}

/// `osrepo why` on a library deep in the closure: a path from a request whose every step
/// the Depends (or Pre-Depends, Recommends) field of the package before it names.
fn why_paths_follow_the_depends_fields(dir: &Path, out: &Path, packages: &Path, distros: &Path, cache: &Path) {
    let st = stanzas(out);
    // `osrepo why libgmp10 ARGS... --out OUT` with the build's configuration, cache and lock.
    let why = |args: &[&str]| {
        let mut c = osrepo();
        c.args(["why", "libgmp10"]).args(args).arg("--out").arg(out).arg("--packages").arg(packages);
        c.arg("--distros").arg(distros).arg("--cache").arg(cache).arg("--lock").arg(dir.join("osrepo.lock"));
        run(&mut c, true)
    };
    let o = why(&["--distro", "debian12", "--arch", "amd64", "--json"]);
    let answers: Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths = answers[0]["paths"].as_array().unwrap();
    assert!(!paths.is_empty(), "why libgmp10: no path\n{}", String::from_utf8_lossy(&o.stdout));
    let longest = paths.iter().map(|p| p.as_array().unwrap().len()).max().unwrap();
    assert!(longest >= 3, "libgmp10 is expected deep in the closure: {paths:?}");
    for path in paths {
        let steps = path.as_array().unwrap();
        assert!(steps[0]["requested"].is_array(), "a path must start at a requested package: {path}");
        assert_eq!(steps.last().unwrap()["name"], "libgmp10");
        for w in steps.windows(2) {
            let (a, b) = (w[0]["name"].as_str().unwrap(), w[1]["name"].as_str().unwrap());
            let names = mentioned(&st[a], &["Depends", "Pre-Depends", "Recommends"]);
            let provided = mentioned(&st[b], &["Provides"]);
            assert!(
                names.contains(b) || names.iter().any(|n| provided.contains(n)),
                "why: {a} -> {b}, but {a}'s fields name {names:?}"
            );
        }
    }
    let text = why(&[]);
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.starts_with("debian12/amd64: ") && t.contains("\nlibgmp10 ") && t.contains("[requested: "), "{t}");
    let o = run(
        osrepo()
            .args(["why", "no-such-package", "--out"])
            .arg(out)
            .arg("--packages")
            .arg(packages)
            .arg("--distros")
            .arg(distros),
        false,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-package is in no closure"));
}

fn sbom_files(out: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(&out.join("sbom")).into_iter().map(|(p, d)| (p.strip_prefix(out).unwrap().to_path_buf(), d)).collect()
}

/// pack puts each arch's SBOMs into that arch's archive and beside the archives, listed in
/// sha256sum.txt; merge keeps them, signed.
fn pack_and_merge_keep_them(dir: &Path, out: &Path, stem: &str) {
    let dest = dir.join("pack");
    run(osrepo().arg("pack").arg(out).args(["--name", "r", "--dest"]).arg(&dest), true);
    let sums = std::fs::read_to_string(dest.join("sha256sum.txt")).unwrap();
    for f in [format!("sbom/{stem}.spdx.json"), format!("sbom/{stem}.cdx.json.asc")] {
        assert!(sums.lines().any(|l| l.ends_with(&format!("  {f}"))), "{f} not in sha256sum.txt:\n{sums}");
    }
    run(Command::new("sha256sum").arg("-c").arg("sha256sum.txt").current_dir(&dest), true);
    let list = run(Command::new("tar").arg("tzf").arg(dest.join("r-amd64.tar.gz")), true);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(&format!("r/sbom/{stem}.spdx.json\n")), "the amd64 archive lacks the SBOM");
    let merged = dir.join("merged");
    run(osrepo().arg("merge").arg(&merged).arg(out).arg("--key").arg(key()), true);
    assert_eq!(sbom_files(&merged), sbom_files(out), "merge changed the SBOMs");
    check_signatures(&merged);
}

const DEB_REQUESTS: &[&str] = &["curl", "jq", "host", "gnupg"];

#[test]
fn debian12_sboms_validate_cover_the_tree_and_reproduce() {
    engine();
    tools();
    let dir = scratch("sbom-deb");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, format!("tools: [{}]\n", DEB_REQUESTS.join(", "))).unwrap();
    let distros = distros_dir(&dir, |_, t| t);
    let (out, cache1) = (dir.join("out"), dir.join("cache1"));
    run(build(&dir, &distros, &packages, &out, &["--cache"]).arg(&cache1), true);
    let (spdx, cdx) = (out.join("sbom/debian12-amd64.spdx.json"), out.join("sbom/debian12-amd64.cdx.json"));
    validate(&spdx, &cdx);
    validators_reject_broken_documents(&dir, &spdx, &cdx);
    let files = tree_files_deb(&out);
    check_contents(&out, "debian12-amd64", &files, DEB_REQUESTS);
    check_signatures(&out);
    tampered_sbom_fails_gpgv(&out, &dir, "debian12-amd64");
    // Licenses from the DEP-5 copyright files: jq's is machine-readable.
    let doc = json(&cdx);
    let jq = doc["components"].as_array().unwrap().iter().find(|c| c["name"] == "jq").unwrap().clone();
    assert!(jq["licenses"][0]["expression"].as_str().unwrap().contains("MIT"), "{jq}");
    assert!(jq["externalReferences"][0]["url"].as_str().unwrap().ends_with(".deb"), "{jq}");
    why_paths_follow_the_depends_fields(&dir, &out, &packages, &distros, &cache1);

    // The same lock, an empty cache, another output: the same SBOM bytes; so is `osrepo sbom`.
    let (out2, cache2) = (dir.join("out2"), dir.join("cache2"));
    run(build(&dir, &distros, &packages, &out2, &["--locked", "--cache"]).arg(&cache2), true);
    assert_eq!(sbom_files(&out2), sbom_files(&out), "SBOMs differ between two builds of one lock");
    std::fs::remove_dir_all(out2.join("sbom")).unwrap();
    let mut regen = osrepo();
    regen.arg("sbom").arg(&out2).arg("--packages").arg(&packages).arg("--distros").arg(&distros);
    run(regen.arg("--cache").arg(dir.join("cache3")).arg("--key").arg(key()), true);
    assert_eq!(sbom_files(&out2), sbom_files(&out), "osrepo sbom wrote other bytes than the build");
    pack_and_merge_keep_them(&dir, &out, "debian12-amd64");
}

/// The .deb files of the amd64 index of a debian tree.
fn tree_files_deb(out: &Path) -> BTreeMap<String, String> {
    stanzas(out)
        .values()
        .map(|s| {
            let f = s.lines().find_map(|l| l.strip_prefix("Filename: ")).unwrap();
            let path = format!("debian/{f}");
            let sha = sha256(&out.join(&path));
            assert_eq!(s.lines().find_map(|l| l.strip_prefix("SHA256: ")), Some(sha.as_str()));
            (path, sha)
        })
        .collect()
}

#[test]
fn fixture_rpm_sboms_validate_and_cover_both_arches() {
    engine();
    tools();
    common::rpmfix::dnf_image();
    let dir = scratch("sbom-rpm");
    let vendor = new_key("sbom-vendor");
    let up = common::rpmfix::upstream_repo(&dir, &vendor);
    let distros = dir.join("distros");
    std::fs::create_dir_all(&distros).unwrap();
    let vendor_pub = vendor.parent().unwrap().join("osrepo.asc");
    std::fs::write(distros.join("fixturerpm.yaml"), common::rpmfix::distro_file(&up, &vendor_pub)).unwrap();
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - app\n  - modpkg\n  - aliasname\n").unwrap();
    let out = dir.join("out");
    common::rpmfix::build_both_arches(&packages, &distros, &out);
    for (arch, basearch) in [("amd64", "x86_64"), ("arm64", "aarch64")] {
        let stem = format!("fixturerpm-{arch}");
        let (spdx, cdx) = (out.join(format!("sbom/{stem}.spdx.json")), out.join(format!("sbom/{stem}.cdx.json")));
        validate(&spdx, &cdx);
        let files = tree_files(&out, &format!("fixture/1/os/{basearch}/Packages"), ".rpm");
        check_contents(&out, &stem, &files, &["app", "modpkg", "aliasname"]);
        let doc = json(&cdx);
        let comps = doc["components"].as_array().unwrap();
        let app = comps.iter().find(|c| c["name"] == "app").unwrap();
        assert_eq!(app["purl"], format!("pkg:rpm/fixture/app@1.0-1?arch={basearch}&distro=fixture-1"));
        assert_eq!(app["licenses"][0]["expression"], "MIT");
        assert_eq!(app["supplier"]["name"], "osrepo tests");
        // app requires libfoo.so.1()(64bit) (provided by libfoo) and /usr/bin/filedep-tool (a file of filetool).
        let deps = doc["dependencies"].as_array().unwrap();
        let app_deps = deps.iter().find(|d| d["ref"] == app["bom-ref"]).unwrap()["dependsOn"].to_string();
        for want in ["/libfoo@", "/filetool@", "/bar@2.0-1", "/preuser@"] {
            assert!(app_deps.contains(want), "{arch}: app's dependencies lack {want}: {app_deps}");
        }
    }
    check_signatures(&out);
}
