//! setup: `repos/setup.sh`, the one script a node runs to use this repository. Generated from
//! the `repos/*.node` entries, the node config files and `keys/osrepo.gpg` of the tree, so it
//! is deterministic and covers whatever the tree holds (regenerated at merge).
//!
//! Every value in it is either a checked plain name (`names::segment`) or text inside a
//! quoted here-document (no expansion); the base URL given on the node is checked by the
//! script itself before it is used.

use std::path::Path;

use anyhow::{bail, Context, Result};
use base64::Engine as _;

use super::node::{self, NodeEntry};
use crate::config::Family;

const TEMPLATE: &str = include_str!("setup.sh.in");
/// The here-document delimiter: no embedded line may equal it.
const DELIM: &str = "OSREPO_DATA";
/// What stands for the base URL in the embedded config files.
const MARK: &str = "@OSREPO_BASE@";

/// The text of `setup.sh` for a tree.
pub(crate) fn script(tree: &Path, entries: &[NodeEntry]) -> Result<String> {
    let mut data = String::new();
    let mut configs = String::new();
    for e in entries {
        let arches = node::arches(tree, e)?;
        if arches.is_empty() {
            continue;
        }
        let codename = e.codename.as_deref().unwrap_or("-");
        data.push_str(&format!(
            "{} {} {} {} {codename} {} {}\n",
            e.name,
            e.family,
            e.id,
            e.release,
            arches.join(","),
            e.config
        ));
        configs.push_str(&format!(
            "\t'{}')\n\t\tcat <<'{DELIM}'\n{}{DELIM}\n\t\t;;\n",
            e.name,
            config_template(tree, e)?
        ));
    }
    let key = apt_key(tree, entries)?;
    Ok(TEMPLATE.replace("@DISTROS@", &data).replace("@CONFIGS@", &configs).replace("@APT_KEY@", &key))
}

/// A distro's config file with its base URL replaced by [`MARK`] (and, for rpm, the tree's
/// release for `$releasever`: the script knows which release it picked).
fn config_template(tree: &Path, e: &NodeEntry) -> Result<String> {
    let p = tree.join("repos").join(&e.config);
    let text = std::fs::read_to_string(&p).with_context(|| format!("setup.sh: cannot read {}", p.display()))?;
    let mut t = text.replace(&e.base_url, MARK);
    if e.family == Family::Rpm {
        t = t.replace("$releasever", &e.release);
    }
    if !t.ends_with('\n') {
        t.push('\n');
    }
    if t.lines().any(|l| l == DELIM) {
        bail!("{}: a line reads {DELIM}, which setup.sh uses as its delimiter", p.display());
    }
    Ok(t)
}

/// `keys/osrepo.gpg` as base64 lines (when the tree has deb distros).
fn apt_key(tree: &Path, entries: &[NodeEntry]) -> Result<String> {
    if !entries.iter().any(|e| e.family == Family::Deb) {
        return Ok(String::new());
    }
    let p = tree.join("keys/osrepo.gpg");
    let bytes = std::fs::read(&p).with_context(|| format!("setup.sh: cannot read {}", p.display()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}
