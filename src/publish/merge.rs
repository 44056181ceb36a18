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
            if backends.iter().any(|b| b.regenerated_by_merge(&rel))
                || crate::emit::TREE_FILES.contains(&rel.as_str())
                || crate::sbom::is_signature(&rel)
            {
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
            if let Some((other, owner)) = shape_conflict(&from, &rel) {
                bail!(
                    "merge: {rel} is a file in {} but {other} in {} makes it a directory (or the reverse); parts must agree on the tree's shape",
                    part.display(),
                    owner.display()
                );
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
    crate::emit::write_tree_files(staging.path())?;
    staging.commit()
}

/// A file placed earlier that is an ancestor of `rel`, or one under `rel` (a file in one part
/// is a directory in another): that path and its part.
fn shape_conflict<'a>(from: &'a BTreeMap<String, PathBuf>, rel: &str) -> Option<(&'a str, &'a PathBuf)> {
    let under = format!("{rel}/");
    let below = from.range(under.clone()..).next().filter(|(k, _)| k.starts_with(&under));
    let above = rel.match_indices('/').map(|(i, _)| &rel[..i]).find_map(|a| from.get_key_value(a));
    below.or(above).map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_one_part_that_is_a_directory_in_another_is_named_with_both_parts() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("part-a"), d.path().join("part-b"));
        std::fs::create_dir_all(a.join("debian/extra")).unwrap();
        std::fs::write(a.join("debian/extra/x"), b"1").unwrap();
        std::fs::create_dir_all(b.join("debian")).unwrap();
        std::fs::write(b.join("debian/extra"), b"2").unwrap();
        let key = SigningKey::generate("t <t@example.org>", std::time::SystemTime::UNIX_EPOCH).unwrap();
        for parts in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
            let e = merge(&d.path().join("out"), &parts, &key).unwrap_err().to_string();
            assert!(e.contains("debian/extra") && e.contains("part-a") && e.contains("part-b"), "{e}");
            assert!(!d.path().join("out").exists());
        }
    }
}
