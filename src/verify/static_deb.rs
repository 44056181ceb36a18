//! Static checks of apt dists: signatures with `keys/osrepo.gpg`, index files against
//! `Release`, pool files against `Packages`, no unreferenced pool file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{read_rel, tree_key, Problem, Repo, StaticReport};
use crate::config::Family;
use crate::index::deb::Paragraph;

/// One pool file a Packages entry names.
struct Wanted {
    /// Packages file that lists it.
    index: String,
    package: String,
    size: Option<u64>,
    sha256: Option<String>,
}

/// Check every `<id>/dists/<codename>/` of the tree and every `<id>/pool/`.
pub(super) fn check(out: &Path, files: &[(String, PathBuf)]) -> Result<StaticReport> {
    let mut r = StaticReport::default();
    let dists: BTreeSet<String> = files
        .iter()
        .filter_map(|(rel, _)| {
            let p: Vec<&str> = rel.split('/').collect();
            (p.len() >= 4 && p[1] == "dists").then(|| p[..3].join("/"))
        })
        .collect();
    if dists.is_empty() {
        return Ok(r);
    }
    let key = tree_key(out, crate::sign::PUBLIC_BINARY_FILE);
    // pool file (relative to the tree) -> the entries naming it
    let mut wanted: BTreeMap<String, Vec<Wanted>> = BTreeMap::new();
    for dist in &dists {
        r.repos.push(Repo { path: dist.clone(), family: Family::Deb });
        let release = match &key {
            Ok(k) => check_signatures(out, dist, k, &mut r.problems),
            Err(p) => {
                r.problems.push(p.clone());
                read_rel(out, &format!("{dist}/Release")).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
            }
        };
        let Some(release) = release else { continue };
        let listed = check_release_files(out, dist, &release, files, &mut r.problems);
        for index in listed.iter().filter(|p| p.ends_with("/Packages")) {
            read_packages(out, dist, index, &mut wanted, &mut r.problems);
        }
    }
    r.files_checked = check_pool(files, &wanted, &mut r.problems);
    Ok(r)
}

/// Verify `InRelease` and `Release.gpg`; both must sign the same `Release`. Returns the
/// text of `Release` (None when it cannot be read).
fn check_signatures(
    out: &Path,
    dist: &str,
    key: &crate::sign::PublicKeys,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let keyname = format!("keys/{}", crate::sign::PUBLIC_BINARY_FILE);
    let release = match read_rel(out, &format!("{dist}/Release")) {
        Ok(b) => b,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let inrelease = format!("{dist}/InRelease");
    match read_rel(out, &inrelease).map(|b| String::from_utf8_lossy(&b).into_owned()) {
        Err(p) => problems.push(p),
        Ok(text) => match key.verify_cleartext(&text) {
            Err(e) => problems.push(Problem::new(&inrelease, format!("does not verify with {keyname}: {e:#}"))),
            Ok(signed) => {
                if signed != crate::sign::cleartext_of(&String::from_utf8_lossy(&release)) {
                    problems.push(Problem::new(&inrelease, format!("signs a text that differs from {dist}/Release")));
                }
            }
        },
    }
    let gpg = format!("{dist}/Release.gpg");
    match read_rel(out, &gpg).map(|b| String::from_utf8_lossy(&b).into_owned()) {
        Err(p) => problems.push(p),
        Ok(sig) => {
            if let Err(e) = key.verify_detached(&release, &sig) {
                problems.push(Problem::new(&gpg, format!("does not verify {dist}/Release with {keyname}: {e:#}")));
            }
        }
    }
    Some(String::from_utf8_lossy(&release).into_owned())
}

/// The `SHA256:` lines of a Release: path -> (size, digest).
fn release_sha256(release: &str) -> BTreeMap<String, (u64, String)> {
    let mut m = BTreeMap::new();
    let mut in_section = false;
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_section = line.trim_end() == "SHA256:";
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if in_section && cols.len() == 3 {
            if let Ok(size) = cols[1].parse() {
                m.insert(cols[2].to_string(), (size, cols[0].to_ascii_lowercase()));
            }
        }
    }
    m
}

/// Every file Release lists exists with its size and SHA256, and every index file of
/// the dist is listed. Returns the listed paths (relative to the tree) that exist.
fn check_release_files(
    out: &Path,
    dist: &str,
    release: &str,
    files: &[(String, PathBuf)],
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let listed = release_sha256(release);
    let rel_release = format!("{dist}/Release");
    if listed.is_empty() {
        problems.push(Problem::new(&rel_release, "lists no SHA256 index files"));
    }
    let mut good = Vec::new();
    for (path, (size, digest)) in &listed {
        let rel = format!("{dist}/{path}");
        let data = match read_rel(out, &rel) {
            Ok(d) => d,
            Err(_) => {
                problems.push(Problem::new(&rel, format!("listed in {rel_release} but missing")));
                continue;
            }
        };
        let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        if data.len() as u64 != *size {
            problems.push(Problem::new(&rel, format!("size {} but {rel_release} says {size}", data.len())));
        } else if &got != digest {
            problems.push(Problem::new(&rel, format!("SHA256 {got} but {rel_release} says {digest}")));
        }
        // Read on even when it differs, so that one stale index is one problem.
        good.push(rel);
    }
    let unsigned = ["Release", "InRelease", "Release.gpg"];
    for (rel, _) in files.iter().filter(|(r, _)| r.starts_with(&format!("{dist}/"))) {
        let inner = &rel[dist.len() + 1..];
        if !unsigned.contains(&inner) && !listed.contains_key(inner) {
            problems.push(Problem::new(rel, format!("not listed in {rel_release}")));
        }
    }
    check_compressed_copies(out, &good, problems);
    good
}

