//! reap: what a killed osrepo left beside an output tree. Work directories
//! (`.osrepo-work.<pid>.*`) and staging trees (`.<out>.staging.<pid>`) whose process is gone
//! are removed before a new build of that output starts (it holds the output's lock, so no
//! live writer of this output can own them).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Is a process with this pid running (on this host)?
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The owner pid of a directory osrepo leaves beside `out`, if `name` is one.
fn owner(name: &str, out_name: &str) -> Option<u32> {
    if let Some(rest) = name.strip_prefix(".osrepo-work.") {
        return rest.split('.').next()?.parse().ok();
    }
    name.strip_prefix(&format!(".{out_name}.staging."))?.parse().ok()
}

/// Remove the work and staging directories of dead processes beside `out`; returns them.
pub fn stale_dirs(out: &Path) -> Result<Vec<PathBuf>> {
    let parent = crate::fsutil::parent_of(out);
    let out_name = out.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(&parent) else { return Ok(removed) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner(&name, out_name) else { continue };
        if pid == std::process::id() || alive(pid) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        std::fs::remove_dir_all(e.path()).with_context(|| format!("cannot remove stale {}", e.path().display()))?;
        tracing::info!("removed {} left by osrepo process {pid}, which is gone", e.path().display());
        removed.push(e.path());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_of_dead_owners_go_and_live_ones_stay() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let d = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let names = [
            format!(".osrepo-work.{dead}.Ab12"),
            format!(".out.staging.{dead}"),
            format!(".osrepo-work.{me}.Cd34"),
            format!(".out.staging.{me}"),
            format!(".other.staging.{dead}"),
            ".osrepo-work.Ab12x9".to_string(),
        ];
        for n in &names {
            std::fs::create_dir_all(d.path().join(n).join("x")).unwrap();
        }
        let removed = stale_dirs(&d.path().join("out")).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        for (i, n) in names.iter().enumerate() {
            assert_eq!(d.path().join(n).exists(), i >= 2, "{n}");
        }
        assert!(alive(me) && !alive(dead) && !alive(0));
    }
}
