//! A bounded mutation loop over the package readers (issue 9 item 4): a few thousand mutated
//! copies of a real .rpm and a real .deb, each indexed the way a build indexes a cached file.
//! Every one must give a record or an error: no panic reaches the caller and nothing
//! aborts. The loop runs in a child process (this test binary, run again on the ignored
//! `mutation_child`), so an allocation abort fails the parent instead of killing it.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rpm::{BuildConfig, CompressionType, Dependency, FileOptions, PackageBuilder};

/// Mutated copies per format.
const ROUNDS: usize = 5000;
const CHILD_ENV: &str = "OSREPO_MUTATION_CHILD";

/// xorshift64*: deterministic, so a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixture_rpm(path: &Path) {
    let cfg = BuildConfig::v4().compression(CompressionType::Gzip).source_date(1_700_000_000);
    let mut b = PackageBuilder::new("mutant", "1.0", "MIT", "x86_64", "a package to mutate");
    b.using_config(cfg)
        .release("1.el9")
        .description("mutated in a loop")
        .requires(Dependency::greater_eq("bar", "1:2.0-3"))
        .provides(Dependency::eq("mutant-abi", "1"));
    b.with_file_contents("x = 1\n", FileOptions::new("/etc/mutant.conf").config()).unwrap();
    b.with_file_contents("#!/bin/sh\n", FileOptions::new("/usr/bin/mutant").permissions(0o755)).unwrap();
    b.add_changelog_entry("Jane <j@example.com> - 1.0-1", "- first", 1_700_000_000);
    b.build().unwrap().write_file(path).unwrap();
}

/// One ar member.
fn ar_member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, 100644, data.len()).as_bytes());
    out.extend(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut t = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, *data).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap()
}

fn fixture_deb(path: &Path) {
    let control = b"Package: mutant\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: J <j@example.com>\n\
Depends: libc6 (>= 2.34)\nDescription: a package to mutate\n mutated in a loop\n";
    let mut ar = b"!<arch>\n".to_vec();
    ar_member(&mut ar, "debian-binary", b"2.0\n");
    ar_member(&mut ar, "control.tar.gz", &tar_gz(&[("./control", control)]));
    ar_member(&mut ar, "data.tar.gz", &tar_gz(&[("./usr/bin/mutant", b"#!/bin/sh\n")]));
    std::fs::write(path, ar).unwrap();
}

/// Values that break length fields: zero, one, sign bit, all ones, just past rpm's limits.
const NASTY: [u32; 8] = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x0001_0000, 0x1000_0000, 0x8000_0000, 0xffff];

/// One mutated copy: 1 to 4 edits (a byte, a nasty u32, a truncation), mostly in the first
/// 4 KB where the headers are; `fields` are offsets of known length fields to hit often.
fn mutate(orig: &[u8], fields: &[usize], rng: &mut Rng) -> Vec<u8> {
    let mut b = orig.to_vec();
    for _ in 0..1 + rng.below(4) {
        let span = if rng.below(4) == 0 { b.len() } else { b.len().min(4096) };
        match rng.below(5) {
            0 => {
                let i = rng.below(span);
                b[i] ^= 1 << rng.below(8);
            }
            1 | 2 => {
                let at = if rng.below(2) == 0 { fields[rng.below(fields.len())] } else { rng.below(span) };
                let v = NASTY[rng.below(NASTY.len())].to_be_bytes();
                for (k, byte) in v.iter().enumerate() {
                    if let Some(x) = b.get_mut(at + k) {
                        *x = *byte;
                    }
                }
            }
            3 => b[rng.below(span)] = rng.next() as u8,
            _ => b.truncate(rng.below(b.len()).max(1)),
        }
    }
    b
}

