//! read: a job's closure back from a published tree. deb: the arch's `Packages` index (its
//! stanzas are the packages' control data) and, for licenses, each .deb's copyright file;
//! rpm: `repodata` (which files, their checksums) and each package's header. Records are
//! cached by sha256, so a tree is read once per cache. Download URLs come from the lock.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use super::license::{self, License};
use super::{Cap, Clause, Op, Package};
use crate::cache::Cache;
use crate::index::deb::Paragraph;
use crate::index::rpm::{RpmDep, RpmRecord};
use crate::lock::LockedJob;

/// sha256 → download URL, from the lock.
fn urls(locked: &LockedJob) -> BTreeMap<&str, &str> {
    locked.packages.iter().map(|p| (p.sha256.as_str(), p.url.as_str())).collect()
}

/// The Packages index of a deb job in a tree (`<id>/dists/<codename>/main/binary-<arch>`);
/// None when the tree has none.
pub(crate) fn deb(
    tree: &Path,
    dist: (&str, &str),
    arch: &str,
    locked: &LockedJob,
    cache: &Cache,
) -> Result<Option<Vec<Package>>> {
    let (id, codename) = dist;
    let repo = tree.join(id);
    let index = repo.join(format!("dists/{codename}/main/binary-{arch}/Packages"));
    let Ok(text) = std::fs::read_to_string(&index) else { return Ok(None) };
    let urls = urls(locked);
    let mut out = Vec::new();
    for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let para = Paragraph::parse(stanza).with_context(|| index.display().to_string())?;
        let mut p = deb_package(&para).with_context(|| index.display().to_string())?;
        p.url = urls.get(p.sha256.as_str()).map(|u| u.to_string());
        out.push(p);
    }
    let licenses = linked_licenses(&out, &deb_licenses(cache, &repo, &out)?);
    for (p, l) in out.iter_mut().zip(licenses) {
        p.license = l;
        p.path = format!("{id}/{}", p.path);
    }
    Ok(Some(out))
}

/// Each package's license: its own, or for a package whose doc directory is a link, the
/// license of the package linked to when that one is in the closure and of the same
/// source (as Debian policy 12.5 requires); else none.
fn linked_licenses(packages: &[Package], read: &[DebLicense]) -> Vec<Option<License>> {
    let source = |p: &Package| p.source.as_deref().and_then(|s| s.split(' ').next()).map(str::to_string);
    let own: BTreeMap<(&str, Option<String>), &License> = packages
        .iter()
        .zip(read)
        .filter_map(|(p, r)| Some(((p.name.as_str(), source(p)), r.license.as_ref()?)))
        .collect();
    packages
        .iter()
        .zip(read)
        .map(|(p, r)| match (&r.license, &r.doc_link) {
            (Some(l), _) => Some(l.clone()),
            (None, Some(target)) => own.get(&(target.as_str(), source(p))).map(|l| (*l).clone()),
            (None, None) => None,
        })
        .collect()
}

/// A Packages stanza as a package (its path relative to the repo, no license yet).
fn deb_package(para: &Paragraph) -> Result<Package> {
    let get = |f: &str| para.get(f).map(str::to_string);
    let field = |f: &str| get(f).with_context(|| format!("a package has no {f}"));
    let name = field("Package")?;
    let version = field("Version")?;
    let sha256 = field("SHA256")?;
    crate::names::sha256("SHA256", &sha256).map_err(anyhow::Error::msg)?;
    let path = field("Filename")?;
    if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
        anyhow::bail!("package {name}: Filename {path:?} is not a path inside the repository");
    }
    let source = match get("Source") {
        Some(s) => match s.split_once(' ') {
            Some((n, v)) => format!("{n} {}", v.trim().trim_start_matches('(').trim_end_matches(')')),
            None => format!("{s} {version}"),
        },
        None => format!("{name} {version}"),
    };
    let list = |f: &str| get(f).map(|v| deb_clauses(&v)).unwrap_or_default();
    let mut depends = list("Pre-Depends");
    depends.extend(list("Depends"));
    Ok(Package {
        arch: field("Architecture")?,
        path,
        url: None,
        supplier: get("Maintainer"),
        source: Some(source),
        license: None,
        depends,
        recommends: list("Recommends"),
        provides: list("Provides").into_iter().flatten().collect(),
        files: Vec::new(),
        name,
        version,
        sha256,
    })
}

