//! sbom: a software bill of materials per distro × arch, `sbom/<distro>-<arch>.spdx.json`
//! (SPDX 2.3) and `.cdx.json` (CycloneDX 1.6), each signed (`.asc`). The closure is read
//! back from the published tree (the `Packages` index or `repodata`, the package files for
//! licenses) and the lock (download URLs); [`graph`] is its dependency graph, which
//! `osrepo why` walks too. The writers ([`spdx::render`], [`cdx::render`]) are pure:
//! records in, bytes out, deterministic.

pub(crate) mod cdx;
pub mod graph;
pub(crate) mod license;
pub(crate) mod read;
pub(crate) mod spdx;
pub mod why;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::cache::Cache;
use crate::family::{backend, Identity};
use crate::lock::LockedJob;
use crate::plan::Job;
use crate::sign::SigningKey;
use graph::Graph;
use license::License;

/// The directory of the SBOMs in a tree.
pub(crate) const DIR: &str = "sbom";

/// The package family as the SBOM writers see it (purl type, version comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Deb,
    Rpm,
}

/// A version relation of a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

/// A name with an optional version relation: a dependency alternative or a Provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cap {
    pub name: String,
    pub op: Option<Op>,
    pub version: Option<String>,
}

/// Alternatives, any one of which satisfies the dependency (`a | b`).
pub(crate) type Clause = Vec<Cap>;

/// One package of a closure, as its index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub name: String,
    /// Debian version, or rpm `[epoch:]version-release`.
    pub version: String,
    pub arch: String,
    pub sha256: String,
    /// The file's path in the tree, `/`-separated.
    pub path: String,
    /// Where it was downloaded from (the lock); None when the lock does not list it.
    pub url: Option<String>,
    /// Maintainer (deb) or Vendor (rpm), as the package writes it.
    pub supplier: Option<String>,
    /// The source package (`glibc 2.36-9`, `bash-5.1.8-9.el9.src.rpm`).
    pub source: Option<String>,
    /// None: NOASSERTION.
    pub license: Option<License>,
    pub depends: Vec<Clause>,
    pub recommends: Vec<Clause>,
    pub provides: Vec<Cap>,
    /// rpm: the files it owns (file dependencies resolve to them).
    pub files: Vec<String>,
}

impl Package {
    fn identity(&self) -> Identity {
        Identity {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            provides: self.provides.iter().map(|c| c.name.clone()).collect(),
        }
    }
}

/// What an SBOM describes: one distro × arch repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subject {
    /// The distro file's name (`debian12`).
    pub distro: String,
    /// Debian spelling (`amd64`).
    pub arch: String,
    /// The distro id (`debian`, `rocky`): the purl namespace.
    pub vendor: String,
    pub release: String,
    /// Unix time of the document (the lock's resolve time or SOURCE_DATE_EPOCH).
    pub created: i64,
}

/// Everything one SBOM is made of.
pub(crate) struct Sbom<'a> {
    pub subject: &'a Subject,
    pub graph: &'a Graph,
    /// Package index → the specs it satisfies.
    pub requested: &'a BTreeMap<usize, Vec<String>>,
}

impl Sbom<'_> {
    /// The name of the repository the document describes (`debian12-amd64`).
    pub(crate) fn repository_name(&self) -> String {
        format!("{}-{}", self.subject.distro, self.subject.arch)
    }

    /// Its one-line description, the same in both formats.
    pub(crate) fn repository_description(&self) -> String {
        format!(
            "osrepo offline repository of {} for {}: {} packages, {} of them requested",
            self.subject.distro,
            self.subject.arch,
            self.graph.packages.len(),
            self.requested.len()
        )
    }
}

/// The tool named as the creator of the documents.
pub(crate) const TOOL: &str = concat!("osrepo-", env!("CARGO_PKG_VERSION"));

