//! Generate N fixture RPMs for benchmarks:
//! `cargo run --release --example gen_rpms -- DIR N [PAYLOAD_KIB]`.
//! Each package has a few files (one under /usr/bin, one under /etc), dependencies of every
//! kind and a changelog, and a payload of a few KiB, like small real packages; with
//! PAYLOAD_KIB, one more file of that many KiB of incompressible bytes (zstd level 1
//! payload), so that N packages weigh what real ones do (2000 × 580 ≈ 1.2 GB).

use rpm::{BuildConfig, CompressionWithLevel, Dependency, FileOptions, PackageBuilder};

/// `kib` KiB of pseudo-random bytes (xorshift, seeded by the package number).
fn noise(seed: u64, kib: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..kib * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |s: &str, what: &str| s.parse::<usize>().unwrap_or_else(|_| panic!("{what} must be a number"));
    let (dir, n, kib) = match args.as_slice() {
        [_, dir, n] => (std::path::PathBuf::from(dir), number(n, "N"), 0),
        [_, dir, n, kib] => (std::path::PathBuf::from(dir), number(n, "N"), number(kib, "PAYLOAD_KIB")),
        _ => {
            eprintln!("usage: gen_rpms DIR N [PAYLOAD_KIB]");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    for i in 0..n {
        let name = format!("bench-pkg-{i:05}");
        let arch = if i % 3 == 0 { "noarch" } else { "x86_64" };
        let mut b =
            PackageBuilder::new(&name, &format!("1.{}", i % 17), "MIT", arch, &format!("benchmark package {i}"));
        if kib > 0 {
            b.using_config(BuildConfig::default().compression(CompressionWithLevel::Zstd(1)));
            let data = noise(i as u64 + 1, kib);
            b.with_file_contents(data, FileOptions::new(format!("/usr/share/{name}/blob.bin"))).unwrap();
        }
        b.release(format!("{}.el9", i % 5 + 1))
            .description(format!("Benchmark package number {i}.\nIt exists to be indexed."))
            .vendor("osrepo bench")
            .packager("osrepo <bench@localhost>")
            .url("https://example.invalid/bench");
        let payload: Vec<u8> = (0..4096u32).map(|x| (x.wrapping_mul(i as u32 + 7) % 251) as u8).collect();
        b.with_file_contents(payload.clone(), FileOptions::new(format!("/usr/bin/{name}"))).unwrap();
        b.with_file_contents(format!("key={i}\n"), FileOptions::new(format!("/etc/{name}.conf")).config()).unwrap();
        b.with_file_contents(payload, FileOptions::new(format!("/usr/share/{name}/data.bin"))).unwrap();
        b.provides(Dependency::any(format!("libbench{i}.so.1()(64bit)")));
        if i > 0 {
            b.requires(Dependency::greater_eq(format!("bench-pkg-{:05}", i - 1), "1.0"));
            b.recommends(Dependency::any(format!("libbench{}.so.1()(64bit)", i - 1)));
        }
        b.requires(Dependency::any("/bin/sh"));
        b.conflicts(Dependency::less(format!("bench-old-{i}"), "2"));
        for c in 0..3u32 {
            b.add_changelog_entry(
                format!("osrepo bench <bench@localhost> - 1.{c}"),
                format!("- change {c} of package {i}"),
                1_700_000_000 + c * 86_400,
            );
        }
        let p = b.build().expect("build rpm");
        p.write_file(dir.join(format!("{name}-1.{}-{}.el9.{arch}.rpm", i % 17, i % 5 + 1))).expect("write rpm");
    }
    println!("{n} packages in {}", dir.display());
}
