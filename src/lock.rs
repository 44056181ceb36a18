//! The lockfile: per distro and arch, every package of the closure (name, version, arch, the
//! repo it came from, URL, size, sha256) and a digest of the inputs that produced it. It is
//! written as one line per package so that diffs read like changelogs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::Job;

pub(crate) const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockedPackage {
    pub name: String,
    /// Debian version, or rpm `[epoch:]version-release`.
    pub version: String,
    pub arch: String,
    /// The upstream repository the file came from.
    pub repo: String,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    /// The file's name in the repository.
    pub file: String,
}

impl LockedPackage {
    /// Check every field against its grammar; `Err((value, why))` names the bad value.
    pub(crate) fn check(&self) -> std::result::Result<(), (String, String)> {
        use crate::names;
        let checks = [
            // Debian names are a subset of rpm ones.
            (&self.name, names::rpm_field("name", &self.name)),
            (&self.version, names::any_version("version", &self.version)),
            (&self.arch, names::segment("arch", &self.arch)),
            (&self.repo, names::url("repo", &self.repo)),
            (&self.url, names::url("url", &self.url)),
            (&self.sha256, names::sha256("sha256", &self.sha256)),
            (&self.file, names::file_name("file", &self.file)),
        ];
        for (value, c) in checks {
            c.map_err(|why| (value.clone(), why))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedJob {
    /// Digest of what produced this closure (selected specs, distro file, extra repos...).
    pub inputs: String,
    pub packages: Vec<LockedPackage>,
    /// When the closure was resolved (unix time): the index date unless SOURCE_DATE_EPOCH is set.
    #[serde(default)]
    pub resolved: i64,
    /// rpm: the module metadata of the closure's module streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<String>,
    /// rpm: upstream package signing keys by file name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, UpstreamKey>,
}

/// An upstream package signing key as the upstream ships it. On disk (lock, digests) an
/// armored key is its text and a binary one `hex:` and its bytes in hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum UpstreamKey {
    Armored(String),
    Binary(Vec<u8>),
}

impl UpstreamKey {
    /// Armored when the bytes are text holding an armor header, binary otherwise.
    pub(crate) fn from_bytes(b: &[u8]) -> UpstreamKey {
        match std::str::from_utf8(b) {
            Ok(t) if t.contains("-----BEGIN") => UpstreamKey::Armored(t.to_string()),
            _ => UpstreamKey::Binary(b.to_vec()),
        }
    }

    /// The key file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            UpstreamKey::Armored(t) => t.as_bytes(),
            UpstreamKey::Binary(b) => b,
        }
    }

    /// The lock encoding.
    pub(crate) fn encoded(&self) -> String {
        match self {
            UpstreamKey::Armored(t) => t.clone(),
            UpstreamKey::Binary(b) => format!("hex:{}", hex::encode(b)),
        }
    }

    pub(crate) fn decode(s: &str) -> Result<UpstreamKey, hex::FromHexError> {
        match s.strip_prefix("hex:") {
            Some(h) => hex::decode(h).map(UpstreamKey::Binary),
            None => Ok(UpstreamKey::Armored(s.to_string())),
        }
    }
}

impl Serialize for UpstreamKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.encoded())
    }
}

impl<'de> Deserialize<'de> for UpstreamKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<UpstreamKey, D::Error> {
        let s = String::deserialize(d)?;
        UpstreamKey::decode(&s).map_err(|e| serde::de::Error::custom(format!("upstream key: bad hex ({e})")))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub jobs: BTreeMap<String, LockedJob>,
}

