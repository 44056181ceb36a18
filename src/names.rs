//! names: the grammars of every name that becomes a path, a command-line word or a line of a
//! generated file. Untrusted input (distro files, packages.yaml, osrepo.lock, upstream package
//! metadata, command-line values) is checked against these before it is used, so that no
//! value can leave its root directory, start an option or inject a line.
//!
//! Each check returns `Err(why)` with a short reason; callers add the file, line, package
//! and field.

/// A result of a grammar check: `Err` says why the value is refused.
pub type Check = std::result::Result<(), String>;

fn refuse(what: &str, value: &str, rule: &str) -> Check {
    Err(format!("{what} {value:?} {rule}"))
}

/// A path segment: `[A-Za-z0-9][A-Za-z0-9._+~-]*`, so never empty, `.`, `..`, absolute,
/// containing `/` or starting an option. Used for distro ids, releases, codenames, distro
/// names, upstream and repo names, arches and archive names.
pub fn segment(what: &str, v: &str) -> Check {
    let first_ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._+~-".contains(c)) {
        return refuse(what, v, "must be a plain name: [A-Za-z0-9][A-Za-z0-9._+~-]*");
    }
    Ok(())
}

/// A file name inside a repository (a lock's `file`, the basename of a pool path): one
/// segment of `[A-Za-z0-9._+~%:^=@-]`, not starting with `.` or `-`.
pub fn file_name(what: &str, v: &str) -> Check {
    let first_ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || "_+~%".contains(c));
    if !first_ok || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._+~%:^=@-".contains(c)) {
        return refuse(what, v, "must be a plain file name (no `/`, no leading `.` or `-`)");
    }
    Ok(())
}

/// A Debian binary or source package name (Debian policy 5.6.1/5.6.7): `[a-z0-9][a-z0-9+.-]+`.
pub fn deb_package(what: &str, v: &str) -> Check {
    let first_ok = v.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c));
    if v.len() < 2 || !first_ok || !rest_ok {
        return refuse(what, v, "is not a Debian package name ([a-z0-9][a-z0-9+.-]+)");
    }
    Ok(())
}

/// A Debian version (policy 5.6.12): `[epoch:]upstream[-revision]`, epoch digits, the rest
/// `[A-Za-z0-9.+~:-]` starting with a digit.
pub fn deb_version(what: &str, v: &str) -> Check {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    let epoch_ok = epoch.is_none_or(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    let first_ok = rest.chars().next().is_some_and(|c| c.is_ascii_digit());
    let rest_ok = rest.chars().all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c));
    if !epoch_ok || !first_ok || !rest_ok || rest.ends_with('-') {
        return refuse(what, v, "is not a Debian version ([epoch:]upstream[-revision])");
    }
    Ok(())
}

/// An rpm name, version, release or arch: `[A-Za-z0-9_+]` then `[A-Za-z0-9._+~^-]`
/// (names and releases also carry `-`/`.`; none may start with `.` or `-`).
pub fn rpm_field(what: &str, v: &str) -> Check {
    let first_ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || "_+".contains(c));
    if !first_ok || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._+~^-".contains(c)) {
        return refuse(what, v, "is not an rpm name ([A-Za-z0-9_+][A-Za-z0-9._+~^-]*)");
    }
    Ok(())
}

/// A locked package version of either family: `[A-Za-z0-9]` then `[A-Za-z0-9._+~^:-]`.
pub fn any_version(what: &str, v: &str) -> Check {
    let first_ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !v.chars().all(|c| c.is_ascii_alphanumeric() || "._+~^:-".contains(c)) {
        return refuse(what, v, "is not a package version");
    }
    Ok(())
}

/// A sha256 digest as the cache and the lock spell it: 64 lowercase hex digits.
pub fn sha256(what: &str, v: &str) -> Check {
    if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return refuse(what, v, "is not a sha256 (64 lowercase hex digits)");
    }
    Ok(())
}