/// A Debian relationship field: clauses of alternatives. Alternatives that do not parse
/// are skipped (and a clause left with none).
pub(crate) fn deb_clauses(field: &str) -> Vec<Clause> {
    field
        .split(',')
        .map(|clause| clause.split('|').filter_map(|alt| deb_cap(alt.trim())).collect::<Clause>())
        .filter(|c| !c.is_empty())
        .collect()
}

/// One alternative, `name[:arch] [(op version)] [[arch …]] [<profile …>]`; None when it is
/// not of that form.
fn deb_cap(alt: &str) -> Option<Cap> {
    let end = alt.find(|c: char| c.is_whitespace() || "([<".contains(c)).unwrap_or(alt.len());
    let (full, rest) = alt.split_at(end);
    // `foo:any`, `foo:amd64`: the package is foo. The SBOM reads what a package says, so a
    // name is only kept to the characters of package names, not refused for breaking
    // `names::deb_package`'s policy rules (which gate names that become paths).
    let name = full.split(':').next().unwrap_or_default();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b)) {
        return None;
    }
    let rest = rest.trim_start();
    let (op, version) = match rest.strip_prefix('(') {
        None => (None, None),
        Some(inner) => {
            let (inner, _) = inner.split_once(')')?;
            let inner = inner.trim();
            let (op, version) = [
                ("<<", Op::Lt),
                ("<=", Op::Le),
                (">=", Op::Ge),
                (">>", Op::Gt),
                ("=", Op::Eq),
                ("<", Op::Le),
                (">", Op::Ge),
            ]
            .into_iter()
            .find_map(|(text, op)| inner.strip_prefix(text).map(|v| (op, v.trim())))?;
            if version.is_empty() || version.contains(char::is_whitespace) {
                return None;
            }
            (Some(op), Some(version.to_string()))
        }
    };
    Some(Cap { name: name.to_string(), op, version })
}

/// What the SBOM takes from a .deb: its own DEP-5 license, or the package whose doc
/// directory its own links to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DebLicense {
    pub license: Option<License>,
    pub doc_link: Option<String>,
}

/// The licenses of the packages (paths relative to `repo`), read on every core: a file
/// seen for the first time is decompressed to its copyright file.
fn deb_licenses(cache: &Cache, repo: &Path, packages: &[Package]) -> Result<Vec<DebLicense>> {
    crate::index::par_read(packages, |p| deb_license(cache, &repo.join(&p.path), &p.sha256, &p.name))
}

/// The license of the .deb `file` of package `name` (cached by sha256; none when
/// unreadable). A build reads it as soon as the file lands (see `pipeline::warm`), so the
/// SBOM finds it in the cache.
pub(crate) fn deb_license(cache: &Cache, file: &Path, sha256: &str, name: &str) -> Result<DebLicense> {
    use license::Copyright;
    crate::family::cached_record(cache, "deb-license", sha256, || {
        Ok(match license::deb_copyright(file, name) {
            Ok(Copyright::File(text)) => DebLicense { license: license::dep5(&text), doc_link: None },
            Ok(Copyright::DocLink(target)) => DebLicense { license: None, doc_link: Some(target) },
            Ok(Copyright::None) => DebLicense::default(),
            Err(e) => {
                tracing::warn!("{}: no license read: {e:#}", file.display());
                DebLicense::default()
            }
        })
    })
}

