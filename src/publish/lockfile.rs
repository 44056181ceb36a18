//! lockfile: exclusive locks (flock) that keep two osrepo processes from writing the same
//! output tree or the same osrepo.lock at once. The lock of `PATH` is the file
//! `.<name>.lock` beside it (so it survives the swap of `out/`); it holds the owner's pid
//! for the message the second process prints. The kernel drops the lock when the owner
//! exits, however it exits.

use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct Held {
    _file: File,
    pub path: PathBuf,
}

/// The lock file of `target`: `.<name>.lock` in the same directory.
pub fn lock_path(target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    crate::fsutil::parent_of(target).join(format!(".{name}.lock"))
}

fn flock(f: &File, nonblocking: bool) -> std::io::Result<()> {
    let op = libc::LOCK_EX | if nonblocking { libc::LOCK_NB } else { 0 };
    loop {
        // SAFETY: flock on a descriptor this function borrows for the call.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The exclusive lock of the file `path` itself (created if absent), or None when another
/// holder has it. For short-lived locks that callers poll (a download in progress).
pub(crate) fn try_hold(path: &Path) -> Result<Option<File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock {}", path.display()))?;
    match flock(&f, true) {
        Ok(()) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// Take the exclusive lock of `target` (what: "output", "lockfile", for messages). When
/// another process holds it: with `wait`, say so on stderr and wait; without, fail at once.
pub fn lock(target: &Path, what: &str, wait: bool) -> Result<Held> {
    let path = lock_path(target);
    crate::fsutil::create_dirs(&crate::fsutil::parent_of(&path))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock {}", path.display()))?;
    if let Err(e) = flock(&f, true) {
        if e.kind() != std::io::ErrorKind::WouldBlock {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
        let owner = std::fs::read_to_string(&path).unwrap_or_default();
        let owner = owner.trim();
        if !wait {
            bail!("{what} {} is locked by another osrepo (pid {owner}; lock {})", target.display(), path.display());
        }
        eprintln!("waiting for another osrepo (pid {owner}) to finish with {what} {}", target.display());
        flock(&f, false).with_context(|| format!("cannot lock {}", path.display()))?;
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", std::process::id())?;
    Ok(Held { _file: f, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_fails_at_once_or_waits() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let first = lock(&out, "output", false).unwrap();
        assert_eq!(first.path, d.path().join(".out.lock"));
        let e = lock(&out, "output", false).unwrap_err().to_string();
        assert!(e.contains("output") && e.contains("is locked by another osrepo") && e.contains(".out.lock"), "{e}");
        let (tx, rx) = std::sync::mpsc::channel();
        let o = out.clone();
        let t = std::thread::spawn(move || {
            let h = lock(&o, "output", true);
            tx.send(()).unwrap();
            h.map(|_| ())
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "it did not wait");
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("it did not get the lock");
        t.join().unwrap().unwrap();
    }
}
