//! license: the declared license of a package as an SPDX license expression. rpm: the
//! `License` tag; deb: the `License` fields of a machine-readable (DEP-5) `debian/copyright`
//! (`usr/share/doc/<pkg>/copyright` in data.tar). Names on the SPDX list (and the usual
//! Debian and Fedora spellings of them) become SPDX ids; anything else becomes a
//! `LicenseRef-` whose original text is kept, so every expression validates.

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// An SPDX license expression and the `LicenseRef-`s it uses (id, original name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct License {
    pub expression: String,
    pub refs: Vec<(String, String)>,
}

/// SPDX ids osrepo recognises (the list's common entries); others become LicenseRefs.
const SPDX_IDS: &[&str] = &[
    "0BSD",
    "AFL-2.1",
    "AFL-3.0",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-1.0",
    "Apache-1.1",
    "Apache-2.0",
    "APSL-2.0",
    "Artistic-1.0",
    "Artistic-1.0-Perl",
    "Artistic-2.0",
    "Beerware",
    "BitTorrent-1.1",
    "BSD-1-Clause",
    "BSD-2-Clause",
    "BSD-2-Clause-Patent",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "BSD-4-Clause",
    "BSD-Source-Code",
    "BSL-1.0",
    "bzip2-1.0.6",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
    "CDDL-1.0",
    "CDDL-1.1",
    "CECILL-2.1",
    "CPL-1.0",
    "curl",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "EUPL-1.2",
    "FSFAP",
    "FSFUL",
    "FSFULLR",
    "FTL",
    "GFDL-1.1-only",
    "GFDL-1.1-or-later",
    "GFDL-1.2-only",
    "GFDL-1.2-or-later",
    "GFDL-1.3-only",
    "GFDL-1.3-or-later",
    "GPL-1.0-only",
    "GPL-1.0-or-later",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "HPND",
    "IJG",
    "ImageMagick",
    "Info-ZIP",
    "IPL-1.0",
    "ISC",
    "LGPL-2.0-only",
    "LGPL-2.0-or-later",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "Libpng",
    "libpng-2.0",
    "LPL-1.02",
    "LPPL-1.3c",
    "MirOS",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-1.0",
    "MPL-1.1",
    "MPL-2.0",
    "MS-PL",
    "NCSA",
    "NTP",
    "OFL-1.1",
    "OLDAP-2.8",
    "OpenSSL",
    "PHP-3.01",
    "PostgreSQL",
    "PSF-2.0",
    "Python-2.0",
    "QPL-1.0",
    "Ruby",
    "Sendmail",
    "SGI-B-2.0",
    "Sleepycat",
    "SMLNJ",
    "TCL",
    "Unicode-DFS-2016",
    "Unlicense",
    "UPL-1.0",
    "Vim",
    "W3C",
    "WTFPL",
    "X11",
    "XFree86-1.1",
    "Zlib",
    "zlib-acknowledgement",
    "ZPL-2.0",
    "ZPL-2.1",
];

