//! `packages.yaml`: named groups of package specs, nested groups addressed with dots.
//!
//! The format is the k8sli/os-packages one: a map of group name to either a list of package
//! specs or a map of sub-groups (`kubespray: {common: [...], apt: [...]}` is `kubespray.common`).
//! A spec is a package name with an optional pin in the family's own syntax
//! (`containerd.io=1.6.28-1` for apt, `containerd.io-1.6.28` for yum/dnf).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::Family;

/// One group: a list of specs or nested sub-groups.
#[derive(Debug, Clone, PartialEq)]
pub enum Group {
    List(Vec<String>),
    Nested(BTreeMap<String, Group>),
}

/// The parsed `packages.yaml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackageSet {
    pub path: PathBuf,
    pub groups: BTreeMap<String, Group>,
}

/// A package request after family-specific parsing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageSpec {
    /// The spec as written (what the resolver is asked for).
    pub raw: String,
    /// The package name.
    pub name: String,
    /// The pinned version, for apt specs (`name=version`).
    pub version: Option<String>,
    /// The group the spec came from (first one, when several list it).
    pub group: String,
}

/// What a distro's group list selects from the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub specs: Vec<PackageSpec>,
    /// Groups the distro takes that the file defines.
    pub found: Vec<String>,
    /// Groups the distro takes that the file does not define (they count as empty).
    pub absent: Vec<String>,
}

struct GroupMap(BTreeMap<String, Group>);

