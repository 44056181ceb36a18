//! The node config files in `repos/`: each names suites, components, repositories and key
//! files that exist in the tree, with signature checking on.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::Problem;
use crate::index::deb::Paragraph;

/// What a `.repo` file says.
#[derive(Debug, Default)]
pub(crate) struct YumRepo {
    /// The URL the tree is served at (before `/<id>/$releasever/...`).
    pub base: String,
    pub id: String,
    pub options: BTreeMap<String, String>,
    /// gpgkey URLs.
    pub keys: Vec<String>,
}

/// Parse a `.repo` file as osrepo emits it (one section).
pub(crate) fn parse_repo(text: &str) -> YumRepo {
    let mut r = YumRepo::default();
    let mut last = String::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('[') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if last == "gpgkey" {
                r.keys.extend(line.split_whitespace().map(str::to_string));
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        last = k.trim().to_string();
        if last == "gpgkey" {
            r.keys.extend(v.split_whitespace().map(str::to_string));
        }
        r.options.insert(last.clone(), v.trim().to_string());
    }
    let baseurl = r.options.get("baseurl").cloned().unwrap_or_default();
    if let Some(i) = baseurl.find("/$releasever/") {
        let (base, id) = baseurl[..i].rsplit_once('/').unwrap_or(("", &baseurl[..i]));
        r.base = base.to_string();
        r.id = id.to_string();
    }
    r
}

/// The tree path of a URL below `base` (`keys/osrepo.asc`), if it is below it.
fn below<'a>(base: &str, url: &'a str) -> Option<&'a str> {
    url.strip_prefix(base)?.strip_prefix('/')
}

