//! serve: `osrepo serve OUT`, a static file server for a published tree (axum, tower-http's
//! `ServeFile`, rustls for `--tls-cert`/`--tls-key`).
//!
//! GET and HEAD, byte ranges, `Last-Modified`/`If-Modified-Since` (tower-http), `ETag`/
//! `If-None-Match`/`If-Range` (here), content types, one access log line per request,
//! graceful stop. Nothing outside OUT is ever served: every path goes through [`guard`]
//! (traversal in any spelling and symlinks leaving the tree are 404 with no file bytes);
//! directories are 404 unless `--index`.

mod guard;
mod listing;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use guard::Target;

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What `osrepo serve` serves, where, and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub root: PathBuf,
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// Answer directory requests with a listing (default: 404).
    pub index: bool,
}

struct Served {
    root: PathBuf,
    index: bool,
}

/// How long open connections get to finish after a stop signal.
const GRACE: Duration = Duration::from_secs(10);

/// Serve until `stop` resolves (then finish open requests, up to [`GRACE`]). Prints
/// `listening on http(s)://ADDR` on stdout once bound (with the real port for `:0`).
pub async fn run(opts: ServeOptions, stop: impl Future<Output = &'static str> + Send + 'static) -> Result<()> {
    let root = opts.root.canonicalize().with_context(|| format!("serve: cannot open {}", opts.root.display()))?;
    if !root.is_dir() {
        bail!("serve: {} is not a directory", root.display());
    }
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(Served { root: root.clone(), index: opts.index }))
        .layer(middleware::from_fn(access_log))
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    tokio::spawn(announce(handle.clone(), scheme, root));
    tokio::spawn(stop_on(handle.clone(), stop));
    let served = match &opts.tls {
        None => axum_server::bind(opts.listen).handle(handle).serve(app).await,
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls_config(tls)?));
            axum_server::bind_rustls(opts.listen, config).handle(handle).serve(app).await
        }
    };
    served.with_context(|| format!("serve: cannot serve on {}", opts.listen))
}

async fn announce(handle: axum_server::Handle, scheme: &str, root: PathBuf) {
    if let Some(addr) = handle.listening().await {
        println!("listening on {scheme}://{addr}/ serving {}", root.display());
    }
}

async fn stop_on(handle: axum_server::Handle, stop: impl Future<Output = &'static str>) {
    let why = stop.await;
    tracing::info!("{why}: finishing open requests, then stopping");
    handle.graceful_shutdown(Some(GRACE));
}

/// A rustls server configuration (ring provider) from PEM files.
fn tls_config(tls: &Tls) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|it| it.collect::<std::result::Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("--tls-cert {}: {e}", tls.cert.display()))?;
    if certs.is_empty() {
        bail!("--tls-cert {}: no certificate in the file", tls.cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| anyhow::anyhow!("--tls-key {}: {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("serve: TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("--tls-key {} does not match --tls-cert {}", tls.key.display(), tls.cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// One line per request: client, method, path, status, bytes, time.
async fn access_log(ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
    let res = next.run(req).await;
    let bytes = res.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    tracing::info!(
        target: "access",
        "{peer} \"{method} {uri} {version:?}\" {} {bytes} {:.1}ms",
        res.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    res
}

fn status(code: StatusCode) -> Response {
    let text = code.canonical_reason().unwrap_or("error");
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response()
}

async fn handle(State(s): State<Arc<Served>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let target = guard::resolve(&s.root, req.uri().path());
    match target {
        Target::File(path) => file(&path, req).await,
        Target::Dir { path, slash } if s.index => listing::respond(&s.root, &path, slash, req.uri().path()),
        Target::Dir { .. } | Target::NotFound => status(StatusCode::NOT_FOUND),
    }
}

/// A weak validator from size and modification time, as nginx builds its ETag.
fn etag(meta: &std::fs::Metadata) -> Option<HeaderValue> {
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    HeaderValue::from_str(&format!("\"{:x}-{:x}.{:x}\"", meta.len(), mtime.as_secs(), mtime.subsec_nanos())).ok()
}

/// Does an `If-None-Match`/`If-Range` list name this ETag (or `*`)?
fn names_etag(headers: &HeaderMap, name: header::HeaderName, tag: &HeaderValue) -> Option<bool> {
    let v = headers.get(name)?.to_str().ok()?;
    let ours = tag.to_str().ok()?;
    Some(v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == ours))
}

async fn file(path: &Path, mut req: Request) -> Response {
    let Ok(meta) = std::fs::metadata(path) else { return status(StatusCode::NOT_FOUND) };
    let tag = etag(&meta);
    if let Some(tag) = &tag {
        if names_etag(req.headers(), header::IF_NONE_MATCH, tag) == Some(true) {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            r.headers_mut().insert(header::ETAG, tag.clone());
            return r;
        }
        // If-Range with an entity tag: the range only while the tag still matches.
        let if_range_tag =
            req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains('"'));
        if if_range_tag {
            if names_etag(req.headers(), header::IF_RANGE, tag) != Some(true) {
                req.headers_mut().remove(header::RANGE);
            }
            req.headers_mut().remove(header::IF_RANGE);
        }
    }
    let served = tower_http::services::ServeFile::new_with_mime(path, &content_type(path));
    let mut res = match served.oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    };
    if let Some(tag) = tag {
        if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
            res.headers_mut().insert(header::ETAG, tag);
        }
    }
    res
}

/// Content types: the repository files by name, the rest by extension.
fn content_type(path: &Path) -> mime_guess::Mime {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let fixed = match (name, ext) {
        ("Release" | "Packages" | "Sources" | "sha256sum.txt", _) => "text/plain; charset=utf-8",
        ("InRelease", _) | (_, "asc") => "application/pgp-signature",
        ("Release.gpg", _) | (_, "gpg") => "application/pgp-keys",
        (_, "deb") => "application/vnd.debian.binary-package",
        (_, "rpm") => "application/x-rpm",
        (_, "xz") => "application/x-xz",
        (_, "zst") => "application/zstd",
        (_, "sources" | "list" | "repo" | "sh" | "yml" | "yaml" | "node") => "text/plain; charset=utf-8",
        _ => return mime_guess::from_path(path).first_or_octet_stream(),
    };
    fixed.parse().unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_files_get_their_types() {
        let t = |p: &str| content_type(Path::new(p)).to_string();
        assert_eq!(t("debian/dists/bookworm/Release"), "text/plain; charset=utf-8");
        assert_eq!(t("debian/pool/main/j/jq/jq_1.6_amd64.deb"), "application/vnd.debian.binary-package");
        assert_eq!(t("rocky/9/os/x86_64/Packages/a.rpm"), "application/x-rpm");
        assert_eq!(t("rocky/9/os/x86_64/repodata/repomd.xml"), "text/xml");
        assert_eq!(t("keys/osrepo.asc"), "application/pgp-signature");
        assert_eq!(t("x/Packages.gz"), "application/gzip");
    }

    #[test]
    fn etags_match_in_lists_and_weak_form() {
        let tag = HeaderValue::from_static("\"a-b.c\"");
        let mut h = HeaderMap::new();
        assert_eq!(names_etag(&h, header::IF_NONE_MATCH, &tag), None);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"a-b.c\""));
        assert_eq!(names_etag(&h, header::IF_NONE_MATCH, &tag), Some(true));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(names_etag(&h, header::IF_NONE_MATCH, &tag), Some(false));
    }
}
