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

/// The resolver script (POSIX sh). Arguments: BASEARCH RELEASEVER WEAKDEPS(1|0) TOOL(dnf|repotrack).
pub(crate) fn script() -> &'static str {
    r#"#!/bin/sh
# osrepo rpm resolver: complete closure, target arch and noarch only.
set -eu
BASEARCH=$1
RELEASEVER=$2
WEAK=$3
TOOL=$4
J=/osrepo/job
W=/osrepo/work
rm -rf "$W"
mkdir -p "$W/repos.d" "$W/cache" "$W/files" "$W/out/md" "$W/keys"
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
printf '[main]\nreposdir=%s\ncachedir=%s\nskip_if_unavailable=False\nbest=True\ninstall_weak_deps=%s\nkeepcache=True\ngpgcheck=1\n' \
  "$W/repos.d" "$W/cache" "$WEAK" > "$W/dnf.conf"
SPECS=$(cat "$J/specs")
: > "$W/out/missing.tsv"
if [ "$TOOL" = repotrack ]; then
  set -- -c "$W/dnf.conf" --releasever="$RELEASEVER"
  yum "$@" -q makecache
  for s in $SPECS; do
    yum "$@" -q list available "$s" >/dev/null 2>&1 || yum "$@" -q provides "$s" >/dev/null 2>&1 \
      || printf '%s\tNo package %s available\n' "$s" "$s" >> "$W/out/missing.tsv"
  done
  if [ -s "$W/out/missing.tsv" ]; then cat "$W/out/missing.tsv" >&2; exit 3; fi
  # shellcheck disable=SC2086
  repotrack -c "$W/dnf.conf" -a "$BASEARCH" -u $SPECS > "$W/out/urls.txt"
else
  set -- -c "$W/dnf.conf" --releasever="$RELEASEVER" --forcearch="$BASEARCH" --setopt=reposdir="$W/repos.d" -y
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
    found=$(dnf "$@" -q repoquery --arch "$BASEARCH,noarch" "$s" 2>/dev/null || true)
    [ -n "$found" ] || found=$(dnf "$@" -q repoquery --arch "$BASEARCH,noarch" --whatprovides "$s" 2>/dev/null || true)
    [ -n "$found" ] || printf '%s\tNo package %s available for %s\n' "$s" "$s" "$BASEARCH" >> "$W/out/missing.tsv"
  done
  if [ -s "$W/out/missing.tsv" ]; then cat "$W/out/missing.tsv" >&2; exit 3; fi
  # shellcheck disable=SC2086
  dnf "$@" -q download --resolve --alldeps --arch "$BASEARCH" --arch noarch --urls $SPECS > "$W/out/urls.txt"
fi
# The upstream metadata the files were checked against, for osrepo's own verification, and
# the module metadata of modular repos.
for d in "$W"/cache/*/repodata "$W"/cache/*/*/repodata; do
  [ -d "$d" ] || continue
  repo=$(basename "$(dirname "$d")")
  for f in "$d"/*primary.xml* "$d"/*modules.yaml*; do
    [ -f "$f" ] && cp "$f" "$W/out/md/$repo--$(basename "$f")"
  done
done
echo "osrepo: closure of $(grep -c '\.rpm$' "$W/out/urls.txt") files"
"#
}

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
pub(crate) fn releasever_basearch(distro: &Distro, arch: Arch) -> (String, String) {
    (distro.release.clone(), arch.rpm().to_string())
}


/// Match downloaded URLs to upstream records (by the URL ending in the package's href).
pub(crate) fn artifacts(urls: &str, upstream: &[PrimaryPackage]) -> Result<Vec<Artifact>> {
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

    #[test]
    fn reads_primary_and_matches_urls() {
        let up = read_primary(PRIMARY).unwrap();
        assert_eq!(up.len(), 1);
        assert_eq!(up[0].size, 1234);
        let a = artifacts("file:///r/Packages/a/a-1-1.noarch.rpm\nnoise\n", &up).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].file, "a-1-1.noarch.rpm");
        assert!(matches!(a[0].checksum, Checksum::Sha256(_)));
        assert!(artifacts("http://x/b-1-1.noarch.rpm\n", &up).is_err());
    }

    #[test]
    fn repo_files_keep_gpgcheck() {
        let t = repo_file("x", "file:///r", &["file:///k.asc".into()], true);
        assert!(t.contains("gpgcheck=1\n") && t.contains("gpgkey=file:///k.asc\n"));
    }
}
