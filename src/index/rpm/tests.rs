use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use quick_xml::events::Event;
use rpm::{BuildConfig, CompressionType, Dependency, DependencyFlags, FileOptions, Header, IndexTag, PackageBuilder};
use sha2::{Digest, Sha256};

use super::header::{libc_is_higher, read_deps};
use super::xml::{filelists_xml, other_xml, primary_xml, xml_attr, xml_text};
use super::*;

/// Build time and file mtimes of the builder-made fixtures.
const T0: u32 = 1_700_000_000;
const DAY: u32 = 86_400;

const ODD_SUMMARY: &str = "Foo & <bar> \"quoted\" 'apos' — ünïcödé ✓";
const ODD_DESCRIPTION: &str = "First line & more\n<second> line\twith a tab\n\n  indented \"quotes\" 日本語\nend";
const ODD_FILE: &str = "/usr/share/libfoo/odd & <name> \"q\" 'a' ü.txt";

fn config() -> BuildConfig {
    BuildConfig::v4().compression(CompressionType::Gzip).source_date(T0)
}

fn dep(name: &str, flags: DependencyFlags, version: &str) -> Dependency {
    Dependency { name: name.into(), flags, version: version.into() }
}

fn save(pkg: rpm::Package, dir: &Path, rel: &str) -> String {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    pkg.write_file(&path).unwrap();
    rel.to_owned()
}

/// The rich x86_64 package: every dependency kind, files of every kind
/// and place, 12 changelog entries, odd characters everywhere.
fn libfoo_x86_64() -> rpm::Package {
    let mut b = PackageBuilder::new("libfoo", "1.2.3", "MIT & BSD", "x86_64", ODD_SUMMARY);
    b.using_config(config())
        .epoch(2)
        .release("4.el9")
        .description(ODD_DESCRIPTION)
        .url("https://example.com/foo?a=1&b=2")
        .vendor("Example <Corp>")
        .packager("Jane \"JD\" Doe <jane@example.com>")
        .group("System Environment/Libraries")
        .build_host("builder.example.com")
        .provides(Dependency::any("libfoo.so.1()(64bit)"))
        .provides(Dependency::eq("libfoo-abi", "1"))
        .provides(Dependency::eq("libfoo-compat", "3:4.5-6"))
        .provides(Dependency::eq("bad-epoch-provide", "x:1"))
        .requires(Dependency::any("/bin/sh"))
        .requires(Dependency::greater_eq("bar", "1:2.0-3"))
        .requires(dep("shadow-utils", DependencyFlags::SCRIPT_PRE, ""))
        .requires(dep("/sbin/ldconfig", DependencyFlags::SCRIPT_POST, ""))
        .requires(dep("systemd", DependencyFlags::SCRIPT_PREUN, ""))
        .requires(dep("legacy-prereq", DependencyFlags::PREREQ, ""))
        .requires(Dependency::any("libc.so.6()(64bit)"))
        .requires(Dependency::any("libc.so.6(GLIBC_2.14)(64bit)"))
        .requires(Dependency::any("libc.so.6(GLIBC_2.2.5)(64bit)"))
        .requires(Dependency::any("/usr/bin/foo-tool"))
        .requires(Dependency::any("/usr/share/libfoo/data.txt"))
        .requires(Dependency::eq("libfoo-abi", "1"))
        .requires(Dependency::any("zlib"))
        .requires(Dependency::any("zlib"))
        .requires(dep("zlib", DependencyFlags::SCRIPT_PRE, ""))
        .requires(Dependency::less("baz", "5"))
        .requires(Dependency::greater_eq("bad-epoch", "x:1"))
        .requires(dep("legacy-weak", DependencyFlags::MISSINGOK, ""))
        .requires(Dependency::any("(qux if quux)"))
        .conflicts(Dependency::less("oldfoo", "1.0"))
        .obsoletes(Dependency::less_eq("libfoo-legacy", "1.1-1"))
        .recommends(Dependency::greater_eq("foo-data", "0.1"))
        .suggests(Dependency::any("foo-doc"))
        .supplements(Dependency::any("(libfoo and langpacks-de)"))
        .enhances(Dependency::eq("foo-data", "0.1-1"));
    b.with_file_contents("key = value\n", FileOptions::new("/etc/foo/foo.conf").config())
        .unwrap()
        .with_dir_entry(FileOptions::dir("/etc/foo"))
        .unwrap()
        .with_ghost(FileOptions::ghost("/etc/foo/ghost.conf"))
        .unwrap()
        .with_file_contents("#!/bin/sh\n", FileOptions::new("/usr/bin/foo-tool").permissions(0o755))
        .unwrap()
        .with_file_contents("#!/bin/sh\n", FileOptions::new("/usr/sbin/foo-daemon").permissions(0o755))
        .unwrap()
        .with_file_contents("mail\n", FileOptions::new("/usr/lib/sendmail"))
        .unwrap()
        .with_file_contents("not primary\n", FileOptions::new("/usr/lib/sendmail.cf"))
        .unwrap()
        .with_file_contents("ELF\n", FileOptions::new("/usr/lib64/libfoo.so.1"))
        .unwrap()
        .with_file_contents("data\n", FileOptions::new("/usr/share/libfoo/data.txt"))
        .unwrap()
        .with_file_contents("odd\n", FileOptions::new(ODD_FILE))
        .unwrap()
        .with_file_contents("cabin\n", FileOptions::new("/usr/share/cabin/file"))
        .unwrap()
        .with_file_contents("tool\n", FileOptions::new("/opt/foo/sbin/tool"))
        .unwrap()
        .with_dir_entry(FileOptions::dir("/usr/share/doc/libfoo"))
        .unwrap()
        .with_ghost(FileOptions::ghost("/var/log/foo.log"))
        .unwrap()
        .with_ghost(FileOptions::ghost_dir("/run/foo"))
        .unwrap();
    // Newest first, as rpmbuild writes them; equal dates at the top and
    // across the 10-entry limit.
    let author = "Jane Doe <jane@example.com> - 2:1.2.3-4   ";
    let dates = [9, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 0];
    for (i, days) in dates.into_iter().enumerate() {
        let text = format!("- change {i}: fix <tags> & \"quotes\" — ü\n- second line");
        b.add_changelog_entry(author, text, T0 - 30 * DAY + days * DAY);
    }
    b.build().unwrap()
}

