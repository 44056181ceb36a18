use super::*;
use chrono::TimeZone;
use std::path::PathBuf;
use std::process::{Command, Output};

// ---------- helpers ----------

/// A record built in code from control text and pretend file content.
fn fixed_record(control: &str, filename: &str, content: &[u8]) -> DebRecord {
    DebRecord {
        control: Paragraph::parse(control).unwrap(),
        filename: filename.to_string(),
        size: content.len() as u64,
        md5: Some(DebHash::Md5.hex(content)),
        sha1: Some(DebHash::Sha1.hex(content)),
        sha256: DebHash::Sha256.hex(content),
        sha512: Some(DebHash::Sha512.hex(content)),
    }
}

fn golden_records() -> Vec<DebRecord> {
    vec![
        fixed_record(
            "Package: libcurl4\nSource: curl\nVersion: 7.88.1-10+deb12u5\n\
             Architecture: amd64\nMaintainer: Alessandro Ghedini <ghedo@debian.org>\n\
             Installed-Size: 818\nDepends: libc6 (>= 2.34), zlib1g (>= 1:1.1.4)\n\
             Section: libs\nPriority: optional\nMulti-Arch: same\n\
             Homepage: https://curl.se/\n\
             Description: easy-to-use client-side URL transfer library (OpenSSL flavour)\n \
             libcurl is an easy-to-use client-side URL transfer library.\n .\n \
             SSL support is provided by OpenSSL.\n",
            "pool/main/c/curl/libcurl4_7.88.1-10+deb12u5_amd64.deb",
            b"libcurl4 7.88.1-10+deb12u5",
        ),
        fixed_record(
            "Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\n\
             Maintainer: Alessandro Ghedini <ghedo@debian.org>\nInstalled-Size: 500\n\
             Depends: libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u5), zlib1g (>= 1:1.1.4)\n\
             Section: web\nPriority: optional\nHomepage: https://curl.se/\n\
             Description: command line tool for transferring data with URL syntax\n \
             curl is a command line tool for transferring data with URL syntax.\n .\n \
             Supported protocols: DICT, FILE, FTP, HTTP, HTTPS and more.\n",
            "pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb",
            b"curl 7.88.1-10+deb12u5",
        ),
        fixed_record(
            "Package: curl\nVersion: 7.88.1-10\nArchitecture: amd64\n\
             Maintainer: Alessandro Ghedini <ghedo@debian.org>\nInstalled-Size: 500\n\
             Depends: libc6 (>= 2.34)\nDescription: command line tool (older)\n",
            "pool/main/c/curl/curl_7.88.1-10_amd64.deb",
            b"curl 7.88.1-10",
        ),
        fixed_record(
            "Package: hello-common\nSource: hello (1.2-3)\nVersion: 1.2-3+b1\n\
             Architecture: all\nMaintainer: Jane Doe <jane@example.org>\n\
             Pre-Depends: dpkg (>= 1.17)\nProvides: hello-data\nMD5sum: 0000stale\n\
             Description: shared data for hello\n",
            "pool/main/h/hello/hello-common_1.2-3+b1_all.deb",
            b"hello-common",
        ),
    ]
}

fn golden_meta() -> ReleaseMeta {
    ReleaseMeta {
        origin: "osrepo".into(),
        label: "offline".into(),
        suite: "stable".into(),
        codename: "testcodename".into(),
        date: chrono::Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(),
        architectures: vec!["amd64".into(), "arm64".into()],
        components: vec!["main".into()],
        description: "Offline repository".into(),
        hashes: DebHashes::default(),
    }
}

/// Directory of the golden files, whichever crate compiles this module.
fn golden_dir() -> PathBuf {
    let src = Path::new(file!());
    let src = if src.is_absolute() { src.to_path_buf() } else { Path::new(env!("CARGO_MANIFEST_DIR")).join(src) };
    src.ancestors().nth(4).unwrap().join("tests/golden/deb")
}

/// Compare with a golden file; `UPDATE_GOLDEN=1` rewrites it instead.
fn check_golden(name: &str, committed: &str, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        let dir = golden_dir();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), actual).unwrap();
        return;
    }
    assert_eq!(committed, actual, "golden {name} differs; rerun with UPDATE_GOLDEN=1 and review the diff");
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn require_tool(path: &str, hint: &str) {
    assert!(Path::new(path).exists(), "{path} is required: {hint}");
}

