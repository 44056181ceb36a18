//! `osrepo serve`, `repos/setup.sh` and `pack --iso` end to end on the real engine: a debian12
//! tree and the fixture rpm tree served on a loopback port, clean nodes (`--network host`)
//! configured by setup.sh, installing through the server, then `setup.sh --restore`.

mod common;
use common::rpmfix::{self, DNF_IMAGE};
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// A small debian12 amd64 tree (jq and its closure), built once for this binary.
fn debian_tree() -> PathBuf {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        engine();
        let dir = scratch("serve-deb");
        let packages = dir.join("packages.yaml");
        std::fs::write(&packages, "tools:\n  - jq\n").unwrap();
        let distros = distros_dir(&dir, |_, t| t);
        let out = dir.join("out");
        run(&mut build(&dir, &distros, &packages, &out, &["--no-recommends"]), true);
        out
    })
    .clone()
}

/// A running `osrepo serve` on 127.0.0.1 (any free port); stopped with SIGTERM on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(root: &Path, extra: &[&str]) -> Server {
        let mut child = osrepo()
            .arg("serve")
            .arg(root)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let addr = line.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default().to_string();
        assert!(!addr.is_empty(), "serve printed no address: {line:?}");
        Server { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop with SIGTERM; the server must exit by itself, successfully.
    fn stop(mut self) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve did not stop cleanly on SIGTERM: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 request (the path is sent exactly as given); status line and headers,
/// body bytes.
fn raw_get(addr: &str, path: &str, headers: &str) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    (String::from_utf8_lossy(&buf[..split]).into_owned(), buf[split + 4..].to_vec())
}

fn status_of(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Run a script in a clean container of `image` on the host network.
fn on_host_net(image: &str, mounts: &[(&Path, &str)], script: &str) -> std::process::Output {
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "--network", "host"]);
    for (host, inside) in mounts {
        c.arg("-v").arg(format!("{}:{inside}:ro", host.display()));
    }
    c.args([image, "sh", "-c", script]);
    c.output().unwrap()
}

fn assert_node_ok(o: &std::process::Output, what: &str) {
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("NODE-OK"),
        "{what} failed:\n--- stdout\n{}\n--- stderr\n{}",
        tail(&out, 60),
        tail(&String::from_utf8_lossy(&o.stderr), 40)
    );
}

/// Checksums of every stock repository file, before setup and after restore.
const SUMS: &str = "find /etc/apt /etc/yum.repos.d -type f 2>/dev/null | sort | xargs -r sha256sum";

#[test]
fn debian12_node_sets_up_installs_through_serve_and_restores() {
    let out = debian_tree();
    let sh = std::fs::read_to_string(out.join("repos/setup.sh")).unwrap();
    assert!(sh.contains("\ndebian12 deb debian 12 bookworm amd64 debian12.sources\n"), "{sh}");
    let server = Server::start(&out, &[]);
    let script = format!(
        "set -e\n{SUMS} > /tmp/before\n\
         sh /repo/repos/setup.sh '{url}'\n\
         grep -q '^URIs: {url}/debian$' /etc/apt/sources.list.d/osrepo.sources\n\
         ls /etc/apt/sources.list.d\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq > /tmp/i.log 2>&1 || {{ tail -30 /tmp/i.log; exit 1; }}\n\
         jq --version\n\
         ! sh /repo/repos/setup.sh 'http://x y'\n\
         ! sh /repo/repos/setup.sh \"$(printf 'http://x\\nrm -rf /')\"\n\
         sh /repo/repos/setup.sh --restore\n\
         {SUMS} > /tmp/after\n\
         diff /tmp/before /tmp/after\n\
         test ! -e /etc/apt/keyrings/osrepo.gpg\n\
         echo NODE-OK",
        url = server.url()
    );
    let o = on_host_net(IMAGE, &[(&out, "/repo")], &script);
    assert_node_ok(&o, "debian12 node through serve");
    server.stop();
}

