//! plan: pure. Select each distro's specs and make one job per distro and arch.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::arch::Arch;
use crate::config::distro::ResolveOn;
use crate::config::{Distro, PackageSet, PackageSpec};

/// One unit of work: a distro on one arch.
#[derive(Debug, Clone)]
pub struct Job {
    pub distro: Distro,
    pub arch: Arch,
    pub specs: Vec<PackageSpec>,
    pub image: String,
    pub recommends: bool,
}

impl Job {
    /// The arch of the build container: the host's own when the distro resolves foreign
    /// arches natively (apt's APT::Architecture, dnf's --forcearch), else the job's arch
    /// (emulated by the engine).
    pub(crate) fn container_arch(&self) -> Arch {
        container_arch(&self.distro, self.arch)
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
    pub arches: Option<Vec<Arch>>,
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
                        let known: Vec<&str> = d.arches.iter().map(|a| a.deb()).collect();
                        bail!("distro {} does not support arch {x} (its file lists {})", d.name, known.join(", "));
                    }
                }
                a.clone()
            }
            None => d.arches.clone(),
        };
        for arch in arches {
            let image = match opts.images.get(&d.name) {
                Some(i) => i.clone(),
                None => d.image_for(container_arch(d, arch)).or_else(|_| d.image_for(arch))?.to_string(),
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

/// The arch of a job's build container: the host's own when the distro resolves foreign
/// arches natively, else the job's arch (emulated by the engine).
fn container_arch(d: &Distro, arch: Arch) -> Arch {
    match d.resolve_on {
        ResolveOn::Native => Arch::host(),
        ResolveOn::Target => arch,
    }
}
