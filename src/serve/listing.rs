//! listing: the HTML index of a directory for `osrepo serve --index`. Only entries the
//! guard would serve are listed (no symlink leaving the tree); names are escaped.

use std::path::Path;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// A listing of `dir` (canonical, below `root`), or a redirect to the path with a slash.
pub(super) fn respond(root: &Path, dir: &Path, slash: bool, raw: &str) -> Response {
    if !slash {
        let to = format!("{raw}/");
        return (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]).into_response();
    }
    match entries(root, dir) {
        Ok(names) => {
            let html = page(raw, &names);
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(_) => super::status(StatusCode::NOT_FOUND),
    }
}

/// The servable entries of `dir`, sorted, directories with a trailing `/`.
fn entries(root: &Path, dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        let Ok(canon) = e.path().canonicalize() else { continue };
        if !canon.starts_with(root) {
            continue;
        }
        if canon.is_dir() {
            names.push(format!("{name}/"));
        } else if canon.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn page(raw: &str, names: &[String]) -> String {
    let title = escape(&percent_encoding::percent_decode_str(raw).decode_utf8_lossy());
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><title>Index of {title}</title></head><body>\n<h1>Index of {title}</h1>\n<ul>\n"
    );
    if raw != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for n in names {
        let href: String = percent_encoding::utf8_percent_encode(n, HREF).to_string();
        html.push_str(&format!("<li><a href=\"{href}\">{}</a></li>\n", escape(n)));
    }
    html.push_str("</ul>\n</body></html>\n");
    html
}

/// What a listed name escapes in its link (`/` stays: it marks directories).
const HREF: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'.').remove(b'-').remove(b'_').remove(b'~').remove(b'+');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_linked() {
        let html = page("/a/", &["x<y>.deb".into(), "sub/".into()]);
        assert!(html.contains("<a href=\"x%3Cy%3E.deb\">x&lt;y&gt;.deb</a>"), "{html}");
        assert!(html.contains("<a href=\"sub/\">sub/</a>"));
        assert!(html.contains("href=\"../\""));
    }
}