fn libfoo_aarch64() -> rpm::Package {
    PackageBuilder::new("libfoo", "1.2.3", "MIT", "aarch64", "Foo library for ARM")
        .using_config(config())
        .epoch(2)
        .release("4.el9")
        .provides(Dependency::any("libfoo.so.1()(64bit)"))
        .requires(Dependency::any("libc.so.6(GLIBC_2.17)(64bit)"))
        .with_file_contents("ELF\n", FileOptions::new("/usr/lib64/libfoo.so.1"))
        .unwrap()
        .add_changelog_entry("Jane Doe <jane@example.com>", "- arm", T0 - DAY)
        .build()
        .unwrap()
}

fn foo_data() -> rpm::Package {
    PackageBuilder::new("foo-data", "0.1", "CC0", "noarch", "Data for foo")
        .using_config(config())
        .requires(Dependency::greater_eq("libfoo", "2:1.2"))
        .with_file_contents("a\n", FileOptions::new("/usr/share/foo-data/a.txt"))
        .unwrap()
        .build()
        .unwrap()
}

fn foo_cli() -> rpm::Package {
    PackageBuilder::new("foo-cli", "10.0", "MIT", "x86_64", "Command line foo")
        .using_config(config())
        .release("1")
        .requires(Dependency::any("libfoo.so.1()(64bit)"))
        .requires(Dependency::eq("foo-data", "0.1-1"))
        .with_file_contents("#!/bin/sh\n", FileOptions::new("/usr/bin/foo").permissions(0o755))
        .unwrap()
        .build()
        .unwrap()
}

/// The builder-made fixtures, in nested directories.
fn builder_fixtures(dir: &Path) -> Vec<String> {
    vec![
        save(libfoo_x86_64(), dir, "x86_64/libfoo-1.2.3-4.el9.x86_64.rpm"),
        save(libfoo_aarch64(), dir, "aarch64/libfoo-1.2.3-4.el9.aarch64.rpm"),
        save(foo_data(), dir, "sub/dir/foo-data-0.1-1.noarch.rpm"),
        save(foo_cli(), dir, "foo-cli-10.0-1.x86_64.rpm"),
    ]
}

const SPEC: &str = r#"Name: hello-rb
Version: 2.0
Release: 3
Epoch: 1
Summary: Built by rpmbuild & <friends>
License: MIT
URL: https://example.com/hello?x=1&y=2
BuildArch: noarch
Provides: hello-rb-libs = 2.0-3
Requires: hello-rb-libs = 2.0-3
Requires: /usr/bin/hello-rb
Requires(pre): /bin/sh
Requires(post): coreutils
Requires(preun): grep
Requires: libc.so.6()(64bit)
Requires: libc.so.6(GLIBC_2.14)(64bit)
Requires: libc.so.6(GLIBC_2.2.5)(64bit)
Requires: foo-data >= 0.1-1
Conflicts: hello-old < 1:1.0
Obsoletes: hello-legacy <= 1.9
Recommends: hello-extra >= 1.0
Suggests: hello-doc
Supplements: (hello-rb and foo-data)
Enhances: foo-cli

%description
Line one
line <two> & "three"
tab<TAB>here 'single' é

%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/hello
echo hi > %{buildroot}/usr/bin/hello-rb
echo conf > %{buildroot}/etc/hello/hello.conf

%pre
exit 0
%post
exit 0

%files
%attr(0755,root,root) /usr/bin/hello-rb
%config(noreplace) /etc/hello/hello.conf
%dir /etc/hello
%ghost /var/log/hello.log

%changelog
* Mon Jan 01 2024 Jane Doe <jane@example.com> - 1:2.0-3
- third & <last>
* Mon Jan 01 2024 Jane Doe <jane@example.com> - 1:2.0-2
- second, same day
* Sun Dec 31 2023 John<TAB>"Q" <john@example.com> - 1:2.0-1
- first
"#;

/// A binary and a source package made by the real rpmbuild.
fn rpmbuild_fixtures(dir: &Path) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("hello-rb.spec");
    fs::write(&spec, SPEC.replace("<TAB>", "\t")).unwrap();
    let top = work.path().join("top");
    let out = Command::new(tool("rpmbuild"))
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--quiet", "-ba"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(out.status.success(), "rpmbuild failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut rels = Vec::new();
    for (from, rel) in [
        ("RPMS/noarch/hello-rb-2.0-3.noarch.rpm", "rb/hello-rb-2.0-3.noarch.rpm"),
        ("SRPMS/hello-rb-2.0-3.src.rpm", "rb/hello-rb-2.0-3.src.rpm"),
    ] {
        fs::create_dir_all(dir.join("rb")).unwrap();
        fs::copy(top.join(from), dir.join(rel)).unwrap();
        rels.push(rel.to_owned());
    }
    rels
}

/// A tool the tests need: they fail, never skip, without it.
fn tool(name: &str) -> &str {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success());
    assert!(found, "{name} is missing: apt-get install -y --no-install-recommends createrepo-c dnf rpm");
    name
}

fn dep_entry(name: &str) -> RpmDep {
    RpmDep { name: name.into(), flags: None, epoch: None, ver: None, rel: None, pre: false }
}

fn versioned(name: &str, flags: &str, epoch: &str, ver: &str, rel: Option<&str>) -> RpmDep {
    RpmDep {
        name: name.into(),
        flags: Some(flags.into()),
        epoch: Some(epoch.into()),
        ver: Some(ver.into()),
        rel: rel.map(Into::into),
        pre: false,
    }
}

fn pre(mut d: RpmDep) -> RpmDep {
    d.pre = true;
    d
}