/// Debian (copyright-format 1.0) and Fedora short names that are not SPDX ids as spelled.
const ALIASES: &[(&str, &str)] = &[
    ("expat", "MIT"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("bsd", "BSD-3-Clause"),
    ("cc0", "CC0-1.0"),
    ("apache-2", "Apache-2.0"),
    ("asl 2.0", "Apache-2.0"),
    ("artistic", "Artistic-1.0"),
    ("artistic-1", "Artistic-1.0"),
    ("artistic-2", "Artistic-2.0"),
    ("mpl-2", "MPL-2.0"),
    ("mplv2.0", "MPL-2.0"),
    ("mplv1.1", "MPL-1.1"),
    ("boost", "BSL-1.0"),
    ("python", "Python-2.0"),
    ("psf", "PSF-2.0"),
    ("zlib", "Zlib"),
    ("openssl", "OpenSSL"),
    ("isc", "ISC"),
    ("mit", "MIT"),
    ("x11", "X11"),
    ("public-domain", "LicenseRef-public-domain"),
    ("public domain", "LicenseRef-public-domain"),
];

/// GNU licenses as Debian and Fedora write them: `GPL-2+`, `GPLv2+`, `LGPL-2.1`, `GFDL-1.3+`.
fn gnu(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let (family, rest) = ["agpl", "lgpl", "gpl", "gfdl"].iter().find_map(|f| lower.strip_prefix(f).map(|r| (*f, r)))?;
    let rest = rest.trim_start_matches(['-', 'v']);
    let (ver, later) = match rest.strip_suffix('+') {
        Some(v) => (v, true),
        None => match rest.strip_suffix("-or-later") {
            Some(v) => (v, true),
            None => (rest.strip_suffix("-only").unwrap_or(rest), false),
        },
    };
    let ver = match (family, ver) {
        ("gpl", "1" | "1.0") => "1.0",
        ("gpl", "2" | "2.0") | ("lgpl", "2" | "2.0") => "2.0",
        ("gpl", "3" | "3.0") | ("lgpl", "3" | "3.0") | ("agpl", "3" | "3.0") => "3.0",
        ("lgpl", "2.1") => "2.1",
        ("gfdl", v @ ("1.1" | "1.2" | "1.3")) => v,
        _ => return None,
    };
    let suffix = if later { "or-later" } else { "only" };
    Some(format!("{}-{ver}-{suffix}", family.to_ascii_uppercase()))
}

/// The SPDX id of one license name, or a LicenseRef (recorded in `refs`).
fn license_id(name: &str, refs: &mut Vec<(String, String)>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if let Some(id) = SPDX_IDS.iter().find(|id| id.to_ascii_lowercase() == lower) {
        return Some(id.to_string());
    }
    if let Some(g) = gnu(name) {
        return Some(g);
    }
    let id = match ALIASES.iter().find(|(a, _)| *a == lower) {
        Some((_, id)) if !id.starts_with("LicenseRef-") => return Some(id.to_string()),
        Some((_, id)) => id.to_string(),
        None => {
            let clean: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
            let mut clean = clean.trim_matches('-').to_string();
            while clean.contains("--") {
                clean = clean.replace("--", "-");
            }
            if clean.is_empty() {
                return None;
            }
            format!("LicenseRef-{}", clean.chars().take(64).collect::<String>())
        }
    };
    if !refs.iter().any(|(r, _)| *r == id) {
        refs.push((id.clone(), name.to_string()));
    }
    Some(id)
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    With,
    Word(String),
}

fn tokens(raw: &str) -> Vec<Token> {
    let spaced = raw.replace('(', " ( ").replace(')', " ) ").replace(',', " and ");
    spaced
        .split_whitespace()
        .map(|w| match w.to_ascii_lowercase().as_str() {
            "(" => Token::Open,
            ")" => Token::Close,
            "and" | "&" => Token::And,
            "or" | "|" => Token::Or,
            "with" => Token::With,
            _ => Token::Word(w.to_string()),
        })
        .collect()
}

/// A license field (`GPL-2+ or Artistic`, `(MIT or GPLv2) and BSD`, SPDX itself) as an SPDX
/// expression; None when it does not parse as one (NOASSERTION).
pub(crate) fn expression(raw: &str) -> Option<License> {
    let first = raw.lines().next().unwrap_or("").trim();
    let toks = tokens(first);
    let mut out: Vec<String> = Vec::new();
    let mut refs = Vec::new();
    let (mut depth, mut i, mut want_term) = (0i32, 0, true);
    while i < toks.len() {
        match &toks[i] {
            Token::Open if want_term => {
                depth += 1;
                out.push("(".into());
            }
            Token::Close if !want_term && depth > 0 => {
                depth -= 1;
                out.push(")".into());
            }
            Token::And | Token::Or if !want_term => {
                out.push(if toks[i] == Token::And { "AND" } else { "OR" }.into());
                want_term = true;
            }
            Token::Word(_) if want_term => {
                // A term: words up to the next operator or parenthesis; `X with Y` is one ref.
                let start = i;
                while i < toks.len() && matches!(toks[i], Token::Word(_) | Token::With) {
                    i += 1;
                }
                let words: Vec<String> = toks[start..i]
                    .iter()
                    .map(|t| if let Token::Word(w) = t { w.clone() } else { "with".into() })
                    .collect();
                out.push(license_id(&words.join(" "), &mut refs)?);
                want_term = false;
                continue;
            }
            _ => return None,
        }
        i += 1;
    }
    if want_term || depth != 0 || out.is_empty() {
        return None;
    }
    Some(License { expression: out.join(" ").replace("( ", "(").replace(" )", ")"), refs })
}

/// Several licenses of one package (the Files paragraphs of a copyright file), joined by AND.
fn all_of(parts: Vec<License>) -> Option<License> {
    let mut exprs: Vec<String> = Vec::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    for p in parts {
        if !exprs.contains(&p.expression) {
            exprs.push(p.expression);
        }
        for r in p.refs {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
    }
    let expression = match exprs.len() {
        0 => return None,
        1 => exprs.remove(0),
        _ => exprs
            .iter()
            .map(|e| if e.contains(' ') { format!("({e})") } else { e.clone() })
            .collect::<Vec<_>>()
            .join(" AND "),
    };
    Some(License { expression, refs })
}

/// The license of a DEP-5 copyright file: the License fields of its Files paragraphs. None
/// when the file is not machine-readable or a field does not parse.
pub(crate) fn dep5(text: &str) -> Option<License> {
    let mut paragraphs = text.split("\n\n").filter(|p| !p.trim().is_empty());
    let header = paragraphs.next()?;
    let format = header.lines().find_map(|l| l.strip_prefix("Format:"))?.trim();
    if !(format.contains("copyright-format/1.0") || format.contains("dep5")) {
        return None;
    }
    let mut parts = Vec::new();
    for p in paragraphs {
        if !p.lines().any(|l| l.starts_with("Files:")) {
            continue;
        }
        let field = p.lines().find_map(|l| l.strip_prefix("License:"))?;
        parts.push(expression(field.trim())?);
    }
    all_of(parts)
}

/// The largest copyright file read.
const MAX_COPYRIGHT: u64 = 4 << 20;

/// What a .deb carries for its copyright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Copyright {
    /// `usr/share/doc/<package>/copyright`.
    File(String),
    /// `usr/share/doc/<package>` is a link to the doc directory of this package (Debian
    /// policy 12.5: one of the same source, which it depends on).
    DocLink(String),
    None,
}

/// The copyright of the .deb `path` of `package`, from its data.tar. The read stops at
/// the copyright file, or at a doc directory that is a link.
pub(crate) fn deb_copyright(path: &Path, package: &str) -> Result<Copyright> {
    let dir = format!("usr/share/doc/{package}");
    let want = format!("{dir}/copyright");
    let read = || -> Result<Copyright> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut tar = crate::index::deb::archive::tar_member(&mut file, "data.tar")?;
        for e in tar.entries()? {
            let mut e = e?;
            let p = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let p = p.trim_start_matches("./").trim_end_matches('/');
            let kind = e.header().entry_type();
            if p == want && kind == tar::EntryType::Regular {
                let mut bytes = Vec::new();
                (&mut e).take(MAX_COPYRIGHT).read_to_end(&mut bytes)?;
                return Ok(Copyright::File(String::from_utf8_lossy(&bytes).into_owned()));
            }
            if p == dir && kind == tar::EntryType::Symlink {
                let target = e.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                return Ok(target.and_then(|t| doc_link(&t)).map_or(Copyright::None, Copyright::DocLink));
            }
        }
        Ok(Copyright::None)
    };
    // Decompressors and the tar reader are fed untrusted bytes: a panic is this file's error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .map_err(|_| anyhow::anyhow!("{}: malformed package (the archive reader panicked)", path.display()))?
}

