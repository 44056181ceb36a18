//! publish: assemble the new tree beside the output and swap it in at the end, so a failed
//! or interrupted build leaves the previous output untouched.

pub mod iso;
pub mod lockfile;
pub mod merge;
pub mod pack;
pub mod reap;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fsutil::parent_of;

/// A staging directory beside `out`. Dropped without `commit`, it is removed.
pub(crate) struct Staging {
    out: PathBuf,
    dir: PathBuf,
    done: bool,
}

impl Staging {
    /// Start from a copy of the current output (package files hard-linked, indexes copied,
    /// so nothing written in staging can change the live tree).
    pub(crate) fn begin(out: &Path) -> Result<Staging> {
        let parent = parent_of(out);
        std::fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let dir = parent.join(format!(".{name}.staging.{}", std::process::id()));
        if dir.exists() {
            crate::fsutil::remove_tree(&dir)?;
        }
        crate::fsutil::create_dirs(&dir)?;
        let st = Staging { out: out.to_path_buf(), dir, done: false };
        if out.exists() {
            if !out.is_dir() {
                bail!("output {} exists and is not a directory", out.display());
            }
            copy_tree(out, &st.dir)?;
        }
        Ok(st)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Swap the staged tree in: one atomic exchange when the output exists.
    pub(crate) fn commit(mut self) -> Result<()> {
        if self.out.exists() {
            exchange(&self.dir, &self.out)?;
            // `dir` now holds the previous tree.
            crate::fsutil::remove_tree(&self.dir)
                .with_context(|| format!("cannot remove the previous tree at {}", self.dir.display()))?;
        } else {
            std::fs::rename(&self.dir, &self.out)
                .with_context(|| format!("cannot move {} to {}", self.dir.display(), self.out.display()))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = crate::fsutil::remove_tree(&self.dir);
        }
    }
}

/// renameat2(RENAME_EXCHANGE): both paths stay valid at every instant.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them like rename(2).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        bail!("cannot swap {} into {}: {e}", a.display(), b.display());
    }
    Ok(())
}

/// Is this a package file (never rewritten in place, so safe to share by hard link)?
fn is_package(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("deb") | Some("rpm"))
}

/// Copy a tree: package files as hard links, everything else as copies.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_dir() {
            crate::fsutil::create_dirs(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            // A symlinked directory would take the next build's writes out of the tree.
            if std::fs::metadata(&src).is_ok_and(|m| m.is_dir()) {
                bail!(
                    "{} is a symlink to a directory; osrepo writes nothing through symlinks in its output: replace it with a directory",
                    src.display()
                );
            }
            let target = std::fs::read_link(&src)?;
            std::os::unix::fs::symlink(target, &dst)?;
        } else if is_package(&src) {
            std::fs::hard_link(&src, &dst)
                .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
                .with_context(|| format!("cannot link {} to {}", src.display(), dst.display()))?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::write_atomic as write_file;

    #[test]
    fn a_symlinked_directory_in_the_output_is_refused_and_nothing_leaves_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("debian")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", out.join("file-link")).unwrap();
        let e = Staging::begin(&out).err().expect("a symlinked directory must be refused").to_string();
        assert!(e.contains("out/debian is a symlink to a directory"), "{e}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        // Only the output and the writer's parent stay: no staging directory is left.
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    #[test]
    fn failed_staging_leaves_output_untouched() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(out.join("a")).unwrap();
        std::fs::write(out.join("a/x.deb"), b"pkg").unwrap();
        std::fs::write(out.join("a/Packages"), b"old").unwrap();
        {
            let st = Staging::begin(&out).unwrap();
            write_file(&st.path().join("a/Packages"), b"new").unwrap();
            std::fs::remove_file(st.path().join("a/x.deb")).unwrap();
            // dropped without commit
        }
        assert_eq!(std::fs::read(out.join("a/Packages")).unwrap(), b"old");
        assert_eq!(std::fs::read(out.join("a/x.deb")).unwrap(), b"pkg");
        let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "staging dir must be gone");
    }

    #[test]
    fn commit_swaps_in_new_tree() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("Packages"), b"old").unwrap();
        std::fs::write(out.join("p.deb"), b"pkg").unwrap();
        let st = Staging::begin(&out).unwrap();
        write_file(&st.path().join("Packages"), b"new").unwrap();
        st.commit().unwrap();
        assert_eq!(std::fs::read(out.join("Packages")).unwrap(), b"new");
        assert_eq!(std::fs::read(out.join("p.deb")).unwrap(), b"pkg");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        // first publish: no previous output
        let out2 = d.path().join("fresh");
        let st = Staging::begin(&out2).unwrap();
        write_file(&st.path().join("f"), b"1").unwrap();
        st.commit().unwrap();
        assert_eq!(std::fs::read(out2.join("f")).unwrap(), b"1");
    }
}