/// `Packages.gz` and `Packages.xz` hold the same text as `Packages`.
fn check_compressed_copies(out: &Path, listed: &[String], problems: &mut Vec<Problem>) {
    for plain in listed.iter().filter(|p| p.ends_with("/Packages")) {
        let Ok(text) = std::fs::read(out.join(plain)) else { continue };
        for ext in [".gz", ".xz"] {
            let rel = format!("{plain}{ext}");
            let Ok(data) = std::fs::read(out.join(&rel)) else { continue };
            match crate::index::decompress(&rel, &data) {
                Ok(d) if d == text => {}
                Ok(_) => problems.push(Problem::new(&rel, format!("does not hold the same text as {plain}"))),
                Err(e) => problems.push(Problem::new(&rel, format!("cannot decompress: {e:#}"))),
            }
        }
    }
}

/// Read a Packages file's entries into `wanted`, keyed by pool path.
fn read_packages(
    out: &Path,
    dist: &str,
    index: &str,
    wanted: &mut BTreeMap<String, Vec<Wanted>>,
    problems: &mut Vec<Problem>,
) {
    let id = dist.split('/').next().unwrap_or_default();
    let text = match read_rel(out, index) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(p) => return problems.push(p),
    };
    for (n, stanza) in text.split("\n\n").filter(|s| !s.trim().is_empty()).enumerate() {
        let para = match Paragraph::parse(stanza) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem::new(index, format!("entry {}: {e:#}", n + 1)));
                continue;
            }
        };
        let package = para.get("Package").unwrap_or("?").to_string();
        let Some(filename) = para.get("Filename") else {
            problems.push(Problem::new(index, format!("{package}: no Filename")));
            continue;
        };
        if filename.split('/').any(|c| c == ".." || c.is_empty()) {
            problems.push(Problem::new(index, format!("{package}: Filename {filename:?} leaves the tree")));
            continue;
        }
        wanted.entry(format!("{id}/{filename}")).or_default().push(Wanted {
            index: index.to_string(),
            package,
            size: para.get("Size").and_then(|s| s.parse().ok()),
            sha256: para.get("SHA256").map(str::to_ascii_lowercase),
        });
    }
}

/// Each wanted pool file exists with its Size and SHA256; every pool file is wanted.
/// Returns how many files were hashed.
fn check_pool(
    files: &[(String, PathBuf)],
    wanted: &BTreeMap<String, Vec<Wanted>>,
    problems: &mut Vec<Problem>,
) -> usize {
    let present: BTreeMap<&str, &PathBuf> = files.iter().map(|(r, p)| (r.as_str(), p)).collect();
    let mut to_hash = Vec::new();
    for (rel, entries) in wanted {
        let Some(path) = present.get(rel.as_str()) else {
            for w in entries {
                problems.push(Problem::new(rel, format!("missing, but {} lists it for {}", w.index, w.package)));
            }
            continue;
        };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        for w in entries {
            match w.size {
                Some(s) if s != size => {
                    problems.push(Problem::new(rel, format!("size {size} but {} says {s} ({})", w.index, w.package)))
                }
                None => problems.push(Problem::new(&w.index, format!("{}: no Size", w.package))),
                _ => {}
            }
        }
        to_hash.push((rel, path.to_path_buf()));
    }
    let paths: Vec<PathBuf> = to_hash.iter().map(|(_, p)| p.clone()).collect();
    for ((rel, _), got) in to_hash.iter().zip(crate::hashing::sha256_files(&paths)) {
        let got = match got {
            Ok(h) => h,
            Err(e) => {
                problems.push(Problem::new(*rel, format!("{e:#}")));
                continue;
            }
        };
        for w in &wanted[*rel] {
            match &w.sha256 {
                Some(h) if *h != got => {
                    problems.push(Problem::new(*rel, format!("SHA256 {got} but {} says {h} ({})", w.index, w.package)))
                }
                None => problems.push(Problem::new(&w.index, format!("{}: no SHA256", w.package))),
                _ => {}
            }
        }
    }
    for (rel, _) in files {
        let p: Vec<&str> = rel.split('/').collect();
        let in_pool = p.len() > 2 && p[1] == "pool" && present.contains_key(rel.as_str());
        if in_pool && !wanted.contains_key(rel) && !rel.split('/').any(|c| c.starts_with('.')) {
            problems.push(Problem::new(rel, "in the pool but no Packages file references it"));
        }
    }
    paths.len()
}
