//! present: every requested spec is satisfied by a package of the resolved closure (by
//! name, or for a virtual name by a Provides), and a pinned spec got its version. This
//! catches a resolver that silently drops a name, whatever the family.

use crate::config::PackageSpec;
use crate::family::{Backend, Identity};

/// The closure packages (indexes) that satisfy a spec: those of its name (of the pinned
/// version, when pinned), else, for an unpinned name no package has, its providers.
pub(crate) fn satisfying(be: &dyn Backend, s: &PackageSpec, closure: &[Identity]) -> Vec<usize> {
    let named: Vec<usize> = (0..closure.len()).filter(|&i| closure[i].name == s.name).collect();
    match &s.version {
        Some(pin) => named.into_iter().filter(|&i| be.pin_matches(pin, &closure[i].version)).collect(),
        None if !named.is_empty() => named,
        None => (0..closure.len()).filter(|&i| closure[i].provides.contains(&s.name)).collect(),
    }
}

/// The specs the closure does not satisfy, each with why.
pub(crate) fn unsatisfied(be: &dyn Backend, specs: &[PackageSpec], closure: &[Identity]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in specs.iter().filter(|s| satisfying(be, s, closure).is_empty()) {
        let named: Vec<&str> = closure.iter().filter(|p| p.name == s.name).map(|p| p.version.as_str()).collect();
        let why = match (&s.version, named.is_empty()) {
            (Some(pin), false) => format!("pinned to {pin}, but the closure has {} {}", s.name, named.join(", ")),
            (Some(_), true) => "pinned, but no package of that name is in the resolved closure".to_string(),
            (None, _) => "not in the resolved closure (no package of that name, none provides it)".to_string(),
        };
        out.push((s.raw.clone(), why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Family;
    use crate::family::backend;

    fn id(name: &str, version: &str, provides: &[&str]) -> Identity {
        Identity {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            provides: provides.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn check(f: Family, specs: &[&str], closure: &[Identity]) -> Vec<String> {
        let specs: Vec<PackageSpec> = specs.iter().map(|s| PackageSpec::parse(s, f, "g")).collect();
        unsatisfied(backend(f), &specs, closure).into_iter().map(|(s, why)| format!("{s}: {why}")).collect()
    }

    #[test]
    fn deb_names_virtual_names_and_pins() {
        let closure = [id("jq", "1.6-2.1", &[]), id("bind9-host", "1:9.18", &["host"]), id("mawk", "1.3.4", &["awk"])];
        assert!(check(Family::Deb, &["jq", "host", "awk", "jq=1.6-2.1"], &closure).is_empty());
        let bad = check(Family::Deb, &["jq=1.7-1", "tcpdump", "bind9-host=2.0"], &closure);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[0].starts_with("jq=1.7-1: pinned to 1.7-1, but the closure has jq 1.6-2.1"), "{bad:?}");
        assert!(bad[1].starts_with("tcpdump: not in the resolved closure"), "{bad:?}");
    }

    #[test]
    fn rpm_provides_only_names_and_pins() {
        // repotrack drops names that exist only as a Provides: the closure then has no
        // conntrack-tools, and the check names `conntrack`.
        let closure =
            [id("conntrack-tools", "1.4.4-11.el7", &["conntrack"]), id("containerd.io", "1.6.28-3.1.el7", &[])];
        assert!(check(Family::Rpm, &["conntrack", "containerd.io-1.6.28", "containerd.io-1.6.28-3.1.el7"], &closure)
            .is_empty());
        let bad = check(Family::Rpm, &["vim", "containerd.io-1.6.27"], &[closure[1].clone()]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("vim: not in the resolved closure"));
        assert!(bad[1].contains("pinned to 1.6.27"));
        let epoch = [id("bash", "2:5.1-9", &[])];
        assert!(check(Family::Rpm, &["bash-5.1", "bash-5.1-9", "bash-2:5.1-9"], &epoch).is_empty());
    }
}