impl Lock {
    /// Read a lockfile; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let lock: Lock = serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}", crate::config::packages::located(path, &e)))?;
        if lock.version != LOCK_VERSION {
            bail!("{}: lock version {} is not {LOCK_VERSION}", path.display(), lock.version);
        }
        lock.check(path, &text)?;
        Ok(lock)
    }

    /// Every field that becomes a path, a cache key or a URL, checked against its grammar;
    /// the error names the file, line and column, the job and the package.
    fn check(&self, path: &Path, text: &str) -> Result<()> {
        let at = |needle: &str| crate::config::validate::place(path, text, needle);
        for (label, job) in &self.jobs {
            let label_ok = label
                .split_once('/')
                .map(|(d, a)| crate::names::segment("distro", d).and_then(|()| crate::names::segment("arch", a)));
            if let Err(why) = label_ok.unwrap_or_else(|| Err(format!("job {label:?} is not DISTRO/ARCH"))) {
                bail!("{}: job {label:?}: {why}", at(label));
            }
            for k in job.keys.keys() {
                if let Err(why) = crate::names::file_name("key file", k) {
                    bail!("{}: job {label}: {why}", at(k));
                }
            }
            for p in &job.packages {
                if let Err((value, why)) = p.check() {
                    bail!("{}: job {label}: package {:?} from {}: {why}", at(&value), p.name, p.repo);
                }
            }
        }
        Ok(())
    }

    /// The lockfile text: stable order, one flow mapping per package.
    pub(crate) fn render(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut t = format!(
            "# osrepo.lock: the resolved closure of every distro and arch, written by osrepo.\n\
             # `osrepo build` uses it while packages.yaml and the distro files are unchanged;\n\
             # `osrepo build --update-lock` resolves again.\nversion: {LOCK_VERSION}\njobs:\n"
        );
        for (label, job) in &self.jobs {
            t.push_str(&format!("  {}:\n    inputs: {}\n    resolved: {}\n", q(label), q(&job.inputs), job.resolved));
            if let Some(m) = &job.modules {
                t.push_str(&format!("    modules: {}\n", q(m)));
            }
            if !job.keys.is_empty() {
                t.push_str("    keys:\n");
                for (k, v) in &job.keys {
                    t.push_str(&format!("      {}: {}\n", q(k), q(&v.encoded())));
                }
            }
            t.push_str("    packages:\n");
            let mut pkgs = job.packages.clone();
            pkgs.sort();
            for p in &pkgs {
                t.push_str(&format!(
                    "      - {{name: {}, version: {}, arch: {}, repo: {}, url: {}, size: {}, sha256: {}, file: {}}}\n",
                    q(&p.name),
                    q(&p.version),
                    q(&p.arch),
                    q(&p.repo),
                    q(&p.url),
                    p.size,
                    q(&p.sha256),
                    q(&p.file)
                ));
            }
        }
        t
    }

    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let mut lock = self.clone();
        lock.version = LOCK_VERSION;
        crate::fsutil::write_atomic(path, lock.render().as_bytes())
    }

    /// Every sha256 the lock references.
    pub fn digests(&self) -> BTreeSet<String> {
        self.jobs.values().flat_map(|j| j.packages.iter().map(|p| p.sha256.clone())).collect()
    }
}

/// The digest of a job's inputs: its distro file (as parsed), arch, specs, Recommends choice,
/// the contents of key files it names, and the mirror overrides in force.
pub(crate) fn inputs_digest(job: &Job, mirror: Option<&str>, security_mirror: Option<&str>) -> Result<String> {
    let d = &job.distro;
    let mut keys = Vec::new();
    for r in &d.extra_repos {
        if let Some(p) = d.key_file_path(r) {
            let data = std::fs::read(&p).with_context(|| format!("cannot read key file {}", p.display()))?;
            keys.push(hex::encode(Sha256::digest(&data)));
        }
    }
    let specs: Vec<&str> = job.specs.iter().map(|s| s.raw.as_str()).collect();
    let v = serde_json::json!({
        "lock": LOCK_VERSION,
        "distro": d,
        "arch": job.arch,
        "image": job.image,
        "specs": specs,
        "recommends": job.recommends,
        "keys": keys,
        "mirror": mirror,
        "security_mirror": security_mirror,
    });
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(serde_json::to_vec(&v)?))))
}

