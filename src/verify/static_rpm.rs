//! Static checks of yum repos: `repomd.xml.asc` with `keys/osrepo.asc`, every data file
//! against repomd.xml, every package against primary.xml, each package's own signature
//! with the upstream keys the node's `.repo` file names (what `rpm -K` says on the node).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::Digest;

use super::{read_rel, tree_key, Problem, Repo, StaticReport};
use crate::config::Family;
use crate::resolve::Checksum;

/// One `<data>` of a repomd.xml.
#[derive(Debug, Default, PartialEq)]
pub(super) struct RepomdData {
    pub kind: String,
    pub href: String,
    pub checksum: String,
    pub open_checksum: Option<String>,
    pub size: Option<u64>,
}

/// The text between `<tag ...>` and `</tag>` in `s`.
fn element<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let start = s.find(&format!("<{tag}"))?;
    let rest = &s[start..];
    let open_end = rest.find('>')?;
    let body = &rest[open_end + 1..];
    Some(&body[..body.find(&format!("</{tag}>"))?])
}

/// The `<data>` entries of a repomd.xml (sha256 checksums, as osrepo writes them).
pub(super) fn parse_repomd(xml: &str) -> Vec<RepomdData> {
    let mut v = Vec::new();
    for chunk in xml.split("<data type=\"").skip(1) {
        let chunk = chunk.split("</data>").next().unwrap_or_default();
        let kind = chunk.split('"').next().unwrap_or_default().to_string();
        let href = chunk.split("href=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_default().to_string();
        v.push(RepomdData {
            kind,
            href,
            checksum: element(chunk, "checksum").unwrap_or_default().trim().to_ascii_lowercase(),
            open_checksum: element(chunk, "open-checksum").map(|s| s.trim().to_ascii_lowercase()),
            size: element(chunk, "size").and_then(|s| s.trim().parse().ok()),
        });
    }
    v
}

/// Check every `<...>/repodata/repomd.xml` of the tree.
pub(super) fn check(out: &Path, files: &[(String, PathBuf)]) -> Result<StaticReport> {
    let mut r = StaticReport::default();
    let repos: Vec<String> =
        files.iter().filter_map(|(rel, _)| rel.strip_suffix("/repodata/repomd.xml").map(str::to_string)).collect();
    if repos.is_empty() {
        return Ok(r);
    }
    let key = tree_key(out, crate::sign::PUBLIC_ARMORED_FILE);
    if let Err(p) = &key {
        r.problems.push(p.clone());
    }
    let pkg_keys = super::nodecfg::rpm_package_keys(out);
    for repo in &repos {
        r.repos.push(Repo { path: repo.clone(), family: Family::Rpm });
        let Ok(xml) = read_rel(out, &format!("{repo}/repodata/repomd.xml")) else { continue };
        if let Ok(k) = &key {
            check_repomd_signature(out, repo, &xml, k, &mut r.problems);
        }
        let data = parse_repomd(&String::from_utf8_lossy(&xml));
        check_data_files(out, repo, &data, files, &mut r.problems);
        let id = repo.split('/').next().unwrap_or_default();
        let keys = pkg_keys.get(id).cloned().unwrap_or_default();
        r.files_checked += check_packages(out, repo, &data, files, &keys, &mut r.problems);
    }
    Ok(r)
}

fn check_repomd_signature(
    out: &Path,
    repo: &str,
    xml: &[u8],
    key: &crate::sign::PublicKeys,
    problems: &mut Vec<Problem>,
) {
    let asc = format!("{repo}/repodata/repomd.xml.asc");
    match read_rel(out, &asc) {
        Err(p) => problems.push(p),
        Ok(sig) => {
            if let Err(e) = key.verify_detached(xml, &String::from_utf8_lossy(&sig)) {
                problems.push(Problem::new(asc, format!("does not verify repomd.xml with keys/osrepo.asc: {e:#}")));
            }
        }
    }
}

/// Each data file matches its size, checksum and open-checksum; no stray file in repodata/.
fn check_data_files(
    out: &Path,
    repo: &str,
    data: &[RepomdData],
    files: &[(String, PathBuf)],
    problems: &mut Vec<Problem>,
) {
    let repomd = format!("{repo}/repodata/repomd.xml");
    if !data.iter().any(|d| d.kind == "primary") {
        problems.push(Problem::new(&repomd, "has no primary data"));
    }
    let mut named = BTreeSet::new();
    for d in data {
        let rel = format!("{repo}/{}", d.href);
        named.insert(rel.clone());
        let bytes = match read_rel(out, &rel) {
            Ok(b) => b,
            Err(_) => {
                problems.push(Problem::new(&rel, format!("missing, but {repomd} lists it as {}", d.kind)));
                continue;
            }
        };
        let got = hex::encode(sha2::Sha256::digest(&bytes));
        if d.size.is_some_and(|s| s != bytes.len() as u64) {
            problems.push(Problem::new(&rel, format!("size {} but {repomd} says {}", bytes.len(), d.size.unwrap())));
        } else if got != d.checksum {
            problems.push(Problem::new(&rel, format!("sha256 {got} but {repomd} says {}", d.checksum)));
        } else if let Some(open) = &d.open_checksum {
            let plain = crate::index::decompress(&d.href, &bytes).unwrap_or_default();
            let got = hex::encode(sha2::Sha256::digest(&plain));
            if &got != open {
                problems.push(Problem::new(&rel, format!("uncompressed sha256 {got} but {repomd} says {open}")));
            }
        }
    }
    for (rel, _) in files.iter().filter(|(r, _)| r.starts_with(&format!("{repo}/repodata/"))) {
        if !named.contains(rel) && !rel.ends_with("/repomd.xml") && !rel.ends_with("/repomd.xml.asc") {
            problems.push(Problem::new(rel, format!("in repodata/ but {repomd} does not list it")));
        }
    }
}

/// Each package of primary.xml exists with its size and checksum and carries a valid
/// signature by one of `keys`; every .rpm of the repo is listed. Returns files hashed.
fn check_packages(
    out: &Path,
    repo: &str,
    data: &[RepomdData],
    files: &[(String, PathBuf)],
    keys: &[(String, Vec<u8>)],
    problems: &mut Vec<Problem>,
) -> usize {
    let Some(primary) = data.iter().find(|d| d.kind == "primary") else { return 0 };
    let prel = format!("{repo}/{}", primary.href);
    let Ok(bytes) = std::fs::read(out.join(&prel)) else { return 0 };
    let packages = match crate::index::decompress(&prel, &bytes)
        .map_err(|e| format!("{e:#}"))
        .and_then(|x| crate::index::rpm::read_primary(&String::from_utf8_lossy(&x)).map_err(|e| format!("{e:#}")))
    {
        Ok(p) => p,
        Err(e) => {
            problems.push(Problem::new(&prel, format!("cannot be read: {e}")));
            return 0;
        }
    };
    let present: BTreeMap<&str, &PathBuf> = files.iter().map(|(r, p)| (r.as_str(), p)).collect();
    let mut listed = BTreeSet::new();
    let mut to_hash: Vec<(String, PathBuf, Checksum)> = Vec::new();
    for p in packages {
        let rel = format!("{repo}/{}", p.href);
        listed.insert(rel.clone());
        let Some(path) = present.get(rel.as_str()) else {
            problems.push(Problem::new(&rel, format!("missing, but {prel} lists it for {}", p.name)));
            continue;
        };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size != p.size {
            problems.push(Problem::new(&rel, format!("size {size} but {prel} says {}", p.size)));
            continue;
        }
        to_hash.push((rel, path.to_path_buf(), p.checksum));
    }
    let paths: Vec<PathBuf> = to_hash.iter().map(|x| x.1.clone()).collect();
    let hashes = hash_all(&to_hash, &paths);
    for ((rel, path, want), got) in to_hash.iter().zip(hashes) {
        match got {
            Err(e) => problems.push(Problem::new(rel, format!("{e:#}"))),
            Ok(got) if got != want.hex() => {
                problems.push(Problem::new(rel, format!("checksum {got} but {prel} says {}", want.hex())))
            }
            Ok(_) => {
                if let Err(e) = crate::sign::verify_rpm(path, keys) {
                    let names: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
                    problems.push(Problem::new(
                        rel,
                        format!("package signature does not verify with [{}]: {e:#}", names.join(", ")),
                    ));
                }
            }
        }
    }
    for (rel, _) in files.iter().filter(|(r, _)| r.starts_with(&format!("{repo}/")) && r.ends_with(".rpm")) {
        if !listed.contains(rel) {
            problems.push(Problem::new(rel, format!("in the repo but {prel} does not list it")));
        }
    }
    paths.len()
}

/// Hash each file with its checksum's algorithm (sha256 on every core).
fn hash_all(items: &[(String, PathBuf, Checksum)], paths: &[PathBuf]) -> Vec<Result<String>> {
    if items.iter().all(|x| matches!(x.2, Checksum::Sha256(_))) {
        return crate::hashing::sha256_files(paths);
    }
    items
        .iter()
        .map(|(_, p, c)| match c {
            Checksum::Sha256(_) => crate::fsutil::sha256_file(p),
            Checksum::Sha512(_) => crate::fsutil::hash_file::<sha2::Sha512>(p),
            Checksum::Md5(_) => crate::fsutil::hash_file::<md5::Md5>(p),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_entries_are_read() {
        let x = "<repomd>\n  <data type=\"primary\">\n    <checksum type=\"sha256\">AB</checksum>\n    \
                 <open-checksum type=\"sha256\">cd</open-checksum>\n    <location href=\"repodata/p.xml.gz\"/>\n    \
                 <size>12</size>\n  </data>\n  <data type=\"filelists\">\n    <checksum type=\"sha256\">ef</checksum>\n    \
                 <location href=\"repodata/f.xml.gz\"/>\n  </data>\n</repomd>\n";
        let d = parse_repomd(x);
        assert_eq!(
            d[0],
            RepomdData {
                kind: "primary".into(),
                href: "repodata/p.xml.gz".into(),
                checksum: "ab".into(),
                open_checksum: Some("cd".into()),
                size: Some(12)
            }
        );
        assert_eq!((d[1].kind.as_str(), d[1].size, d[1].open_checksum.as_deref()), ("filelists", None, None));
    }
}
