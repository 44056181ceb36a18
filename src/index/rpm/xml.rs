//! The package documents (`primary.xml`, `filelists.xml`, `other.xml`) and
//! libxml2-compatible escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{is_primary, Changelog, FileKind, RpmDep, RpmFile, RpmRecord};

pub(super) const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
pub(super) const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
pub(super) const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
pub(super) const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
pub(super) const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";
pub(super) const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Text content escaped as libxml2 writes it (`&`, `<`, `>`, CR). Characters
/// XML 1.0 cannot carry (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF)
/// are dropped.
pub(super) fn xml_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Attribute value escaped as libxml2 writes it (also `"`, TAB, LF, CR).
pub(super) fn xml_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    let special = |c: char| {
        matches!(c, '&' | '<' | '>' | '\r' | '\u{fffe}' | '\u{ffff}')
            || (c < ' ' && c != '\t' && c != '\n')
            || (attr && matches!(c, '"' | '\t' | '\n'))
    };
    if !s.contains(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `<tag>text</tag>` on its own line (libxml2 prints `<tag/>` only for elements without content).
fn text_element(out: &mut String, indent: &str, tag: &str, text: &str) {
    let _ = writeln!(out, "{indent}<{tag}>{}</{tag}>", xml_text(text));
}

fn version_element(out: &mut String, r: &RpmRecord) {
    let _ = writeln!(
        out,
        "  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>",
        r.epoch,
        xml_attr(&r.version),
        xml_attr(&r.release)
    );
}

fn file_element(out: &mut String, indent: &str, file: &RpmFile) {
    let kind = match file.kind {
        FileKind::File => "",
        FileKind::Dir => " type=\"dir\"",
        FileKind::Ghost => " type=\"ghost\"",
    };
    let _ = writeln!(out, "{indent}<file{kind}>{}</file>", xml_text(&file.path));
}

fn dep_list(out: &mut String, tag: &str, deps: &[RpmDep], requires: bool) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for dep in deps.iter().filter(|d| !d.name.is_empty()) {
        let _ = write!(out, "      <rpm:entry name=\"{}\"", xml_attr(&dep.name));
        if let Some(flags) = dep.flags.as_deref().filter(|f| !f.is_empty()) {
            let _ = write!(out, " flags=\"{}\"", xml_attr(flags));
            for (attr, value) in [("epoch", &dep.epoch), ("ver", &dep.ver), ("rel", &dep.rel)] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    let _ = write!(out, " {attr}=\"{}\"", xml_attr(value));
                }
            }
        }
        if requires && dep.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

/// `primary.xml`: one `<package type="rpm">` per record, in the given order.
/// Like createrepo_c's, the documents end without a final newline.
pub(crate) fn primary_xml(records: &[RpmRecord]) -> String {
    let mut out = String::with_capacity(4096 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{}\">", records.len());
    for r in records {
        out.push_str("<package type=\"rpm\">\n");
        text_element(&mut out, "  ", "name", &r.name);
        text_element(&mut out, "  ", "arch", &r.arch);
        version_element(&mut out, r);
        let _ = writeln!(out, "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>", xml_text(&r.sha256));
        text_element(&mut out, "  ", "summary", &r.summary);
        text_element(&mut out, "  ", "description", &r.description);
        text_element(&mut out, "  ", "packager", &r.packager);
        text_element(&mut out, "  ", "url", &r.url);
        let _ = writeln!(out, "  <time file=\"{}\" build=\"{}\"/>", r.time_file, r.time_build);
        let _ = writeln!(
            out,
            "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
            r.size_package, r.size_installed, r.size_archive
        );
        let _ = writeln!(out, "  <location href=\"{}\"/>", xml_attr(&r.location_href));
        out.push_str("  <format>\n");
        text_element(&mut out, "    ", "rpm:license", &r.license);
        text_element(&mut out, "    ", "rpm:vendor", &r.vendor);
        text_element(&mut out, "    ", "rpm:group", &r.group);
        text_element(&mut out, "    ", "rpm:buildhost", &r.buildhost);
        text_element(&mut out, "    ", "rpm:sourcerpm", &r.sourcerpm);
        let _ = writeln!(out, "    <rpm:header-range start=\"{}\" end=\"{}\"/>", r.header_start, r.header_end);
        dep_list(&mut out, "provides", &r.provides, false);
        dep_list(&mut out, "requires", &r.requires, true);
        dep_list(&mut out, "conflicts", &r.conflicts, false);
        dep_list(&mut out, "obsoletes", &r.obsoletes, false);
        dep_list(&mut out, "suggests", &r.suggests, false);
        dep_list(&mut out, "enhances", &r.enhances, false);
        dep_list(&mut out, "recommends", &r.recommends, false);
        dep_list(&mut out, "supplements", &r.supplements, false);
        for file in r.files.iter().filter(|f| is_primary(&f.path)) {
            file_element(&mut out, "    ", file);
        }
        out.push_str("  </format>\n</package>\n");
    }
    out.push_str("</metadata>");
    out
}

