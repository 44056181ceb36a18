//! validate: the name grammars of `crate::names` applied to distro files at load, with the
//! file, line and column of the offending value.

use std::path::Path;

use anyhow::{bail, Result};

use super::distro::{Distro, ImageRef};
use crate::names::{self, Check};

/// `file:line:column` of the first place `needle` appears in `text` (the value as written),
/// or just the file when it does not appear literally (it came from elsewhere).
pub(crate) fn place(file: &Path, text: &str, needle: &str) -> String {
    if !needle.is_empty() {
        for (i, line) in text.lines().enumerate() {
            if let Some(col) = line.find(needle) {
                return format!("{}:{}:{}", file.display(), i + 1, col + 1);
            }
        }
    }
    file.display().to_string()
}

/// The result of one check, located in the file.
fn at(file: &Path, text: &str, value: &str, c: Check) -> Result<()> {
    match c {
        Ok(()) => Ok(()),
        Err(why) => bail!("{}: {why}", place(file, text, value)),
    }
}

/// The fields of a distro file that become paths or words (name, id, release, codename,
/// upstream names, the suites and components of its sources), before anything uses them.
pub(crate) fn distro_names(d: &Distro, text: &str) -> Result<()> {
    let f = d.file.as_path();
    at(f, text, &d.name, names::segment("name", &d.name))?;
    at(f, text, &d.id, names::segment("id", &d.id))?;
    at(f, text, &d.release, names::segment("release", &d.release))?;
    if let Some(c) = &d.codename {
        at(f, text, c, names::segment("codename", c))?;
    }
    for u in &d.upstreams {
        at(f, text, u, names::segment("upstream", u))?;
    }
    for s in &d.sources {
        for v in s.suites.iter().chain(&s.components) {
            at(f, text, v, names::segment("suite or component", v))?;
        }
    }
    for r in &d.repos {
        at(f, text, &r.name, names::segment("repo name", &r.name))?;
    }
    Ok(())
}

/// Every URL of a distro file (mirrors, repo base URLs and keys, extra repos) and the suites
/// and components of extra repos (after upstreams are added).
pub(crate) fn distro_urls(d: &Distro, text: &str) -> Result<()> {
    let f = d.file.as_path();
    let mut urls: Vec<(&str, &str)> = Vec::new();
    if let Some(m) = &d.mirror {
        urls.extend(m.archive.iter().map(|u| ("mirror archive", u.as_str())));
        urls.extend(m.security.iter().map(|u| ("mirror security", u.as_str())));
    }
    for r in &d.repos {
        match &r.baseurl {
            ImageRef::One(u) => urls.push(("baseurl", u)),
            ImageRef::PerArch(m) => urls.extend(m.values().map(|u| ("baseurl", u.as_str()))),
        }
        urls.extend(r.gpgkey.iter().map(|u| ("gpgkey", u.as_str())));
    }
    for r in &d.extra_repos {
        urls.push(("extra repo url", &r.url));
        urls.extend(r.key_url.iter().map(|u| ("key_url", u.as_str())));
        for v in r.suites.iter().chain(&r.components) {
            at(f, text, v, names::segment(&format!("extra repo {} suite or component", r.name), v))?;
        }
    }
    for (what, u) in urls {
        at(f, text, u, names::url(what, u))?;
    }
    Ok(())
}

/// The distro name given on the command line (it becomes `<dir>/<name>.yaml`).
pub(crate) fn distro_arg(name: &str) -> Result<()> {
    names::segment("distro", name).map_err(|why| anyhow::anyhow!("{why} (a distro is named by its file's stem)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "name: debian12\nfamily: deb\nid: debian\nrelease: '12'\ncodename: bookworm\nimage: debian:bookworm\narches: [amd64]\ngroups: [common]\n";

    fn parse(text: &str) -> String {
        Distro::parse(Path::new("d/debian12.yaml"), text).unwrap_err().to_string()
    }

    #[test]
    fn ids_releases_codenames_are_plain_segments() {
        let e = parse(&MIN.replace("id: debian", "id: /abs/path"));
        assert!(e.starts_with("d/debian12.yaml:3:5: id \"/abs/path\""), "{e}");
        let e = parse(&MIN.replace("id: debian", "id: ../x"));
        assert!(e.starts_with("d/debian12.yaml:3:5: id \"../x\""), "{e}");
        let e = parse(&MIN.replace("release: '12'", "release: '../12'"));
        assert!(e.starts_with("d/debian12.yaml:4:11: release"), "{e}");
        let e = parse(&MIN.replace("codename: bookworm", "codename: 'a/b'"));
        assert!(e.starts_with("d/debian12.yaml:5:12: codename"), "{e}");
        let e = parse(&format!("{MIN}upstreams: [../../etc/x]\n"));
        assert!(e.contains("upstream \"../../etc/x\""), "{e}");
    }

    #[test]
    fn urls_have_a_scheme_and_no_whitespace() {
        let e = parse(&format!("{MIN}mirror: {{archive: \"http://m/debian\\nX: y\"}}\n"));
        assert!(e.contains("mirror archive") && e.contains("whitespace"), "{e}");
        let e = parse(&format!("{MIN}extra_repos:\n  - name: x\n    url: ftp://x\n    suites: [x]\n    key: k\n"));
        assert!(e.starts_with("d/debian12.yaml:11:10: extra repo url \"ftp://x\""), "{e}");
        let t = format!("{MIN}extra_repos:\n  - name: x\n    url: file:/x\n    suites: ['../y']\n    key: k\n");
        assert!(parse(&t).contains("suite or component \"../y\""));
    }

    #[test]
    fn distro_arguments_are_names() {
        assert!(distro_arg("debian12").is_ok());
        let d = tempfile::tempdir().unwrap();
        let e = super::super::distro::load_one(d.path(), "../distros/x").unwrap_err().to_string();
        assert!(e.contains("distro \"../distros/x\" must be a plain name"), "{e}");
    }
}
