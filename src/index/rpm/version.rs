//! rpm version strings: splitting dependency EVRs and comparing versions.

use std::cmp::Ordering;

/// Epoch, version and release of a dependency; `None` where empty.
type Evr<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Split a dependency version `[E:]V[-R]` like createrepo_c's `cr_str_to_evr`:
/// the epoch defaults to `"0"`, empty parts are `None`, and a non-numeric
/// epoch makes the whole entry invalid (`None`).
pub(super) fn split_evr(evr: &str) -> Option<Evr<'_>> {
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

/// rpm's `rpmvercmp` (with `~` and `^`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        if end_b == j {
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (mut sa, mut sb) = (&a[i..end_a], &b[j..end_b]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}
