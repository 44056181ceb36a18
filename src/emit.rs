//! emit: the files a node needs to use the repository.

mod kubespray;
pub(crate) mod node;
mod setup;

use std::path::Path;

use anyhow::Result;

use crate::config::Distro;
use crate::fsutil::write_atomic;

/// The node files generated from the whole tree (not copied by merge: written again).
pub(crate) const TREE_FILES: [&str; 2] = ["repos/setup.sh", "repos/kubespray-offline.yml"];

/// `repos/<distro>.node` for a distro whose config file is `repos/<distro>.<ext>`.
pub(crate) fn write_node_entry(tree: &Path, d: &Distro, base_url: &str) -> Result<()> {
    let e = node::NodeEntry::of(d, base_url);
    write_atomic(&tree.join("repos").join(format!("{}.node", d.name)), e.render().as_bytes())
}

/// `repos/setup.sh` and `repos/kubespray-offline.yml` from every distro in the tree.
pub(crate) fn write_tree_files(tree: &Path) -> Result<()> {
    let entries = node::entries(tree)?;
    if entries.is_empty() {
        return Ok(());
    }
    let repos = tree.join("repos");
    // 0644 like every published file: nodes run it as `sh setup.sh BASE_URL`.
    write_atomic(&repos.join("setup.sh"), setup::script(tree, &entries)?.as_bytes())?;
    write_atomic(&repos.join("kubespray-offline.yml"), kubespray::render(tree, &entries)?.as_bytes())
}

/// Where nodes keep the osrepo key.
pub(crate) const NODE_KEYRING: &str = "/etc/apt/keyrings/osrepo.gpg";

/// The default base URL: a placeholder that is easy to substitute.
pub const DEFAULT_BASE_URL: &str = "http://OSREPO_HOST:8080";

/// `<distro>.sources` (deb822) and `<distro>.list` (one-line) for an apt distro.
pub(crate) fn apt_sources(distro: &Distro, base_url: &str) -> (String, String) {
    let url = format!("{}/{}", base_url.trim_end_matches('/'), distro.id);
    let codename = distro.codename();
    let sources = format!(
        "# osrepo: {name}\nTypes: deb\nURIs: {url}\nSuites: {codename}\nComponents: main\nSigned-By: {NODE_KEYRING}\n",
        name = distro.name
    );
    let list = format!("# osrepo: {}\ndeb [signed-by={NODE_KEYRING}] {url} {codename} main\n", distro.name);
    (sources, list)
}

