//! plan: pure. Select each distro's specs and make one job per distro and arch.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::config::{Distro, PackageSet, PackageSpec};

/// One unit of work: a distro on one arch.
#[derive(Debug, Clone)]
pub struct Job {
    pub distro: Distro,
    pub arch: String,
    pub specs: Vec<PackageSpec>,
    pub image: String,
    pub recommends: bool,
}

impl Job {
    /// The arch of the build container: the host's own when the distro resolves foreign
    /// arches natively (apt's APT::Architecture, dnf's --forcearch), else the job's arch
    /// (emulated by the engine).
    pub fn container_arch(&self) -> String {
        match self.distro.resolve_on {
            crate::config::distro::ResolveOn::Native => host_arch().to_string(),
            crate::config::distro::ResolveOn::Target => self.arch.clone(),
        }
    }

    /// `debian12/amd64`, for logs and errors.
    pub fn label(&self) -> String {
        format!("{}/{}", self.distro.name, self.arch)
    }
}

/// Choices from the command line that shape the jobs.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Arches to build; None means each distro's own list.
    pub arches: Option<Vec<String>>,
    /// `--image distro=REF` overrides.
    pub images: BTreeMap<String, String>,
    /// Global Recommends override.
    pub recommends: Option<bool>,
}

pub fn plan(packages: &PackageSet, distros: &[Distro], opts: &PlanOptions) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for name in opts.images.keys() {
        if !distros.iter().any(|d| &d.name == name) {
            bail!("--image {name}=...: {name} is not one of the distros being built");
        }
    }
    for d in distros {
        let sel = packages.select(&d.groups, d.family)?;
        if sel.specs.is_empty() {
            bail!(
                "distro {}: its groups ({}) select no packages from {}",
                d.name,
                d.groups.join(", "),
                packages.path.display()
            );
        }
        let arches = match &opts.arches {
            Some(a) => {
                for x in a {
                    if !d.arches.contains(x) {
                        bail!("distro {} does not support arch {x} (its file lists {})", d.name, d.arches.join(", "));
                    }
                }
                a.clone()
            }
            None => d.arches.clone(),
        };
        for arch in arches {
            let image = match opts.images.get(&d.name) {
                Some(i) => i.clone(),
                None => {
                    let on = match d.resolve_on {
                        crate::config::distro::ResolveOn::Native => host_arch().to_string(),
                        crate::config::distro::ResolveOn::Target => arch.clone(),
                    };
                    d.image_for(&on).or_else(|_| d.image_for(&arch))?.to_string()
                }
            };
            jobs.push(Job {
                distro: d.clone(),
                arch,
                specs: sel.specs.clone(),
                image,
                recommends: opts.recommends.or(d.recommends).unwrap_or(true),
            });
        }
    }
    Ok(jobs)
}

/// This machine's arch in osrepo's (Debian's) spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