/// A purl of a package (`pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12`,
/// `pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9&epoch=1`).
pub(crate) fn purl(flavor: Flavor, s: &Subject, p: &Package) -> String {
    let vendor = enc(&s.vendor.to_ascii_lowercase());
    let distro = enc(&format!("{}-{}", s.vendor.to_ascii_lowercase(), s.release));
    match flavor {
        Flavor::Deb => {
            format!(
                "pkg:deb/{vendor}/{}@{}?arch={}&distro={distro}",
                enc(&p.name.to_ascii_lowercase()),
                enc(&p.version),
                enc(&p.arch)
            )
        }
        Flavor::Rpm => {
            let (epoch, vr) = match p.version.split_once(':') {
                Some((e, vr)) if e != "0" => (Some(e), vr),
                Some((_, vr)) => (None, vr),
                None => (None, p.version.as_str()),
            };
            let epoch = epoch.map(|e| format!("&epoch={}", enc(e))).unwrap_or_default();
            format!("pkg:rpm/{vendor}/{}@{}?arch={}&distro={distro}{epoch}", enc(&p.name), enc(vr), enc(&p.arch))
        }
    }
}

/// Percent-encoding as the purl spec asks: everything but unreserved characters and `:`.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `bytes` with the first occurrence of `from` replaced by `to` (the placeholder of a
/// content-derived id: its field comes before any field a package can write into).
fn replace_first(bytes: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let f = from.as_bytes();
    match bytes.windows(f.len()).position(|w| w == f) {
        Some(i) => [&bytes[..i], to.as_bytes(), &bytes[i + f.len()..]].concat(),
        None => bytes,
    }
}

/// Which closure packages each requested spec names (by name, pin or Provides, as the
/// build's request check matches them).
pub(crate) fn requested(job: &Job, g: &Graph) -> BTreeMap<usize, Vec<String>> {
    let ids: Vec<Identity> = g.packages.iter().map(Package::identity).collect();
    let be = backend(job.distro.family);
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for s in &job.specs {
        for i in crate::pipeline::present::satisfying(be, s, &ids) {
            out.entry(i).or_default().push(s.raw.clone());
        }
    }
    out
}

/// The closure of a job in a tree as a graph; None when the tree does not hold the job.
pub(crate) fn job_graph(tree: &Path, job: &Job, locked: &LockedJob, cache: &Cache) -> Result<Option<Graph>> {
    let be = backend(job.distro.family);
    let Some((flavor, packages)) = be.sbom_closure(tree, job, locked, cache)? else { return Ok(None) };
    Ok(Some(Graph::build(flavor, packages)))
}

/// `sbom/<distro>-<arch>` in a tree (add `.spdx.json`, `.cdx.json`).
fn stem(tree: &Path, job: &Job) -> PathBuf {
    tree.join(DIR).join(format!("{}-{}", job.distro.name, job.arch.deb()))
}

/// Write (and sign) the SBOMs of a job published into `tree`.
pub(crate) fn write_job(
    tree: &Path,
    job: &Job,
    locked: &LockedJob,
    date: DateTime<Utc>,
    ctx: (&Cache, &SigningKey),
) -> Result<()> {
    if !write_if_present(tree, job, locked, date, ctx)? {
        anyhow::bail!("{}: the tree holds no index of it", job.label());
    }
    Ok(())
}

