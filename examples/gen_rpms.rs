//! Generate N fixture RPMs for benchmarks: `cargo run --release --example gen_rpms -- DIR N`.
//! Each package has a few files (one under /usr/bin, one under /etc), dependencies of every
//! kind and a changelog, and a payload of a few KiB, like small real packages.

use rpm::{Dependency, FileOptions, PackageBuilder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, n) = match args.as_slice() {
        [_, dir, n] => (std::path::PathBuf::from(dir), n.parse::<usize>().expect("N must be a number")),
        _ => {
            eprintln!("usage: gen_rpms DIR N");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(&dir).expect("create DIR");
    for i in 0..n {
        let name = format!("bench-pkg-{i:05}");
        let arch = if i % 3 == 0 { "noarch" } else { "x86_64" };
        let mut b =
            PackageBuilder::new(&name, &format!("1.{}", i % 17), "MIT", arch, &format!("benchmark package {i}"));
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
