//! image: build a distro's base image without a registry, from the distro's own archive
//! (debootstrap), with the package sources an official image has.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::config::distro::{SourceEntry, SourceRole};
use crate::config::{Distro, Family};
use crate::engine::Engine;
use crate::resolve::apt::source_stanza;

mod within;

/// A source the host's apt is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSource {
    pub uri: String,
    pub suites: Vec<String>,
}

/// Read the host's apt sources (deb822 `.sources` and one-line `.list` files).
pub(crate) fn host_sources() -> Vec<HostSource> {
    let mut out = Vec::new();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, "/etc/apt/sources.list".into());
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        // apt reads only *.list and *.sources (and sources.list itself).
        match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => out.extend(parse_deb822_sources(&text)),
            Some("list") => out.extend(parse_one_line_sources(&text)),
            _ => {}
        }
    }
    out
}

pub(crate) fn parse_deb822_sources(text: &str) -> Vec<HostSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut types_deb = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                let vals: Vec<String> = v.split_whitespace().map(String::from).collect();
                match k.trim().to_ascii_lowercase().as_str() {
                    "uris" => uris = vals,
                    "suites" => suites = vals,
                    "types" => types_deb = vals.iter().any(|t| t == "deb"),
                    "enabled" => types_deb &= v.trim() != "no",
                    _ => {}
                }
            }
        }
        if types_deb {
            out.extend(uris.into_iter().map(|uri| HostSource { uri, suites: suites.clone() }));
        }
    }
    out
}

pub(crate) fn parse_one_line_sources(text: &str) -> Vec<HostSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut words: Vec<&str> = Vec::new();
        let mut in_opts = false;
        for w in rest.split_whitespace() {
            if w.starts_with('[') {
                in_opts = !w.ends_with(']');
                continue;
            }
            if in_opts {
                in_opts = !w.ends_with(']');
                continue;
            }
            words.push(w);
        }
        if words.len() >= 2 {
            out.push(HostSource { uri: words[0].to_string(), suites: vec![words[1].to_string()] });
        }
    }
    out
}

/// The host's mirror for a role: a source carrying the wanted suite, else any source of that role.
pub(crate) fn host_mirror(sources: &[HostSource], role: SourceRole, codename: &str) -> Option<String> {
    let is_sec = |s: &str| s.ends_with("-security") || s.ends_with("/updates");
    let wanted = match role {
        SourceRole::Archive => codename.to_string(),
        SourceRole::Security => format!("{codename}-security"),
        SourceRole::Ports => return None,
    };
    let of_role = |h: &&HostSource| h.suites.iter().any(|s| is_sec(s) == (role == SourceRole::Security));
    sources
        .iter()
        .find(|h| h.suites.contains(&wanted))
        .or_else(|| sources.iter().find(of_role))
        .map(|h| h.uri.trim_end_matches('/').to_string())
}

/// What `osrepo image bootstrap` is asked for.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub arch: crate::arch::Arch,
    pub mirror: Option<String>,
    pub security_mirror: Option<String>,
    /// Tag to give the image (default: the distro's image reference for the arch).
    pub tag: Option<String>,
}

/// Build the distro's base image with debootstrap and load it into the engine.
pub async fn bootstrap(engine: &Engine, distro: &Distro, opts: &BootstrapOptions) -> Result<String> {
    if distro.family != Family::Deb {
        bail!("image bootstrap builds deb distros only; {} is {}", distro.name, distro.family);
    }
    let tag = match &opts.tag {
        Some(t) => t.clone(),
        None => distro.image_for(opts.arch)?.to_string(),
    };
    let tmp = tempfile::Builder::new().prefix("osrepo-bootstrap.").tempdir_in("/var/tmp")?;
    let tarball = match &distro.bootstrap {
        Some(b) => within::rootfs(engine, distro, b, opts, tmp.path()).await?,
        None => rootfs_on_host(distro, opts, &tag, tmp.path())?,
    };
    engine.build_from_rootfs(&tag, opts.arch, &tarball).await?;
    Ok(tag)
}

/// debootstrap on the host, from the host's mirror: the image's root filesystem as a tar.
fn rootfs_on_host(distro: &Distro, opts: &BootstrapOptions, tag: &str, tmp: &Path) -> Result<std::path::PathBuf> {
    if which("debootstrap").is_none() {
        bail!("debootstrap is not installed (apt-get install debootstrap)");
    }
    let codename = distro.codename();
    let host = host_sources();
    let archive = opts
        .mirror
        .clone()
        .or_else(|| host_mirror(&host, SourceRole::Archive, codename))
        .context("no archive mirror: pass --mirror URL (none found in the host's apt sources)")?;
    let security = opts.security_mirror.clone().or_else(|| host_mirror(&host, SourceRole::Security, codename));
    let components = archive_components(distro);

    let root = tmp.join("rootfs");
    tracing::info!("debootstrap {codename} ({}) for {tag}", opts.arch);
    let status = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--arch={}", opts.arch),
            &format!("--components={}", components.join(",")),
        ])
        .arg(codename)
        .arg(&root)
        .arg(&archive)
        .status()
        .context("cannot run debootstrap")?;
    if !status.success() {
        bail!(
            "debootstrap {codename} --arch {} from the archive mirror failed ({status}); for a foreign arch \
             install qemu-user-static and binfmt-support, enable binfmt_misc and qemu-{}",
            opts.arch,
            opts.arch.qemu()
        );
    }
    finish_rootfs(&root, distro, &archive, security.as_deref())?;
    let tarball = tmp.join("rootfs.tar");
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .context("cannot run tar")?;
    if !status.success() {
        bail!("tar of the root filesystem failed ({status})");
    }
    Ok(tarball)
}