impl<'de> Deserialize<'de> for GroupMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GroupMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of group names to package lists or sub-groups")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<GroupMap, E> {
                Ok(GroupMap(BTreeMap::new()))
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<GroupMap, E> {
                Ok(GroupMap(BTreeMap::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<GroupMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key.is_empty() || key.contains('.') || key.contains(char::is_whitespace) {
                        return Err(de::Error::custom(format!(
                            "group name {key:?} must be non-empty without dots or spaces"
                        )));
                    }
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!("duplicate group {key:?}")));
                    }
                    let group: GroupValue = map.next_value()?;
                    out.insert(key, group.0);
                }
                Ok(GroupMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct GroupValue(Group);

impl<'de> Deserialize<'de> for GroupValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GroupValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of package specs or a map of sub-groups")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<GroupValue, E> {
                Ok(GroupValue(Group::List(Vec::new())))
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<GroupValue, E> {
                Ok(GroupValue(Group::List(Vec::new())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<GroupValue, A::Error> {
                let mut specs = Vec::new();
                while let Some(spec) = seq.next_element::<SpecString>()? {
                    specs.push(spec.0);
                }
                Ok(GroupValue(Group::List(specs)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<GroupValue, A::Error> {
                let inner = GroupMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(GroupValue(Group::Nested(inner.0)))
            }
        }
        d.deserialize_any(V)
    }
}

struct SpecString(String);

impl<'de> Deserialize<'de> for SpecString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SpecString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a package spec string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<SpecString, E> {
                let v = v.trim();
                if v.is_empty() || v.contains(char::is_whitespace) {
                    return Err(E::custom(format!("package spec {v:?} must be one word (name, or name with a pin)")));
                }
                crate::names::spec("package spec", v).map_err(E::custom)?;
                Ok(SpecString(v.to_string()))
            }
        }
        // Any, not str: a plain `5`, `true` or `null` is a number, bool or null to YAML and is
        // refused (as "expected a package spec string"), not read as the name "5".
        d.deserialize_any(V)
    }
}

impl PackageSet {
    /// Parse `packages.yaml` text; errors name the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<PackageSet> {
        let groups = match serde_yaml::from_str::<GroupMap>(text) {
            Ok(g) => g.0,
            Err(e) => match duplicate_place(text, &e) {
                Some((line, col, key)) => {
                    bail!("{}:{line}:{col}: duplicate group {key:?}", path.display())
                }
                None => bail!("{}", located(path, &e)),
            },
        };
        Ok(PackageSet { path: path.to_path_buf(), groups })
    }

    pub fn load(path: &Path) -> Result<PackageSet> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read package list {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Look up a dotted group name.
    pub fn group(&self, dotted: &str) -> Option<&Group> {
        let mut parts = dotted.split('.');
        let mut cur = self.groups.get(parts.next()?)?;
        for part in parts {
            match cur {
                Group::Nested(m) => cur = m.get(part)?,
                Group::List(_) => return None,
            }
        }
        Some(cur)
    }

    /// The specs a list of groups selects, in first-seen order, each name once unless it is
    /// pinned to several versions (each pin is kept: the repository then carries every pinned
    /// version and its closure; see [`passes`]). An unpinned mention adds nothing to a pin.
    pub fn select(&self, groups: &[String], family: Family) -> Result<Selection> {
        let mut sel = Selection::default();
        for g in groups {
            let Some(group) = self.group(g) else {
                sel.absent.push(g.clone());
                continue;
            };
            sel.found.push(g.clone());
            let mut raws = Vec::new();
            flatten(group, &mut raws);
            for raw in raws {
                add_spec(&mut sel.specs, PackageSpec::parse(&raw, family, g));
            }
        }
        Ok(sel)
    }
}

fn add_spec(specs: &mut Vec<PackageSpec>, spec: PackageSpec) {
    let same_name: Vec<usize> = (0..specs.len()).filter(|i| specs[*i].name == spec.name).collect();
    if same_name.iter().any(|i| specs[*i].raw == spec.raw) {
        return;
    }
    match (same_name.first(), &spec.version) {
        (None, _) => specs.push(spec),
        // An unpinned mention adds nothing to a pinned one.
        (Some(_), None) => {}
        (Some(&i), Some(_)) if specs[i].version.is_none() => specs[i] = spec,
        (Some(_), Some(_)) => specs.push(spec),
    }
}

/// The resolver passes of a spec list: one with every spec, unless a name is pinned to
/// several versions. Then pass `i` takes every other spec and the `i`-th pin of each such
/// name (its last pin where it has fewer), so that conflicting pins are resolved apart and
/// each brings its own closure.
pub fn passes(specs: &[PackageSpec]) -> Vec<Vec<PackageSpec>> {
    let mut pins: BTreeMap<&str, Vec<&PackageSpec>> = BTreeMap::new();
    for s in specs {
        pins.entry(s.name.as_str()).or_default().push(s);
    }
    let n = pins.values().map(Vec::len).max().unwrap_or(1);
    (0..n.max(1))
        .map(|i| {
            let mut seen = std::collections::BTreeSet::new();
            specs
                .iter()
                .filter_map(|s| {
                    let of_name = &pins[s.name.as_str()];
                    let pick = of_name[i.min(of_name.len() - 1)];
                    seen.insert(s.name.as_str()).then(|| pick.clone())
                })
                .collect()
        })
        .collect()
}

fn flatten(group: &Group, out: &mut Vec<String>) {
    match group {
        Group::List(v) => out.extend(v.iter().cloned()),
        Group::Nested(m) => m.values().for_each(|g| flatten(g, out)),
    }
}

impl PackageSpec {
    /// Split a spec into name and pin as the family's tools read it.
    pub fn parse(raw: &str, family: Family, group: &str) -> PackageSpec {
        let (name, version) = match crate::family::backend(family).split_pin(raw) {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (raw.to_string(), None),
        };
        PackageSpec { raw: raw.to_string(), name, version, group: group.to_string() }
    }
}

/// serde_yaml places a duplicate-key error at the start of the map; find the second
/// occurrence of the key at the map's indentation instead.
fn duplicate_place(text: &str, e: &serde_yaml::Error) -> Option<(usize, usize, String)> {
    let msg = e.to_string();
    let start = msg.find("duplicate group \"")? + "duplicate group \"".len();
    let key = &msg[start..start + msg[start..].find('"')?];
    let loc = e.location()?;
    let mut seen = 0;
    for (i, line) in text.lines().enumerate().skip(loc.line().saturating_sub(1)) {
        let indent = line.len() - line.trim_start().len();
        let rest = line.trim_start();
        let bare = rest.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'));
        let quoted = rest.strip_prefix(&format!("\"{key}\"")).is_some_and(|r| r.trim_start().starts_with(':'));
        if indent + 1 == loc.column() && (bare || quoted) {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, indent + 1, key.to_string()));
            }
        }
    }
    None
}

/// Format a serde_yaml error as `file:line:column: message`.
/// Like [`located`], and a duplicate key is placed at its second occurrence (serde_yaml
/// places it at the start of the mapping).
pub(crate) fn located_in(path: &Path, text: &str, e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    let msg = msg.find(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
    let quoted = |prefix: &str| msg.strip_prefix(prefix).and_then(|r| r.split('`').next());
    let place = match (quoted("duplicate field `"), quoted("unknown arch `"), e.location()) {
        (Some(key), _, Some(l)) => duplicate_at(text, key, l.line(), l.column()),
        // A per-arch key: serde_yaml has lost its place (untagged values are buffered).
        (_, Some(key), _) => first_key(text, key),
        _ => None,
    };
    match place {
        Some((line, col)) => format!("{}:{line}:{col}: {msg}", path.display()),
        None => located(path, e),
    }
}

/// The line and column of the first `key:` in the text.
fn first_key(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        t.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':')).then(|| (i + 1, l.len() - t.len() + 1))
    })
}