/// The packages of an rpm job's repo (`<id>/<release>/os/<basearch>`); None when absent.
pub(crate) fn rpm(tree: &Path, repo_rel: &str, locked: &LockedJob, cache: &Cache) -> Result<Option<Vec<Package>>> {
    let repo = tree.join(repo_rel);
    if !repo.join("repodata/repomd.xml").is_file() {
        return Ok(None);
    }
    let urls = urls(locked);
    let mut out = Vec::new();
    for pp in crate::index::rpm_primary(&repo)? {
        // osrepo's repodata always carries sha256 (the package id).
        let crate::resolve::Checksum::Sha256(sha) = pp.checksum.clone() else {
            anyhow::bail!("{}: {} has no sha256 in primary.xml", repo.display(), pp.href);
        };
        let rec = crate::family::cached_record(cache, "rpm", &sha, || RpmRecord::from_file(&repo, &pp.href))?;
        let mut p = rpm_package(&rec);
        p.path = format!("{repo_rel}/{}", pp.href);
        p.url = urls.get(sha.as_str()).map(|u| u.to_string());
        p.sha256 = sha;
        out.push(p);
    }
    Ok(Some(out))
}

/// An rpm header record as a package (path, URL and sha256 set by the caller).
fn rpm_package(r: &RpmRecord) -> Package {
    let caps =
        |deps: &[RpmDep]| -> Vec<Cap> { deps.iter().filter(|d| !d.name.starts_with("rpmlib(")).map(rpm_cap).collect() };
    let nonempty = |s: &str| (!s.is_empty() && s != "(none)").then(|| s.to_string());
    Package {
        name: r.name.clone(),
        version: crate::index::rpm::evr_string(r.epoch, &r.version, &r.release),
        arch: r.arch.clone(),
        sha256: String::new(),
        path: String::new(),
        url: None,
        supplier: nonempty(&r.vendor).or_else(|| nonempty(&r.packager)),
        source: nonempty(&r.sourcerpm),
        license: license::expression(&r.license),
        depends: caps(&r.requires).into_iter().map(|c| vec![c]).collect(),
        recommends: caps(&r.recommends).into_iter().map(|c| vec![c]).collect(),
        provides: caps(&r.provides),
        files: r.files.iter().map(|f| f.path.clone()).collect(),
    }
}

