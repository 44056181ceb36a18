//! dnf resolver: the script a build container runs for rpm distros, and parsing of what it
//! reports. `dnf download --resolve --alldeps` takes every dependency whatever the build image
//! has installed; `--arch BASEARCH --arch noarch` keeps other arches (i686 multilib) out.
//! EL7 images have no dnf: there `repotrack` (yum-utils) does the same job.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use super::Artifact;
use crate::arch::Arch;
use crate::config::distro::ImageRef;
use crate::config::Distro;
use crate::index::rpm::PrimaryPackage;

/// Copy the upstream metadata the files are checked against (primary.xml) and the module
/// metadata of modular repos out of the cache `$C`, named `<repo>--<file>`: dnf keeps them in
/// `cachedir/<repo>-<hash>/repodata/`, yum in `cachedir/<repo>/`. Only the files the repo's
/// current `repomd.xml` names are taken (the cache persists between builds: older metadata
/// files may still lie beside them).
pub(crate) const COPY_METADATA: &str = r#"find "$C" -maxdepth 4 -type f -name repomd.xml | sort | while read -r m; do
  d=$(dirname "$m")
  r=$d
  [ "$(basename "$r")" = repodata ] && r=$(dirname "$r")
  for href in $(grep -o 'href="[^"]*"' "$m" | sed 's/^href="//; s/"$//' | grep -E 'primary\.xml|modules\.yaml'); do
    b=$(basename "$href")
    [ -f "$d/$b" ] && cp "$d/$b" "$W/out/md/$(basename "$r")--$b"
  done
done
"#;