fn package_open(out: &mut String, r: &RpmRecord) {
    let _ = writeln!(
        out,
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">",
        xml_attr(&r.sha256),
        xml_attr(&r.name),
        xml_attr(&r.arch)
    );
    version_element(out, r);
}

/// `filelists.xml`: every file of every record (`type="dir"`/`"ghost"`).
pub(crate) fn filelists_xml(records: &[RpmRecord]) -> String {
    let mut out = String::with_capacity(4096 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{}\">", records.len());
    for r in records {
        package_open(&mut out, r);
        for file in &r.files {
            file_element(&mut out, "  ", file);
        }
        out.push_str("</package>\n");
    }
    out.push_str("</filelists>");
    out
}

/// `other.xml`: the newest `changelog_limit` changelog entries of each
/// record, written oldest first; equal dates are made distinct by moving
/// newer entries forward by a second each, as createrepo_c does.
pub(crate) fn other_xml(records: &[RpmRecord], changelog_limit: usize) -> String {
    let mut out = String::with_capacity(1024 * records.len() + 256);
    out.push_str(XML_DECL);
    let _ = writeln!(out, "<otherdata xmlns=\"{NS_OTHER}\" packages=\"{}\">", records.len());
    for r in records {
        package_open(&mut out, r);
        let entries = &r.changelogs[..r.changelogs.len().min(changelog_limit)];
        for (entry, date) in entries.iter().zip(changelog_dates(entries)).rev() {
            let _ = writeln!(
                out,
                "  <changelog author=\"{}\" date=\"{date}\">{}</changelog>",
                xml_attr(changelog_author(&entry.author)),
                xml_text(&entry.text)
            );
        }
        out.push_str("</package>\n");
    }
    out.push_str("</otherdata>");
    out
}

/// createrepo_c strips trailing spaces from authors (but keeps a first character).
fn changelog_author(author: &str) -> &str {
    let trimmed = author.trim_end_matches(' ');
    if trimmed.is_empty() && !author.is_empty() {
        &author[..1]
    } else {
        trimmed
    }
}

/// Dates of newest-first entries after createrepo_c's tie-breaking: an entry
/// dated like the one before it (in header order) pushes the run of equal
/// dates before it one second later each.
fn changelog_dates(entries: &[Changelog]) -> Vec<u64> {
    let mut dates: Vec<u64> = Vec::with_capacity(entries.len());
    let mut last = 0u64;
    for entry in entries {
        let time = entry.date;
        if last == time {
            for (expect, prev) in (time..).zip(dates.iter_mut().rev()) {
                if *prev != expect {
                    break;
                }
                *prev += 1;
            }
        } else {
            last = time;
        }
        dates.push(time);
    }
    dates
}