#[test]
fn reads_builder_package_like_createrepo_c() {
    let dir = tempfile::tempdir().unwrap();
    let rel = save(libfoo_x86_64(), dir.path(), "x86_64/libfoo.rpm");
    let r = RpmRecord::from_file(dir.path(), &rel).unwrap();

    assert_eq!(r.nevra(), "libfoo-2:1.2.3-4.el9.x86_64");
    assert_eq!((r.summary.as_str(), r.description.as_str()), (ODD_SUMMARY, ODD_DESCRIPTION));
    assert_eq!(r.vendor, "Example <Corp>");
    assert_eq!(r.sourcerpm, "(none)");
    assert_eq!(r.time_build, u64::from(T0));
    assert_eq!(r.location_href, "x86_64/libfoo.rpm");
    let bytes = fs::read(dir.path().join(&rel)).unwrap();
    assert_eq!(r.size_package, bytes.len() as u64);
    assert_eq!(r.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(&bytes[r.header_start as usize..][..3], &[0x8e, 0xad, 0xe8]);
    assert!(r.header_end > r.header_start && r.header_end < r.size_package);

    // The builder writes dependencies sorted by name.
    let evr = |flags: &str, ver: &str| versioned("", flags, "2", ver, Some("4.el9"));
    let named = |name: &str, d: RpmDep| RpmDep { name: name.into(), ..d };
    assert_eq!(
        r.provides,
        vec![
            named("config(libfoo)", evr("EQ", "1.2.3")),
            named("libfoo", evr("EQ", "1.2.3")),
            named("libfoo(x86-64)", evr("EQ", "1.2.3")),
            versioned("libfoo-abi", "EQ", "0", "1", None),
            versioned("libfoo-compat", "EQ", "3", "4.5", Some("6")),
            dep_entry("libfoo.so.1()(64bit)"),
        ],
        "bad epochs are dropped, the builder adds name, name(isa) and config() provides"
    );
    assert_eq!(
        r.requires,
        vec![
            dep_entry("(qux if quux)"),
            dep_entry("/bin/sh"),
            pre(dep_entry("/sbin/ldconfig")),
            dep_entry("/usr/share/libfoo/data.txt"),
            versioned("bar", "GE", "1", "2.0", Some("3")),
            versioned("baz", "LT", "0", "5", None),
            pre(dep_entry("legacy-prereq")),
            pre(dep_entry("shadow-utils")),
            dep_entry("systemd"),
            dep_entry("zlib"),
            pre(dep_entry("zlib")),
            dep_entry("libc.so.6(GLIBC_2.14)(64bit)"),
        ],
        "no rpmlib(), own primary files, provided or duplicate entries; highest libc last"
    );
    assert_eq!(r.recommends, vec![dep_entry("legacy-weak"), versioned("foo-data", "GE", "0", "0.1", None)]);
    assert_eq!(r.conflicts, vec![versioned("oldfoo", "LT", "0", "1.0", None)]);
    assert_eq!(r.obsoletes, vec![versioned("libfoo-legacy", "LE", "0", "1.1", Some("1"))]);
    assert_eq!(r.suggests, vec![dep_entry("foo-doc")]);
    assert_eq!(r.supplements, vec![dep_entry("(libfoo and langpacks-de)")]);
    assert_eq!(r.enhances, vec![versioned("foo-data", "EQ", "0", "0.1", Some("1"))]);

    let kinds: BTreeMap<&str, &FileKind> = r.files.iter().map(|f| (f.path.as_str(), &f.kind)).collect();
    assert_eq!(kinds["/etc/foo"], &FileKind::Dir);
    assert_eq!(kinds["/etc/foo/ghost.conf"], &FileKind::Ghost);
    assert_eq!(kinds["/run/foo"], &FileKind::Dir, "a ghost directory is listed as a dir");
    assert_eq!(kinds[ODD_FILE], &FileKind::File);
    assert_eq!(r.files.len(), 15);

    assert_eq!(r.changelogs.len(), 12);
    assert_eq!(r.changelogs[0].author, "Jane Doe <jane@example.com> - 2:1.2.3-4   ");
    assert!(r.changelogs.windows(2).all(|w| w[0].date >= w[1].date), "newest first");
}

#[test]
fn legacy_weak_dependency_tags() {
    use rpm::{HeaderEntry, IndexData};
    let strings = |v: &[&str]| IndexData::StringArray(v.iter().map(|s| s.to_string()).collect());
    let strong = DependencyFlags::STRONG.bits();
    let entry = |tag: IndexTag, data| HeaderEntry::new(tag as u32, data);
    let header = Header::<IndexTag>::from_entries(
        [
            entry(IndexTag::RPMTAG_OLDSUGGESTSNAME, strings(&["strong-s", "weak-s"])),
            entry(IndexTag::RPMTAG_OLDSUGGESTSFLAGS, IndexData::Int32(vec![strong, 0])),
            entry(IndexTag::RPMTAG_OLDSUGGESTSVERSION, strings(&["", ""])),
            entry(IndexTag::RPMTAG_OLDENHANCESNAME, strings(&["strong-e", "weak-e"])),
            entry(IndexTag::RPMTAG_OLDENHANCESFLAGS, IndexData::Int32(vec![strong | 12, 0])),
            entry(IndexTag::RPMTAG_OLDENHANCESVERSION, strings(&["1.0", ""])),
            // A version without comparison flags is not written.
            entry(IndexTag::RPMTAG_REQUIRENAME, strings(&["unversioned"])),
            entry(IndexTag::RPMTAG_REQUIREFLAGS, IndexData::Int32(vec![0])),
            entry(IndexTag::RPMTAG_REQUIREVERSION, strings(&["1.0"])),
            // Incomplete triples are ignored.
            entry(IndexTag::RPMTAG_CONFLICTNAME, strings(&["lonely"])),
        ],
        IndexTag::RPMTAG_HEADERIMMUTABLE,
    );
    let deps = read_deps(&header, &[]).unwrap();
    assert_eq!(deps.recommends, vec![dep_entry("strong-s")]);
    assert_eq!(deps.suggests, vec![dep_entry("weak-s")]);
    assert_eq!(deps.supplements, vec![versioned("strong-e", "GE", "0", "1.0", None)]);
    assert_eq!(deps.enhances, vec![dep_entry("weak-e")]);
    assert_eq!(deps.requires, vec![dep_entry("unversioned")]);
    assert!(deps.conflicts.is_empty() && deps.provides.is_empty());
}

#[test]
fn primary_files_and_changelog_limit() {
    let dir = tempfile::tempdir().unwrap();
    let rel = save(libfoo_x86_64(), dir.path(), "libfoo.rpm");
    let r = RpmRecord::from_file(dir.path(), &rel).unwrap();
    let primary = primary_xml(std::slice::from_ref(&r));
    let listed: Vec<&str> = primary.lines().filter(|l| l.trim_start().starts_with("<file")).map(str::trim).collect();
    let mut expected = vec![
        "<file type=\"dir\">/etc/foo</file>",
        "<file>/etc/foo/foo.conf</file>",
        "<file type=\"ghost\">/etc/foo/ghost.conf</file>",
        "<file>/opt/foo/sbin/tool</file>",
        "<file>/usr/bin/foo-tool</file>",
        "<file>/usr/lib/sendmail</file>",
        "<file>/usr/sbin/foo-daemon</file>",
        "<file>/usr/share/cabin/file</file>",
    ];
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected);

    let other = other_xml(std::slice::from_ref(&r), 10);
    let dates: Vec<u64> = other
        .lines()
        .filter_map(|l| l.split("date=\"").nth(1))
        .map(|d| d[..d.find('"').unwrap()].parse().unwrap())
        .collect();
    let base = u64::from(T0 - 30 * DAY);
    let day = u64::from(DAY);
    // Entries 0..10 of dates [9, 9, 8, .., 1]: written oldest first, the
    // newer of the two equal dates one second later; the equal pair
    // across the limit stays untouched.
    let mut expected: Vec<u64> = [1, 2, 3, 4, 5, 6, 7, 8, 9].iter().map(|d| base + d * day).collect();
    expected.push(base + 9 * day + 1);
    assert_eq!(dates, expected);
    assert!(other.contains("author=\"Jane Doe &lt;jane@example.com&gt; - 2:1.2.3-4\""));
    assert_eq!(other_xml(std::slice::from_ref(&r), 0).matches("<changelog").count(), 0);
    assert_eq!(other_xml(std::slice::from_ref(&r), usize::MAX).matches("<changelog").count(), 12);
}