/// The upstream package keys each rpm distro id's node config names: id -> (tree path, bytes).
pub(super) fn rpm_package_keys(out: &Path) -> BTreeMap<String, Vec<(String, Vec<u8>)>> {
    let mut m: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (name, family) in super::distros_in(out).unwrap_or_default() {
        if family != crate::config::Family::Rpm {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(out.join(format!("repos/{name}.repo"))) else { continue };
        let repo = parse_repo(&text);
        for k in &repo.keys {
            let Some(rel) = below(&repo.base, k) else { continue };
            if rel == "keys/osrepo.asc" {
                continue;
            }
            if let Ok(bytes) = std::fs::read(out.join(rel)) {
                m.entry(repo.id.clone()).or_default().push((rel.to_string(), bytes));
            }
        }
    }
    m
}

/// The base URL a distro's node config uses (to be rewritten to the mount on a node).
pub(crate) fn base_url(out: &Path, name: &str, family: crate::config::Family) -> Result<String> {
    use anyhow::Context;
    match family {
        crate::config::Family::Deb => {
            let p = out.join(format!("repos/{name}.sources"));
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let para = Paragraph::parse(&text).with_context(|| p.display().to_string())?;
            let uri = para.get("URIs").with_context(|| format!("{}: no URIs", p.display()))?;
            Ok(uri.trim_end_matches('/').rsplit_once('/').map(|x| x.0).unwrap_or(uri).to_string())
        }
        crate::config::Family::Rpm => {
            let p = out.join(format!("repos/{name}.repo"));
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(parse_repo(&text).base)
        }
    }
}

/// Check every file in `repos/`.
pub(super) fn check(out: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (name, family) in super::distros_in(out)? {
        match family {
            crate::config::Family::Deb => {
                check_sources(out, &name, &mut problems);
                check_list(out, &name, &mut problems);
            }
            crate::config::Family::Rpm => check_repo(out, &name, &mut problems),
        }
    }
    Ok(problems)
}

/// An apt source (from `.sources` or `.list`) names a dist, components and a key that exist.
fn check_apt_source(
    out: &Path,
    rel: &str,
    uri: &str,
    suites: &[&str],
    comps: &[&str],
    key: Option<&str>,
) -> Vec<Problem> {
    let mut v = Vec::new();
    let id = uri.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    for suite in suites {
        let release = format!("{id}/dists/{suite}/Release");
        let Ok(text) = std::fs::read_to_string(out.join(&release)) else {
            v.push(Problem::new(rel, format!("suite {suite}: {release} does not exist")));
            continue;
        };
        let have = text.lines().find_map(|l| l.strip_prefix("Components:")).unwrap_or_default();
        for c in comps {
            if !have.split_whitespace().any(|h| h == *c) {
                v.push(Problem::new(
                    rel,
                    format!("component {c} is not one of {release}'s Components ({})", have.trim()),
                ));
            }
        }
    }
    match key {
        None => v.push(Problem::new(rel, "names no signed-by key")),
        Some(k) if k != crate::emit::NODE_KEYRING => {
            v.push(Problem::new(rel, format!("signed-by {k}, not {}", crate::emit::NODE_KEYRING)))
        }
        Some(_) if !out.join("keys/osrepo.gpg").is_file() => {
            v.push(Problem::new(rel, "signed-by the osrepo keyring, but keys/osrepo.gpg does not exist"))
        }
        Some(_) => {}
    }
    v
}

fn check_sources(out: &Path, name: &str, problems: &mut Vec<Problem>) {
    let rel = format!("repos/{name}.sources");
    let text = std::fs::read_to_string(out.join(&rel)).unwrap_or_default();
    let para = match Paragraph::parse(&text) {
        Ok(p) => p,
        Err(e) => return problems.push(Problem::new(&rel, format!("{e:#}"))),
    };
    let words = |f: &str| para.get(f).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    if para.get("Trusted").is_some_and(|t| t.eq_ignore_ascii_case("yes")) {
        problems.push(Problem::new(&rel, "Trusted: yes turns signature checking off"));
    }
    let Some(uri) = para.get("URIs") else { return problems.push(Problem::new(&rel, "no URIs")) };
    problems.extend(check_apt_source(out, &rel, uri, &words("Suites"), &words("Components"), para.get("Signed-By")));
}

fn check_list(out: &Path, name: &str, problems: &mut Vec<Problem>) {
    let rel = format!("repos/{name}.list");
    let Ok(text) = std::fs::read_to_string(out.join(&rel)) else {
        return problems.push(Problem::new(&rel, "missing (the .sources file has it)"));
    };
    for line in text.lines().filter(|l| l.starts_with("deb ")) {
        let (opts, rest) = match line[4..].trim().strip_prefix('[') {
            Some(r) => r.split_once(']').unwrap_or((r, "")),
            None => ("", line[4..].trim()),
        };
        if opts.contains("trusted=yes") {
            problems.push(Problem::new(&rel, "trusted=yes turns signature checking off"));
        }
        let key = opts.split_whitespace().find_map(|o| o.strip_prefix("signed-by="));
        let cols: Vec<&str> = rest.split_whitespace().collect();
        if cols.len() < 3 {
            problems.push(Problem::new(&rel, format!("malformed line {line:?}")));
            continue;
        }
        problems.extend(check_apt_source(out, &rel, cols[0], &cols[1..2], &cols[2..], key));
    }
}

fn check_repo(out: &Path, name: &str, problems: &mut Vec<Problem>) {
    let rel = format!("repos/{name}.repo");
    let repo = parse_repo(&std::fs::read_to_string(out.join(&rel)).unwrap_or_default());
    for opt in ["gpgcheck", "repo_gpgcheck"] {
        if repo.options.get(opt).map(String::as_str) != Some("1") {
            problems.push(Problem::new(&rel, format!("{opt} is not 1")));
        }
    }
    if repo.id.is_empty() {
        return problems.push(Problem::new(&rel, "baseurl is not <base>/<id>/$releasever/os/$basearch/"));
    }
    let found = std::fs::read_dir(out.join(&repo.id)).into_iter().flatten().flatten().any(|rel_dir| {
        std::fs::read_dir(rel_dir.path().join("os"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|a| a.path().join("repodata/repomd.xml").is_file())
    });
    if !found {
        problems.push(Problem::new(&rel, format!("baseurl names {}/, which holds no repodata/repomd.xml", repo.id)));
    }
    if !repo.keys.iter().any(|k| below(&repo.base, k) == Some("keys/osrepo.asc")) {
        problems.push(Problem::new(&rel, "gpgkey does not name keys/osrepo.asc (repomd.xml.asc cannot be checked)"));
    }
    for k in &repo.keys {
        match below(&repo.base, k) {
            Some(path) if out.join(path).is_file() => {}
            Some(path) => problems.push(Problem::new(&rel, format!("gpgkey {path} does not exist in the tree"))),
            None => problems
                .push(Problem::new(&rel, format!("gpgkey {k} is not in the tree (a node offline cannot get it)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_file_gives_base_id_and_keys() {
        let r = parse_repo(
            "# osrepo: rocky9\n[osrepo-rocky9]\nbaseurl=http://h:8080/rocky/$releasever/os/$basearch/\ngpgcheck=1\n\
             repo_gpgcheck=1\ngpgkey=http://h:8080/keys/osrepo.asc\n       http://h:8080/keys/rocky9/RPM-GPG-KEY-Rocky-9\n",
        );
        assert_eq!((r.base.as_str(), r.id.as_str()), ("http://h:8080", "rocky"));
        assert_eq!(r.keys, ["http://h:8080/keys/osrepo.asc", "http://h:8080/keys/rocky9/RPM-GPG-KEY-Rocky-9"]);
        assert_eq!(below(&r.base, &r.keys[1]), Some("keys/rocky9/RPM-GPG-KEY-Rocky-9"));
        assert_eq!(r.options["repo_gpgcheck"], "1");
    }
}
