//! `distros/<name>.yaml`: one file per distro release, pure data.
//!
//! ```yaml
//! name: debian12            # must match the file name
//! family: deb               # deb | rpm
//! id: debian                # os-release ID; the top directory in the output tree
//! release: "12"
//! codename: bookworm        # deb: the suite name written into dists/
//! image: debian:bookworm    # or a map per arch: {amd64: ..., arm64: ...}
//! arches: [amd64, arm64]
//! groups: [common, apt, kubespray.common, kubespray.apt, tools, debian, debian12]
//! recommends: true          # deb: follow Recommends (apt's default)
//! sources:                  # the image's own package sources, as an official image has them;
//!   - role: archive         # used by `osrepo image bootstrap` and when a mirror override is set
//!     path: debian
//!     suites: [bookworm, bookworm-updates]
//!     components: [main]
//!     signed_by: /usr/share/keyrings/debian-archive-keyring.gpg
//!   - role: security
//!     path: debian-security
//!     suites: [bookworm-security]
//!     components: [main]
//! mirror: {archive: http://mirror.internal/debian}   # optional override
//! extra_repos:
//!   - name: docker-ce
//!     url: https://example.invalid/linux/debian      # or file:/srv/internal-repo (host directory)
//!     suites: [bookworm]
//!     components: [stable]
//!     key_url: https://example.invalid/linux/debian/gpg   # or key_file: PATH, or key: |-
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::packages::located;
use super::Family;
use crate::arch::Arch;

/// One value for every arch, or one per arch (keyed by the deb arch name).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ImageRef {
    One(String),
    PerArch(BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for ImageRef {
    /// A per-arch map names known arches only (`amd46:` is an error, not ignored).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ImageRef, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            PerArch(BTreeMap<String, String>),
        }
        match Raw::deserialize(d)? {
            Raw::One(s) => Ok(ImageRef::One(s)),
            Raw::PerArch(m) => {
                let known: Vec<&str> = crate::arch::ALL.iter().map(|a| a.deb()).collect();
                if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
                    return Err(serde::de::Error::custom(format!(
                        "unknown arch `{k}` in a per-arch value (known: {})",
                        known.join(", ")
                    )));
                }
                Ok(ImageRef::PerArch(m))
            }
        }
    }
}

impl ImageRef {
    /// The value for an arch (the one value, or the arch's entry).
    pub(crate) fn for_arch(&self, arch: Arch) -> Option<&str> {
        match self {
            ImageRef::One(s) => Some(s),
            ImageRef::PerArch(m) => m.get(arch.deb()).map(String::as_str),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    Archive,
    Security,
    /// Ubuntu's archive for arches other than amd64 (arm64).
    Ports,
}

/// One package source of the distro's image (deb822 terms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    pub role: SourceRole,
    /// Path below the mirror's base URL when the role's mirror is a host-level base
    /// (unused when the mirror URL already names the archive).
    #[serde(default)]
    pub path: Option<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// The archive keyring inside the image (deb822 `Signed-By`).
    #[serde(default)]
    pub signed_by: Option<String>,
    /// The arches this source serves (deb822 `Architectures`); empty: every arch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<Arch>,
}

/// Mirror overrides: the base URL of each source role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    #[serde(default)]
    pub archive: Option<String>,
    #[serde(default)]
    pub security: Option<String>,
    /// The base URL of `ports` sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
}

/// A yum/dnf repository of an rpm distro's own (replaces the image's repo files when listed:
/// for releases whose stock mirrors are gone, such as CentOS 7 and its vault).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpmRepo {
    pub name: String,
    /// baseurl; `$releasever` and `$basearch` are expanded by yum/dnf. A map gives one per arch.
    pub baseurl: ImageRef,
    /// gpgkey URLs or `file:///etc/pki/rpm-gpg/...` paths inside the image.
    #[serde(default)]
    pub gpgkey: Vec<String>,
}

/// How `osrepo image bootstrap` makes this distro's base image when the host cannot
/// (Ubuntu on a Debian host: no Ubuntu keyring, an older debootstrap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// The distro (a file beside this one) whose image runs debootstrap; it is bootstrapped
    /// from the host first when the engine lacks it.
    pub within: String,
    /// Packages installed there first (debootstrap and the keyring that verifies this
    /// distro's archive).
    pub packages: Vec<String>,
}