/// What changed between two sets of closures, per job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobDiff {
    pub added: Vec<PkgVersion>,
    pub removed: Vec<PkgVersion>,
    pub changed: Vec<PkgChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PkgVersion {
    pub name: String,
    pub arch: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PkgChange {
    pub name: String,
    pub arch: String,
    pub old: String,
    pub new: String,
}

/// Per job: (name, arch) → versions.
pub type Closures = BTreeMap<String, BTreeSet<(String, String, String)>>;

pub fn closures_of_lock(lock: &Lock) -> Closures {
    lock.jobs
        .iter()
        .map(|(label, j)| {
            (label.clone(), j.packages.iter().map(|p| (p.name.clone(), p.arch.clone(), p.version.clone())).collect())
        })
        .collect()
}

/// Compare two sets of closures. Jobs present on one side only count as all added/removed.
pub fn diff(a: &Closures, b: &Closures) -> BTreeMap<String, JobDiff> {
    let empty = BTreeSet::new();
    let labels: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = BTreeMap::new();
    for label in labels {
        let (old, new) = (a.get(label).unwrap_or(&empty), b.get(label).unwrap_or(&empty));
        let by_key = |s: &BTreeSet<(String, String, String)>| {
            let mut m: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
            for (n, ar, v) in s {
                m.entry((n.clone(), ar.clone())).or_default().insert(v.clone());
            }
            m
        };
        let (om, nm) = (by_key(old), by_key(new));
        let mut d = JobDiff::default();
        for (k, ov) in &om {
            match nm.get(k) {
                None => d.removed.extend(ov.iter().map(|v| PkgVersion {
                    name: k.0.clone(),
                    arch: k.1.clone(),
                    version: v.clone(),
                })),
                Some(nv) if nv != ov => d.changed.push(PkgChange {
                    name: k.0.clone(),
                    arch: k.1.clone(),
                    old: ov.iter().cloned().collect::<Vec<_>>().join(", "),
                    new: nv.iter().cloned().collect::<Vec<_>>().join(", "),
                }),
                _ => {}
            }
        }
        for (k, nv) in &nm {
            if !om.contains_key(k) {
                d.added.extend(nv.iter().map(|v| PkgVersion {
                    name: k.0.clone(),
                    arch: k.1.clone(),
                    version: v.clone(),
                }));
            }
        }
        if d != JobDiff::default() {
            out.insert(label.clone(), d);
        }
    }
    out
}

/// The diff as text, the way an operator attaches it to a release.
pub fn render_diff(d: &BTreeMap<String, JobDiff>) -> String {
    let mut t = String::new();
    for (label, j) in d {
        t.push_str(&format!(
            "{label}: {} added, {} removed, {} changed\n",
            j.added.len(),
            j.removed.len(),
            j.changed.len()
        ));
        for p in &j.added {
            t.push_str(&format!("  + {} {} ({})\n", p.name, p.version, p.arch));
        }
        for p in &j.removed {
            t.push_str(&format!("  - {} {} ({})\n", p.name, p.version, p.arch));
        }
        for c in &j.changed {
            t.push_str(&format!("  ~ {} {} -> {} ({})\n", c.name, c.old, c.new, c.arch));
        }
    }
    if t.is_empty() {
        t.push_str("no differences\n");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            repo: "http://m/debian".into(),
            url: format!("http://m/debian/pool/main/x/{name}_{version}_amd64.deb"),
            size: 10,
            sha256: "0".repeat(64),
            file: format!("{name}_{version}_amd64.deb"),
        }
    }

    #[test]
    fn lock_round_trips_and_is_stable() {
        let mut l = Lock { version: LOCK_VERSION, jobs: BTreeMap::new() };
        l.jobs.insert(
            "debian12/amd64".into(),
            LockedJob {
                inputs: "sha256:ab".into(),
                resolved: 1767225600,
                packages: vec![pkg("zz", "1:2.0-1"), pkg("a+b", "1.0~rc1")],
                modules: Some("---\ndocument: modulemd\n...\n".into()),
                keys: BTreeMap::from([
                    ("k.asc".to_string(), UpstreamKey::Armored("-----BEGIN PGP\nx\n".to_string())),
                    ("k.gpg".to_string(), UpstreamKey::Binary(vec![0, 0xff])),
                ]),
            },
        );
        let t = l.render();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("osrepo.lock");
        l.save(&p).unwrap();
        let back = Lock::load(&p).unwrap();
        assert_eq!(back.render(), t);
        assert_eq!(back.jobs["debian12/amd64"].packages.len(), 2);
        assert!(t.contains("\"k.gpg\": \"hex:00ff\""), "{t}");
        assert_eq!(back.jobs["debian12/amd64"].keys["k.gpg"], UpstreamKey::Binary(vec![0, 0xff]));
        // one line per package, sorted
        let lines: Vec<&str> = t.lines().filter(|l| l.trim_start().starts_with("- {")).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("{name: \"a+b\""));
        assert!(Lock::load(&d.path().join("missing")).unwrap().jobs.is_empty());
    }

    /// Writes a one-package lock with `field` set to `value`; returns the load error.
    fn load_with(field: &str, value: &str) -> String {
        let mut p = pkg("jq", "1.6-2.1");
        match field {
            "name" => p.name = value.into(),
            "sha256" => p.sha256 = value.into(),
            "file" => p.file = value.into(),
            "url" => p.url = value.into(),
            _ => p.arch = value.into(),
        }
        let job =
            LockedJob { inputs: "x".into(), resolved: 0, packages: vec![p], modules: None, keys: BTreeMap::new() };
        let l = Lock { version: LOCK_VERSION, jobs: BTreeMap::from([("debian12/amd64".to_string(), job)]) };
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("osrepo.lock");
        std::fs::write(&path, l.render()).unwrap();
        Lock::load(&path).unwrap_err().to_string().replace(&d.path().display().to_string(), "D")
    }

    #[test]
    fn lock_fields_are_checked_at_load() {
        let e = load_with("sha256", &format!("../../../../tmp/{}", "a".repeat(48)));
        assert!(e.starts_with("D/osrepo.lock:10:158: ") && e.contains("is not a sha256"), "{e}");
        assert!(e.contains("job debian12/amd64: package \"jq\" from http://m/debian"), "{e}");
        assert!(load_with("sha256", &"A".repeat(64)).contains("is not a sha256"));
        assert!(load_with("file", "../../x.deb").contains("file \"../../x.deb\" must be a plain file name"));
        assert!(load_with("file", "a/b.deb").contains("plain file name"));
        assert!(load_with("name", "../x").contains("name \"../x\""));
        assert!(load_with("arch", "..").contains("arch \"..\""));
        assert!(load_with("url", "ftp://x/y.deb").contains("url \"ftp://x/y.deb\""));
    }

    #[test]
    fn diff_names_added_removed_and_upgraded() {
        let mut a = Lock::default();
        let mut b = Lock::default();
        a.jobs.insert(
            "d/amd64".into(),
            LockedJob {
                inputs: "x".into(),
                resolved: 0,
                packages: vec![pkg("curl", "1"), pkg("old", "1"), pkg("same", "1")],
                modules: None,
                keys: BTreeMap::new(),
            },
        );
        b.jobs.insert(
            "d/amd64".into(),
            LockedJob {
                inputs: "y".into(),
                resolved: 0,
                packages: vec![pkg("curl", "2"), pkg("new", "1"), pkg("same", "1")],
                modules: None,
                keys: BTreeMap::new(),
            },
        );
        let d = diff(&closures_of_lock(&a), &closures_of_lock(&b));
        let j = &d["d/amd64"];
        assert_eq!(j.added, vec![PkgVersion { name: "new".into(), arch: "amd64".into(), version: "1".into() }]);
        assert_eq!(j.removed.len(), 1);
        assert_eq!(
            j.changed,
            vec![PkgChange { name: "curl".into(), arch: "amd64".into(), old: "1".into(), new: "2".into() }]
        );
        let t = render_diff(&d);
        assert!(t.contains("  ~ curl 1 -> 2 (amd64)") && t.contains("  + new 1") && t.contains("  - old 1"), "{t}");
        assert_eq!(render_diff(&diff(&closures_of_lock(&a), &closures_of_lock(&a))), "no differences\n");
    }
}