/// The components of the distro's archive source (debootstrap's `--components`).
fn archive_components(distro: &Distro) -> Vec<String> {
    distro
        .sources
        .iter()
        .find(|s| s.role == SourceRole::Archive)
        .map(|s| s.components.clone())
        .unwrap_or_else(|| vec!["main".into()])
}

/// Make a debootstrapped tree look like the distro's official image: its package sources,
/// no cached packages or lists.
fn finish_rootfs(root: &Path, distro: &Distro, archive: &str, security: Option<&str>) -> Result<()> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let d = root.join(dir);
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_file()).unwrap_or(false) && e.file_name() != "lock" {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    let _ = std::fs::remove_file(root.join("etc/apt/sources.list"));
    let dir = root.join("etc/apt/sources.list.d");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{}.sources", distro.id)), image_sources(distro, archive, security, None))?;
    Ok(())
}

/// The deb822 sources of the image: the distro file's `sources`, each role at its mirror.
pub(crate) fn image_sources(distro: &Distro, archive: &str, security: Option<&str>, ports: Option<&str>) -> String {
    let mut text = String::new();
    let entries: Vec<SourceEntry> = if distro.sources.is_empty() {
        vec![SourceEntry {
            role: SourceRole::Archive,
            path: None,
            suites: vec![distro.codename().to_string()],
            components: vec!["main".into()],
            signed_by: None,
            arches: Vec::new(),
        }]
    } else {
        distro.sources.clone()
    };
    for s in &entries {
        let uri = match s.role {
            SourceRole::Archive => archive,
            SourceRole::Security => match security {
                Some(u) => u,
                None => {
                    tracing::warn!("no security mirror known; the image gets no {} source", s.suites.join(" "));
                    continue;
                }
            },
            SourceRole::Ports => match ports {
                Some(u) => u,
                None => {
                    tracing::warn!("no ports mirror known; the image gets no {} source", s.suites.join(" "));
                    continue;
                }
            },
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&source_stanza(uri, s, s.signed_by.as_deref()));
    }
    text
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(cmd))
        .chain(["/usr/sbin", "/sbin"].iter().map(|d| Path::new(d).join(cmd)))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_host_sources_both_formats() {
        let deb822 = "Types: deb\n# comment\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://m.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let s = parse_deb822_sources(deb822);
        assert_eq!(host_mirror(&s, SourceRole::Archive, "bookworm").unwrap(), "http://m.example/debian");
        assert_eq!(host_mirror(&s, SourceRole::Security, "bookworm").unwrap(), "http://m.example/debian-security");
        // another release of the same archive falls back to the archive's URI
        assert_eq!(host_mirror(&s, SourceRole::Archive, "trixie").unwrap(), "http://m.example/debian");
        assert_eq!(host_mirror(&s, SourceRole::Security, "trixie").unwrap(), "http://m.example/debian-security");
        let one = parse_one_line_sources(
            "deb [arch=amd64 signed-by=/k.gpg] http://x/debian bookworm main\n# deb http://no x\n",
        );
        assert_eq!(one, vec![HostSource { uri: "http://x/debian".into(), suites: vec!["bookworm".into()] }]);
    }

    #[test]
    fn ubuntu_arm64_sources_go_to_the_ports_archive() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("distros");
        let d = crate::config::distro::load_one(&dir, "ubuntu2204").unwrap();
        let text = image_sources(
            &d,
            "http://a.example/ubuntu",
            Some("http://s.example/ubuntu"),
            Some("http://p.example/ports"),
        );
        let stanzas: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(stanzas.len(), 3, "{text}");
        assert!(stanzas[0].contains("URIs: http://a.example/ubuntu\nSuites: jammy jammy-updates"), "{text}");
        assert!(stanzas[0].contains("Architectures: amd64\n"), "{text}");
        assert!(
            stanzas[1].contains("URIs: http://s.example/ubuntu\nSuites: jammy-security")
                && stanzas[1].contains("Architectures: amd64")
        );
        assert!(
            stanzas[2].contains("URIs: http://p.example/ports\nSuites: jammy jammy-updates jammy-security"),
            "{text}"
        );
        assert!(stanzas[2].contains("Architectures: arm64\n"), "{text}");
        // With a mirror override, the resolver's sources follow the same split.
        let mut m = d.clone();
        m.mirror = Some(crate::config::distro::Mirror {
            archive: Some("http://m/ubuntu".into()),
            security: None,
            ports: Some("http://m/ubuntu-ports".into()),
        });
        let r = crate::resolve::apt::mirror_sources(&m, Some("http://m/ubuntu"), Some("http://m/ubuntu")).unwrap();
        assert!(r.contains("URIs: http://m/ubuntu-ports\nSuites: jammy jammy-updates jammy-security"), "{r}");
        // Debian's sources carry no arch restriction (one archive serves every arch).
        let deb = crate::config::distro::load_one(&dir, "debian12").unwrap();
        assert!(
            !image_sources(&deb, "http://a/debian", Some("http://a/debian-security"), None).contains("Architectures")
        );
    }
}
