//! The fetcher against a small HTTP server on loopback that can misbehave: cut a body short,
//! fail with 500 once, answer 404, ignore Range, send more bytes than announced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

#[derive(Clone, Copy, PartialEq)]
enum Misbehave {
    None,
    /// The first response stops after half the body (and closes).
    CutOnce,
    /// The first response is a 500.
    FailOnce,
    NotFound,
    /// Range is ignored: always 200 and the whole body.
    NoRange,
}

struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    ranges: Arc<Mutex<Vec<String>>>,
}

fn body() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

async fn serve(how: Misbehave) -> Server {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pool/f.deb", l.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (r, g) = (requests.clone(), ranges.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let n = r.fetch_add(1, Ordering::SeqCst);
            let g = g.clone();
            tokio::spawn(async move { answer(&mut s, how, n, &g).await });
        }
    });
    Server { url, requests, ranges }
}

async fn answer(s: &mut tokio::net::TcpStream, how: Misbehave, n: usize, ranges: &Mutex<Vec<String>>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => req.extend_from_slice(&buf[..k]),
        }
    }
    let text = String::from_utf8_lossy(&req).to_lowercase();
    let range =
        text.lines().find_map(|l| l.strip_prefix("range: bytes=")).map(|r| r.trim().trim_end_matches('-').to_string());
    ranges.lock().unwrap().push(range.clone().unwrap_or_default());
    let b = body();
    let from: usize = match (how, range) {
        (Misbehave::NoRange, _) | (_, None) => 0,
        (_, Some(r)) => r.parse().unwrap(),
    };
    let (status, part) = match how {
        Misbehave::NotFound => ("404 Not Found", &b[..0]),
        Misbehave::FailOnce if n == 0 => ("500 Internal Server Error", &b[..0]),
        _ if from > 0 => ("206 Partial Content", &b[from..]),
        _ => ("200 OK", &b[..]),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", part.len());
    let _ = s.write_all(head.as_bytes()).await;
    let send = if how == Misbehave::CutOnce && n == 0 { &part[..part.len() / 2] } else { part };
    let _ = s.write_all(send).await;
}

fn item(url: &str, checksum: Checksum) -> Item {
    Item { location: Location::Http(reqwest::Url::parse(url).unwrap()), size: body().len() as u64, checksum }
}

fn sha() -> String {
    hex::encode(Sha256::digest(body()))
}

fn downloader() -> Downloader {
    let mut d = Downloader::new(2).unwrap();
    d.backoff = Duration::from_millis(10);
    d
}

async fn fetch_one(how: Misbehave, checksum: Checksum) -> (Result<Fetched>, Server, tempfile::TempDir) {
    let srv = serve(how).await;
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::open(d.path()).unwrap();
    let r = downloader().fetch_all(&cache, &[item(&srv.url, checksum)], &Bar::hidden()).await.remove(0);
    (r, srv, d)
}