/// Where a foreign-arch job runs its resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResolveOn {
    /// In a container of the host's arch, the tool told the target arch (fast; tests show
    /// the closure is the same as under emulation).
    #[default]
    Native,
    /// In a container of the target arch (emulated by qemu binfmt when foreign).
    Target,
}

/// Which tool resolves an rpm distro's closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RpmResolver {
    /// `dnf download --resolve --alldeps` (EL8+, openEuler, Fedora).
    #[default]
    Dnf,
    /// `repotrack` from yum-utils (EL7).
    Repotrack,
}

/// An upstream repository besides the distro's own (docker-ce, an internal repo...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraRepo {
    #[serde(default)]
    pub name: String,
    /// http(s) URL, or `file:/dir` naming a directory on the host (mounted read-only).
    pub url: String,
    #[serde(default)]
    pub suites: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    /// Inline armored public key.
    #[serde(default)]
    pub key: Option<String>,
    /// Public key file on the host, relative to the distro file.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Public key URL, fetched inside the build container.
    #[serde(default)]
    pub key_url: Option<String>,
}

impl ExtraRepo {
    /// The host directory of a `file:` repo.
    pub(crate) fn host_dir(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("file:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        Some(PathBuf::from(rest))
    }
}

/// `upstreams/<name>.yaml`: one upstream repo, per family.
#[derive(Debug, Clone, Deserialize)]
struct Upstream(BTreeMap<Family, ExtraRepo>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distro {
    pub name: String,
    pub family: Family,
    pub id: String,
    pub release: String,
    #[serde(default)]
    pub codename: Option<String>,
    pub image: ImageRef,
    pub arches: Vec<Arch>,
    pub groups: Vec<String>,
    #[serde(default)]
    pub recommends: Option<bool>,
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
    #[serde(default)]
    pub mirror: Option<Mirror>,
    #[serde(default)]
    pub extra_repos: Vec<ExtraRepo>,
    /// Upstream repos declared once in `<distros dir>/upstreams/<name>.yaml` (docker-ce...),
    /// added to `extra_repos` with `{id}`, `{codename}` and `{release}` filled in.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// rpm: the distro's own repos (replace the image's repo files when given).
    #[serde(default)]
    pub repos: Vec<RpmRepo>,
    /// Where foreign-arch jobs run (native container told the arch, or emulated container).
    #[serde(default)]
    pub resolve_on: ResolveOn,
    /// rpm: the resolver tool.
    #[serde(default)]
    pub resolver: RpmResolver,
    /// rpm: compression of the repodata (gz for EL7's yum; zstd possible for EL8+).
    #[serde(default)]
    pub compress: Option<String>,
    /// rpm: the `$releasever` dnf is given (default: `release`); `image` keeps the value the
    /// image's own repo files expect (openEuler's `22.03LTS_SP1` and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releasever: Option<String>,
    /// rpm: the package arches a job of each arch takes besides `noarch` (keyed by arch;
    /// default: its basearch alone). EL10 and its kin add `x86_64_v2` to amd64.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub package_arches: BTreeMap<String, Vec<String>>,
    /// `osrepo image bootstrap`: run debootstrap inside a container of another distro (whose
    /// archive carries this distro's keyring) instead of on the host. Not part of the inputs
    /// digest: it changes how the image is made, not what is resolved in it.
    #[serde(default, skip_serializing)]
    pub bootstrap: Option<Bootstrap>,
    /// Where the file was read from (not part of the format).
    #[serde(skip)]
    pub file: PathBuf,
}

impl Distro {
    pub fn parse(path: &Path, text: &str) -> Result<Distro> {
        let mut d: Distro = serde_yaml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}", super::packages::located_in(path, text, &e)))?;
        d.file = path.to_path_buf();
        super::validate::distro_names(&d, text)?;
        for name in d.upstreams.clone() {
            let repo = d.upstream(&name)?;
            d.extra_repos.push(repo);
        }
        super::validate::distro_urls(&d, text)?;
        d.validate()?;
        Ok(d)
    }

    /// An upstream repo declared in `upstreams/<name>.yaml` beside the distro file, for this
    /// distro's family.
    fn upstream(&self, name: &str) -> Result<ExtraRepo> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let p = dir.join("upstreams").join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("{}: upstream {name:?}: cannot read {}", self.file.display(), p.display()))?;
        let fill = |t: &str| {
            t.replace("{id}", &self.id)
                .replace("{codename}", self.codename.as_deref().unwrap_or(""))
                .replace("{release}", &self.release)
        };
        let u: Upstream = serde_yaml::from_str(&fill(&text)).map_err(|e| anyhow::anyhow!("{}", located(&p, &e)))?;
        let mut r =
            u.0.get(&self.family)
                .cloned()
                .with_context(|| format!("{}: upstream {name} has no {} section", p.display(), self.family))?;
        r.name = name.to_string();
        if let Some(k) = &r.key_file {
            if k.is_relative() {
                r.key_file = Some(p.parent().unwrap_or(Path::new(".")).join(k));
            }
        }
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Distro> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read distro file {}", path.display()))?;
        Self::parse(path, &text)
    }

    fn validate(&self) -> Result<()> {
        let f = self.file.display();
        if let Some(stem) = self.file.file_stem().and_then(|s| s.to_str()) {
            if stem != self.name {
                bail!("{f}: name {:?} does not match the file name {stem:?}", self.name);
            }
        }
        if self.arches.is_empty() {
            bail!("{f}: distro {} lists no arches", self.name);
        }
        if let ImageRef::PerArch(m) = &self.image {
            for a in &self.arches {
                if !m.contains_key(a.deb()) {
                    bail!("{f}: distro {}: no image given for arch {a}", self.name);
                }
            }
        }
        for r in &self.repos {
            if let ImageRef::PerArch(m) = &r.baseurl {
                for a in &self.arches {
                    if !m.contains_key(a.deb()) {
                        bail!("{f}: distro {}: repo {} has no baseurl for arch {a}", self.name, r.name);
                    }
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.extra_repos {
            if !names.insert(r.name.as_str()) {
                bail!("{f}: distro {}: extra repo {:?} is declared twice", self.name, r.name);
            }
            if r.name.is_empty() || !r.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                bail!("{f}: distro {}: extra repo name {:?} must be [A-Za-z0-9._-]+", self.name, r.name);
            }
            let keys = [r.key.is_some(), r.key_file.is_some(), r.key_url.is_some()];
            if keys.iter().filter(|k| **k).count() != 1 {
                bail!(
                    "{f}: distro {}: extra repo {} needs exactly one of key, key_file, key_url (no unsigned repos)",
                    self.name,
                    r.name
                );
            }
        }
        crate::family::backend(self.family).validate(self)
    }

    /// The image reference for an arch.
    pub(crate) fn image_for(&self, arch: Arch) -> Result<&str> {
        self.image.for_arch(arch).with_context(|| format!("distro {}: no image for arch {arch}", self.name))
    }

    /// rpm: the package arches a job of `arch` takes, `noarch` included.
    pub(crate) fn package_arches_for(&self, arch: Arch) -> Vec<String> {
        let mut v = self.package_arches.get(arch.deb()).cloned().unwrap_or_else(|| vec![arch.rpm().to_string()]);
        if !v.iter().any(|a| a == "noarch") {
            v.push("noarch".to_string());
        }
        v
    }

    pub fn codename(&self) -> &str {
        self.codename.as_deref().unwrap_or(&self.release)
    }

    /// The key file of an extra repo, resolved against the distro file's directory.
    pub(crate) fn key_file_path(&self, repo: &ExtraRepo) -> Option<PathBuf> {
        let p = repo.key_file.as_ref()?;
        Some(if p.is_absolute() { p.clone() } else { self.file.parent().unwrap_or(Path::new(".")).join(p) })
    }
}

/// Distros by name from a directory, in the order asked.
pub fn load_many(dir: &Path, names: &[String]) -> Result<Vec<Distro>> {
    names.iter().map(|n| load_one(dir, n)).collect()
}

/// Every distro file in a directory, sorted by name.
pub fn load_all(dir: &Path) -> Result<Vec<Distro>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot read distros directory {}", dir.display()))?;
    for e in rd {
        let p = e?.path();
        if p.extension().and_then(|e| e.to_str()) == Some("yaml") {
            out.push(Distro::load(&p)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One distro by name from a directory; the error lists what exists.
pub fn load_one(dir: &Path, name: &str) -> Result<Distro> {
    super::validate::distro_arg(name)?;
    let p = dir.join(format!("{name}.yaml"));
    if !p.exists() {
        let known: Vec<String> = load_all(dir).map(|v| v.into_iter().map(|d| d.name).collect()).unwrap_or_default();
        bail!("unknown distro {name:?}: no {} (known: {})", p.display(), known.join(", "));
    }
    Distro::load(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "name: debian12\nfamily: deb\nid: debian\nrelease: '12'\ncodename: bookworm\nimage: debian:bookworm\narches: [amd64, arm64]\ngroups: [common]\n";

    #[test]
    fn unknown_arch_keys_and_duplicate_fields_are_errors_at_their_line() {
        let per_arch = MIN.replace("image: debian:bookworm\n", "image:\n  amd64: debian:bookworm\n  arm46: x\n");
        let e = Distro::parse(Path::new("d.yaml"), &per_arch).unwrap_err().to_string();
        assert_eq!(e, "d.yaml:8:3: unknown arch `arm46` in a per-arch value (known: amd64, arm64)");
        let dup = format!("{MIN}codename: trixie\n");
        let e = Distro::parse(Path::new("d.yaml"), &dup).unwrap_err().to_string();
        assert_eq!(e, "d.yaml:9:1: duplicate field `codename`");
    }

    #[test]
    fn shipped_distro_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("distros");
        let all = load_all(&dir).unwrap();
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        for n in ["debian11", "debian12", "debian13", "ubuntu2004", "ubuntu2204", "ubuntu2404"] {
            assert!(names.contains(&n), "{n} missing");
        }
        let d = all.iter().find(|d| d.name == "debian12").unwrap();
        assert_eq!(d.codename(), "bookworm");
        assert_eq!(d.image_for(Arch::Arm64).unwrap(), "arm64v8/debian:bookworm");
    }

    #[test]
    fn per_arch_images() {
        let t = MIN.replace("image: debian:bookworm", "image: {amd64: a/deb:12, arm64: b/deb:12}");
        let d = Distro::parse(Path::new("debian12.yaml"), &t).unwrap();
        assert_eq!(d.image_for(Arch::Arm64).unwrap(), "b/deb:12");
        let t = MIN.replace("image: debian:bookworm", "image: {amd64: a/deb:12}");
        let e = Distro::parse(Path::new("debian12.yaml"), &t).unwrap_err().to_string();
        assert!(e.contains("no image given for arch arm64"), "{e}");
    }

    #[test]
    fn bad_files_are_named() {
        let e = Distro::parse(Path::new("d/other.yaml"), MIN).unwrap_err().to_string();
        assert!(e.contains("d/other.yaml") && e.contains("does not match"), "{e}");
        let e = Distro::parse(Path::new("debian12.yaml"), &format!("{MIN}colour: blue\n")).unwrap_err().to_string();
        assert!(e.starts_with("debian12.yaml:9:1: ") && e.contains("colour"), "{e}");
        let e = Distro::parse(Path::new("debian12.yaml"), &MIN.replace("arm64", "s390x")).unwrap_err().to_string();
        assert!(e.contains("unknown arch \"s390x\""), "{e}");
        let e = Distro::parse(Path::new("debian12.yaml"), &MIN.replace("codename: bookworm\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a codename"), "{e}");
        let unsigned = format!("{MIN}extra_repos:\n  - name: x\n    url: file:/srv/x\n    suites: [x]\n");
        let e = Distro::parse(Path::new("debian12.yaml"), &unsigned).unwrap_err().to_string();
        assert!(e.contains("no unsigned repos"), "{e}");
    }

    #[test]
    fn file_repos_name_a_host_dir() {
        let r = ExtraRepo {
            name: "x".into(),
            url: "file:///srv/repo".into(),
            suites: vec![],
            components: vec![],
            key: None,
            key_file: None,
            key_url: None,
        };
        assert_eq!(r.host_dir(), Some(PathBuf::from("/srv/repo")));
        let r = ExtraRepo { url: "file:/srv/repo".into(), ..r };
        assert_eq!(r.host_dir(), Some(PathBuf::from("/srv/repo")));
        let r = ExtraRepo { url: "https://x".into(), ..r };
        assert_eq!(r.host_dir(), None);
    }
}
