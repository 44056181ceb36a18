//! cdx: an SBOM as a CycloneDX 1.6 JSON BOM. `metadata.component` is the repository; every
//! closure package is a `library` component (bom-ref: its purl) with its SHA-256, download
//! URL, supplier, license and source package; requested packages carry the
//! `osrepo:requested` property and are what the repository depends on. `dependencies` holds
//! the Depends edges (Recommends are the `osrepo:recommends` property). Pure and
//! deterministic: the serial number is a digest of the rest of the BOM.

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::graph::EdgeKind;
use super::spdx::timestamp;
use super::{purl, Package, Sbom};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Entity>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Entity {
    name: String,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct LicenseChoice {
    expression: String,
}

#[derive(Serialize)]
struct ExternalReference {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

const REPOSITORY: &str = "osrepo:repository";

/// The bom-refs of the packages: their purls, made unique by index where two collide.
fn refs(s: &Sbom<'_>) -> Vec<String> {
    let purls: Vec<String> = s.graph.packages.iter().map(|p| purl(s.graph.flavor, s.subject, p)).collect();
    purls
        .iter()
        .enumerate()
        .map(|(i, u)| if purls.iter().filter(|x| *x == u).count() > 1 { format!("{u}#{i}") } else { u.clone() })
        .collect()
}

/// A URL the BOM can carry: no whitespace or control characters (the lock checked the scheme).
fn clean_url(u: &str) -> Option<String> {
    (!u.is_empty() && !u.chars().any(|c| c.is_whitespace() || c.is_control())).then(|| u.to_string())
}

fn component(s: &Sbom<'_>, i: usize, p: &Package, bom_ref: &str) -> Component {
    let mut properties = vec![Property { name: "osrepo:arch", value: p.arch.clone() }];
    if let Some(src) = &p.source {
        properties.push(Property { name: "osrepo:source", value: src.clone() });
    }
    properties.push(Property { name: "osrepo:path", value: p.path.clone() });
    if let Some(specs) = s.requested.get(&i) {
        properties.push(Property { name: "osrepo:requested", value: specs.join(", ") });
    }
    let recommends: Vec<&str> = s
        .graph
        .deps_of(i)
        .into_iter()
        .filter(|(_, k)| *k == EdgeKind::Recommends)
        .map(|(j, _)| s.graph.packages[j].name.as_str())
        .collect();
    if !recommends.is_empty() {
        properties.push(Property { name: "osrepo:recommends", value: recommends.join(", ") });
    }
    Component {
        kind: "library",
        bom_ref: Some(bom_ref.to_string()),
        supplier: p.supplier.as_ref().map(|n| Entity { name: n.chars().filter(|c| !c.is_control()).collect() }),
        name: p.name.clone(),
        version: Some(p.version.clone()),
        scope: Some("required"),
        hashes: vec![Hash { alg: "SHA-256", content: p.sha256.clone() }],
        licenses: p.license.iter().map(|l| LicenseChoice { expression: l.expression.clone() }).collect(),
        purl: Some(purl(s.graph.flavor, s.subject, p)),
        external_references: p
            .url
            .as_deref()
            .and_then(clean_url)
            .map(|url| ExternalReference { kind: "distribution", url })
            .into_iter()
            .collect(),
        properties,
        ..Component::default()
    }
}

fn dependencies(s: &Sbom<'_>, refs: &[String]) -> Vec<Dependency> {
    let mut out = vec![Dependency {
        reference: REPOSITORY.into(),
        depends_on: s.requested.keys().map(|&i| refs[i].clone()).collect(),
    }];
    for (i, r) in refs.iter().enumerate() {
        let deps = s.graph.deps_of(i).into_iter().filter(|(_, k)| *k == EdgeKind::Depends);
        out.push(Dependency { reference: r.clone(), depends_on: deps.map(|(j, _)| refs[j].clone()).collect() });
    }
    out
}

/// A version-8 UUID URN from the first bytes of a digest.
fn urn_uuid(digest: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The CycloneDX 1.6 JSON BOM of an SBOM.
pub(crate) fn render(s: &Sbom<'_>) -> Result<Vec<u8>> {
    let sub = s.subject;
    let refs = refs(s);
    let repository = Component {
        kind: "platform",
        bom_ref: Some(REPOSITORY.into()),
        name: s.repository_name(),
        description: Some(s.repository_description()),
        ..Component::default()
    };
    let tool = Component {
        kind: "application",
        name: "osrepo".into(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        ..Component::default()
    };
    let mut bom = Bom {
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: String::new(),
        version: 1,
        metadata: Metadata {
            timestamp: timestamp(sub.created),
            tools: Tools { components: vec![tool] },
            component: repository,
        },
        components: s.graph.packages.iter().enumerate().map(|(i, p)| component(s, i, p, &refs[i])).collect(),
        dependencies: dependencies(s, &refs),
    };
    // The serial number is the digest of the BOM written with a placeholder in its place.
    bom.serial_number = urn_uuid(&[0; 16]);
    let mut bytes = serde_json::to_vec_pretty(&bom)?;
    bytes.push(b'\n');
    let serial = urn_uuid(&Sha256::digest(&bytes));
    Ok(super::replace_first(bytes, &bom.serial_number, &serial))
}