#[test]
fn xml_escaping() {
    let odd = "a&b<c>d\"e'f\tg\nh\ri\u{1}j\u{1f}k\u{7f}l ü日\u{fffe}\u{ffff}m";
    assert_eq!(xml_text(odd), "a&amp;b&lt;c&gt;d\"e'f\tg\nh&#13;ijk\u{7f}l ü日m");
    assert_eq!(xml_attr(odd), "a&amp;b&lt;c&gt;d&quot;e'f&#9;g&#10;h&#13;ijk\u{7f}l ü日m");
    assert!(matches!(xml_text("plain ü"), Cow::Borrowed(_)));

    // Every document parses back to the original strings.
    let mut r = sample_records().remove(0);
    r.summary = odd.to_owned();
    r.description = "<description>&amp;</description>".to_owned();
    r.files[0].path = "/etc/\"odd\" & <file>\t'x'".to_owned();
    r.changelogs[0].author = "A <a@b> & \"c\"".to_owned();
    r.changelogs[0].text = "x < y && z > \"w\"\n".to_owned();
    let records = [r];
    let primary = Flat::parse(&primary_xml(&records));
    let pkg = primary.values().next().unwrap();
    let clean: String = odd.chars().filter(|&c| c >= ' ' || "\t\n\r".contains(c)).collect();
    let clean = clean.replace(['\u{fffe}', '\u{ffff}'], "");
    assert!(pkg.contains(&format!("package/summary = {clean:?}")), "{pkg:#?}");
    assert!(pkg.contains(&"package/description = \"<description>&amp;</description>\"".to_owned()));
    let files = Flat::parse(&filelists_xml(&records));
    let file = format!("package/file type=\"dir\" = {:?}", records[0].files[0].path);
    assert!(files.values().next().unwrap().contains(&file), "{files:#?}");
    let other = Flat::parse(&other_xml(&records, 10));
    let lines = other.values().next().unwrap();
    assert!(lines.iter().any(|l| l.contains(r#"author="A <a@b> & \"c\"""#)), "{lines:#?}");
    let text = format!(" = {:?}", records[0].changelogs[0].text);
    assert!(lines.iter().any(|l| l.starts_with("package/changelog") && l.ends_with(&text)), "{lines:#?}");
}

#[test]
fn rpmvercmp_matches_rpm() {
    use Ordering::*;
    for (a, b, want) in [
        ("1.0", "1.0", Equal),
        ("1.0", "2.0", Less),
        ("2.0.1", "2.0", Greater),
        ("1.10", "1.9", Greater),
        ("1.0a", "1.0", Greater),
        ("1.0~rc1", "1.0", Less),
        ("1.0~rc1", "1.0~rc2", Less),
        ("1.0^git1", "1.0", Greater),
        ("1.0^git1", "1.0.1", Less),
        ("001", "1", Equal),
        ("1.0", "1_0", Equal),
        ("a", "1", Less),
        ("2.14", "2.2.5", Greater),
        ("5.5p1", "5.5p10", Less),
    ] {
        assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
    }
    assert!(libc_is_higher("libc.so.6()(64bit)", "libc.so.6(GLIBC_2.2.5)(64bit)"));
    assert!(libc_is_higher("libc.so.6(GLIBC_2.2.5)(64bit)", "libc.so.6(GLIBC_2.14)(64bit)"));
    assert!(!libc_is_higher("libc.so.6(GLIBC_2.14)(64bit)", "libc.so.6(GLIBC_2.4)(64bit)"));
    assert!(libc_is_higher("libc.so.6", "libc.so.6(GLIBC_2.0)"));
    assert!(!libc_is_higher("libc.so.6(GLIBC_2.0)", "libc.so.6"));
}

#[test]
fn hrefs_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../x.rpm", "/abs.rpm", "a/../b.rpm", "", "./x.rpm"] {
        assert!(RpmRecord::from_file(dir.path(), bad).is_err(), "{bad:?} accepted");
    }
    fs::write(dir.path().join("junk.rpm"), b"not an rpm at all, not at all").unwrap();
    let err = format!("{:#}", RpmRecord::from_file(dir.path(), "junk.rpm").unwrap_err());
    assert!(err.contains("junk.rpm"), "{err}");
    let err = format!("{:#}", scan_dir(dir.path()).unwrap_err());
    assert!(err.contains("junk.rpm"), "{err}");
    let err = format!("{:#}", RpmRecord::from_file(dir.path(), "missing.rpm").unwrap_err());
    assert!(err.contains("missing.rpm"), "{err}");
}

#[test]
fn scan_dir_sorts_and_recurses() {
    let dir = tempfile::tempdir().unwrap();
    builder_fixtures(dir.path());
    fs::write(dir.path().join("README.txt"), "not a package").unwrap();
    let records = scan_dir(dir.path()).unwrap();
    let got: Vec<(String, &str)> = records.iter().map(|r| (r.nevra(), r.location_href.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("foo-cli-10.0-1.x86_64".to_owned(), "foo-cli-10.0-1.x86_64.rpm"),
            ("foo-data-0.1-1.noarch".to_owned(), "sub/dir/foo-data-0.1-1.noarch.rpm"),
            ("libfoo-2:1.2.3-4.el9.aarch64".to_owned(), "aarch64/libfoo-1.2.3-4.el9.aarch64.rpm"),
            ("libfoo-2:1.2.3-4.el9.x86_64".to_owned(), "x86_64/libfoo-1.2.3-4.el9.x86_64.rpm"),
        ]
    );
}

// -----------------------------------------------------------------------
// Golden files

fn sample_records() -> Vec<RpmRecord> {
    vec![full_record(), minimal_record()]
}

/// A record with every field set and odd characters everywhere.
fn full_record() -> RpmRecord {
    let d = |name: &str| dep_entry(name);
    RpmRecord {
        name: "odd".into(),
        epoch: 3,
        version: "1.0~rc1".into(),
        release: "2.el9".into(),
        arch: "x86_64".into(),
        summary: ODD_SUMMARY.into(),
        description: format!("{ODD_DESCRIPTION}\r\nCRLF\x01 and a control character"),
        packager: "Jane \"JD\" Doe <jane@example.com>".into(),
        url: "https://example.com/?a=1&b=2".into(),
        license: "MIT & BSD".into(),
        vendor: "Example <Corp>".into(),
        group: "Unspecified".into(),
        buildhost: "builder.example.com".into(),
        sourcerpm: "odd-1.0~rc1-2.el9.src.rpm".into(),
        time_file: 1_700_000_100,
        time_build: 1_700_000_000,
        size_package: 12_345,
        size_installed: 67_890,
        size_archive: 68_400,
        header_start: 4504,
        header_end: 9000,
        sha256: "ab".repeat(32),
        location_href: "Packages/o/odd & co.rpm".into(),
        provides: vec![d("libodd.so.1()(64bit)"), versioned("odd", "EQ", "3", "1.0~rc1", Some("2.el9"))],
        requires: vec![
            pre(d("/bin/sh")),
            versioned("bar", "GE", "1", "2.0", Some("3")),
            versioned("baz", "LT", "0", "5", None),
            d("(a & b)"),
        ],
        conflicts: vec![versioned("old<odd>", "LE", "0", "0.9", None)],
        obsoletes: vec![versioned("odd-legacy", "LT", "0", "1", None)],
        recommends: vec![d("rec")],
        suggests: vec![d("sug")],
        supplements: vec![d("sup")],
        enhances: vec![d("enh")],
        files: vec![
            RpmFile { path: "/etc/odd".into(), kind: FileKind::Dir },
            RpmFile { path: "/etc/odd/odd.conf".into(), kind: FileKind::File },
            RpmFile { path: "/usr/bin/odd".into(), kind: FileKind::File },
            RpmFile { path: "/usr/lib64/libodd.so.1".into(), kind: FileKind::File },
            RpmFile { path: ODD_FILE.into(), kind: FileKind::File },
            RpmFile { path: "/var/log/odd.log".into(), kind: FileKind::Ghost },
        ],
        changelogs: vec![
            Changelog {
                author: "Jane <j@example.com> - 3:1.0~rc1-2".into(),
                date: 1_699_000_000,
                text: "- fix <this> & \"that\"\n- ünïcödé".into(),
            },
            Changelog {
                author: "Jane <j@example.com> - 3:1.0~rc1-1".into(),
                date: 1_699_000_000,
                text: "- same day".into(),
            },
            Changelog { author: "John <john@example.com>  ".into(), date: 1_600_000_000, text: "- initial".into() },
        ],
    }
}

/// A record with only the required fields.
fn minimal_record() -> RpmRecord {
    RpmRecord {
        name: "minimal".into(),
        epoch: 0,
        version: "1".into(),
        release: "1".into(),
        arch: "noarch".into(),
        summary: "Minimal".into(),
        description: String::new(),
        packager: String::new(),
        url: String::new(),
        license: "CC0".into(),
        vendor: String::new(),
        group: String::new(),
        buildhost: String::new(),
        sourcerpm: String::new(),
        time_file: 1,
        time_build: 0,
        size_package: 100,
        size_installed: 0,
        size_archive: 0,
        header_start: 1000,
        header_end: 1100,
        sha256: "cd".repeat(32),
        location_href: "minimal-1-1.noarch.rpm".into(),
        provides: vec![],
        requires: vec![],
        conflicts: vec![],
        obsoletes: vec![],
        recommends: vec![],
        suggests: vec![],
        supplements: vec![],
        enhances: vec![],
        files: vec![],
        changelogs: vec![],
    }
}

fn check_golden(name: &str, got: &str, want: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        // file!() is relative to the package root, or absolute when the
        // module is included from elsewhere.
        let this_file = Path::new(file!());
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join(this_file);
        let path = here.parent().unwrap().join("../../../tests/golden/rpm").join(name);
        fs::write(&path, got).unwrap();
        return;
    }
    if got != want {
        panic!("{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it):\n{}", diff(want, got));
    }
}

