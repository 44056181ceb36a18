//! Issue 9 item 5: SIGTERM and SIGHUP clean up like Ctrl-C; what kill -9 leaves (the build
//! container, the work and staging directories) is removed by the next build.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Env {
    dir: PathBuf,
    distro: String,
}

impl Env {
    /// A distro of its own name, so that its container label is this test's alone.
    fn new(name: &str) -> Env {
        engine();
        let dir = scratch(name);
        std::fs::write(dir.join("packages.yaml"), "debian12:\n  - curl\n").unwrap();
        let distros = distros_dir(&dir, |_, t| t);
        let distro = format!("debian12{}", name.replace('-', ""));
        let text = std::fs::read_to_string(distros.join("debian12.yaml")).unwrap();
        std::fs::write(
            distros.join(format!("{distro}.yaml")),
            text.replace("name: debian12\n", &format!("name: {distro}\n")),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::write(dir.join("out/previous"), b"keep").unwrap();
        Env { dir, distro }
    }

    fn build(&self, extra: &[&str]) -> Command {
        let mut c = osrepo();
        c.current_dir(&self.dir)
            .args(["build", &self.distro, "--arch", "amd64", "--packages", "packages.yaml", "--distros", "distros"])
            .args(["--out", "out", "--cache", "cache", "--key"])
            .arg(key())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    fn containers(&self) -> usize {
        let label = format!("label=osrepo={}/amd64", self.distro);
        let o = run(Command::new("docker").args(["ps", "-aq", "--filter", &label]), true);
        String::from_utf8_lossy(&o.stdout).lines().count()
    }

    /// Start a build and wait until its build container exists.
    fn started(&self) -> Child {
        let child = self.build(&[]).spawn().unwrap();
        let t = std::time::Instant::now();
        while self.containers() == 0 {
            assert!(t.elapsed().as_secs() < 60, "no build container appeared");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child
    }

    fn leftovers(&self) -> Vec<String> {
        let names =
            std::fs::read_dir(&self.dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned());
        names.filter(|n| n.starts_with(".osrepo-work.") || n.starts_with(".out.staging.")).collect()
    }
}

fn kill(child: &Child, sig: i32) {
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn previous(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("out/previous")).unwrap()
}

#[test]
fn sigterm_and_sighup_remove_the_container_like_ctrl_c() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let env = Env::new(&format!("sig-{}", name.to_lowercase()));
        let child = env.started();
        kill(&child, sig);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(name) && err.contains("is unchanged"), "{name}: {err}");
        assert_eq!(env.containers(), 0, "{name}: the container was left behind");
        assert!(env.leftovers().is_empty(), "{name}: {:?}", env.leftovers());
        assert_eq!(previous(&env.dir), b"keep");
    }
}

#[test]
fn the_next_build_reaps_what_kill_9_left() {
    let env = Env::new("kill9");
    let child = env.started();
    let dead = child.id();
    kill(&child, libc::SIGKILL);
    let _ = child.wait_with_output();
    assert_eq!(env.containers(), 1, "kill -9 leaves the container (nothing can run in the killed process)");
    // A staging tree as a killed publish leaves it.
    std::fs::create_dir_all(env.dir.join(format!(".out.staging.{dead}/x"))).unwrap();
    assert!(!env.leftovers().is_empty());
    // The next build fails fast (no such image), but only after reaping.
    let o = env.build(&["--image", &format!("{}=osrepo-test/none:x", env.distro), "--pull", "never"]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(env.containers(), 0, "the stale container was not removed");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    assert_eq!(previous(&env.dir), b"keep");
}