#[cfg(test)]
mod digest_golden {
    //! Pins today's input digests: a renamed or retyped `Distro` field, or a changed job
    //! field, changes them and would make every existing lock stale (`--locked` fails).
    use super::*;
    use crate::config::{distro, PackageSet};
    use crate::plan::{plan, PlanOptions};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn rendered() -> String {
        let packages = PackageSet::load(&root().join("packages.yaml")).unwrap();
        let distros = distro::load_all(&root().join("distros")).unwrap();
        let mut out = String::new();
        for recommends in [None, Some(false)] {
            let jobs = plan(&packages, &distros, &PlanOptions { recommends, ..Default::default() }).unwrap();
            for j in &jobs {
                let d = inputs_digest(j, None, None).unwrap();
                out.push_str(&format!("{} recommends={recommends:?} {d}\n", j.label()));
            }
            let m = inputs_digest(&jobs[0], Some("http://m.invalid/a"), Some("http://m.invalid/s")).unwrap();
            out.push_str(&format!("{} mirrors {m}\n", jobs[0].label()));
        }
        out
    }

    #[test]
    fn inputs_digests_of_the_shipped_distros_are_unchanged() {
        let golden = root().join("tests/golden/digests/inputs.txt");
        let got = rendered();
        if std::env::var_os("OSREPO_BLESS").is_some() {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &got).unwrap();
        }
        let want = std::fs::read_to_string(&golden).unwrap();
        let changed: Vec<&str> = got.lines().filter(|l| !want.lines().any(|w| w == *l)).collect();
        assert!(
            changed.is_empty() && got == want,
            "inputs digests changed (existing locks would be stale):\n{}",
            changed.join("\n")
        );
    }
}