#[test]
fn golden_documents() {
    let records = sample_records();
    check_golden("primary.xml", &primary_xml(&records), include_str!("../../../tests/golden/rpm/primary.xml"));
    check_golden("filelists.xml", &filelists_xml(&records), include_str!("../../../tests/golden/rpm/filelists.xml"));
    check_golden("other.xml", &other_xml(&records, 3), include_str!("../../../tests/golden/rpm/other.xml"));
}

#[test]
fn primary_xml_reads_back() {
    let records = sample_records();
    let got = read_primary(&primary_xml(&records)).unwrap();
    let want: Vec<PrimaryPackage> = records
        .iter()
        .map(|r| PrimaryPackage {
            name: r.name.clone(),
            arch: r.arch.clone(),
            epoch: r.epoch,
            ver: r.version.clone(),
            rel: r.release.clone(),
            href: r.location_href.clone(),
            checksum: crate::resolve::Checksum::Sha256(r.sha256.clone()),
            size: r.size_package,
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got[0].evr(), "3:1.0~rc1-2.el9");
    assert_eq!(got[1].evr(), "1-1");
    // Escaped names come back whole; packages without a location are skipped.
    let doc = primary_xml(&records).replacen("<name>odd</name>", "<name>a&amp;b&#65;</name>", 1).replacen(
        "<location href=\"minimal-1-1.noarch.rpm\"/>",
        "",
        1,
    );
    let got = read_primary(&doc).unwrap();
    assert_eq!(got.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a&bA"]);
    let sha1 = primary_xml(&records).replace("type=\"sha256\"", "type=\"sha1\"");
    assert!(format!("{:#}", read_primary(&sha1).unwrap_err()).contains("sha1 is not supported"));
    let bad_epoch = primary_xml(&records).replace("epoch=\"3\"", "epoch=\"x\"");
    assert!(read_primary(&bad_epoch).is_err());
}

#[test]
fn tree_closures_read_our_repodata() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("rocky/9/os/x86_64");
    for compression in [Compression::Gzip, Compression::Zstd] {
        write_repodata(&repo, &sample_records(), &[], &opts(compression)).unwrap();
        let closures = crate::index::tree_closures(root.path()).unwrap();
        let set: Vec<(&str, &str, &str)> =
            closures["rocky/9/x86_64"].iter().map(|(n, a, v)| (n.as_str(), a.as_str(), v.as_str())).collect();
        assert_eq!(set, [("minimal", "noarch", "1-1"), ("odd", "x86_64", "3:1.0~rc1-2.el9")]);
        assert_eq!(closures.len(), 1);
    }
}

// -----------------------------------------------------------------------
// repodata/

/// One `<data>` entry of a repomd.xml, read back.
#[derive(Debug, Default)]
struct DataEntry {
    href: String,
    checksum: String,
    open_checksum: String,
    size: u64,
    open_size: u64,
}

fn read_repomd(dir: &Path) -> BTreeMap<String, DataEntry> {
    let text = fs::read_to_string(dir.join("repodata/repomd.xml")).unwrap();
    let mut out: BTreeMap<String, DataEntry> = BTreeMap::new();
    let mut kind = String::new();
    for line in Flat::parse_doc(&text) {
        if let Some(t) = line.strip_prefix("data type=") {
            kind = t.trim_matches('"').to_owned();
            continue;
        }
        // `data/checksum type="sha256" = "…"`, `data/location href="…"`: the last quoted value.
        let value = line.rsplit('"').nth(1).unwrap_or_default().to_owned();
        let entry = out.entry(kind.clone()).or_default();
        match line.split([' ', '=']).next().unwrap() {
            "data/checksum" => entry.checksum = value,
            "data/open-checksum" => entry.open_checksum = value,
            "data/location" => entry.href = value,
            "data/size" => entry.size = value.parse().unwrap(),
            "data/open-size" => entry.open_size = value.parse().unwrap(),
            _ => {}
        }
    }
    out.remove("");
    out
}

fn decompress(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    let name = path.to_str().unwrap();
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        raw
    }
}

