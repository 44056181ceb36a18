//! spdx: an SBOM as an SPDX 2.3 JSON document. The document DESCRIBES the repository (one
//! package, `SPDXRef-Repository`), which CONTAINS every package of the closure and
//! DEPENDS_ON the requested ones (each also annotated with the specs it satisfies);
//! Depends edges are DEPENDS_ON, Recommends edges OPTIONAL_DEPENDENCY_OF. Pure and
//! deterministic: the namespace is a digest of the rest of the document.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::graph::EdgeKind;
use super::{purl, Package, Sbom, TOOL};

const NOASSERTION: &str = "NOASSERTION";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    relationships: Vec<Relationship>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_file_name: Option<String>,
    supplier: String,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    comment: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    primary_package_purpose: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<Annotation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Annotation {
    annotation_date: String,
    annotation_type: &'static str,
    annotator: String,
    comment: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    extracted_text: String,
    name: String,
}

const REPOSITORY: &str = "SPDXRef-Repository";

/// `YYYY-MM-DDThh:mm:ssZ` of a unix time (the epoch when out of range).
pub(crate) fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A stable SPDX id of package `i` (`SPDXRef-Package-<i>-<name>`, name reduced to the id
/// grammar).
fn id(i: usize, p: &Package) -> String {
    let name: String = p
        .name
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    format!("SPDXRef-Package-{i}-{name}")
}

/// `Person: Name (email)` of a Maintainer, `Organization: X` of a Vendor (rpm); parentheses
/// and control characters, which the actor grammar cannot hold, are dropped.
fn supplier(raw: Option<&str>, person: bool) -> String {
    let clean = |s: &str| -> String {
        let s: String = s.chars().filter(|c| !c.is_control() && !matches!(c, '(' | ')' | '<' | '>')).collect();
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let Some(raw) = raw else { return NOASSERTION.into() };
    let (name, email) = match raw.split_once('<') {
        Some((n, rest)) if person => (clean(n), rest.split('>').next().map(clean).filter(|e| e.contains('@'))),
        _ => (clean(raw), None),
    };
    match (name.is_empty(), email) {
        (true, _) => NOASSERTION.into(),
        (false, Some(e)) => format!("Person: {name} ({})", e.replace(' ', "")),
        (false, None) if person => format!("Person: {name}"),
        (false, None) => format!("Organization: {name}"),
    }
}

/// What the SPDX download-location grammar (as validators check it) accepts: an http(s) or
/// ftp URL with a dotted host name. Anything else (file: repos) is NOASSERTION.
pub(crate) fn download_location(url: Option<&str>) -> String {
    let ok = url.is_some_and(|u| {
        let Some(rest) =
            u.strip_prefix("http://").or_else(|| u.strip_prefix("https://")).or_else(|| u.strip_prefix("ftp://"))
        else {
            return false;
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default().to_ascii_lowercase();
        let tld = host.rsplit('.').next().unwrap_or_default();
        host.contains('.')
            && (2..=5).contains(&tld.len())
            && tld.bytes().all(|b| b.is_ascii_lowercase())
            && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            && !u.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    url.filter(|_| ok).unwrap_or(NOASSERTION).to_string()
}

fn package(s: &Sbom<'_>, i: usize, p: &Package) -> SpdxPackage {
    let flavor = s.graph.flavor;
    let annotations = s
        .requested
        .get(&i)
        .map(|specs| {
            vec![Annotation {
                annotation_date: timestamp(s.subject.created),
                annotation_type: "OTHER",
                annotator: format!("Tool: {TOOL}"),
                comment: format!("requested: {}", specs.join(", ")),
            }]
        })
        .unwrap_or_default();
    SpdxPackage {
        spdx_id: id(i, p),
        name: p.name.clone(),
        version_info: Some(p.version.clone()),
        package_file_name: p.path.rsplit('/').next().map(str::to_string),
        supplier: supplier(p.supplier.as_deref(), flavor == super::Flavor::Deb),
        download_location: download_location(p.url.as_deref()),
        files_analyzed: false,
        checksums: vec![Checksum { algorithm: "SHA256", checksum_value: p.sha256.clone() }],
        license_concluded: NOASSERTION,
        license_declared: p.license.as_ref().map_or(NOASSERTION.to_string(), |l| l.expression.clone()),
        copyright_text: NOASSERTION,
        source_info: p.source.as_ref().map(|src| format!("built from source package {src}")),
        description: None,
        comment: format!("arch: {}; path in the repository: {}", p.arch, p.path),
        external_refs: vec![ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl(flavor, s.subject, p),
        }],
        primary_package_purpose: "INSTALL",
        annotations,
    }
}

fn repository(s: &Sbom<'_>) -> SpdxPackage {
    SpdxPackage {
        spdx_id: REPOSITORY.into(),
        name: s.repository_name(),
        version_info: None,
        package_file_name: None,
        supplier: NOASSERTION.into(),
        download_location: NOASSERTION.into(),
        files_analyzed: false,
        checksums: vec![],
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION,
        source_info: None,
        description: Some(s.repository_description()),
        comment: format!("built by {TOOL}"),
        external_refs: vec![],
        primary_package_purpose: "OTHER",
        annotations: vec![],
    }
}

fn relationships(s: &Sbom<'_>) -> Vec<Relationship> {
    let rel = |a: String, t: &'static str, b: String| Relationship {
        spdx_element_id: a,
        relationship_type: t,
        related_spdx_element: b,
    };
    let pkgs = &s.graph.packages;
    let mut out = vec![rel("SPDXRef-DOCUMENT".into(), "DESCRIBES", REPOSITORY.into())];
    for (i, p) in pkgs.iter().enumerate() {
        out.push(rel(REPOSITORY.into(), "CONTAINS", id(i, p)));
    }
    for &i in s.requested.keys() {
        out.push(rel(REPOSITORY.into(), "DEPENDS_ON", id(i, &pkgs[i])));
    }
    for (&(from, to), kind) in &s.graph.edges {
        out.push(match kind {
            EdgeKind::Depends => rel(id(from, &pkgs[from]), "DEPENDS_ON", id(to, &pkgs[to])),
            EdgeKind::Recommends => rel(id(to, &pkgs[to]), "OPTIONAL_DEPENDENCY_OF", id(from, &pkgs[from])),
        });
    }
    out
}

fn extracted(s: &Sbom<'_>) -> Vec<ExtractedLicense> {
    let refs: BTreeSet<(&str, &str)> = s
        .graph
        .packages
        .iter()
        .filter_map(|p| p.license.as_ref())
        .flat_map(|l| l.refs.iter().map(|(id, name)| (id.as_str(), name.as_str())))
        .collect();
    let mut out: Vec<ExtractedLicense> = Vec::new();
    for (id, name) in refs {
        // One entry per id (two spellings may reduce to one id).
        if out.last().is_some_and(|e| e.license_id == id) {
            continue;
        }
        out.push(ExtractedLicense {
            license_id: id.to_string(),
            extracted_text: format!(
                "The license named \"{name}\" in the package metadata (not on the SPDX license list)."
            ),
            name: name.to_string(),
        });
    }
    out
}

/// The SPDX 2.3 JSON document of an SBOM.
pub(crate) fn render(s: &Sbom<'_>) -> Result<Vec<u8>> {
    let sub = s.subject;
    let mut packages = vec![repository(s)];
    packages.extend(s.graph.packages.iter().enumerate().map(|(i, p)| package(s, i, p)));
    let mut doc = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: format!("osrepo-{}-{}", sub.distro, sub.arch),
        document_namespace: String::new(),
        creation_info: CreationInfo { created: timestamp(sub.created), creators: vec![format!("Tool: {TOOL}")] },
        packages,
        relationships: relationships(s),
        has_extracted_licensing_infos: extracted(s),
    };
    // The namespace is the digest of the document written with a placeholder in its place.
    let placeholder = "0".repeat(64);
    doc.document_namespace = format!("https://osrepo.invalid/spdx/{}-{}/{placeholder}", sub.distro, sub.arch);
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    let digest = hex::encode(Sha256::digest(&bytes));
    Ok(super::replace_first(bytes, &doc.document_namespace, &doc.document_namespace.replace(&placeholder, &digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppliers_fit_the_actor_grammar() {
        assert_eq!(supplier(Some("Jane Doe <jane@example.org>"), true), "Person: Jane Doe (jane@example.org)");
        assert_eq!(supplier(Some("Evil (x) <a(b)@c>\n"), true), "Person: Evil x (ab@c)");
        assert_eq!(
            supplier(Some("Rocky Enterprise Software Foundation"), false),
            "Organization: Rocky Enterprise Software Foundation"
        );
        assert_eq!(supplier(Some("()<>"), true), "NOASSERTION");
        assert_eq!(supplier(None, false), "NOASSERTION");
    }

    #[test]
    fn download_locations_are_urls_or_noassertion() {
        let url = "http://archive.example.org/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb";
        assert_eq!(download_location(Some(url)), url);
        for bad in ["file:/srv/repo/x.rpm", "http://localhost/x", "http://a b.org/x", "javascript:alert(1)"] {
            assert_eq!(download_location(Some(bad)), "NOASSERTION", "{bad}");
        }
    }
}