#[tokio::test]
async fn downloads_into_the_cache_under_the_sha256() {
    let (r, srv, _d) = fetch_one(Misbehave::None, Checksum::Sha256(sha())).await;
    let f = r.unwrap();
    assert_eq!(f.sha256, sha());
    assert_eq!(std::fs::read(&f.path).unwrap(), body());
    assert_eq!(srv.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cut_download_resumes_with_a_range_request() {
    let (r, srv, _d) = fetch_one(Misbehave::CutOnce, Checksum::Sha256(sha())).await;
    assert_eq!(r.unwrap().sha256, sha());
    let ranges = srv.ranges.lock().unwrap().clone();
    assert_eq!(ranges, vec![String::new(), (body().len() / 2).to_string()]);
}

#[tokio::test]
async fn a_server_error_is_retried_and_not_found_is_not() {
    let (r, srv, _d) = fetch_one(Misbehave::FailOnce, Checksum::Sha256(sha())).await;
    assert!(r.is_ok());
    assert_eq!(srv.requests.load(Ordering::SeqCst), 2);
    let (r, srv, _d) = fetch_one(Misbehave::NotFound, Checksum::Sha256(sha())).await;
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("404") && e.contains("gone upstream"), "{e}");
    assert_eq!(srv.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_that_ignores_range_still_gives_the_right_file() {
    // A partial file from an earlier build (its bytes wrong, so appending would show).
    let srv = serve(Misbehave::NoRange).await;
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::open(d.path()).unwrap();
    std::fs::write(cache.partial_path("sha256", &sha()).unwrap(), vec![7u8; 1000]).unwrap();
    let r = downloader().fetch_all(&cache, &[item(&srv.url, Checksum::Sha256(sha()))], &Bar::hidden()).await.remove(0);
    assert_eq!(r.unwrap().sha256, sha());
    assert_eq!(srv.ranges.lock().unwrap().clone(), vec!["1000".to_string()]);
}

#[tokio::test]
async fn a_wrong_checksum_or_size_leaves_nothing_in_the_cache() {
    let (r, srv, d) = fetch_one(Misbehave::None, Checksum::Sha256("ab".repeat(32))).await;
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("checksum") && e.contains(&sha()), "{e}");
    assert_eq!(srv.requests.load(Ordering::SeqCst), 1, "a mismatch of a fresh download is final");
    assert!(crate::fsutil::files_under(&d.path().join("files")).unwrap().is_empty());
    // The metadata says fewer bytes than the server sends.
    let srv = serve(Misbehave::None).await;
    let cache = Cache::open(d.path()).unwrap();
    let mut it = item(&srv.url, Checksum::Sha256(sha()));
    it.size -= 1;
    let r = downloader().fetch_all(&cache, &[it], &Bar::hidden()).await.remove(0);
    assert!(format!("{:#}", r.unwrap_err()).contains("more than the"));
}

#[tokio::test]
async fn md5_metadata_is_checked_and_the_file_is_stored_by_sha256() {
    let md5 = hex::encode(<md5::Md5 as Digest>::digest(body()));
    let (r, _srv, _d) = fetch_one(Misbehave::None, Checksum::Md5(md5)).await;
    assert_eq!(r.unwrap().sha256, sha());
}

/// A cache and two items of one local file: the right checksum, then a wrong one.
fn local_items() -> (tempfile::TempDir, Cache, [Item; 2]) {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("a.deb");
    std::fs::write(&src, body()).unwrap();
    let cache = Cache::open(&d.path().join("cache")).unwrap();
    let it = |c| Item { location: Location::Local(src.clone()), size: body().len() as u64, checksum: c };
    let items = [it(Checksum::Sha256(sha())), it(Checksum::Sha256("cd".repeat(32)))];
    (d, cache, items)
}

#[tokio::test]
async fn local_files_are_copied_and_checked() {
    let (_d, cache, items) = local_items();
    let got = downloader().fetch_all(&cache, &items, &Bar::hidden()).await;
    assert_eq!(got[0].as_ref().unwrap().sha256, sha());
    assert!(got[1].is_err());
}

#[tokio::test]
async fn each_file_that_lands_is_handed_over_once_and_failed_ones_never() {
    let (_d, cache, items) = local_items();
    let seen = std::sync::Mutex::new(Vec::new());
    let landed = |f: &Fetched| seen.lock().unwrap().push((f.sha256.clone(), f.path.is_file()));
    let got = downloader().fetch_all_then(&cache, &items, &Bar::hidden(), &landed).await;
    assert!(got[0].is_ok() && got[1].is_err());
    assert_eq!(*seen.lock().unwrap(), vec![(sha(), true)], "only the verified file, already in the cache");
}

#[tokio::test]
async fn one_file_wanted_twice_at_once_is_downloaded_once() {
    let srv = serve(Misbehave::None).await;
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::open(d.path()).unwrap();
    let it = item(&srv.url, Checksum::Sha256(sha()));
    let got = downloader().fetch_all(&cache, &[it.clone(), it], &Bar::hidden()).await;
    assert!(got.iter().all(|g| g.as_ref().map(|f| f.sha256 == sha()).unwrap_or(false)));
    assert_eq!(srv.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_largest_files_are_fetched_first_and_results_keep_item_order() {
    let d = tempfile::tempdir().unwrap();
    let cache = Cache::open(&d.path().join("cache")).unwrap();
    let items: Vec<Item> = [10usize, 30, 20]
        .iter()
        .map(|&n| {
            let src = d.path().join(format!("{n}.deb"));
            std::fs::write(&src, vec![n as u8; n]).unwrap();
            let sha = hex::encode(Sha256::digest(vec![n as u8; n]));
            Item { location: Location::Local(src), size: n as u64, checksum: Checksum::Sha256(sha) }
        })
        .collect();
    let seen = Mutex::new(Vec::new());
    let landed = |f: &Fetched| seen.lock().unwrap().push(std::fs::metadata(&f.path).unwrap().len());
    let got = Downloader::new(1).unwrap().fetch_all_then(&cache, &items, &Bar::hidden(), &landed).await;
    assert_eq!(*seen.lock().unwrap(), [30, 20, 10]);
    let sizes: Vec<u64> = got.iter().map(|r| std::fs::metadata(&r.as_ref().unwrap().path).unwrap().len()).collect();
    assert_eq!(sizes, [10, 30, 20]);
}