/// Write (and sign) the SBOMs of a job when `tree` holds its index.
fn write_if_present(
    tree: &Path,
    job: &Job,
    locked: &LockedJob,
    date: DateTime<Utc>,
    ctx: (&Cache, &SigningKey),
) -> Result<bool> {
    let (cache, key) = ctx;
    let t = std::time::Instant::now();
    let be = backend(job.distro.family);
    let Some((flavor, packages)) = be.sbom_closure(tree, job, locked, cache)? else { return Ok(false) };
    let read = t.elapsed().as_secs_f64();
    let g = Graph::build(flavor, packages);
    let req = requested(job, &g);
    let graph = t.elapsed().as_secs_f64() - read;
    let d = &job.distro;
    let subject = Subject {
        distro: d.name.clone(),
        arch: job.arch.deb().to_string(),
        vendor: d.id.clone(),
        release: d.release.clone(),
        created: date.timestamp(),
    };
    let sbom = Sbom { subject: &subject, graph: &g, requested: &req };
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    let stem = stem(tree, job);
    // The two documents are written and signed at once (an RSA-4096 signature costs more
    // than writing either).
    let write = |ext: &str, render: fn(&Sbom<'_>) -> Result<Vec<u8>>| -> Result<()> {
        let path = stem.with_extension(ext);
        let t = std::time::Instant::now();
        let bytes = render(&sbom)?;
        let r = t.elapsed().as_secs_f64();
        crate::fsutil::write_atomic(&path, &bytes)?;
        let w = t.elapsed().as_secs_f64() - r;
        crate::sign::write_detached(key, &path, &bytes, when)?;
        tracing::debug!("{ext}: render {r:.4} s, write {w:.4} s, sign {:.4} s", t.elapsed().as_secs_f64() - r - w);
        Ok(())
    };
    std::thread::scope(|s| {
        let cdx = s.spawn(|| write("cdx.json", cdx::render));
        let spdx = write("spdx.json", spdx::render);
        cdx.join().map_err(|_| anyhow::anyhow!("SBOM writer thread panicked"))?.and(spdx)
    })?;
    let all = t.elapsed().as_secs_f64();
    tracing::debug!(
        "{}: SBOM read {read:.3} s, graph {graph:.3} s, render and sign {:.3} s",
        job.label(),
        all - read - graph
    );
    Ok(true)
}

/// `osrepo sbom OUT`: write the SBOMs of every locked job the tree holds (dated like a
/// build: SOURCE_DATE_EPOCH when `fixed`, else the lock's resolve time), staged beside the
/// tree and swapped in. Returns the jobs written.
pub fn regenerate(
    out: &Path,
    jobs: &[(Job, LockedJob)],
    cache: &Cache,
    key: &SigningKey,
    fixed: Option<DateTime<Utc>>,
) -> Result<Vec<String>> {
    use crate::pipeline::state::OutputState;
    let state = OutputState::load(cache, out);
    let described = state.tree.is_some() && state.clone().verified(out) == state;
    let staging = crate::publish::Staging::begin(out)?;
    let mut written = Vec::new();
    for (job, locked) in jobs {
        let date = fixed.or_else(|| DateTime::from_timestamp(locked.resolved, 0)).unwrap_or_default();
        if write_if_present(staging.path(), job, locked, date, (cache, key))? {
            written.push(job.label());
        }
    }
    staging.commit()?;
    if described {
        // The tree is still the one the last build recorded: keep "up to date" working.
        let mut state = state;
        state.describe(out)?;
        state.save(cache, out)?;
    }
    Ok(written)
}

/// Is `rel` (a tree path) one of the SBOM files, and of which arch? (`sbom/x-amd64.cdx.json.asc`)
pub(crate) fn arch_of(rel: &str) -> Option<&str> {
    job_of(rel).map(|(_, arch)| arch)
}

/// The distro and arch of an SBOM file (`sbom/centos-stream9-arm64.cdx.json` → centos-stream9, arm64).
pub(crate) fn job_of(rel: &str) -> Option<(&str, &str)> {
    let name = rel.strip_prefix("sbom/")?;
    let base = name.strip_suffix(".asc").unwrap_or(name);
    let base = base.strip_suffix(".spdx.json").or_else(|| base.strip_suffix(".cdx.json"))?;
    base.rsplit_once('-')
}

/// Is `rel` the signature of an SBOM (`merge` signs them again)?
pub(crate) fn is_signature(rel: &str) -> bool {
    rel.ends_with(".json.asc") && arch_of(rel).is_some()
}

