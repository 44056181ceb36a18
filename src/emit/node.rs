//! node: `repos/<distro>.node`, what a node of a distro says in /etc/os-release and which
//! config file it takes. Written with the distro's other node files; `setup.sh` and
//! `kubespray-offline.yml` are generated from these (at build and again at merge), so they
//! always cover every distro in the tree.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{Distro, Family};
use crate::names;

/// One distro's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeEntry {
    pub name: String,
    pub family: Family,
    /// os-release `ID` and the top directory of the distro's repository.
    pub id: String,
    /// os-release `VERSION_ID` (or its major part) and, for rpm, the tree's release directory.
    pub release: String,
    /// os-release `VERSION_CODENAME` (deb) and the apt suite.
    pub codename: Option<String>,
    /// The node config file in `repos/`.
    pub config: String,
    /// The base URL the config files were written with (`--base-url`, no trailing `/`).
    pub base_url: String,
}

impl NodeEntry {
    pub(crate) fn of(d: &Distro, base_url: &str) -> NodeEntry {
        let (codename, ext) = match d.family {
            Family::Deb => (Some(d.codename().to_string()), "sources"),
            Family::Rpm => (None, "repo"),
        };
        NodeEntry {
            name: d.name.clone(),
            family: d.family,
            id: d.id.clone(),
            release: d.release.clone(),
            codename,
            config: format!("{}.{ext}", d.name),
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut s = format!(
            "# osrepo: what setup.sh matches a node's /etc/os-release against\nname={}\nfamily={}\nid={}\nrelease={}\n",
            self.name, self.family, self.id, self.release
        );
        if let Some(c) = &self.codename {
            s.push_str(&format!("codename={c}\n"));
        }
        s.push_str(&format!("config={}\nbase_url={}\n", self.config, self.base_url));
        s
    }

    /// Parse and check an entry (every value becomes a word of a shell script).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<NodeEntry> {
        let get = |k: &str| -> Option<String> {
            text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('='))).map(str::to_string)
        };
        let need = |k: &str| get(k).with_context(|| format!("{}: no {k}= line", path.display()));
        let family = match need("family")?.as_str() {
            "deb" => Family::Deb,
            "rpm" => Family::Rpm,
            other => bail!("{}: family {other:?} is neither deb nor rpm", path.display()),
        };
        let e = NodeEntry {
            name: need("name")?,
            family,
            id: need("id")?,
            release: need("release")?,
            codename: get("codename"),
            config: need("config")?,
            base_url: need("base_url")?,
        };
        e.check().map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
        Ok(e)
    }

    fn check(&self) -> names::Check {
        names::segment("name", &self.name)?;
        names::segment("id", &self.id)?;
        names::segment("release", &self.release)?;
        if let Some(c) = &self.codename {
            names::segment("codename", c)?;
        }
        names::file_name("config", &self.config)?;
        names::base_url("base_url", &self.base_url)?;
        if self.family == Family::Deb && self.codename.is_none() {
            return Err(format!("deb distro {} has no codename", self.name));
        }
        Ok(())
    }
}

/// Every entry in `tree/repos/`, sorted by name.
pub(crate) fn entries(tree: &Path) -> Result<Vec<NodeEntry>> {
    let dir = tree.join("repos");
    let mut paths: Vec<PathBuf> = Vec::new();
    if dir.is_dir() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let p = e.with_context(|| format!("cannot read {}", dir.display()))?.path();
            if p.extension().and_then(|x| x.to_str()) == Some("node") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        out.push(NodeEntry::parse(&p, &text)?);
    }
    Ok(out)
}

/// The arches (deb spelling) the tree holds for an entry.
pub(crate) fn arches(tree: &Path, e: &NodeEntry) -> Result<Vec<String>> {
    let (dir, prefix) = match (&e.family, &e.codename) {
        (Family::Deb, Some(c)) => (tree.join(&e.id).join("dists").join(c).join("main"), "binary-"),
        _ => (tree.join(&e.id).join(&e.release).join("os"), ""),
    };
    let mut v = Vec::new();
    if dir.is_dir() {
        for d in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let name = d?.file_name().to_string_lossy().into_owned();
            if let Some(a) = name.strip_prefix(prefix) {
                let deb = crate::arch::Arch::from_any(a).map(|x| x.deb().to_string()).unwrap_or_else(|| a.to_string());
                names::segment("arch", &deb).map_err(|why| anyhow::anyhow!("{}: {why}", dir.display()))?;
                v.push(deb);
            }
        }
    }
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_refuse_shell_words() {
        let e = NodeEntry {
            name: "debian12".into(),
            family: Family::Deb,
            id: "debian".into(),
            release: "12".into(),
            codename: Some("bookworm".into()),
            config: "debian12.sources".into(),
            base_url: "http://h:8080".into(),
        };
        let p = Path::new("repos/debian12.node");
        assert_eq!(NodeEntry::parse(p, &e.render()).unwrap(), e);
        let bad = e.render().replace("id=debian", "id=debian;rm -rf /");
        let err = NodeEntry::parse(p, &bad).unwrap_err().to_string();
        assert!(err.contains("repos/debian12.node") && err.contains("id"), "{err}");
        let bad = e.render().replace("base_url=http://h:8080", "base_url=http://h 8080");
        assert!(NodeEntry::parse(p, &bad).is_err());
    }
}