fn opts(compression: Compression) -> RepodataOptions {
    RepodataOptions { compression, changelog_limit: 10, revision: 1_700_000_000 }
}

#[test]
fn write_repodata_is_deterministic_and_consistent() {
    let records = sample_records();
    let modules = b"---\ndocument: modulemd\nversion: 2\n...\n".to_vec();
    let mut gz_modules = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut gz_modules, flate2::Compression::fast());
        enc.write_all(b"<comps/>\n").unwrap();
        enc.finish().unwrap();
    }
    let extra = vec![
        ("modules".to_owned(), "modules.yaml".to_owned(), modules.clone()),
        ("group".to_owned(), "comps.xml.gz".to_owned(), gz_modules),
    ];
    for compression in [Compression::Gzip, Compression::Zstd] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // Leftovers of an earlier run go away.
        fs::create_dir_all(a.path().join("repodata")).unwrap();
        for stale in ["repomd.xml.asc", "0123-primary.xml.gz", "repomd.xml"] {
            fs::write(a.path().join("repodata").join(stale), "old").unwrap();
        }
        let repomd_a = write_repodata(a.path(), &records, &extra, &opts(compression)).unwrap();
        let repomd_b = write_repodata(b.path(), &records, &extra, &opts(compression)).unwrap();
        assert_eq!(repomd_a, repomd_b);
        let list = |d: &Path| {
            let mut names: Vec<_> = fs::read_dir(d.join("repodata"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        assert_eq!(list(a.path()), list(b.path()));
        assert_eq!(list(a.path()).len(), 6, "{:?}", list(a.path()));
        for name in list(a.path()) {
            let (fa, fb) = (a.path().join("repodata").join(&name), b.path().join("repodata").join(&name));
            assert_eq!(fs::read(fa).unwrap(), fs::read(fb).unwrap(), "{name} differs");
        }
        // Again in the same directory: same files, nothing left over.
        assert_eq!(write_repodata(a.path(), &records, &extra, &opts(compression)).unwrap(), repomd_a);
        assert_eq!(list(a.path()), list(b.path()));
        assert_eq!(fs::read_to_string(a.path().join("repodata/repomd.xml")).unwrap(), repomd_a);

        let entries = read_repomd(a.path());
        let types: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(types, ["filelists", "group", "modules", "other", "primary"]);
        assert!(repomd_a.find("\"primary\"").unwrap() < repomd_a.find("\"filelists\"").unwrap());
        assert!(repomd_a.find("\"other\"").unwrap() < repomd_a.find("\"group\"").unwrap());
        assert!(repomd_a.contains("<revision>1700000000</revision>"));
        assert_eq!(repomd_a.matches("<timestamp>1700000000</timestamp>").count(), 5);
        let suffix = compression.suffix();
        for (kind, DataEntry { href, checksum: sum, open_checksum: open_sum, size, open_size }) in &entries {
            let path = a.path().join(href);
            let raw = fs::read(&path).unwrap();
            assert_eq!(&hex::encode(Sha256::digest(&raw)), sum, "{kind}");
            assert_eq!(raw.len() as u64, *size, "{kind}");
            assert!(href.starts_with(&format!("repodata/{sum}-")) && href.ends_with(suffix), "{href}");
            let open = decompress(&path);
            assert_eq!(&hex::encode(Sha256::digest(&open)), open_sum, "{kind}");
            assert_eq!(open.len() as u64, *open_size, "{kind}");
            let expected: Vec<u8> = match kind.as_str() {
                "primary" => primary_xml(&records).into_bytes(),
                "filelists" => filelists_xml(&records).into_bytes(),
                "other" => other_xml(&records, 10).into_bytes(),
                "modules" => modules.clone(),
                _ => b"<comps/>\n".to_vec(),
            };
            assert_eq!(open, expected, "{kind}");
        }
        assert!(entries["modules"].href.ends_with(&format!("-modules.yaml.{suffix}")));
        assert!(entries["group"].href.ends_with(&format!("-comps.xml.{suffix}")));
    }
    let bad = |kind: &str, name: &str| {
        let dir = tempfile::tempdir().unwrap();
        let extra = vec![(kind.to_owned(), name.to_owned(), b"x".to_vec())];
        write_repodata(dir.path(), &records, &extra, &opts(Compression::Gzip)).is_err()
    };
    assert!(bad("primary", "x.xml"));
    assert!(bad("a b", "x.xml"));
    assert!(bad("modules", "../x.yaml"));
    assert!(bad("modules", "m.yaml.xz"));
}

#[test]
fn render_repodata_is_what_write_repodata_writes() {
    let records = sample_records();
    let extra = vec![("modules".to_owned(), "modules.yaml".to_owned(), b"---\n".to_vec())];
    for compression in [Compression::Gzip, Compression::Zstd] {
        let rendered = render_repodata(&records, &extra, &opts(compression)).unwrap();
        let names: Vec<&str> = rendered.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(names.len(), 5);
        assert_eq!(names[4], "repodata/repomd.xml");
        let dir = tempfile::tempdir().unwrap();
        let repomd = write_repodata(dir.path(), &records, &extra, &opts(compression)).unwrap();
        assert_eq!(repomd.as_bytes(), rendered[4].1.as_slice());
        for (rel, bytes) in &rendered {
            assert_eq!(&fs::read(dir.path().join(rel)).unwrap(), bytes, "{rel}");
        }
        assert_eq!(fs::read_dir(dir.path().join("repodata")).unwrap().count(), 5);
    }
}

#[test]
fn compression_from_str() {
    for (s, want) in [
        ("gz", Compression::Gzip),
        ("gzip", Compression::Gzip),
        ("zstd", Compression::Zstd),
        ("zst", Compression::Zstd),
    ] {
        assert_eq!(s.parse::<Compression>().unwrap(), want);
    }
    assert_eq!("xz".parse::<Compression>().unwrap_err().to_string(), "\"xz\" is not gz or zstd");
}

// -----------------------------------------------------------------------
// Comparison with createrepo_c

/// Each package of a metadata document as `path attr="v"` lines (leaf
/// elements with ` = "text"`), keyed by package id (primary: the checksum).
struct Flat;

impl Flat {
    fn parse(doc: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut packages: Vec<Vec<String>> = Vec::new();
        for line in Self::parse_doc(doc) {
            if line.starts_with("package ") {
                packages.push(Vec::new());
            }
            if line.starts_with("package") {
                packages.last_mut().expect("text outside a package").push(line);
            }
        }
        for lines in packages {
            let key = lines
                .iter()
                .find_map(|l| {
                    l.strip_prefix("package/checksum ")
                        .and_then(|l| l.split(" = ").nth(1))
                        .or_else(|| l.split("pkgid=").nth(1).map(|s| s.split(' ').next().unwrap()))
                })
                .expect("package without id")
                .trim_matches('"')
                .to_owned();
            assert!(out.insert(key, lines).is_none(), "duplicate package");
        }
        out
    }

    /// Every element below the root as `path attr="v" ...`, leaf elements
    /// with their text as ` = "text"`.
    fn parse_doc(doc: &str) -> Vec<String> {
        let mut reader = quick_xml::Reader::from_str(doc);
        // (name, index of its line, has child elements)
        let mut stack: Vec<(String, usize, bool)> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let mut text = String::new();
        let line = |stack: &[(String, usize, bool)], e: &quick_xml::events::BytesStart| {
            let mut path: Vec<&str> = stack.iter().skip(1).map(|s| s.0.as_str()).collect();
            let name = e.name();
            path.push(name.as_ref());
            let mut line = path.join("/");
            for a in e.attributes() {
                let a = a.unwrap();
                let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap();
                let _ = write!(line, " {}={value:?}", a.key.as_ref());
            }
            line
        };
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => {
                    if let Some(parent) = stack.last_mut() {
                        parent.2 = true;
                    }
                    lines.push(line(&stack, &e));
                    stack.push((e.name().as_ref().to_owned(), lines.len() - 1, false));
                    text.clear();
                }
                Event::Empty(e) => {
                    if let Some(parent) = stack.last_mut() {
                        parent.2 = true;
                    }
                    lines.push(line(&stack, &e));
                }
                Event::Text(t) => text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0)),
                Event::GeneralRef(r) => match r.resolve_char_ref().unwrap() {
                    Some(c) => text.push(c),
                    None => text.push_str(quick_xml::escape::resolve_predefined_entity(&r).unwrap()),
                },
                Event::End(_) => {
                    let (_, index, has_children) = stack.pop().unwrap();
                    if !has_children {
                        let _ = write!(lines[index], " = {text:?}");
                    }
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        lines.retain(|l| !l.is_empty());
        lines
    }
}