/// The package whose doc directory a link in `/usr/share/doc` points to (`libfoo1`,
/// `./libfoo1/`, `/usr/share/doc/libfoo1`); None for a target anywhere else.
fn doc_link(target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') { Vec::new() } else { vec!["usr", "share", "doc"] };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    match parts.as_slice() {
        ["usr", "share", "doc", name] if crate::names::deb_package("link", name).is_ok() => Some(name.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(raw: &str) -> Option<String> {
        expression(raw).map(|l| l.expression)
    }

    /// A .deb built by the real dpkg-deb from `files` (path, contents; `->target` for a link).
    fn deb(dir: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let root = dir.join(name);
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        let control =
            format!("Package: {name}\nVersion: 1\nArchitecture: all\nMaintainer: A <a@b.c>\nDescription: t\n");
        std::fs::write(root.join("DEBIAN/control"), control).unwrap();
        for (path, body) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            match body.strip_prefix("->") {
                Some(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
                None => std::fs::write(&p, body).unwrap(),
            }
        }
        let out = dir.join(format!("{name}.deb"));
        let st = std::process::Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group", "-Zxz"])
            .arg(&root)
            .arg(&out)
            .output()
            .unwrap();
        assert!(st.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&st.stderr));
        out
    }

    #[test]
    fn the_copyright_file_or_the_doc_link_is_read_from_a_real_deb() {
        let d = tempfile::tempdir().unwrap();
        let own =
            deb(d.path(), "foo", &[("usr/bin/foo", "x"), ("usr/share/doc/foo/copyright", "Files: *\nLicense: MIT\n")]);
        assert_eq!(deb_copyright(&own, "foo").unwrap(), Copyright::File("Files: *\nLicense: MIT\n".into()));
        let link = deb(d.path(), "foo-dev", &[("usr/share/doc/foo-dev", "->foo"), ("usr/share/man/x", "y")]);
        assert_eq!(deb_copyright(&link, "foo-dev").unwrap(), Copyright::DocLink("foo".into()));
        let away = deb(d.path(), "bar", &[("usr/share/doc/bar", "->/etc")]);
        assert_eq!(deb_copyright(&away, "bar").unwrap(), Copyright::None);
        let none = deb(d.path(), "baz", &[("usr/share/doc/baz/README", "r")]);
        assert_eq!(deb_copyright(&none, "baz").unwrap(), Copyright::None);
    }

    #[test]
    fn a_doc_link_names_a_package_only_inside_usr_share_doc() {
        for (t, want) in [
            ("libfoo1", Some("libfoo1")),
            ("./libfoo1/", Some("libfoo1")),
            ("/usr/share/doc/libfoo1", Some("libfoo1")),
            ("../doc/libfoo1", Some("libfoo1")),
            ("../../../etc", None),
            ("/etc/passwd", None),
            ("libfoo1/sub", None),
            ("..", None),
            ("", None),
            ("Bad_Name", None),
        ] {
            assert_eq!(doc_link(t).as_deref(), want, "{t:?}");
        }
    }

    #[test]
    fn debian_fedora_and_spdx_spellings_become_spdx_ids() {
        assert_eq!(e("GPL-2+").as_deref(), Some("GPL-2.0-or-later"));
        assert_eq!(e("GPLv3+ and LGPLv2+").as_deref(), Some("GPL-3.0-or-later AND LGPL-2.0-or-later"));
        assert_eq!(e("(MIT or GPLv2) and BSD").as_deref(), Some("(MIT OR GPL-2.0-only) AND BSD-3-Clause"));
        assert_eq!(e("Expat").as_deref(), Some("MIT"));
        assert_eq!(e("Apache-2.0 AND MIT").as_deref(), Some("Apache-2.0 AND MIT"));
        assert_eq!(e("lgpl-2.1").as_deref(), Some("LGPL-2.1-only"));
        let l = expression("GPL-2+ with OpenSSL exception or Frob").unwrap();
        assert_eq!(l.expression, "LicenseRef-GPL-2-with-OpenSSL-exception OR LicenseRef-Frob");
        assert_eq!(l.refs[1], ("LicenseRef-Frob".to_string(), "Frob".to_string()));
    }

    #[test]
    fn hostile_or_broken_fields_are_noassertion() {
        for bad in ["", "and", "MIT or", "(MIT", "MIT)", "((", "MIT ()", "\u{0}", "or or", ")("] {
            let got = expression(bad);
            assert!(got.as_ref().is_none_or(|l| !l.expression.contains(['\u{0}', ' '])), "{bad:?}: {got:?}");
        }
        assert_eq!(e("\u{0}"), None);
        let odd = expression("Foo\"<script>").unwrap();
        assert_eq!(odd.expression, "LicenseRef-Foo-script");
    }

    #[test]
    fn dep5_files_paragraphs_are_combined() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: jq\n\n\
                    Files: *\nCopyright: 2012 Stephen Dolan\nLicense: Expat\n\n\
                    Files: src/decNumber/*\nCopyright: IBM\nLicense: ICU\n\n\
                    Files: debian/*\nLicense: GPL-2+\n\nLicense: Expat\n Permission is hereby granted...\n";
        let l = dep5(text).unwrap();
        assert_eq!(l.expression, "MIT AND LicenseRef-ICU AND GPL-2.0-or-later");
        assert_eq!(dep5("This package was debianized by someone.\n\nLicense: GPL\n"), None);
        let one = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+ or Artistic\n";
        assert_eq!(dep5(one).unwrap().expression, "GPL-2.0-or-later OR Artistic-1.0");
    }
}
