//! index: pure functions from package records to repository metadata.

pub mod deb;
pub mod modules;
pub mod rpm;

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};

/// The package sets of an output tree, per repository and arch (`debian/bookworm/amd64`,
/// `rocky/9/x86_64`), as (name, arch, version), for `osrepo diff`.
pub fn tree_closures(root: &Path) -> Result<crate::lock::Closures> {
    let mut out = crate::lock::Closures::new();
    for (rel, p) in crate::fsutil::files_under(root)? {
        let parts: Vec<&str> = rel.split('/').collect();
        // <id>/dists/<codename>/<component>/binary-<arch>/Packages
        if parts.len() == 6 && parts[1] == "dists" && parts[5] == "Packages" {
            let arch = parts[4].trim_start_matches("binary-");
            let text = std::fs::read_to_string(&p)?;
            let set: &mut BTreeSet<(String, String, String)> =
                out.entry(format!("{}/{}/{}", parts[0], parts[2], arch)).or_default();
            for stanza in text.split("\n\n") {
                let Ok(para) = deb::Paragraph::parse(stanza) else { continue };
                if let (Some(n), Some(a), Some(v)) =
                    (para.get("Package"), para.get("Architecture"), para.get("Version"))
                {
                    set.insert((n.to_string(), a.to_string(), v.to_string()));
                }
            }
        }
        // <id>/<release>/os/<basearch>/repodata/repomd.xml
        if parts.len() == 6 && parts[2] == "os" && parts[5] == "repomd.xml" {
            let repo = p.parent().unwrap().parent().unwrap();
            let repomd = std::fs::read_to_string(&p)?;
            let href = repomd
                .split("<data type=\"primary\">")
                .nth(1)
                .and_then(|s| s.split("href=\"").nth(1))
                .and_then(|s| s.split('"').next())
                .with_context(|| format!("{}: no primary", p.display()))?;
            let data = crate::resolve::dnf::decompress(href, &std::fs::read(repo.join(href))?)?;
            let set = out.entry(format!("{}/{}/{}", parts[0], parts[1], parts[3])).or_default();
            for (n, a, v) in primary_nevras(&String::from_utf8_lossy(&data))? {
                set.insert((n, a, v));
            }
        }
    }
    Ok(out)
}

/// (name, arch, `[epoch:]version-release`) of every package in a primary.xml.
fn primary_nevras(xml: &str) -> Result<Vec<(String, String, String)>> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let (mut name, mut arch, mut field) = (String::new(), String::new(), String::new());
    let mut depth_in_format = false;
    loop {
        match r.read_event().context("primary.xml")? {
            Event::Start(e) => {
                let n = e.local_name().into_inner().to_string();
                if n == "format" {
                    depth_in_format = true;
                }
                field = n;
            }
            Event::Empty(e) if !depth_in_format && e.local_name().into_inner() == "version" => {
                let mut epoch = String::from("0");
                let (mut ver, mut rel) = (String::new(), String::new());
                for a in e.attributes().flatten() {
                    let v = a.value.to_string();
                    match a.key.local_name().into_inner() {
                        "epoch" => epoch = v,
                        "ver" => ver = v,
                        "rel" => rel = v,
                        _ => {}
                    }
                }
                let v = if epoch == "0" { format!("{ver}-{rel}") } else { format!("{epoch}:{ver}-{rel}") };
                out.push((name.clone(), arch.clone(), v));
            }
            Event::Text(t) if !depth_in_format => match field.as_str() {
                "name" => name = t.into_inner().trim().to_string(),
                "arch" => arch = t.into_inner().trim().to_string(),
                _ => {}
            },
            Event::End(e) => {
                if e.local_name().into_inner() == "format" {
                    depth_in_format = false;
                }
                field.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}