/// Offsets of the rpm's header length fields and its first index entries' offset/count.
fn rpm_fields(b: &[u8]) -> Vec<usize> {
    let be = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let sig = 96;
    let sig_end = sig + 16 + 16 * be(sig + 8) + be(sig + 12);
    let main = sig_end.div_ceil(8) * 8;
    let mut v = vec![sig + 8, sig + 12, main + 8, main + 12];
    for h in [sig, main] {
        for e in 0..6 {
            v.extend([h + 16 + 16 * e + 8, h + 16 + 16 * e + 12]);
        }
    }
    v
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Index `rounds` mutations of `orig` with `read`; returns (ok, errors, escaped panics).
fn run_loop(dir: &Path, name: &str, orig: &[u8], fields: &[usize], read: fn(&Path, &str) -> bool) -> [usize; 3] {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ orig.len() as u64);
    let mut counts = [0; 3];
    for _ in 0..ROUNDS {
        let data = mutate(orig, fields, &mut rng);
        std::fs::File::create(dir.join(name)).unwrap().write_all(&data).unwrap();
        match std::panic::catch_unwind(|| read(dir, name)) {
            Ok(true) => counts[0] += 1,
            Ok(false) => counts[1] += 1,
            Err(_) => counts[2] += 1,
        }
    }
    counts
}

/// The loop itself; only run as the parent's child process.
#[test]
#[ignore = "run by mutation_loop_has_no_panics_or_aborts in a child process"]
fn mutation_child() {
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::Relaxed);
    }));
    let d = tempfile::tempdir().unwrap();
    fixture_rpm(&d.path().join("orig.rpm"));
    fixture_deb(&d.path().join("orig.deb"));
    let rpm = std::fs::read(d.path().join("orig.rpm")).unwrap();
    let deb = std::fs::read(d.path().join("orig.deb")).unwrap();
    assert!(super::rpm::RpmRecord::from_file(d.path(), "orig.rpm").is_ok());
    assert!(super::deb::DebRecord::read(d.path(), "orig.deb", super::deb::DebHashes::all(), None).is_ok());
    let r = run_loop(d.path(), "m.rpm", &rpm, &rpm_fields(&rpm), |d, n| super::rpm::RpmRecord::from_file(d, n).is_ok());
    let deb_fields: Vec<usize> = (0..deb.len().min(400)).step_by(4).collect();
    let b = run_loop(d.path(), "m.deb", &deb, &deb_fields, |d, n| {
        super::deb::DebRecord::read(d, n, super::deb::DebHashes::all(), None).is_ok()
    });
    let caught = PANICS.load(Ordering::Relaxed);
    println!(
        "MUTATION rpm ok={} err={} escaped={} deb ok={} err={} escaped={} caught={caught}",
        r[0], r[1], r[2], b[0], b[1], b[2]
    );
}

#[test]
fn mutation_loop_has_no_panics_or_aborts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["index::mutate_tests::mutation_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the mutation loop died ({}):\n{stdout}\n{stderr}", out.status);
    let line = stdout.lines().find_map(|l| Some(&l[l.find("MUTATION ")?..]));
    let line = line.unwrap_or_else(|| panic!("no result:\n{stdout}"));
    eprintln!("{line}");
    assert!(line.contains("rpm ok=") && line.matches(" escaped=0").count() == 2, "{line}");
}

#[test]
fn huge_counts_and_foreign_files_are_named_errors() {
    let d = tempfile::tempdir().unwrap();
    fixture_rpm(&d.path().join("orig.rpm"));
    let orig = std::fs::read(d.path().join("orig.rpm")).unwrap();
    let f = rpm_fields(&orig);
    // The cases: a tag count of 0x7fffffff (a panic) and 0xffffffff (an abort).
    for (at, v) in [(f[2], 0x7fff_ffffu32), (f[2], 0xffff_ffff), (f[0], 0xffff_ffff), (f[5], 0x7fff_ffff)] {
        let mut b = orig.clone();
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        std::fs::write(d.path().join("m.rpm"), &b).unwrap();
        let e = format!("{:#}", super::rpm::RpmRecord::from_file(d.path(), "m.rpm").unwrap_err());
        assert!(e.contains("cannot index RPM") && e.contains("m.rpm") && e.contains("header"), "{e}");
    }
    std::fs::write(d.path().join("shadow.rpm"), format!("root:$6$secret:19000:0:99999:7:::\n{}", "x".repeat(200)))
        .unwrap();
    let e = format!("{:#}", super::rpm::RpmRecord::from_file(d.path(), "shadow.rpm").unwrap_err());
    assert!(e.contains("not an RPM file") && !e.contains("secret") && !e.contains("114"), "{e}");
}
