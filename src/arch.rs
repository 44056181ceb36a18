//! arch: the CPU architectures osrepo builds for, and every spelling of them (Debian's,
//! rpm's basearch, the OCI/Docker platform, qemu's, Rust's host arch) in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A target architecture. Written in Debian's spelling in distro files, locks and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

/// Every arch osrepo knows.
pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

/// An arch name osrepo does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown arch {name:?} (known: amd64, arm64)")]
pub struct UnknownArch {
    pub name: String,
}

impl Arch {
    /// Debian's name (`amd64`, `arm64`): apt's `APT::Architecture`, `binary-<arch>/`.
    pub fn deb(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// rpm's basearch (`x86_64`, `aarch64`): `$basearch`, `os/<basearch>/`, `--forcearch`.
    pub fn rpm(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// The OCI / Docker architecture (`amd64`, `arm64`), as image inspection reports it.
    pub fn oci(self) -> &'static str {
        self.deb()
    }

    /// The Docker platform string (`linux/amd64`).
    pub(crate) fn platform(self) -> String {
        format!("linux/{}", self.oci())
    }

    /// qemu's name for the arch (`qemu-aarch64`), the same as Rust's and the kernel's.
    pub(crate) fn qemu(self) -> &'static str {
        self.rpm()
    }

    /// The arch of this machine.
    pub fn host() -> Arch {
        Arch::from_any(std::env::consts::ARCH).unwrap_or(Arch::Amd64)
    }

    /// Any spelling osrepo meets: Debian's, rpm's, OCI's or the kernel's.
    pub(crate) fn from_any(s: &str) -> Option<Arch> {
        ALL.into_iter().find(|a| a.deb() == s || a.rpm() == s)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.deb())
    }
}

impl FromStr for Arch {
    type Err = UnknownArch;

    /// Debian's spelling only, as distro files, locks and `--arch` use it.
    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        ALL.into_iter().find(|a| a.deb() == s).ok_or_else(|| UnknownArch { name: s.to_string() })
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.deb())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Arch, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(Arch::Amd64.rpm(), "x86_64");
        assert_eq!(Arch::Arm64.rpm(), "aarch64");
        assert_eq!(Arch::Arm64.platform(), "linux/arm64");
        assert_eq!(Arch::from_any("aarch64"), Some(Arch::Arm64));
        assert_eq!(Arch::from_any("amd64"), Some(Arch::Amd64));
        assert_eq!(Arch::from_any("s390x"), None);
        assert_eq!("arm64".parse::<Arch>(), Ok(Arch::Arm64));
        assert_eq!("x86_64".parse::<Arch>().unwrap_err().to_string(), "unknown arch \"x86_64\" (known: amd64, arm64)");
        assert_eq!(serde_json::to_string(&vec![Arch::Amd64, Arch::Arm64]).unwrap(), r#"["amd64","arm64"]"#);
        let back: Vec<Arch> = serde_yaml::from_str("[amd64, arm64]").unwrap();
        assert_eq!(back, ALL);
        assert!(serde_yaml::from_str::<Vec<Arch>>("[s390x]").unwrap_err().to_string().contains("unknown arch"));
        assert_eq!(Arch::host().deb(), if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" });
    }
}