/// A small line diff (LCS) for readable failures.
fn diff(want: &str, got: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        }
    }
    out
}

/// The package chunks of a document (`<package` .. `</package>`), sorted.
fn chunks(doc: &str) -> Vec<String> {
    let mut out: Vec<String> = doc
        .split("<package ")
        .skip(1)
        .map(|c| format!("<package {}", &c[..c.rfind("</package>").unwrap() + "</package>".len()]))
        .collect();
    out.sort();
    out
}

#[test]
fn matches_createrepo_c() {
    let repo = tempfile::tempdir().unwrap();
    builder_fixtures(repo.path());
    rpmbuild_fixtures(repo.path());
    let theirs = tempfile::tempdir().unwrap();
    for limit in [10usize, 1] {
        let out = Command::new(tool("createrepo_c"))
            .args(["--no-database", "--simple-md-filenames", "--general-compress-type=gz", "--quiet"])
            .arg(format!("--changelog-limit={limit}"))
            .arg("--outputdir")
            .arg(theirs.path())
            .arg(repo.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "createrepo_c: {}", String::from_utf8_lossy(&out.stderr));
        let records = scan_dir(repo.path()).unwrap();
        assert_eq!(records.len(), 6);
        let opts = RepodataOptions { changelog_limit: limit, ..opts(Compression::Gzip) };
        write_repodata(repo.path(), &records, &[], &opts).unwrap();

        let ours = read_repomd(repo.path());
        let theirs_md = read_repomd(theirs.path());
        let nevra: HashMap<&str, String> = records.iter().map(|r| (r.sha256.as_str(), r.nevra())).collect();
        let mut failures = String::new();
        for kind in ["primary", "filelists", "other"] {
            let doc = |root: &Path, href: &str| String::from_utf8(decompress(&root.join(href))).unwrap();
            let ours_doc = doc(repo.path(), &ours[kind].href);
            let theirs_doc = doc(theirs.path(), &theirs_md[kind].href);
            let (a, b) = (Flat::parse(&theirs_doc), Flat::parse(&ours_doc));
            assert_eq!(a.len(), 6, "{kind}: createrepo_c listed {} packages", a.len());
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (x, y) = (a.get(key).map(|v| v.join("\n")), b.get(key).map(|v| v.join("\n")));
                if x != y {
                    let _ = writeln!(
                        failures,
                        "{kind} (limit {limit}), package {} ({key}): - createrepo_c, + ours\n{}",
                        nevra.get(key.as_str()).map_or("?", String::as_str),
                        diff(&x.unwrap_or_default(), &y.unwrap_or_default())
                    );
                }
            }
            // Byte for byte, package by package, and the document frame.
            let (ca, cb) = (chunks(&theirs_doc), chunks(&ours_doc));
            if failures.is_empty() && ca != cb {
                let _ = writeln!(failures, "{kind}: bytes differ:\n{}", diff(&ca.join("\n"), &cb.join("\n")));
            }
            let frame = |d: &str| {
                (d[..d.find("<package ").unwrap()].to_owned(), d[d.rfind("</package>").unwrap()..].to_owned())
            };
            if frame(&theirs_doc) != frame(&ours_doc) {
                let _ = writeln!(
                    failures,
                    "{kind}: header/footer differ: {:?} vs {:?}",
                    frame(&theirs_doc),
                    frame(&ours_doc)
                );
            }
        }
        assert!(failures.is_empty(), "{failures}");
        // repomd.xml has the same layout (checksums and names differ).
        let layout = |root: &Path| -> Vec<String> {
            Flat::parse_doc(&fs::read_to_string(root.join("repodata/repomd.xml")).unwrap())
                .into_iter()
                .map(|l| l.split(" = ").next().unwrap().split(' ').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(layout(repo.path()), layout(theirs.path()));
    }
}

// -----------------------------------------------------------------------
// dnf reads the metadata

fn dnf(repo: &Path, arch: &str, args: &[&str]) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("dnf.conf");
    fs::write(
        &conf,
        format!("[main]\ngpgcheck=0\nskip_if_unavailable=False\ncachedir={}\n", work.path().join("cache").display()),
    )
    .unwrap();
    fs::create_dir_all(work.path().join("repos.d")).unwrap();
    let out = Command::new(tool("dnf"))
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .arg("--config")
        .arg(&conf)
        .arg(format!("--setopt=reposdir={}", work.path().join("repos.d").display()))
        .args(["--disableplugin=*", "-q", "--releasever", "1", "--forcearch", arch])
        .arg(format!("--repofrompath=t,{}", repo.display()))
        .args(["--repo=t", "--setopt=t.gpgcheck=0", "--setopt=t.skip_if_unavailable=False"])
        .arg("--installroot")
        .arg(work.path().join("root"))
        .arg("repoquery")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dnf repoquery {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn dnf_reads_our_metadata() {
    let repo = tempfile::tempdir().unwrap();
    builder_fixtures(repo.path());
    let records = scan_dir(repo.path()).unwrap();
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    for compression in [Compression::Gzip, Compression::Zstd] {
        write_repodata(repo.path(), &records, &[], &opts(compression)).unwrap();
        let q = |args: &[&str]| dnf(repo.path(), "x86_64", args);
        assert_eq!(
            q(&["--requires", "libfoo.x86_64"]),
            sorted(&[
                "(qux if quux)",
                "/bin/sh",
                "/sbin/ldconfig",
                "/usr/share/libfoo/data.txt",
                "bar >= 1:2.0-3",
                "baz < 5",
                "legacy-prereq",
                "libc.so.6(GLIBC_2.14)(64bit)",
                "shadow-utils",
                "systemd",
                "zlib",
            ]),
            "{compression:?}"
        );
        assert_eq!(
            q(&["--provides", "libfoo.x86_64"]),
            sorted(&[
                "config(libfoo) = 2:1.2.3-4.el9",
                "libfoo = 2:1.2.3-4.el9",
                "libfoo(x86-64) = 2:1.2.3-4.el9",
                "libfoo-abi = 1",
                "libfoo-compat = 3:4.5-6",
                "libfoo.so.1()(64bit)",
            ])
        );
        assert_eq!(q(&["--conflicts", "libfoo"]), ["oldfoo < 1.0"]);
        assert_eq!(q(&["--obsoletes", "libfoo"]), ["libfoo-legacy <= 1.1-1"]);
        assert_eq!(q(&["--recommends", "libfoo"]), sorted(&["foo-data >= 0.1", "legacy-weak"]));
        assert_eq!(q(&["--suggests", "libfoo"]), ["foo-doc"]);
        assert_eq!(q(&["--supplements", "libfoo"]), ["(libfoo and langpacks-de)"]);
        assert_eq!(q(&["--enhances", "libfoo"]), ["foo-data = 0.1-1"]);
        assert_eq!(
            q(&["--qf", "%{name}|%{arch}|%{location}", "--whatprovides", "libfoo.so.1()(64bit)"]),
            ["libfoo|x86_64|x86_64/libfoo-1.2.3-4.el9.x86_64.rpm"]
        );
        assert_eq!(
            dnf(
                repo.path(),
                "aarch64",
                &["--qf", "%{name}-%{epoch}:%{version}-%{release}.%{arch}", "--whatprovides", "libfoo.so.1()(64bit)"]
            ),
            ["libfoo-2:1.2.3-4.el9.aarch64"]
        );
        // File provides: from primary (/usr/bin) and from filelists.
        assert_eq!(q(&["--qf", "%{name}", "--whatprovides", "/usr/bin/foo-tool"]), ["libfoo"]);
        assert_eq!(q(&["--qf", "%{name}", "--whatprovides", ODD_FILE]), ["libfoo"]);
        let files = q(&["--list", "libfoo.x86_64"]);
        assert_eq!(files.len(), 15, "{files:?}");
        assert!(files.contains(&ODD_FILE.to_owned()) && files.contains(&"/var/log/foo.log".to_owned()));
        assert_eq!(
            q(&["--qf", "%{name}|%{summary}|%{url}|%{license}|%{vendor}|%{buildtime}|%{sourcerpm}", "libfoo.x86_64"]),
            [format!(
                "libfoo|{ODD_SUMMARY}|https://example.com/foo?a=1&b=2|MIT & BSD|Example <Corp>|2023-11-14 22:13|(none)"
            )]
        );
        assert_eq!(q(&["--qf", "%{name}", "--whatrequires", "libfoo.so.1()(64bit)"]), ["foo-cli"]);
        assert_eq!(q(&["--qf", "%{name}", "--requires", "--resolve", "foo-cli"]), sorted(&["foo-data", "libfoo"]));
    }
}
