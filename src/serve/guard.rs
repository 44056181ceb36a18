//! guard: a request path to a file or directory inside the served root, or nothing.
//!
//! Every segment is percent-decoded on its own; a decoded segment that is empty (inside the
//! path), `.`, `..`, or holds `/`, `\` or NUL is refused, so `..`, `%2e%2e`, `%2f` and `//`
//! never reach the filesystem. The joined path is then canonicalized (symlinks resolved) and
//! must still lie below the canonical root: a symlink in the tree that points out of it is
//! "not found", one that stays inside is served. What is served is the canonical path, so
//! the file server opens a path with no symlink in it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A regular file (canonical path).
    File(PathBuf),
    /// A directory (canonical path); `slash` says whether the request path ended in `/`.
    Dir { path: PathBuf, slash: bool },
    /// Nothing servable: missing, refused, outside the root, or not a file or directory.
    NotFound,
}

/// The decoded segments of a request path, or `None` when the path is refused.
pub(crate) fn segments(raw: &str) -> Option<Vec<Vec<u8>>> {
    let rest = raw.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() && i == last {
            break; // a trailing slash
        }
        let seg: Vec<u8> = percent_encoding::percent_decode_str(part).collect();
        let bad = seg.is_empty() || seg == b"." || seg == b".." || seg.iter().any(|b| matches!(b, b'/' | b'\\' | 0));
        if bad {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

/// Resolve a request path (the URI's path, still percent-encoded) below `root`, which must
/// be canonical.
pub(crate) fn resolve(root: &Path, raw: &str) -> Target {
    let Some(segs) = segments(raw) else { return Target::NotFound };
    let mut p = root.to_path_buf();
    for s in &segs {
        p.push(OsStr::from_bytes(s));
    }
    let Ok(canon) = p.canonicalize() else { return Target::NotFound };
    if !canon.starts_with(root) {
        return Target::NotFound;
    }
    match std::fs::metadata(&canon) {
        Ok(m) if m.is_file() => Target::File(canon),
        Ok(m) if m.is_dir() => Target::Dir { path: canon, slash: raw.ends_with('/') },
        _ => Target::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("out");
        std::fs::create_dir_all(root.join("debian/dists")).unwrap();
        std::fs::write(root.join("debian/dists/Release"), b"r").unwrap();
        std::fs::write(d.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("out-link")).unwrap();
        std::os::unix::fs::symlink("/", root.join("root-link")).unwrap();
        std::os::unix::fs::symlink("debian/dists/Release", root.join("in-link")).unwrap();
        let canon = root.canonicalize().unwrap();
        (d, canon)
    }

    #[test]
    fn files_and_directories_inside_are_found() {
        let (_d, root) = tree();
        assert_eq!(resolve(&root, "/debian/dists/Release"), Target::File(root.join("debian/dists/Release")));
        assert_eq!(resolve(&root, "/debian/%64ists/Release"), Target::File(root.join("debian/dists/Release")));
        assert_eq!(resolve(&root, "/"), Target::Dir { path: root.clone(), slash: true });
        assert_eq!(resolve(&root, "/debian"), Target::Dir { path: root.join("debian"), slash: false });
        // A symlink that stays inside is served as its target.
        assert_eq!(resolve(&root, "/in-link"), Target::File(root.join("debian/dists/Release")));
    }

    #[test]
    fn traversal_in_every_spelling_is_not_found() {
        let (_d, root) = tree();
        for p in [
            "/../secret",
            "/debian/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E/secret",
            "/.%2e/secret",
            "/debian%2f..%2f..%2fsecret",
            "/..%5csecret",
            "//etc/passwd",
            "/debian//dists/Release",
            "/./debian/dists/Release",
            "/%00",
            "etc/passwd",
            "/out-link",
            "/root-link/etc/passwd",
            "/root-link/",
            "/missing",
        ] {
            assert_eq!(resolve(&root, p), Target::NotFound, "{p}");
        }
    }
}