fn rpm_cap(d: &RpmDep) -> Cap {
    let op = d.flags.as_deref().and_then(|f| match f {
        "LT" => Some(Op::Lt),
        "LE" => Some(Op::Le),
        "EQ" => Some(Op::Eq),
        "GE" => Some(Op::Ge),
        "GT" => Some(Op::Gt),
        _ => None,
    });
    let version = d.ver.as_ref().map(|v| {
        let e = d.epoch.as_deref().filter(|e| *e != "0").map(|e| format!("{e}:")).unwrap_or_default();
        let r = d.rel.as_deref().map(|r| format!("-{r}")).unwrap_or_default();
        format!("{e}{v}{r}")
    });
    Cap { name: d.name.clone(), op: op.filter(|_| version.is_some()), version }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_fields_become_clauses() {
        let c = deb_clauses("libc6 (>= 2.34), mawk | awk,\n python3:any (>= 3.11~), ");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0][0], Cap { name: "libc6".into(), op: Some(Op::Ge), version: Some("2.34".into()) });
        assert_eq!(c[1].iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["mawk", "awk"]);
        assert_eq!(c[2][0].name, "python3");
        assert!(deb_clauses("((((, |, a (>= ").iter().all(|c| !c.is_empty()));
        let one = |alt: &str| deb_cap(alt).map(|c| (c.name, c.op, c.version));
        assert_eq!(
            one("libc6:amd64 (<< 2.37) [amd64] <!nocheck>"),
            Some(("libc6".into(), Some(Op::Lt), Some("2.37".into())))
        );
        assert_eq!(one("dpkg (>= 1:1.19)"), Some(("dpkg".into(), Some(Op::Ge), Some("1:1.19".into()))));
        // The obsolete `<` and `>` mean `<=` and `>=` (Debian policy 7.1).
        assert_eq!(one("a (< 2)").and_then(|c| c.1), Some(Op::Le));
        assert_eq!(one("a(>3)").and_then(|c| c.1), Some(Op::Ge));
        assert_eq!(one("perl [!i386]"), Some(("perl".into(), None, None)));
        for bad in ["a (>= 1", "a (~ 1)", "a (>= )", "a (= 1 2)", "(x)", "é", ""] {
            assert_eq!(one(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_stanza_is_a_package() {
        let text = format!(
            "Package: jq\nVersion: 1.6-2.1\nArchitecture: amd64\nMaintainer: A <a@b.org>\nSource: jq (1.6-2)\n\
             Pre-Depends: dpkg\nDepends: libjq1 (= 1.6-2.1), libc6 (>= 2.34)\nFilename: pool/main/j/jq/jq_1.6-2.1_amd64.deb\nSHA256: {}\n",
            "a".repeat(64)
        );
        let p = deb_package(&Paragraph::parse(&text).unwrap()).unwrap();
        assert_eq!(p.source.as_deref(), Some("jq 1.6-2"));
        assert_eq!(p.depends.iter().map(|c| c[0].name.as_str()).collect::<Vec<_>>(), ["dpkg", "libjq1", "libc6"]);
        let bad = text.replace(&"a".repeat(64), "../x");
        assert!(deb_package(&Paragraph::parse(&bad).unwrap()).is_err());
    }

    #[test]
    fn a_linked_doc_directory_takes_the_license_of_its_target_of_the_same_source() {
        let pkg = |name: &str, source: &str| {
            let text = format!(
                "Package: {name}\nVersion: 1\nArchitecture: amd64\nSource: {source}\nFilename: pool/{name}.deb\nSHA256: {}\n",
                "a".repeat(64)
            );
            deb_package(&Paragraph::parse(&text).unwrap()).unwrap()
        };
        let mit = License { expression: "MIT".into(), refs: Vec::new() };
        let own = DebLicense { license: Some(mit.clone()), doc_link: None };
        let link = |t: &str| DebLicense { license: None, doc_link: Some(t.into()) };
        let packages =
            [pkg("libfoo1", "foo"), pkg("libfoo-dev", "foo"), pkg("bar", "bar"), pkg("baz", "foo"), pkg("qux", "qux")];
        let read = [own, link("libfoo1"), link("libfoo1"), link("nothere"), DebLicense::default()];
        let got = linked_licenses(&packages, &read);
        assert_eq!(got, [Some(mit.clone()), Some(mit), None, None, None]);
    }

    /// Mutated stanzas (bytes flipped, fields cut) go through reading, the graph and both
    /// writers without a panic; what is written is still JSON.
    #[test]
    fn mutated_stanzas_never_panic() {
        use rand::{Rng, SeedableRng};
        let base = format!(
            "Package: jq\nVersion: 1:1.6-2.1\nArchitecture: amd64\nMaintainer: A <a@b.org>\nSource: jq (1.6-2)\n\
             Provides: awk (= 1), jqx\nDepends: libjq1 (= 1.6-2.1), libc6 (>= 2.34) | libc7, jq\nRecommends: less\n\
             Filename: pool/main/j/jq/jq_1.6-2.1_amd64.deb\nSHA256: {}\n",
            "a".repeat(64)
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let subject = super::super::Subject {
            distro: "d".into(),
            arch: "amd64".into(),
            vendor: "debian".into(),
            release: "12".into(),
            created: 0,
        };
        for _ in 0..2000 {
            let mut b = base.clone().into_bytes();
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(0..b.len());
                b[i] = *[b'(', b')', b'|', b',', b':', b'\n', b' ', 0xff, b'"', b'<', rng.gen()]
                    .get(rng.gen_range(0..11))
                    .unwrap();
            }
            let text = String::from_utf8_lossy(&b);
            let Ok(para) = Paragraph::parse(&text) else { continue };
            let Ok(mut p) = deb_package(&para) else { continue };
            p.license = license::expression(para.get("Maintainer").unwrap_or_default());
            let g = super::super::Graph::build(super::super::Flavor::Deb, vec![p.clone(), p]);
            let req = BTreeMap::from([(0, vec!["jq".to_string()])]);
            let s = super::super::Sbom { subject: &subject, graph: &g, requested: &req };
            for bytes in [super::super::spdx::render(&s).unwrap(), super::super::cdx::render(&s).unwrap()] {
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
            }
        }
    }
}
