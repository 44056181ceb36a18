//! The two kinds of configuration: `packages.yaml` (what to ship) and `distros/*.yaml`
//! (where and how to resolve it). Both are data; nothing here touches Docker or the network.

pub mod distro;
pub mod packages;
pub(crate) mod validate;

use serde::{Deserialize, Serialize};

pub use distro::{Distro, ExtraRepo};
pub use packages::{PackageSet, PackageSpec, Selection};

/// Package family: which tools resolve and which metadata is written (see `crate::family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Deb,
    Rpm,
}