/// The line and column of the second `key:` of the block mapping that starts at
/// `line`:`column` (1-based), among the keys at that mapping's indentation.
fn duplicate_at(text: &str, key: &str, line: usize, column: usize) -> Option<(usize, usize)> {
    let indent = column.checked_sub(1)?;
    let mut seen = 0;
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let trimmed = l.trim_start();
        let at = l.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if at < indent && i + 1 > line {
            break;
        }
        let body = if i + 1 == line { &l[indent.min(l.len())..] } else { trimmed };
        if (at == indent || i + 1 == line) && body.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':')) {
            seen += 1;
            if seen == 2 {
                return Some((i + 1, at + 1));
            }
        }
    }
    None
}

pub(crate) fn located(path: &Path, e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    // serde_yaml appends " at line L column C"; keep the message clean and put the place first.
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    };
    match e.location() {
        Some(l) => format!("{}:{}:{}: {}", path.display(), l.line(), l.column(), msg),
        None => format!("{}: {}", path.display(), msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PackageSet> {
        PackageSet::parse(Path::new("packages.yaml"), text)
    }

    #[test]
    fn a_duplicate_key_is_placed_at_its_second_occurrence() {
        let text = "name: x\nfamily: deb\n# c\nimage:\n  amd64: a\nfamily: rpm\n";
        assert_eq!(duplicate_at(text, "family", 1, 1), Some((6, 1)));
        let nested = "repos:\n  - name: a\n    baseurl: u\n    name: b\n";
        assert_eq!(duplicate_at(nested, "name", 2, 5), Some((4, 5)));
        assert_eq!(duplicate_at(text, "image", 1, 1), None);
    }

    #[test]
    fn nested_groups_and_selection_order() {
        let p = parse("kubespray:\n  common: [curl, socat]\n  apt: [python3-apt]\ncommon:\n  - lsof\n  - curl\ndebian12:\n  - containerd=1.6.20~ds1-1\n").unwrap();
        assert!(matches!(p.group("kubespray"), Some(Group::Nested(_))));
        assert_eq!(p.group("kubespray.apt"), Some(&Group::List(vec!["python3-apt".into()])));
        assert_eq!(p.group("kubespray.nope"), None);
        assert_eq!(p.group("common.x"), None);
        let groups: Vec<String> =
            ["kubespray.common", "common", "kubespray.apt", "debian12", "ubuntu"].map(String::from).into();
        let s = p.select(&groups, Family::Deb).unwrap();
        let raws: Vec<&str> = s.specs.iter().map(|s| s.raw.as_str()).collect();
        assert_eq!(raws, ["curl", "socat", "lsof", "python3-apt", "containerd=1.6.20~ds1-1"]);
        assert_eq!(s.absent, ["ubuntu"]);
        assert_eq!(s.found.len(), 4);
        let pinned = s.specs.last().unwrap();
        assert_eq!((pinned.name.as_str(), pinned.version.as_deref()), ("containerd", Some("1.6.20~ds1-1")));
        assert_eq!(pinned.group, "debian12");
    }

    #[test]
    fn a_whole_nested_group_selects_all_its_lists() {
        let p = parse("kubespray:\n  common: [curl]\n  apt: [gnupg]\n").unwrap();
        let s = p.select(&["kubespray".to_string()], Family::Deb).unwrap();
        assert_eq!(s.specs.len(), 2);
    }

    #[test]
    fn pins_in_each_family_syntax() {
        let d = PackageSpec::parse("containerd.io=1.6.28-1", Family::Deb, "g");
        assert_eq!((d.name.as_str(), d.version.as_deref()), ("containerd.io", Some("1.6.28-1")));
        let r = PackageSpec::parse("containerd.io-1.6.28", Family::Rpm, "g");
        assert_eq!((r.name.as_str(), r.version.as_deref()), ("containerd.io", Some("1.6.28")));
        let r = PackageSpec::parse("device-mapper-libs", Family::Rpm, "g");
        assert_eq!((r.name.as_str(), r.version), ("device-mapper-libs", None));
        let r = PackageSpec::parse("python3-3.9.16", Family::Rpm, "g");
        assert_eq!(r.name, "python3");
    }

    #[test]
    fn pinned_beats_unpinned_and_two_pins_are_both_kept_in_their_own_passes() {
        let p = parse("a: [curl]\nb: [curl=7.88.1-10]\n").unwrap();
        let s = p.select(&["a".into(), "b".into()], Family::Deb).unwrap();
        assert_eq!(s.specs.len(), 1);
        assert_eq!(s.specs[0].raw, "curl=7.88.1-10");
        assert_eq!(passes(&s.specs).len(), 1);
        let p = parse("a: [jq, curl=1, c=1]\nb: [curl=2, curl, curl=3, c=2, curl=1]\n").unwrap();
        let s = p.select(&["a".into(), "b".into()], Family::Deb).unwrap();
        let raws: Vec<&str> = s.specs.iter().map(|s| s.raw.as_str()).collect();
        assert_eq!(raws, ["jq", "curl=1", "c=1", "curl=2", "curl=3", "c=2"]);
        let passes: Vec<Vec<String>> =
            passes(&s.specs).into_iter().map(|p| p.into_iter().map(|s| s.raw).collect()).collect();
        assert_eq!(passes, [["jq", "curl=1", "c=1"], ["jq", "curl=2", "c=2"], ["jq", "curl=3", "c=2"]]);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("a:\n  - x\nb:\n  c: [x1]\n  d: [x3]\n  c: [x2]\n").unwrap_err().to_string();
        assert_eq!(e, "packages.yaml:6:3: duplicate group \"c\"");
        let e = parse("a:\n  - x\na:\n  - y\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:3:1: duplicate group \"a\""), "{e}");
        let e = parse("a:\n  - x\n  - {b: c}\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:3:5: ") && e.contains("expected a package spec string"), "{e}");
        let e = parse("a:\n  - x\n  - [c]\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:3:5: "), "{e}");
        let e = parse("a:\n  - curl\n  - \"two words\"\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:3:5: ") && e.contains("two words"), "{e}");
        let e = parse("a: [x\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:2:1: "), "{e}");
        let e = parse("a: 5\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:1:4: "), "{e}");
        let e = parse("a.b: [x]\n").unwrap_err().to_string();
        assert!(e.contains("without dots"), "{e}");
    }

    #[test]
    fn specs_are_package_words_not_options_globs_or_other_yaml_types() {
        let e = parse("a:\n  - curl\n  - -oDir::State::status=/var/lib/dpkg/status\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:3:5: ") && e.contains("not an option"), "{e}");
        let e = parse("a: [curl, '*']\n").unwrap_err().to_string();
        assert!(e.starts_with("packages.yaml:1:11: ") && e.contains("glob"), "{e}");
        let e = parse("a: [\"lib$(id)\"]\n").unwrap_err().to_string();
        assert!(e.contains("glob or shell"), "{e}");
        for v in ["null", "~", "true", "5", "1.5"] {
            let e = parse(&format!("a:\n  - {v}\n")).unwrap_err().to_string();
            assert!(e.starts_with("packages.yaml:2:5: ") && e.contains("expected a package spec string"), "{v}: {e}");
        }
        assert_eq!(parse("a: ['5']\n").unwrap().group("a"), Some(&Group::List(vec!["5".into()])));
    }

    #[test]
    fn empty_file_and_empty_groups() {
        assert!(parse("").unwrap().groups.is_empty());
        let p = parse("a:\nb: []\n").unwrap();
        assert_eq!(p.group("a"), Some(&Group::List(vec![])));
    }

    #[test]
    fn reads_the_k8sli_os_packages_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8sli-packages.yaml");
        let p = PackageSet::load(&path).unwrap();
        let groups: Vec<String> =
            ["common", "apt", "kubespray.common", "kubespray.apt", "ubuntu", "ubuntu2004"].map(String::from).into();
        let s = p.select(&groups, Family::Deb).unwrap();
        assert!(s.specs.iter().any(|s| s.raw == "containerd.io=1.4.6-1" && s.version.as_deref() == Some("1.4.6-1")));
        assert!(s.specs.iter().any(|s| s.name == "aufs-tools"));
        assert_eq!(s.absent, ["ubuntu2004"]);
        // rsync is in two groups but requested once.
        assert_eq!(s.specs.iter().filter(|s| s.name == "rsync").count(), 1);
        let y = p.select(&["common".into(), "yum".into(), "centos7".into()], Family::Rpm).unwrap();
        let c = y.specs.iter().find(|s| s.name == "containerd.io").unwrap();
        assert_eq!(c.version.as_deref(), Some("1.4.6"));
        assert!(p.group("tools").is_some());
    }
}
