//! Module metadata (modules.yaml) for EL8+ repos: keep the module streams whose artifacts are
//! in the closure, so dnf on the node does not filter those packages out.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_yaml::Value;

/// Select, from upstream modules.yaml texts, the `modulemd` documents with at least one
/// artifact in `nevras` (`name-epoch:version-release.arch`), plus the `modulemd-defaults`
/// documents of those modules. Returns None when nothing is modular.
pub(crate) fn select(upstream: &[String], nevras: &BTreeSet<String>) -> Result<Option<String>> {
    let mut docs: Vec<Value> = Vec::new();
    for text in upstream {
        for de in serde_yaml::Deserializer::from_str(text) {
            let v = Value::deserialize(de).context("cannot read upstream modules.yaml")?;
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    let mut keep = Vec::new();
    let mut modules = BTreeSet::new();
    for d in &docs {
        if d.get("document").and_then(Value::as_str) != Some("modulemd") {
            continue;
        }
        let rpms = d.get("data").and_then(|x| x.get("artifacts")).and_then(|x| x.get("rpms"));
        let hit = rpms
            .and_then(Value::as_sequence)
            .is_some_and(|s| s.iter().filter_map(Value::as_str).any(|n| nevras.contains(n)));
        if hit {
            if let Some(name) = d.get("data").and_then(|x| x.get("name")).and_then(Value::as_str) {
                modules.insert(name.to_string());
            }
            keep.push(d);
        }
    }
    if keep.is_empty() {
        return Ok(None);
    }
    for d in &docs {
        if d.get("document").and_then(Value::as_str) == Some("modulemd-defaults") {
            let m = d.get("data").and_then(|x| x.get("module")).and_then(Value::as_str);
            if m.is_some_and(|m| modules.contains(m)) {
                keep.push(d);
            }
        }
    }
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    for d in keep {
        let text = serde_yaml::to_string(d)?;
        if seen.insert(text.clone()) {
            out.push_str("---\n");
            out.push_str(&text);
            out.push_str("...\n");
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: m\n  stream: \"1\"\n  artifacts:\n    rpms:\n      - modpkg-0:1.0-1.noarch\n...\n\
---\ndocument: modulemd\nversion: 2\ndata:\n  name: other\n  stream: \"2\"\n  artifacts:\n    rpms:\n      - nothere-0:1-1.noarch\n...\n\
---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: m\n  stream: \"1\"\n...\n\
---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: other\n  stream: \"2\"\n...\n";

    #[test]
    fn keeps_only_streams_in_the_closure_and_their_defaults() {
        let nevras: BTreeSet<String> = ["modpkg-0:1.0-1.noarch".to_string()].into();
        let out = select(&[UP.to_string()], &nevras).unwrap().unwrap();
        assert!(out.contains("name: m\n"));
        assert!(out.contains("module: m\n"));
        assert!(!out.contains("other"));
        assert_eq!(out.matches("---\n").count(), 2);
        assert!(select(&[UP.to_string()], &BTreeSet::new()).unwrap().is_none());
    }
}
