//! Reading a `primary.xml` back: the one reader for upstream metadata (where
//! each package file is, its checksum and size) and for output trees
//! (`osrepo diff`: name, arch and EVR).

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};

use super::version::evr_string;
use crate::resolve::Checksum;

/// One `<package>` of a primary.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrimaryPackage {
    pub name: String,
    pub arch: String,
    /// `<version epoch>` (0 when absent).
    pub epoch: u32,
    /// `<version ver>`.
    pub ver: String,
    /// `<version rel>`.
    pub rel: String,
    /// `<location href>`, relative to the repository root.
    pub href: String,
    /// `<checksum type=...>` (sha256, sha512 or md5) and its hex value.
    pub checksum: Checksum,
    /// `<size package>`: the file's size in bytes.
    pub size: u64,
}

impl PrimaryPackage {
    /// `[epoch:]ver-rel`, the epoch omitted when 0.
    pub(crate) fn evr(&self) -> String {
        evr_string(self.epoch, &self.ver, &self.rel)
    }
}

/// The fields of the `<package>` being read; complete ones become a [`PrimaryPackage`].
#[derive(Default)]
struct Partial {
    name: String,
    arch: String,
    epoch: u32,
    ver: String,
    rel: String,
    href: Option<String>,
    checksum: Option<Checksum>,
    size: Option<u64>,
}

impl Partial {
    /// The package, if it has a location, a checksum and a size (others are skipped).
    fn finish(self) -> Option<PrimaryPackage> {
        let Partial { name, arch, epoch, ver, rel, href, checksum, size } = self;
        Some(PrimaryPackage { name, arch, epoch, ver, rel, href: href?, checksum: checksum?, size: size? })
    }

    /// An element without content: `<version>`, `<location>`, `<size>`.
    fn empty(&mut self, e: &BytesStart) -> Result<()> {
        match e.local_name().into_inner() {
            "version" => {
                if let Some(epoch) = attr(e, "epoch")? {
                    self.epoch = epoch.parse().with_context(|| format!("bad epoch {epoch:?}"))?;
                }
                self.ver = attr(e, "ver")?.unwrap_or_default();
                self.rel = attr(e, "rel")?.unwrap_or_default();
            }
            "location" => self.href = attr(e, "href")?,
            "size" => self.size = attr(e, "package")?.and_then(|s| s.parse().ok()),
            _ => {}
        }
        Ok(())
    }

    /// The text of a `<name>`, `<arch>` or `<checksum type>` element.
    fn text(&mut self, field: &Field, text: &str) -> Result<()> {
        let v = text.trim().to_owned();
        match field {
            Field::Name => self.name = v,
            Field::Arch => self.arch = v,
            Field::Checksum(kind) => {
                self.checksum = Some(match kind.as_str() {
                    "sha256" => Checksum::Sha256(v),
                    "sha512" => Checksum::Sha512(v),
                    "md5" => Checksum::Md5(v),
                    other => bail!("checksum type {other} is not supported"),
                });
            }
        }
        Ok(())
    }
}

/// An element whose text is read.
enum Field {
    Name,
    Arch,
    /// With its `type`.
    Checksum(String),
}

/// Every package of a primary.xml (plain text) that has a location, a
/// checksum and a size, in document order. Elements inside `<format>` are
/// not looked at.
pub(crate) fn read_primary(xml: &str) -> Result<Vec<PrimaryPackage>> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut pkg = Partial::default();
    let mut in_format = false;
    let mut field: Option<(Field, String)> = None;
    loop {
        match r.read_event().context("primary.xml")? {
            Event::Start(e) if !in_format => match e.local_name().into_inner() {
                "package" => pkg = Partial::default(),
                "format" => in_format = true,
                "name" => field = Some((Field::Name, String::new())),
                "arch" => field = Some((Field::Arch, String::new())),
                "checksum" => field = Some((Field::Checksum(attr(&e, "type")?.unwrap_or_default()), String::new())),
                _ => pkg.empty(&e).context("primary.xml")?,
            },
            Event::Empty(e) if !in_format => pkg.empty(&e).context("primary.xml")?,
            Event::Text(t) => {
                if let Some((_, text)) = &mut field {
                    text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(g) => {
                if let Some((_, text)) = &mut field {
                    match g.resolve_char_ref().context("primary.xml")? {
                        Some(c) => text.push(c),
                        None => text.push_str(quick_xml::escape::resolve_predefined_entity(&g).unwrap_or_default()),
                    }
                }
            }
            Event::End(e) => {
                if let Some((f, text)) = field.take() {
                    pkg.text(&f, &text).context("primary.xml")?;
                }
                match e.local_name().into_inner() {
                    "format" => in_format = false,
                    "package" => out.extend(std::mem::take(&mut pkg).finish()),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[allow(deprecated)] // unescape_value: the XML 1.0 rules are what repodata uses
fn attr(e: &BytesStart, name: &str) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a?;
        if a.key.local_name().into_inner() == name {
            return Ok(Some(a.unescape_value()?.into_owned()));
        }
    }
    Ok(None)
}