/// A URL osrepo hands to a resolver or writes for nodes: scheme http, https or file, no
/// whitespace or control characters (a newline would inject a line into generated files).
pub fn url(what: &str, v: &str) -> Check {
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse(what, v, "must not contain whitespace or control characters");
    }
    let scheme_ok = ["http://", "https://", "file:"].iter().any(|s| v.len() > s.len() && v.starts_with(s));
    if !scheme_ok {
        return refuse(what, v, "must be an http://, https:// or file: URL");
    }
    Ok(())
}

/// A base URL nodes reach the repository at (`--base-url`): http(s) or file, no whitespace.
pub fn base_url(what: &str, v: &str) -> Check {
    url(what, v)
}

/// Characters no package spec may hold: shell and glob metacharacters, quotes, whitespace.
const SPEC_FORBIDDEN: &str = "*?[]{}$`;&|<>()'\"\\!#";

/// A package spec from packages.yaml: a word that names a package (with an optional pin),
/// never an option (`-o...`) and never a glob or shell word.
pub fn spec(what: &str, v: &str) -> Check {
    if v.is_empty() || v.starts_with('-') {
        return refuse(what, v, "must be a package name, not an option");
    }
    if let Some(c) = v.chars().find(|c| c.is_whitespace() || c.is_control() || SPEC_FORBIDDEN.contains(*c)) {
        return refuse(what, v, &format!("must not contain {c:?} (no glob or shell characters)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_refuse_paths() {
        for ok in ["debian", "12", "bookworm", "8.10", "el7", "ubuntu_22", "noble-updates"] {
            assert!(segment("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "/abs/path", "a/b", "-x", ".hidden", "a b", "a\nb", "x\0"] {
            assert!(segment("id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names() {
        for ok in ["jq_1.6-2.1_amd64.deb", "libc6_2.36-9%2bdeb12u4_amd64.deb", "bash-5.1-6.el9.x86_64.rpm"] {
            assert!(file_name("file", ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../x.deb", "a/b.deb", ".x", "-x", "a b", "a\n"] {
            assert!(file_name("file", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debian_names_and_versions() {
        for ok in ["curl", "libc6", "g++", "libstdc++6", "python3.11", "0ad"] {
            assert!(deb_package("Package", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "../../tmp/x", "a/b", "Curl", "-x", ".x", "a b", "a_b"] {
            assert!(deb_package("Package", bad).is_err(), "{bad:?}");
        }
        for ok in ["1.6-2.1", "1:2.36-9+deb12u4", "7.88.1-10+deb12u5", "1.0~rc1", "2.0"] {
            assert!(deb_version("Version", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a1", "1:", ":1", "x:1", "1 2", "1/2", "1-"] {
            assert!(deb_version("Version", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rpm_fields_digests_urls() {
        for ok in ["bash", "x86_64", "noarch", "5.1.8", "6.el9", "containerd.io", "gcc-c++", "1.0^git1"] {
            assert!(rpm_field("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/b", ".x", "-x", "a b"] {
            assert!(rpm_field("name", bad).is_err(), "{bad:?}");
        }
        assert!(sha256("sha256", &"ab".repeat(32)).is_ok());
        for bad in ["", "AB", &"AB".repeat(32), &"ab".repeat(33), &format!("../../{}", "a".repeat(58))] {
            assert!(sha256("sha256", bad).is_err(), "{bad:?}");
        }
        for ok in ["http://x/debian", "https://x", "file:/srv/repo", "file:///srv/repo"] {
            assert!(url("url", ok).is_ok(), "{ok}");
        }
        for bad in ["", "ftp://x", "/srv", "http://x\nTypes: deb", "http://x y", "javascript:x", "http://"] {
            assert!(url("url", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn specs_are_words_not_options_or_globs() {
        for ok in ["curl", "containerd=1.6.20~ds1-1+deb12u1", "containerd.io-1.6.28", "libc6:amd64", "jq/bookworm"] {
            assert!(spec("spec", ok).is_ok(), "{ok}");
        }
        for bad in ["-oDir::State::status=/var/lib/dpkg/status", "*", "lib*", "a;b", "$(x)", "a`b`", "a b", "x?"] {
            assert!(spec("spec", bad).is_err(), "{bad:?}");
        }
    }
}
