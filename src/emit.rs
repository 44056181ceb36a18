//! emit: the files a node needs to use the repository.

use crate::config::Distro;

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