/// Build a .deb with the real dpkg-deb; returns its path.
fn build_deb(work: &Path, control: &str, compression: &str) -> PathBuf {
    let ctl = Paragraph::parse(control).unwrap();
    let name =
        format!("{}_{}_{}", ctl.get("Package").unwrap(), ctl.get("Version").unwrap(), ctl.get("Architecture").unwrap());
    let tree = work.join(&name);
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::write(tree.join("DEBIAN/control"), control).unwrap();
    let doc = tree.join("usr/share/doc").join(ctl.get("Package").unwrap());
    fs::create_dir_all(&doc).unwrap();
    fs::write(doc.join("README"), format!("{name}\n")).unwrap();
    let deb = work.join(format!("{name}.deb"));
    run(Command::new("/usr/bin/dpkg-deb")
        .arg("--build")
        .arg("--root-owner-group")
        .arg(format!("-Z{compression}"))
        .arg(&tree)
        .arg(&deb));
    deb
}

const TOOL_CONTROL: &str = "\
Package: hello-tool
Source: hello (1.2-3)
Version: 1.2-3+b1
Architecture: amd64
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 12
Pre-Depends: hello-common
Depends: libhello1 (>= 1.0)
Provides: hello-cli
Section: utils
Priority: optional
Homepage: https://example.org/hello
Description: friendly greeter: says hello
 This is a longer description of hello-tool.
 .
 It has paragraphs: yes, and a URL https://example.org/x.
 .
  * and a verbatim bullet line
";
const LIB_CONTROL: &str = "\
Package: libhello1
Source: libhello
Version: 1.0-1
Architecture: amd64
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 4
Section: libs
Priority: optional
Multi-Arch: same
Description: hello shared library
 The runtime library behind hello-tool.
 .
 Nothing to see here.
";
const COMMON_CONTROL: &str = "\
Package: hello-common
Source: hello
Version: 1.2-3
Architecture: all
Maintainer: Jane Doe <jane@example.org>
Installed-Size: 4
Section: utils
Priority: optional
Description: architecture-independent files for hello
 Data shared by every architecture.
";

/// Build the three fixture packages and place them in ROOT/pool by pool_path.
fn build_pool(root: &Path) {
    let stage = root.parent().unwrap().join("stage");
    fs::create_dir_all(&stage).unwrap();
    for (control, compression) in [(TOOL_CONTROL, "xz"), (LIB_CONTROL, "gzip"), (COMMON_CONTROL, "none")] {
        let deb = build_deb(&stage, control, compression);
        let ctl = read_control(&deb).unwrap();
        assert_eq!(ctl, Paragraph::parse(control).unwrap());
        let base = deb.file_name().unwrap().to_str().unwrap();
        let rel = pool_path("main", &ctl, base).unwrap();
        let dest = root.join(&rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&deb, &dest).unwrap();
    }
}

// ---------- Paragraph ----------

#[test]
fn paragraph_round_trip() {
    let text = "Package: hello\nVersion: 1:2.0-1\nHomepage: https://example.org/a:b\n\
                Depends: libc6 (>= 2.34)\nDescription: short: with colon\n long line\n .\n \
                second paragraph\n  verbatim\nConffiles:\n /etc/hello.conf 0123\n";
    let p = Paragraph::parse(text).unwrap();
    assert_eq!(p.get("homepage"), Some("https://example.org/a:b"));
    assert_eq!(p.get("VERSION"), Some("1:2.0-1"));
    assert_eq!(p.get("Description"), Some("short: with colon\n long line\n .\n second paragraph\n  verbatim"));
    assert_eq!(p.get("Conffiles"), Some("\n /etc/hello.conf 0123"));
    assert_eq!(p.fields[0].0, "Package");
    assert_eq!(p.render(), text);
    assert_eq!(Paragraph::parse(&p.render()).unwrap(), p);
    // Surrounding blank lines and a missing final newline are fine.
    let p2 = Paragraph::parse(&format!("\n\n{}\n\n", text.trim_end())).unwrap();
    assert_eq!(p2, p);
}

