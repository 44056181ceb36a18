//! rpm versions in one place: comparing them (rpm's `rpmvercmp`, from the
//! `rpm-version` crate), splitting dependency versions, and writing EVR and
//! NEVRA strings.

use std::cmp::Ordering;

use rpm_version::Evr;

/// Epoch, version and release of a dependency; `None` where empty.
type DepEvr<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Split a dependency version `[E:]V[-R]` like createrepo_c's `cr_str_to_evr`:
/// the epoch defaults to `"0"`, empty parts are `None`, and a non-numeric
/// epoch makes the whole entry invalid (`None`).
pub(super) fn split_evr(evr: &str) -> Option<DepEvr<'_>> {
    if evr.is_empty() {
        return Some((None, None, None));
    }
    let (epoch, rest) = match evr.split_once(':') {
        Some((epoch, rest)) => {
            if !strtol_whole(epoch) {
                return None;
            }
            (if epoch.is_empty() { "0" } else { epoch }, rest)
        }
        None => ("0", evr),
    };
    let (ver, rel) = match rest.split_once('-') {
        Some((ver, rel)) => (ver, rel),
        None => (rest, ""),
    };
    Some((Some(epoch), (!ver.is_empty()).then_some(ver), (!rel.is_empty()).then_some(rel)))
}

/// Whether C's `strtol` would consume all of `s` (empty counts, as in createrepo_c).
fn strtol_whole(s: &str) -> bool {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    s.is_empty() || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

/// rpm's `rpmvercmp` (with `~` and `^`) on one version or release string.
pub(crate) fn rpmvercmp(a: &str, b: &str) -> Ordering {
    // Equal epochs and releases: the comparison is the version's alone.
    Evr::new("", a, "").cmp(&Evr::new("", b, ""))
}

/// `[epoch:]version-release`, the epoch omitted when 0 (`2:1.2-3`, `1.0-1`).
pub(crate) fn evr_string(epoch: u32, version: &str, release: &str) -> String {
    if epoch == 0 {
        format!("{version}-{release}")
    } else {
        format!("{epoch}:{version}-{release}")
    }
}

/// `name-epoch:version-release.arch` with the epoch always written (`0:` when
/// none), the form module metadata lists its artifacts in.
pub(crate) fn nevra(name: &str, epoch: u32, version: &str, release: &str, arch: &str) -> String {
    format!("{name}-{epoch}:{version}-{release}.{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_and_nevra_strings() {
        assert_eq!(evr_string(0, "1.0", "1.el9"), "1.0-1.el9");
        assert_eq!(evr_string(2, "1.2.3", "4"), "2:1.2.3-4");
        assert_eq!(nevra("bash", 0, "5.1.8", "9.el9", "x86_64"), "bash-0:5.1.8-9.el9.x86_64");
        assert_eq!(nevra("libfoo", 2, "1.2.3", "4.el9", "noarch"), "libfoo-2:1.2.3-4.el9.noarch");
    }
}