#[test]
fn a_node_that_matches_no_distro_gets_a_clear_error() {
    let out = debian_tree();
    // A node of another distro: the Debian image with Ubuntu 22.04's os-release (no image
    // beyond the one the suite bootstraps).
    let dir = scratch("serve-other-distro");
    let os_release = dir.join("os-release");
    std::fs::write(
        &os_release,
        "PRETTY_NAME=\"Ubuntu 22.04.5 LTS\"\nNAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n",
    )
    .unwrap();
    let mounts = [(out.as_path(), "/repo"), (os_release.as_path(), "/usr/lib/os-release")];
    let o = on_host_net(IMAGE, &mounts, "sh /repo/repos/setup.sh http://127.0.0.1:9");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "setup.sh succeeded on a node it has no distro for");
    assert!(
        err.contains("(Ubuntu 22.04.5 LTS)") && err.contains("matches no distro in this repository: debian12"),
        "{err}"
    );
    // Nothing was touched: there is no backup to restore.
    let o = on_host_net(IMAGE, &mounts, "sh /repo/repos/setup.sh --restore");
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to restore"));
}

#[test]
fn traversal_and_symlinks_out_of_the_tree_get_404_and_no_bytes() {
    let dir = scratch("serve-guard");
    let root = dir.join("out");
    std::fs::create_dir_all(root.join("debian/dists")).unwrap();
    let secret = b"SECRET-BYTES-OUTSIDE-THE-TREE";
    std::fs::write(dir.join("secret.txt"), secret).unwrap();
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(root.join("debian/dists/Release"), &body).unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(&dir, root.join("up")).unwrap();
    let server = Server::start(&root, &[]);
    for p in [
        "/../secret.txt",
        "/debian/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/debian%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "//secret.txt",
        &format!("/{}", dir.join("secret.txt").display()),
        "/leak.txt",
        "/up/secret.txt",
        "/up/",
        "/debian/",
        "/",
    ] {
        let (head, got) = raw_get(&server.addr, p, "");
        let code = status_of(&head);
        assert!((400..500).contains(&code), "{p}: status {code}\n{head}");
        assert!(!got.windows(secret.len()).any(|w| w == secret), "{p}: file bytes in the answer");
    }
    // Ranges: the right bytes, 206, Content-Range; an ETag that answers If-None-Match.
    let (head, got) = raw_get(&server.addr, "/debian/dists/Release", "Range: bytes=100-199\r\n");
    assert_eq!(status_of(&head), 206, "{head}");
    assert!(head.to_ascii_lowercase().contains("content-range: bytes 100-199/5000"), "{head}");
    assert_eq!(got, body[100..200]);
    let (_, got) = raw_get(&server.addr, "/debian/dists/Release", "Range: bytes=-10\r\n");
    assert_eq!(got, body[4990..]);
    let (head, got) = raw_get(&server.addr, "/debian/dists/Release", "");
    assert_eq!((status_of(&head), got.len()), (200, 5000));
    let etag = head.lines().find_map(|l| l.strip_prefix("etag: ")).expect("no ETag").to_string();
    let (head, _) = raw_get(&server.addr, "/debian/dists/Release", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(status_of(&head), 304, "{head}");
    server.stop();
    // With --index a directory lists what it may serve, never the link out.
    let server = Server::start(&root, &["--index"]);
    let (head, got) = raw_get(&server.addr, "/", "");
    let html = String::from_utf8_lossy(&got);
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(html.contains("debian/") && !html.contains("leak.txt") && !html.contains("up/"), "{html}");
    server.stop();
}

#[test]
fn fixture_rpm_node_sets_up_installs_through_serve_and_restores() {
    let (dir, distros) = rpmfix::fixture_distro("serve-rpm", "serve-vendor");
    let packages = dir.join("packages.yaml");
    std::fs::write(&packages, "fixture:\n  - app\n  - modpkg\n").unwrap();
    let out = dir.join("out");
    rpmfix::build_both_arches(&packages, &distros, &out);
    let server = Server::start(&out, &[]);
    // The fixture node is Debian with dnf: its os-release names no built distro, so the
    // distro is chosen with --distro; the stock repo file stands for an EL node's.
    let script = format!(
        "set -e\nmkdir -p /etc/yum.repos.d /etc/dnf\nprintf '[stock]\\nbaseurl=http://stock.invalid/\\n' > /etc/yum.repos.d/stock.repo\n\
         printf '[main]\\nreposdir=/etc/yum.repos.d\\n' > /etc/dnf/dnf.conf\n\
         {SUMS} > /tmp/before\n\
         ! sh /repo/repos/setup.sh '{url}' 2>/tmp/e; grep 'matches no distro' /tmp/e\n\
         sh /repo/repos/setup.sh '{url}' --distro fixturerpm > /tmp/s.log 2>&1 || {{ cat /tmp/s.log; exit 1; }}\n\
         test ! -e /etc/yum.repos.d/stock.repo\n\
         grep -q 'baseurl={url}/fixture/1/os/' /etc/yum.repos.d/osrepo.repo\n\
         dnf -y --disableplugin=local --releasever 1 --installroot /tmp/root install app modpkg > /tmp/i.log 2>&1 || {{ tail -30 /tmp/i.log; exit 1; }}\n\
         rpm --root /tmp/root -q app modpkg libfoo\n\
         sh /repo/repos/setup.sh --restore\n\
         {SUMS} > /tmp/after\n\
         diff /tmp/before /tmp/after\n\
         echo NODE-OK",
        url = server.url()
    );
    let o = on_host_net(DNF_IMAGE, &[(&out, "/repo")], &script);
    assert_node_ok(&o, "fixture rpm node through serve");
    server.stop();
}

#[test]
fn iso_per_distro_and_arch_holds_the_tree_and_installs() {
    let out = debian_tree();
    let dest = scratch("serve-iso");
    let pack = |d: &Path| {
        run(
            osrepo()
                .env("SOURCE_DATE_EPOCH", "1767225600")
                .args(["pack"])
                .arg(&out)
                .args(["--name", "osr", "--iso", "--dest"])
                .arg(d),
            true,
        )
    };
    pack(&dest.join("a"));
    let iso = dest.join("a/osr-debian12-amd64.iso");
    let sums = std::fs::read_to_string(dest.join("a/sha256sum.txt")).unwrap();
    assert!(sums.contains("  osr-debian12-amd64.iso\n"), "{sums}");
    // Reproducible: a second pack gives the same image.
    pack(&dest.join("b"));
    assert!(
        std::fs::read(&iso).unwrap() == std::fs::read(dest.join("b/osr-debian12-amd64.iso")).unwrap(),
        "two packs of one tree gave different ISO images"
    );
    // Extracted, it is the tree (this distro and arch is all of it here).
    let x = dest.join("x");
    std::fs::create_dir_all(&x).unwrap();
    run(Command::new("bsdtar").arg("-xf").arg(&iso).arg("-C").arg(&x), true);
    assert_same_tree(&out, &x);
    let listed = run(Command::new("xorriso").args(["-indev"]).arg(&iso).args(["-find", "/", "-type", "f"]), true);
    let n = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert_eq!(n, snapshot(&out).len(), "xorriso lists another number of files");
    // A node installs from the extracted image with setup.sh and a file: base URL.
    let script = "set -e\nsh /iso/repos/setup.sh file:/iso > /tmp/s.log 2>&1 || { cat /tmp/s.log; exit 1; }\n\
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -q jq > /tmp/i.log 2>&1 || { tail -30 /tmp/i.log; exit 1; }\n\
                  jq --version && echo NODE-OK";
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "--network", "none", "-v"]).arg(format!("{}:/iso:ro", x.display()));
    let o = c.args([IMAGE, "sh", "-c", script]).output().unwrap();
    assert_node_ok(&o, "debian12 node from the extracted ISO");
}

#[test]
fn tls_serves_the_same_bytes() {
    let dir = scratch("serve-tls");
    let root = dir.join("out");
    std::fs::create_dir_all(root.join("keys")).unwrap();
    std::fs::write(root.join("keys/osrepo.asc"), b"armored key bytes\n").unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        true,
    );
    let server = Server::start(&root, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let o = run(
        Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(&cert)
            .arg(format!("https://{}/keys/osrepo.asc", server.addr)),
        true,
    );
    assert_eq!(o.stdout, b"armored key bytes\n");
    let o = run(
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&cert)
            .arg(format!("https://{}/%2e%2e/cert.pem", server.addr)),
        true,
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");
    server.stop();
}