/// The metadata cache: in the state directory osrepo mounts (kept between builds, one per
/// set of repo files, revalidated on every run), else in the work directory.
const CACHE_DIR: &str = r#"C=$W/cache
STATE=/osrepo/state
if [ -d "$STATE" ]; then
  K=$(cat "$W"/repos.d/*.repo 2>/dev/null | cksum | cut -d' ' -f1)
  C=$STATE/dnf-$K
  find "$STATE" -mindepth 1 -maxdepth 1 -name 'dnf-*' ! -name "dnf-$K" -exec rm -rf {} +
fi
mkdir -p "$C"
"#;

/// The resolver script (POSIX sh). Arguments: BASEARCH RELEASEVER WEAKDEPS(1|0) TOOL(dnf|repotrack).
pub(crate) fn script() -> String {
    SCRIPT.replace("__COPY_METADATA__", COPY_METADATA).replace("__CACHE_DIR__", CACHE_DIR)
}

const SCRIPT: &str = r#"#!/bin/sh
# osrepo rpm resolver: complete closure, target arch and noarch only.
set -eu
BASEARCH=$1
RELEASEVER=$2
WEAK=$3
TOOL=$4
ARCHES=${5:-$BASEARCH,noarch}
J=/osrepo/job
W=/osrepo/work
rm -rf "$W"
mkdir -p "$W/repos.d" "$W/files" "$W/out/md" "$W/keys"
if [ ! -f "$J/replace-repos" ]; then
  for f in /etc/yum.repos.d/*.repo; do [ -e "$f" ] && cp "$f" "$W/repos.d/"; done
fi
for f in "$J"/repos/*.repo; do [ -e "$f" ] && cp "$f" "$W/repos.d/"; done
for f in /etc/pki/rpm-gpg/* "$J"/keys/*; do [ -f "$f" ] && cp "$f" "$W/keys/"; done
if [ -f "$J/key-urls" ]; then
  while read -r name url; do
    curl -fsSL "$url" -o "$W/keys/$name.asc" || { echo "osrepo: cannot fetch the key of repo $name from $url" >&2; exit 4; }
  done < "$J/key-urls"
fi
__CACHE_DIR__printf '[main]\nreposdir=%s\ncachedir=%s\nskip_if_unavailable=False\nbest=True\ninstall_weak_deps=%s\nkeepcache=True\ngpgcheck=1\nmetadata_expire=0\n' \
  "$W/repos.d" "$C" "$WEAK" > "$W/dnf.conf"
# yum fetches primary.sqlite.bz2 by default; osrepo checks files against primary.xml.
[ "$TOOL" = repotrack ] && echo 'mddownloadpolicy=xml' >> "$W/dnf.conf"
SPECS=$(cat "$J/specs")
: > "$W/out/missing.tsv"
if [ "$TOOL" = repotrack ]; then
  set -- -c "$W/dnf.conf" ${RELEASEVER:+"--releasever=$RELEASEVER"}
  yum "$@" -q makecache
  # repotrack takes package names only: a name that exists only as a Provides (conntrack,
  # vim) is tracked by its provider's name (osrepo checks every request is satisfied).
  TRACK=""
  for s in $SPECS; do
    if yum "$@" -q list available "$s" >/dev/null 2>&1; then
      TRACK="$TRACK $s"
      continue
    fi
    p=$(repoquery -c "$W/dnf.conf" -q --whatprovides "$s" --qf '%{name}' 2>/dev/null | head -n 1)
    if [ -n "$p" ]; then
      echo "osrepo: $s is provided by $p"
      TRACK="$TRACK $p"
    else
      printf '%s\tNo package %s available\n' "$s" "$s" >> "$W/out/missing.tsv"
    fi
  done
  if [ -s "$W/out/missing.tsv" ]; then cat "$W/out/missing.tsv" >&2; exit 3; fi
  # repotrack also takes other arches of the basearch (i686 on x86_64): osrepo leaves them out.
  # shellcheck disable=SC2086
  repotrack -c "$W/dnf.conf" -a "$BASEARCH" -u $TRACK > "$W/out/urls.txt"
else
  set -- -c "$W/dnf.conf" ${RELEASEVER:+"--releasever=$RELEASEVER"} --forcearch="$BASEARCH" \
    --setopt=reposdir="$W/repos.d" -y
  # Debian's dnf enables a `local` plugin that caches packages behind our back.
  if ls /usr/lib/python3/dist-packages/dnf-plugins/local.py >/dev/null 2>&1; then
    set -- "$@" --disableplugin=local
  fi
  # `dnf download` lives in dnf-plugins-core, which minimal images lack.
  if ! dnf download --help >/dev/null 2>&1; then
    echo "osrepo: installing dnf-plugins-core in the build container"
    dnf -y -q install dnf-plugins-core
  fi
  echo "osrepo: dnf makecache ($BASEARCH)"
  dnf "$@" makecache
  echo "osrepo: checking $(echo "$SPECS" | wc -w) requested packages"
  for s in $SPECS; do
    found=$(dnf "$@" -q repoquery --arch "$ARCHES" "$s" 2>/dev/null || true)
    [ -n "$found" ] || found=$(dnf "$@" -q repoquery --arch "$ARCHES" --whatprovides "$s" 2>/dev/null || true)
    [ -n "$found" ] || printf '%s\tNo package %s available for %s\n' "$s" "$s" "$BASEARCH" >> "$W/out/missing.tsv"
  done
  if [ -s "$W/out/missing.tsv" ]; then cat "$W/out/missing.tsv" >&2; exit 3; fi
  # shellcheck disable=SC2086
  dnf "$@" -q download --resolve --alldeps $(echo "$ARCHES" | sed 's/^/--arch /; s/,/ --arch /g') --urls $SPECS \
    > "$W/out/urls.txt"
fi
__COPY_METADATA__echo "osrepo: closure of $(grep -c '\.rpm$' "$W/out/urls.txt") files"
"#;

/// `.repo` text for one repository definition.
pub(crate) fn repo_file(id: &str, baseurl: &str, gpgkeys: &[String], gpgcheck: bool) -> String {
    let mut t = format!("[{id}]\nname={id}\nbaseurl={baseurl}\nenabled=1\ngpgcheck={}\n", u8::from(gpgcheck));
    if !gpgkeys.is_empty() {
        t.push_str(&format!("gpgkey={}\n", gpgkeys.join(" ")));
    }
    t
}

/// The baseurl of an own repo for an arch.
pub(crate) fn baseurl_for<'a>(distro: &Distro, url: &'a ImageRef, arch: Arch) -> Result<&'a str> {
    url.for_arch(arch).with_context(|| format!("distro {}: no baseurl for arch {arch}", distro.name))
}

/// The release (`$releasever`) and basearch of a job.
/// An empty releasever leaves dnf the image's own.
pub(crate) fn releasever_basearch(distro: &Distro, arch: Arch) -> (String, String) {
    let rv = match distro.releasever.as_deref() {
        Some("image") => String::new(),
        Some(v) => v.to_string(),
        None => distro.release.clone(),
    };
    (rv, arch.rpm().to_string())
}

/// Match downloaded URLs to upstream records (by the URL ending in the package's href).
/// Packages of other arches (repotrack takes i686 builds on x86_64) are left out.
pub(crate) fn artifacts(urls: &str, upstream: &[PrimaryPackage], arches: &[String]) -> Result<Vec<Artifact>> {
    let mut by_base: BTreeMap<&str, Vec<&PrimaryPackage>> = BTreeMap::new();
    for u in upstream {
        by_base.entry(u.href.rsplit('/').next().unwrap_or(&u.href)).or_default().push(u);
    }
    let mut out = Vec::new();
    for url in urls.lines().map(str::trim).filter(|l| l.contains("://") || l.starts_with("file:")) {
        if !url.ends_with(".rpm") {
            continue;
        }
        let file = url.rsplit('/').next().unwrap_or(url).to_string();
        let cands = by_base.get(file.as_str()).cloned().unwrap_or_default();
        let m = cands
            .iter()
            .find(|u| url.ends_with(&format!("/{}", u.href)))
            .or(cands.first())
            .with_context(|| format!("{url}: no record in the upstream metadata"))?;
        if !arches.contains(&m.arch) {
            tracing::info!("{file}: left out, {} is not one of {}", m.arch, arches.join(", "));
            continue;
        }
        out.push(Artifact { file, url: url.to_string(), size: m.size, checksum: m.checksum.clone() });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out.dedup_by(|a, b| a.file == b.file);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::rpm::read_primary;
    use crate::resolve::Checksum;

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>a</name><arch>noarch</arch>
  <checksum type="sha256" pkgid="YES">aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</checksum>
  <size package="1234" installed="1" archive="2"/>
  <location href="Packages/a/a-1-1.noarch.rpm"/>
</package>
</metadata>"#;

    /// The metadata copy finds primary.xml where dnf keeps it (`<repo>-<hash>/repodata/`)
    /// and where yum keeps it (`<repo>/`), takes only what repomd.xml names (not yum's
    /// sqlite files, not older metadata left in the persistent cache).
    #[test]
    fn metadata_is_found_in_dnf_and_yum_cache_layouts() {
        let w = tempfile::tempdir().unwrap();
        let c = w.path().join("cache");
        let repomd = |hrefs: &[&str]| -> String {
            hrefs.iter().map(|h| format!("<data><location href=\"{h}\"/></data>\n")).collect()
        };
        for (f, body) in [
            ("baseos-0123abcd/repodata/repomd.xml", repomd(&["repodata/11-primary.xml.gz"])),
            ("baseos-0123abcd/repodata/11-primary.xml.gz", "dnf".into()),
            ("baseos-0123abcd/repodata/10-primary.xml.gz", "older".into()),
            (
                "appstream-4567/repodata/repomd.xml",
                repomd(&["repodata/22-modules.yaml.gz", "repodata/23-other.xml.gz"]),
            ),
            ("appstream-4567/repodata/22-modules.yaml.gz", "mod".into()),
            ("base/repomd.xml", repomd(&["repodata/33-primary.xml.gz", "repodata/44-primary.sqlite.bz2"])),
            ("base/33-primary.xml.gz", "yum".into()),
            ("base/gen/primary.xml.sqlite", "sqlite".into()),
            ("base/44-primary.sqlite.bz2", "bz2".into()),
        ] {
            std::fs::create_dir_all(c.join(f).parent().unwrap()).unwrap();
            std::fs::write(c.join(f), body).unwrap();
        }
        std::fs::create_dir_all(w.path().join("out/md")).unwrap();
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(COPY_METADATA)
            .env("W", w.path())
            .env("C", &c)
            .status()
            .unwrap();
        assert!(st.success());
        let mut got: Vec<String> = std::fs::read_dir(w.path().join("out/md"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["appstream-4567--22-modules.yaml.gz", "base--33-primary.xml.gz", "baseos-0123abcd--11-primary.xml.gz"]
        );
    }

    #[test]
    fn reads_primary_and_matches_urls() {
        let up = read_primary(PRIMARY).unwrap();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].size, 1234);
        let a = artifacts("file:///r/Packages/a/a-1-1.noarch.rpm\nnoise\n", &up, &["noarch".into()]).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].file, "a-1-1.noarch.rpm");
        assert!(matches!(a[0].checksum, Checksum::Sha256(_)));
        assert!(artifacts("http://x/b-1-1.noarch.rpm\n", &up, &["noarch".into()]).is_err());
        // repotrack's i686 twins on x86_64 are left out.
        let x86 = ["x86_64".to_string()];
        assert!(artifacts("file:///r/Packages/a/a-1-1.noarch.rpm\n", &up, &x86).unwrap().is_empty());
    }

    #[test]
    fn repo_files_keep_gpgcheck() {
        let t = repo_file("x", "file:///r", &["file:///k.asc".into()], true);
        assert!(t.contains("gpgcheck=1\n") && t.contains("gpgkey=file:///k.asc\n"));
    }
}