/// `<distro>.repo` for yum/dnf nodes: package and repository signatures both checked.
/// `keys` are paths below `keys/` of upstream package signing keys.
pub(crate) fn yum_repo(distro: &Distro, base_url: &str, keys: &[String]) -> String {
    let base = base_url.trim_end_matches('/');
    let mut gpgkeys = vec![format!("{base}/keys/osrepo.asc")];
    gpgkeys.extend(keys.iter().map(|k| format!("{base}/keys/{k}")));
    format!(
        "# osrepo: {name}\n[osrepo-{name}]\nname=osrepo {name} $releasever $basearch\n\
         baseurl={base}/{id}/{rv}/os/$basearch/\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\n\
         gpgkey={keys}\n",
        name = distro.name,
        id = distro.id,
        // The node's own $releasever names the tree, unless its image's value differs from
        // the release (openEuler's `22.03LTS_SP1`): then the release itself.
        rv = if distro.releasever.as_deref() == Some("image") { distro.release.as_str() } else { "$releasever" },
        keys = gpgkeys.join("\n       ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_name_key_and_url() {
        let d = crate::config::Distro::parse(
            std::path::Path::new("debian12.yaml"),
            "name: debian12\nfamily: deb\nid: debian\nrelease: '12'\ncodename: bookworm\nimage: debian:bookworm\narches: [amd64]\ngroups: [common]\n",
        )
        .unwrap();
        let (s, l) = apt_sources(&d, "http://repo.example:8080/");
        assert!(s.contains("URIs: http://repo.example:8080/debian\n"));
        assert!(s.contains("Suites: bookworm\n"));
        assert!(s.contains("Signed-By: /etc/apt/keyrings/osrepo.gpg\n"));
        assert!(
            l.ends_with("deb [signed-by=/etc/apt/keyrings/osrepo.gpg] http://repo.example:8080/debian bookworm main\n")
        );
        assert!(!s.contains("trusted") && !l.contains("trusted"));
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    /// A tree with a deb distro (amd64, arm64) and an rpm distro (x86_64), as a build leaves it.
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let t = d.path();
        let parse = |name: &str, text: &str| Distro::parse(Path::new(&format!("{name}.yaml")), text).unwrap();
        let deb = parse(
            "debian12",
            "name: debian12\nfamily: deb\nid: debian\nrelease: '12'\ncodename: bookworm\nimage: debian:bookworm\narches: [amd64]\ngroups: [common]\n",
        );
        let rpm = parse(
            "rocky9",
            "name: rocky9\nfamily: rpm\nid: rocky\nrelease: '9'\nimage: rockylinux:9\narches: [amd64]\ngroups: [common]\n",
        );
        let base = "http://repo.example:8080";
        for a in ["amd64", "arm64"] {
            std::fs::create_dir_all(t.join(format!("debian/dists/bookworm/main/binary-{a}"))).unwrap();
        }
        std::fs::create_dir_all(t.join("rocky/9/os/x86_64/repodata")).unwrap();
        let (sources, _) = apt_sources(&deb, base);
        write_atomic(&t.join("repos/debian12.sources"), sources.as_bytes()).unwrap();
        write_atomic(&t.join("repos/rocky9.repo"), yum_repo(&rpm, base, &["rocky9/docker-ce.asc".into()]).as_bytes())
            .unwrap();
        write_atomic(&t.join("keys/rocky9/docker-ce.asc"), b"k").unwrap();
        write_atomic(&t.join("keys/osrepo.gpg"), &[0x99, 0x01, 0x02, 0xff]).unwrap();
        write_node_entry(t, &deb, base).unwrap();
        write_node_entry(t, &rpm, &format!("{base}/")).unwrap();
        d
    }

    #[test]
    fn setup_script_lists_the_tree_and_parses() {
        let d = tree();
        write_tree_files(d.path()).unwrap();
        let sh = std::fs::read_to_string(d.path().join("repos/setup.sh")).unwrap();
        assert!(sh.contains("\ndebian12 deb debian 12 bookworm amd64,arm64 debian12.sources\n"), "{sh}");
        assert!(sh.contains("\nrocky9 rpm rocky 9 - amd64 rocky9.repo\n"), "{sh}");
        assert!(sh.contains("URIs: @OSREPO_BASE@/debian\n"), "{sh}");
        assert!(sh.contains("baseurl=@OSREPO_BASE@/rocky/9/os/$basearch/\n"), "{sh}");
        assert!(!sh.contains("repo.example"), "the build's base URL must not stay in the script");
        let o = std::process::Command::new("sh").arg("-n").arg(d.path().join("repos/setup.sh")).output().unwrap();
        assert!(o.status.success(), "sh -n: {}", String::from_utf8_lossy(&o.stderr));
        // Deterministic: the same tree gives the same bytes.
        write_tree_files(d.path()).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("repos/setup.sh")).unwrap(), sh);
    }

    #[test]
    fn kubespray_vars_are_kubesprays_and_parse() {
        let d = tree();
        write_tree_files(d.path()).unwrap();
        let text = std::fs::read_to_string(d.path().join("repos/kubespray-offline.yml")).unwrap();
        let vars: std::collections::BTreeMap<String, String> = serde_yaml::from_str(&text).unwrap();
        let fixture =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubespray-offline-vars.yml"))
                .unwrap();
        let known: Vec<String> = serde_yaml::from_str(&fixture).unwrap();
        for k in vars.keys() {
            assert!(known.contains(k), "{k} is not a variable of kubespray's offline sample");
        }
        assert_eq!(vars["yum_repo"], "http://repo.example:8080");
        assert_eq!(vars["debian_repo"], "http://repo.example:8080/debian");
        assert_eq!(vars["docker_rh_repo_base_url"], "http://repo.example:8080/rocky/$releasever/os/$basearch/");
        assert_eq!(vars["docker_rh_repo_gpgkey"], "http://repo.example:8080/keys/rocky9/docker-ce.asc");
        assert_eq!(vars["docker_debian_repo_gpgkey"], "http://repo.example:8080/keys/osrepo.asc");
        assert!(!vars.contains_key("ubuntu_repo"), "no ubuntu distro in the tree");
    }

    #[test]
    fn distros_built_with_other_base_urls_are_an_error() {
        let d = tree();
        let p = d.path().join("repos/rocky9.node");
        let text = std::fs::read_to_string(&p).unwrap().replace("repo.example", "other.example");
        std::fs::write(&p, text).unwrap();
        let err = write_tree_files(d.path()).unwrap_err().to_string();
        assert!(err.contains("debian12.node") && err.contains("rocky9.node"), "{err}");
    }
}
