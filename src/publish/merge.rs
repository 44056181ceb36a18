//! merge: combine trees built separately (one CI job per distro/arch) into one. Files are
//! hard linked; each family regenerates and re-signs the indexes that span parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::Staging;
use crate::fsutil::{files_under, link_or_copy, same_content};
use crate::sign::SigningKey;

/// Merge `parts` into `out` (created when missing; existing files are replaced by the parts'),
/// then let each family rewrite and sign what the parts touched.
pub fn merge(out: &Path, parts: &[PathBuf], key: &SigningKey) -> Result<()> {
    let staging = Staging::begin(out)?;
    let backends = crate::family::all();
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    for part in parts {
        if !part.is_dir() {
            bail!("merge: part {} is not a directory", part.display());
        }
        for (rel, src) in files_under(part)? {
            if backends.iter().any(|b| b.regenerated_by_merge(&rel)) || crate::sbom::is_signature(&rel) {
                continue;
            }
            let dest = staging.path().join(&rel);
            if let Some(first) = from.get(&rel) {
                if !same_content(&src, &dest)? {
                    bail!(
                        "merge: {rel} differs between {} and {}; parts must agree on shared files",
                        first.display(),
                        part.display()
                    );
                }
                continue;
            }
            link_or_copy(&src, &dest)?;
            from.insert(rel, part.clone());
        }
    }
    for b in backends {
        b.finish_merge(staging.path(), parts, key)?;
    }
    crate::sbom::resign(staging.path(), key)?;
    crate::sign::write_public_key_files(&staging.path().join("keys"), key)?;
    staging.commit()
}