/// `merge`: sign every SBOM of a tree again (the parts may have been signed by other keys),
/// each at its own creation time, so a merged tree equals a combined build.
pub(crate) fn resign(tree: &Path, key: &SigningKey) -> Result<()> {
    for (rel, path) in crate::fsutil::files_under(&tree.join(DIR))? {
        if !rel.ends_with(".json") || arch_of(&format!("{DIR}/{rel}")).is_none() {
            continue;
        }
        let data = std::fs::read(&path)?;
        let doc: serde_json::Value =
            serde_json::from_slice(&data).with_context(|| format!("{} is not JSON", path.display()))?;
        let created = doc["creationInfo"]["created"].as_str().or_else(|| doc["metadata"]["timestamp"].as_str());
        let date = created
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .with_context(|| format!("{}: no creation time", path.display()))?;
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
        crate::sign::write_detached(key, &path, &data, when)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn cap(name: &str, v: Option<(Op, &str)>) -> Cap {
        Cap { name: name.into(), op: v.map(|x| x.0), version: v.map(|x| x.1.to_string()) }
    }

    pub(crate) fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            sha256: format!("{:0>64}", hex::encode(name)).chars().rev().take(64).collect(),
            path: format!("pool/main/{name}.deb"),
            url: Some(format!("http://archive.example.org/debian/pool/main/{name}.deb")),
            supplier: Some("Jane Doe <jane@example.org>".into()),
            source: None,
            license: None,
            depends: vec![],
            recommends: vec![],
            provides: vec![],
            files: vec![],
        }
    }

    fn subject() -> Subject {
        Subject {
            distro: "debian12".into(),
            arch: "amd64".into(),
            vendor: "debian".into(),
            release: "12".into(),
            created: 0,
        }
    }

    #[test]
    fn purls_follow_the_spec() {
        let s = subject();
        assert_eq!(
            purl(Flavor::Deb, &s, &pkg("jq", "1.6-2.1")),
            "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl(Flavor::Deb, &s, &pkg("libstdc++6", "1:12.2.0-14+deb12u1")),
            "pkg:deb/debian/libstdc%2B%2B6@1:12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
        );
        let r = Subject { vendor: "rocky".into(), release: "9".into(), ..s };
        let mut bash = pkg("bash", "5.1.8-9.el9");
        bash.arch = "x86_64".into();
        assert_eq!(purl(Flavor::Rpm, &r, &bash), "pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9");
        bash.version = "2:5.1.8-9.el9".into();
        assert_eq!(purl(Flavor::Rpm, &r, &bash), "pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9&epoch=2");
        bash.name = "we ird/&?#".into();
        assert_eq!(purl(Flavor::Rpm, &r, &bash).split('@').next(), Some("pkg:rpm/rocky/we%20ird%2F%26%3F%23"));
    }

    #[test]
    fn sbom_files_name_their_arch() {
        assert_eq!(arch_of("sbom/centos-stream9-arm64.cdx.json.asc"), Some("arm64"));
        assert_eq!(arch_of("sbom/debian12-amd64.spdx.json"), Some("amd64"));
        assert_eq!(arch_of("debian/sbom/x-amd64.spdx.json"), None);
        assert_eq!(arch_of("sbom/readme.txt"), None);
        assert_eq!(job_of("sbom/centos-stream9-arm64.cdx.json"), Some(("centos-stream9", "arm64")));
    }

    /// A small closure with every feature: a request by Provides, alternatives, Recommends,
    /// a LicenseRef, a hostile Maintainer, a package the lock does not list.
    fn small() -> (Graph, BTreeMap<usize, Vec<String>>) {
        let mut jq = pkg("jq", "1.6-2.1");
        jq.depends = vec![vec![cap("libjq1", Some((Op::Eq, "1.6-2.1")))], vec![cap("libc6", Some((Op::Ge, "2.34")))]];
        jq.recommends = vec![vec![cap("less", None)]];
        jq.source = Some("jq 1.6-2.1".into());
        jq.license = license::expression("Expat and ICU");
        let mut libjq = pkg("libjq1", "1.6-2.1");
        libjq.depends = vec![vec![cap("libonig5", None), cap("libc6", None)]];
        libjq.supplier = Some("Evil \"(x)\" <e@x\n>\u{7}".into());
        let mut libc = pkg("libc6", "2.36-9+deb12u4");
        libc.license = license::expression("LGPL-2.1+");
        libc.url = None;
        let mut bind = pkg("bind9-host", "1:9.18.28-1~deb12u2");
        bind.provides = vec![cap("host", None)];
        bind.depends = vec![vec![cap("libc6", None)]];
        let g = Graph::build(Flavor::Deb, vec![jq, libjq, libc, bind, pkg("less", "590-2.1")]);
        let req =
            BTreeMap::from([(g.named("jq")[0], vec!["jq".into()]), (g.named("bind9-host")[0], vec!["host".into()])]);
        (g, req)
    }

    #[test]
    fn writers_match_the_golden_documents() {
        let (g, req) = small();
        let s = Subject { created: 1767225600, ..subject() };
        let sbom = Sbom { subject: &s, graph: &g, requested: &req };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sbom");
        for (name, bytes) in
            [("small.spdx.json", spdx::render(&sbom).unwrap()), ("small.cdx.json", cdx::render(&sbom).unwrap())]
        {
            if std::env::var_os("OSREPO_BLESS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(name), &bytes).unwrap();
            }
            let want = std::fs::read(dir.join(name)).unwrap();
            assert!(bytes == want, "{name} differs from the golden file:\n{}", String::from_utf8_lossy(&bytes));
            // Deterministic: the same records give the same bytes.
            let again = if name.contains("spdx") { spdx::render(&sbom) } else { cdx::render(&sbom) };
            assert_eq!(again.unwrap(), bytes);
        }
    }

    #[test]
    fn documents_change_with_content_and_carry_the_graph() {
        let (g, req) = small();
        let s = subject();
        let spdx1: serde_json::Value =
            serde_json::from_slice(&spdx::render(&Sbom { subject: &s, graph: &g, requested: &req }).unwrap()).unwrap();
        let other = BTreeMap::from([(g.named("jq")[0], vec!["jq".into()])]);
        let spdx2: serde_json::Value =
            serde_json::from_slice(&spdx::render(&Sbom { subject: &s, graph: &g, requested: &other }).unwrap())
                .unwrap();
        assert_ne!(spdx1["documentNamespace"], spdx2["documentNamespace"]);
        let rels = spdx1["relationships"].as_array().unwrap();
        let has = |a: &str, t: &str, b: &str| {
            rels.iter().any(|r| {
                r["spdxElementId"].as_str().unwrap().ends_with(a)
                    && r["relationshipType"] == t
                    && r["relatedSpdxElement"].as_str().unwrap().ends_with(b)
            })
        };
        assert!(has("-jq", "DEPENDS_ON", "-libjq1") && has("-libjq1", "DEPENDS_ON", "-libc6"));
        assert!(has("-less", "OPTIONAL_DEPENDENCY_OF", "-jq") && has("Repository", "DEPENDS_ON", "-bind9-host"));
        assert!(!has("-libjq1", "DEPENDS_ON", "-libonig5"));
        let cdx: serde_json::Value =
            serde_json::from_slice(&cdx::render(&Sbom { subject: &s, graph: &g, requested: &req }).unwrap()).unwrap();
        let serial = cdx["serialNumber"].as_str().unwrap();
        assert!(serial.starts_with("urn:uuid:") && serial.len() == 45, "{serial}");
        let jq = cdx["components"].as_array().unwrap().iter().find(|c| c["name"] == "jq").unwrap();
        assert_eq!(jq["licenses"][0]["expression"], "MIT AND LicenseRef-ICU");
        assert_eq!(jq["purl"], "pkg:deb/debian/jq@1.6-2.1?arch=amd64&distro=debian-12");
    }
}