#[test]
fn paragraph_errors() {
    assert!(Paragraph::parse("").is_err());
    assert!(Paragraph::parse(" continuation\nA: b\n").is_err());
    assert!(Paragraph::parse("A: b\nno colon here\n").is_err());
    assert!(Paragraph::parse("A: b\na: c\n").is_err());
    assert!(Paragraph::parse("A: b\n\nC: d\n").is_err());
    let e = Paragraph::parse("A: b\nbad line\n").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

// ---------- layout and ordering ----------

#[test]
fn pool_paths() {
    let p = |t: &str| Paragraph::parse(t).unwrap();
    assert_eq!(
        pool_path("main", &p("Package: curl\n"), "curl_1_amd64.deb").unwrap(),
        "pool/main/c/curl/curl_1_amd64.deb"
    );
    assert_eq!(pool_path("main", &p("Package: libcurl4\nSource: curl\n"), "x.deb").unwrap(), "pool/main/c/curl/x.deb");
    assert_eq!(pool_path("main", &p("Package: libfoo1\n"), "x.deb").unwrap(), "pool/main/libf/libfoo1/x.deb");
    assert_eq!(
        pool_path("contrib", &p("Package: libc6\nSource: libc (2.36-9)\n"), "x.deb").unwrap(),
        "pool/contrib/libc/libc/x.deb"
    );
    assert_eq!(pool_path("main", &p("Package: lib\n"), "x.deb").unwrap(), "pool/main/l/lib/x.deb");
}

#[test]
fn pool_paths_refuse_names_that_leave_the_pool() {
    let p = |t: &str| Paragraph::parse(t).unwrap();
    let e = |t: &str, base: &str| pool_path("main", &p(t), base).unwrap_err().to_string();
    let err = e("Package: x1\nSource: ../../../../tmp/x\n", "x.deb");
    assert!(err.contains("field Source \"../../../../tmp/x\" is not a Debian package name"), "{err}");
    assert!(e("Package: a/b\n", "x.deb").contains("field Package \"a/b\""));
    assert!(e("Package: ..\n", "x.deb").contains("field Package"));
    assert!(e("Package: x1\nSource: .. (1.0)\n", "x.deb").contains("field Source"));
    assert!(e("Version: 1\n", "x.deb").contains("field Package \"\""));
    assert!(e("Package: x1\n", "../x.deb").contains("file name \"../x.deb\""));
}

#[test]
fn packages_sorted_in_dpkg_version_order() {
    let rec = |name: &str, version: &str, arch: &str| {
        fixed_record(
            &format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"),
            &format!("pool/{name}_{version}_{arch}.deb"),
            b"",
        )
    };
    let records = vec![
        rec("foo", "1:0.1", "amd64"),
        rec("foo", "1.10", "arm64"),
        rec("foo", "1.10", "amd64"),
        rec("foo", "1.9", "amd64"),
        rec("foo", "1.10~rc1", "amd64"),
        rec("foo", "1.10+b1", "amd64"),
        rec("bar", "2.0", "amd64"),
    ];
    let text = packages_index(&records, DebHashes::default()).unwrap();
    assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
    let order: Vec<(String, String, String)> = text
        .split("\n\n")
        .map(|s| {
            let p = Paragraph::parse(s).unwrap();
            (p.get("Package").unwrap().into(), p.get("Version").unwrap().into(), p.get("Architecture").unwrap().into())
        })
        .collect();
    let expect: Vec<(String, String, String)> = [
        ("bar", "2.0", "amd64"),
        ("foo", "1.9", "amd64"),
        ("foo", "1.10~rc1", "amd64"),
        ("foo", "1.10", "amd64"),
        ("foo", "1.10", "arm64"),
        ("foo", "1.10+b1", "amd64"),
        ("foo", "1:0.1", "amd64"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(order, expect);
    assert_eq!(packages_index(&[], DebHashes::all()).unwrap(), "");
}

#[test]
fn split_by_arch_rules() {
    let rec = |name: &str, arch: &str| {
        fixed_record(
            &format!("Package: {name}\nVersion: 1\nArchitecture: {arch}\n"),
            &format!("pool/{name}_{arch}.deb"),
            b"",
        )
    };
    let records = vec![rec("a", "amd64"), rec("b", "all"), rec("c", "arm64")];
    fn names(v: &[DebRecord]) -> Vec<&str> {
        v.iter().map(|r| r.package()).collect()
    }

    let auto = split_by_arch(&records, &[]).unwrap();
    assert_eq!(auto.keys().collect::<Vec<_>>(), ["amd64", "arm64"]);
    assert_eq!(names(&auto["amd64"]), ["a", "b"]);
    assert_eq!(names(&auto["arm64"]), ["b", "c"]);

    let explicit = split_by_arch(&records, &["amd64".into(), "i386".into()]).unwrap();
    assert_eq!(names(&explicit["amd64"]), ["a", "b"]);
    assert_eq!(names(&explicit["i386"]), ["b"]);

    let err = split_by_arch(&[rec("b", "all")], &[]).unwrap_err();
    assert!(err.to_string().contains("explicit"), "{err}");
    let only_all = split_by_arch(&[rec("b", "all")], &["amd64".into()]).unwrap();
    assert_eq!(names(&only_all["amd64"]), ["b"]);

    let mut dup = rec("a", "amd64");
    dup.filename = "pool/other/a.deb".into();
    assert!(split_by_arch(&[rec("a", "amd64"), dup], &[]).is_err());
}

// ---------- golden files ----------

#[test]
fn golden_packages() {
    let text = packages_index(&golden_records(), DebHashes::default()).unwrap();
    check_golden("Packages", include_str!("../../../tests/golden/deb/Packages"), &text);
    // SHA256 alone; the stale MD5sum carried by a control file is dropped.
    assert_eq!(text.matches("\nSHA256: ").count(), golden_records().len());
    assert!(!text.contains("MD5sum:") && !text.contains("SHA1:") && !text.contains("SHA512:"), "{text}");
    // For old clients, what osrepo wrote before SHA256 became the default, byte for byte.
    let old = packages_index(&golden_records(), "md5,sha1,sha256".parse().unwrap()).unwrap();
    check_golden("Packages.md5-sha1-sha256", include_str!("../../../tests/golden/deb/Packages.md5-sha1-sha256"), &old);
    assert_eq!(old.matches("MD5sum:").count(), golden_records().len());
    let all = packages_index(&golden_records(), DebHashes::all()).unwrap();
    let sha512 = all.lines().filter(|l| l.starts_with("SHA512: ")).count();
    assert_eq!(sha512, golden_records().len());
    let mut bare = golden_records();
    bare[0].md5 = None;
    let e = packages_index(&bare, "sha256,md5".parse().unwrap()).unwrap_err().to_string();
    assert!(e.contains("no md5 digest") && e.contains(&bare[0].filename), "{e}");
}

#[test]
fn golden_release() {
    let packages = packages_index(&golden_records(), DebHashes::default()).unwrap();
    let files = vec![
        ("main/binary-arm64/Packages".to_string(), b"Package: x\n".to_vec()),
        ("main/binary-amd64/Packages".to_string(), packages.into()),
        ("contrib/binary-amd64/Packages".to_string(), Vec::new()),
    ];
    let text = release_file(&golden_meta(), &files);
    check_golden("Release", include_str!("../../../tests/golden/deb/Release"), &text);
    assert!(text.lines().all(|l| l == l.trim_end()));
    assert_eq!(DebHashes::of_release(&text), DebHashes::default());
    // MD5Sum and SHA256 over the Packages of old clients: what osrepo wrote before SHA256
    // became the default, byte for byte.
    let mut files = files;
    files[1].1 = packages_index(&golden_records(), "md5,sha1,sha256".parse().unwrap()).unwrap().into();
    let old = release_file(&ReleaseMeta { hashes: "md5,sha256".parse().unwrap(), ..golden_meta() }, &files);
    check_golden("Release.md5-sha256", include_str!("../../../tests/golden/deb/Release.md5-sha256"), &old);
    let all = release_file(&ReleaseMeta { hashes: DebHashes::all(), ..golden_meta() }, &files);
    let sections: Vec<&str> = all.lines().filter(|l| l.ends_with(':')).collect();
    assert_eq!(sections, ["MD5Sum:", "SHA1:", "SHA256:", "SHA512:"]);
}

// ---------- files on disk ----------

#[test]
fn packages_files_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let text = packages_index(&golden_records(), DebHashes::default()).unwrap();
    write_packages_files(&tmp.path().join("a/b"), &text).unwrap();
    write_packages_files(&tmp.path().join("c"), &text).unwrap();
    for name in ["Packages", "Packages.gz", "Packages.xz"] {
        let a = fs::read(tmp.path().join("a/b").join(name)).unwrap();
        let b = fs::read(tmp.path().join("c").join(name)).unwrap();
        assert_eq!(a, b, "{name} differs between runs");
    }
    let gz = fs::read(tmp.path().join("c/Packages.gz")).unwrap();
    assert_eq!(&gz[..3], [0x1f, 0x8b, 8]);
    assert_eq!(gz[3] & 0x08, 0, "gzip header carries a file name");
    assert_eq!(&gz[4..8], [0, 0, 0, 0], "gzip mtime is not 0");
    let mut s = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut s).unwrap();
    assert_eq!(s, text);
    let xzb = fs::read(tmp.path().join("c/Packages.xz")).unwrap();
    let mut s = String::new();
    liblzma::read::XzDecoder::new(&xzb[..]).read_to_string(&mut s).unwrap();
    assert_eq!(s, text);
    let leftovers: Vec<_> = fs::read_dir(tmp.path().join("c"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn render_dist_is_what_write_dist_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut meta = golden_meta();
    meta.architectures.clear();
    meta.components.clear();
    let one = |arch: &str| BTreeMap::from([(arch.to_string(), golden_records())]);
    write_dist(tmp.path(), &meta, "main", &one("arm64")).unwrap();
    let release = write_dist(tmp.path(), &meta, "main", &one("amd64")).unwrap();
    let dist = tmp.path().join("dists/testcodename");
    let existing = collect_index_files(&dist).unwrap();
    let rendered = render_dist(&meta, "main", &one("amd64"), existing).unwrap();
    let names: Vec<&str> = rendered.iter().map(|(rel, _)| rel.as_str()).collect();
    assert_eq!(
        names,
        [
            "dists/testcodename/main/binary-amd64/Packages",
            "dists/testcodename/main/binary-amd64/Packages.gz",
            "dists/testcodename/main/binary-amd64/Packages.xz",
            "dists/testcodename/Release",
        ]
    );
    for (rel, bytes) in &rendered {
        assert_eq!(&fs::read(tmp.path().join(rel)).unwrap(), bytes, "{rel}");
    }
    assert_eq!(release.as_bytes(), rendered[3].1.as_slice());
    // The arm64 index written before stays listed, and fills Architectures.
    assert!(release.contains("main/binary-arm64/Packages.xz\n"), "{release}");
    assert!(release.contains("\nArchitectures: amd64 arm64\n") && release.contains("\nComponents: main\n"));
    let only_new = render_dist(&meta, "main", &one("amd64"), Vec::new()).unwrap();
    let text = String::from_utf8(only_new[3].1.clone()).unwrap();
    assert!(!text.contains("arm64") && text.contains("\nArchitectures: amd64\n"), "{text}");
    assert!(render_dist(&meta, "../main", &one("amd64"), Vec::new()).is_err());
}

#[test]
fn bad_deb_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pool/main/b/broken");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("broken_1_amd64.deb"), b"!<arch>\nnot really").unwrap();
    let err = format!("{:#}", scan_pool(tmp.path(), DebHashes::default()).unwrap_err());
    assert!(err.contains("broken_1_amd64.deb"), "{err}");
    let err = format!("{:#}", scan_pool(&tmp.path().join("nowhere"), DebHashes::default()).unwrap_err());
    assert!(err.contains("nowhere"), "{err}");
    assert!(DebRecord::read(tmp.path(), "../escape.deb", DebHashes::default(), None).is_err());
    assert!(DebRecord::read(tmp.path(), "/etc/passwd", DebHashes::default(), None).is_err());
}

#[test]
fn real_debs_are_read_and_written() {
    require_tool("/usr/bin/dpkg-deb", "install dpkg");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    build_pool(&root);
    let records = scan_pool(&root, DebHashes::all()).unwrap();
    let files: Vec<&str> = records.iter().map(|r| r.filename.as_str()).collect();
    assert_eq!(
        files,
        [
            "pool/main/h/hello/hello-common_1.2-3_all.deb",
            "pool/main/h/hello/hello-tool_1.2-3+b1_amd64.deb",
            "pool/main/libh/libhello/libhello1_1.0-1_amd64.deb",
        ]
    );
    let tool = &records[1];
    assert_eq!((tool.package(), tool.version(), tool.architecture()), ("hello-tool", "1.2-3+b1", "amd64"));
    let bytes = fs::read(root.join(&tool.filename)).unwrap();
    assert_eq!(tool.size, bytes.len() as u64);
    assert_eq!(tool.md5, Some(hex::encode(<md5::Md5 as sha2::Digest>::digest(&bytes))));
    assert_eq!(tool.sha256, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    assert_eq!(tool.sha1.as_ref().map(String::len), Some(40));
    assert_eq!(tool.sha512.as_ref().map(String::len), Some(128));

    // SHA256 alone by default; a known SHA-256 is taken as given (the file is not hashed).
    let plain = scan_pool(&root, DebHashes::default()).unwrap();
    assert_eq!((plain[1].md5.as_ref(), plain[1].sha1.as_ref(), &plain[1].sha256), (None, None, &tool.sha256));
    let given = "ab".repeat(32);
    let known = DebRecord::read(&root, &tool.filename, DebHashes::default(), Some(&given)).unwrap();
    assert_eq!((known.sha256.as_str(), known.size), (given.as_str(), tool.size));
    assert!(DebRecord::read(&root, &tool.filename, DebHashes::default(), Some("../x")).is_err());
    let mut completed = known.clone();
    completed.add_digests(&root.join(&tool.filename), &completed.missing(DebHashes::all())).unwrap();
    assert_eq!((completed.md5.as_ref(), completed.sha512.as_ref()), (tool.md5.as_ref(), tool.sha512.as_ref()));

    // Write amd64 + arm64, then rewrite only amd64: arm64 stays listed,
    // stale signatures go away.
    let meta = ReleaseMeta { architectures: vec![], components: vec![], ..golden_meta() };
    let by_arch = split_by_arch(&records, &["amd64".into(), "arm64".into()]).unwrap();
    write_dist(&root, &meta, "main", &by_arch).unwrap();
    let dist = root.join("dists/testcodename");
    fs::write(dist.join("InRelease"), "stale").unwrap();
    fs::write(dist.join("Release.gpg"), "stale").unwrap();
    let amd64_only = split_by_arch(&records, &["amd64".into()]).unwrap();
    let release = write_dist(&root, &meta, "main", &amd64_only).unwrap();
    assert!(!dist.join("InRelease").exists() && !dist.join("Release.gpg").exists());
    assert_eq!(fs::read_to_string(dist.join("Release")).unwrap(), release);
    assert!(release.contains("\nArchitectures: amd64 arm64\n"), "{release}");
    assert!(release.contains("\nComponents: main\n"), "{release}");
    for arch in ["amd64", "arm64"] {
        for ext in ["", ".gz", ".xz"] {
            let line = format!(" main/binary-{arch}/Packages{ext}\n");
            assert_eq!(release.matches(&line).count(), 1, "{line:?} in {release}");
        }
    }
    let arm = fs::read_to_string(dist.join("main/binary-arm64/Packages")).unwrap();
    assert!(arm.starts_with("Package: hello-common\n") && !arm.contains("hello-tool"));
}

// ---------- real apt as judge ----------

/// A private apt configuration rooted in DIR, isolated from /etc/apt.
struct Apt {
    dir: PathBuf,
    config: PathBuf,
}

impl Apt {
    fn new(dir: &Path, source_line: &str) -> Apt {
        for sub in [
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "state/lists/partial",
            "cache",
            "archives/partial",
            "log",
        ] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("etc/sources.list"), format!("{source_line}\n")).unwrap();
        fs::write(dir.join("status"), "").unwrap();
        let d = dir.display();
        let config = dir.join("apt.conf");
        fs::write(
            &config,
            format!(
                "Dir::Etc::main \"/dev/null\";\n\
                 Dir::Etc::Parts \"{d}/etc/apt.conf.d\";\n\
                 Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
                 Dir::Etc::SourceParts \"{d}/etc/sources.list.d\";\n\
                 Dir::Etc::preferences \"/dev/null\";\n\
                 Dir::Etc::PreferencesParts \"{d}/etc/preferences.d\";\n\
                 Dir::State \"{d}/state\";\n\
                 Dir::State::status \"{d}/status\";\n\
                 Dir::Cache \"{d}/cache\";\n\
                 Dir::Cache::archives \"{d}/archives\";\n\
                 Dir::Log \"{d}/log\";\n\
                 Debug::NoLocking \"1\";\n\
                 APT::Architecture \"amd64\";\n\
                 APT::Architectures {{ \"amd64\"; }};\n\
                 Acquire::Languages \"none\";\n\
                 APT::Sandbox::User \"root\";\n"
            ),
        )
        .unwrap();
        Apt { dir: dir.to_path_buf(), config }
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("APT_CONFIG", &self.config)
            .env("LC_ALL", "C")
            .arg("-q")
            .arg("-o")
            .arg(format!("Dir::Etc::SourceList={}/etc/sources.list", self.dir.display()))
            .arg("-o")
            .arg("Dir::Etc::SourceParts=/dev/null")
            .arg("-o")
            .arg("Debug::NoLocking=1");
        c
    }

    fn archives(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.join("archives"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".deb"))
            .collect();
        v.sort();
        v
    }
}

/// Every stanza of a Packages text, by package name, as field -> value.
fn stanzas_by_package(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    text.split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let p = Paragraph::parse(s).unwrap();
            let name = p.get("Package").unwrap().to_string();
            (name, p.fields.into_iter().collect())
        })
        .collect()
}

/// The checksum lines of one `Name:` section of a Release file.
fn release_section<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    text.lines().skip_while(|l| *l != header).skip(1).take_while(|l| l.starts_with(' ')).collect()
}

#[test]
fn apt_accepts_the_repository() {
    require_tool("/usr/bin/dpkg-deb", "install dpkg");
    require_tool("/usr/bin/apt-get", "install apt");
    require_tool("/usr/bin/apt-ftparchive", "apt-get install -y apt-utils");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    build_pool(&root);
    let records = scan_pool(&root, DebHashes::default()).unwrap();
    let by_arch = split_by_arch(&records, &[]).unwrap();
    assert_eq!(by_arch.keys().collect::<Vec<_>>(), ["amd64"]);
    let release = write_dist(&root, &golden_meta(), "main", &by_arch).unwrap();

    // `copy:` behaves like a remote mirror: apt copies every file into its
    // own directories and verifies size and hashes against Release/Packages.
    let apt =
        Apt::new(&tmp.path().join("apt"), &format!("deb [trusted=yes] copy:{} testcodename main", root.display()));
    let out = run(apt.cmd("apt-get").arg("update"));
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("W:") && !log.contains("E:"), "{log}");

    let out = run(apt.cmd("apt-cache").args(["show", "hello-tool"]));
    let shown = String::from_utf8_lossy(&out.stdout);
    let description = Paragraph::parse(TOOL_CONTROL).unwrap().get("Description").unwrap().to_string();
    assert!(shown.contains(&format!("Description: {description}\n")), "{shown}");
    assert!(shown.contains("Pre-Depends: hello-common\n"), "{shown}");

    run(apt.cmd("apt-get").args(["install", "--download-only", "-y", "hello-tool"]));
    assert_eq!(
        apt.archives(),
        ["hello-common_1.2-3_all.deb", "hello-tool_1.2-3+b1_amd64.deb", "libhello1_1.0-1_amd64.deb",]
    );

    // The check has teeth: a same-size corrupted .deb is refused.
    for deb in apt.archives() {
        fs::remove_file(apt.dir.join("archives").join(deb)).unwrap();
    }
    let lib = root.join("pool/main/libh/libhello/libhello1_1.0-1_amd64.deb");
    let mut bytes = fs::read(&lib).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&lib, &bytes).unwrap();
    let out = apt.cmd("apt-get").args(["install", "--download-only", "-y", "hello-tool"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "corrupted deb accepted");
    assert!(log.contains("Hash Sum mismatch"), "{log}");
    bytes[last] ^= 0xff;
    fs::write(&lib, &bytes).unwrap();

    // ... and so is a Release whose SHA256 lines do not match the indexes.
    let release_path = root.join("dists/testcodename/Release");
    let mut in_sha256 = false;
    let forged: String = release
        .lines()
        .map(|l| {
            in_sha256 = l == "SHA256:" || (in_sha256 && l.starts_with(' '));
            if in_sha256 && l.starts_with(' ') {
                format!(" {}{}\n", "0".repeat(64), &l[65..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(forged, release);
    fs::write(&release_path, forged).unwrap();
    let out = apt.cmd("apt-get").arg("update").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Hash Sum mismatch"), "forged Release accepted: {log}");
    fs::write(&release_path, &release).unwrap();

    // Reference indexes from apt-ftparchive over the same pool, exactly: the default
    // against apt-ftparchive restricted to SHA-256, every kind against its defaults.
    let sha256_only = ["MD5", "SHA1", "SHA512"].map(|k| format!("APT::FTPArchive::{k}=false"));
    same_as_ftparchive(&apt, &root, &records, DebHashes::default(), &sha256_only);
    same_as_ftparchive(&apt, &root, &records, DebHashes::all(), &[]);
    // Old clients: MD5 and SHA-1 too, against apt-ftparchive's defaults but SHA-512.
    same_as_ftparchive(&apt, &root, &records, "md5,sha1,sha256".parse().unwrap(), &sha256_only[2..]);
}

/// Write the dist of `records` with `hashes` and compare its Packages stanzas and Release
/// checksum sections with what apt-ftparchive writes with `-o OPTS` for the same pool.
fn same_as_ftparchive(apt: &Apt, root: &Path, records: &[DebRecord], hashes: DebHashes, opts: &[String]) {
    let mut records = records.to_vec();
    for r in &mut records {
        r.add_digests(&root.join(&r.filename), &r.missing(hashes)).unwrap();
    }
    let by_arch = split_by_arch(&records, &[]).unwrap();
    let release = write_dist(root, &ReleaseMeta { hashes, ..golden_meta() }, "main", &by_arch).unwrap();
    let ftparchive = |dir: &Path, args: &[&str]| {
        let mut cmd = apt.cmd("apt-ftparchive");
        cmd.current_dir(dir);
        for o in opts {
            cmd.args(["-o", o]);
        }
        String::from_utf8(run(cmd.args(args)).stdout).unwrap()
    };
    let reference = stanzas_by_package(&ftparchive(root, &["packages", "pool"]));
    let written = fs::read_to_string(root.join("dists/testcodename/main/binary-amd64/Packages")).unwrap();
    let ours = stanzas_by_package(&written);
    assert_eq!(reference.keys().collect::<Vec<_>>(), ours.keys().collect::<Vec<_>>());
    for (package, theirs) in reference {
        assert_eq!(ours[&package], theirs, "stanza of {package} with {hashes}");
    }
    let reference = ftparchive(&root.join("dists/testcodename"), &["release", "."]);
    assert_eq!(DebHashes::of_release(&reference), hashes, "{reference}");
    for kind in DebHash::ALL {
        let header = format!("{}:", kind.release_section());
        let theirs: Vec<&str> =
            release_section(&reference, &header).into_iter().filter(|l| l.contains(" main/")).collect();
        assert_eq!(release_section(&release, &header), theirs, "{header} with {hashes}");
    }
}

#[test]
fn a_control_file_of_megabytes_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let long = " x".repeat(2 << 20);
    let control = format!("Package: big\nVersion: 1\nArchitecture: all\nDescription: big\n{long}\n");
    let deb = build_deb(d.path(), &control, "gzip");
    let e = format!("{:#}", read_control(&deb).unwrap_err());
    assert!(e.contains("big_1_all.deb") && e.contains("larger than 1048576 bytes"), "{e}");
}
