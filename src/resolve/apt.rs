//! apt resolver: the script a build container runs and the parsing of what it reports.
//!
//! The closure is computed as if the node had nothing installed: apt runs against an empty
//! dpkg status file, with its own lists and a fresh archives directory, for one architecture
//! (`APT::Architecture`), so packages already in the build image are not left out.
//! The script only resolves (`--print-uris`, with the checksums of the archive's signed
//! metadata); osrepo then fetches the files its cache lacks and checks them.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

#[cfg(test)]
use super::parse_missing;
use super::{Artifact, Checksum};
use crate::config::distro::{SourceEntry, SourceRole};
use crate::config::Distro;

/// The resolver script (POSIX sh). Arguments: ARCH RECOMMENDS(true|false); specs in job/specs.
pub(crate) fn script() -> String {
    SCRIPT
        .replace("__ARCH_SOURCES__", ARCH_SOURCES)
        .replace("__INDEX_STANZAS__", INDEX_STANZAS)
        .replace("__EXPLAIN__", EXPLAIN)
}

/// An awk filter from apt's messages of a failed install (stdout, then stderr) to
/// `missing.tsv` lines (`spec<TAB>why`): what it cannot find (each named in one run, a
/// virtual package with its providers) and the conflicts it cannot solve (the "unmet
/// dependencies" block, per package).
pub(crate) const EXPLAIN: &str = r#"awk '
  /^Package [^ ]+ is a virtual package provided by:$/ { virt = $2; next }
  virt != "" && /^  [^ ]/ { prov[virt] = prov[virt] (prov[virt] == "" ? "" : ", ") $1; next }
  { virt = "" }
  /^E: Unable to locate package / { n = $0; sub(/^E: Unable to locate package /, "", n); print n "\t" substr($0, 4); next }
  /^E: Package .* has no installation candidate$/ {
    split($0, q, "'\''"); why = substr($0, 4)
    if (q[2] in prov) why = why " (a virtual package provided by " prov[q[2]] ")"
    print q[2] "\t" why; next
  }
  /^E: Version .* for .* was not found$/ { split($0, q, "'\''"); print q[4] "=" q[2] "\t" substr($0, 4); next }
  /^E: Release .* for .* was not found$/ { split($0, q, "'\''"); print q[4] "/" q[2] "\t" substr($0, 4); next }
  /^The following packages have unmet dependencies:$/ { unmet = 1; next }
  unmet && /^ [^ ]+ : / { name = $1; line = $0; sub(/^ [^ ]+ : /, "", line); print name "\t" line; next }
  unmet && /^   +[^ ]/ { line = $0; sub(/^ +/, "", line); print name "\t" line; next }
  { unmet = 0 }
'"#;

/// Write to `$W/out/show.txt` the Package, Filename, Size and SHA256 of every stanza of the
/// verified indexes in `$L` of a package the closure (`$W/out/uris.txt`) names: one awk pass
/// instead of an `apt-cache show` of hundreds of arguments.
/// grep keeps only those fields and the blank lines between stanzas (a fifth of the lines)
/// for awk; a blank line ends each file's last stanza.
pub(crate) const INDEX_STANZAS: &str = r#"for f in $(ls "$L"/*_Packages 2>/dev/null); do
  grep -E '^(Package|Filename|Size|SHA256): |^$' "$f" || true
  echo
done | awk '
  function flush() {
    if (pkg in want) printf "Package: %s\nFilename: %s\nSize: %s\nSHA256: %s\n\n", pkg, f, size, sha
    pkg = ""; f = ""; size = ""; sha = ""
  }
  FNR == NR { split($2, p, "_"); want[p[1]] = 1; next }
  FNR == 1 { flush() }
  /^Package: / { pkg = $2 }
  /^Filename: / { f = $2 }
  /^Size: / { size = $2 }
  /^SHA256: / { sha = $2 }
  /^$/ { flush() }
  END { flush() }
' "$W/out/uris.txt" - > "$W/out/show.txt"
"#;

/// Keep only the deb822 stanzas that serve `$ARCH` (no `Architectures:` field, or one that
/// names it): apt fetches the Release files of every stanza, even one restricted to another
/// arch, and an unreachable one (Ubuntu's ports archive, for an amd64 job) fails the update.
/// Files in `$SOURCES` (default /etc/apt/sources.list.d) are rewritten in place.
pub(crate) const ARCH_SOURCES: &str = r#"for f in "${SOURCES:-/etc/apt/sources.list.d}"/*.sources; do
  [ -e "$f" ] || continue
  awk -v arch="$ARCH" 'BEGIN { RS = ""; ORS = "\n\n" }
    {
      keep = 1
      n = split($0, line, "\n")
      for (i = 1; i <= n; i++) {
        if (line[i] ~ /^Architectures:/) {
          keep = 0
          m = split(line[i], w, /[ \t]+/)
          for (j = 2; j <= m; j++) if (w[j] == arch) keep = 1
        }
      }
      if (keep) print
    }' "$f" > "$f.osrepo" && mv "$f.osrepo" "$f"
done
"#;

const SCRIPT: &str = r#"#!/bin/sh
# osrepo apt resolver: complete closure against an empty dpkg status.
set -eu
ARCH=$1
REC=$2
J=/osrepo/job
W=/osrepo/work
rm -rf "$W"
# The lists persist in osrepo's cache when it mounts a state directory: apt then sends
# conditional requests and fetches only the indexes that changed. Its binary caches persist
# beside them (apt checks them against the lists and the status file, and rebuilds them when
# either changed), with the empty status file they were built for: truncating it again would
# give it a new mtime and cost a rebuild of the 40 MB cache on every run. The status never
# changes, so apt's second cache (of the lists alone, to rebuild from when only the status
# changed) would only cost a write of 40 MB: it is off.
L=$W/lists
C=$W/state
STATE=/osrepo/state
[ -d "$STATE" ] && L=$STATE/lists && C=$STATE
mkdir -p "$L/partial" "$W/archives/partial" "$C" "$W/out"
[ -f "$C/status" ] && [ ! -s "$C/status" ] || : > "$C/status"
rm -f "$C/srcpkgcache.bin"
if [ -f "$J/replace-sources" ]; then
  rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
fi
for f in "$J"/*.sources; do
  [ -e "$f" ] || continue
  cp "$f" /etc/apt/sources.list.d/
done
__ARCH_SOURCES__if [ -f "$J/key-urls" ]; then
  while read -r name url; do
    /usr/lib/apt/apt-helper download-file "$url" "$J/keys/$name.asc" || { echo "osrepo: cannot fetch the key of extra repo $name from $url" >&2; exit 4; }
  done < "$J/key-urls"
fi
set -- -o "Dir::State::Lists=$L" -o "Dir::State::status=$C/status" \
  -o "Dir::Cache::archives=$W/archives" -o "Dir::Cache::pkgcache=$C/pkgcache.bin" -o "Dir::Cache::srcpkgcache=" \
  -o "Acquire::GzipIndexes=false" -o "Acquire::PDiffs=false" \
  -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" \
  -o "APT::Install-Recommends=$REC" -o "APT::Sandbox::User=root" -o "Acquire::Languages=none" \
  -o "Debug::NoLocking=1" -o "Acquire::Retries=3"
echo "osrepo: apt-get update ($ARCH)"
# The Release files apt has, to tell a changed one from a 200 with the same bytes.
mkdir -p "$W/prev"
for f in "$L"/*Release "$L"/*Release.gpg; do
  [ -f "$f" ] && cp -p "$f" "$W/prev/"
done
# The binary caches are built (only when the lists changed) by the install below, not
# removed and rebuilt by the update.
if ! apt-get "$@" -o pkgCacheFile::Generate=false -q update > "$W/out/update.log" 2>&1; then
  cat "$W/out/update.log" >&2
  echo "osrepo: apt-get update failed" >&2
  exit 5
fi
cat "$W/out/update.log"
# A 200 with the bytes apt had is a 304 (some mirrors ignore If-Modified-Since): such a file
# keeps its time, so the binary caches built from these lists stay valid.
for p in "$W/prev"/*; do
  [ -f "$p" ] || continue
  f=$L/${p##*/}
  if cmp -s "$p" "$f"; then touch -r "$p" "$f"; fi
done
if grep -Eq '^(E: |W: (GPG error|Failed to fetch|Some index files failed|The repository .* (is not signed|does not have a Release)))' "$W/out/update.log"; then
  echo "osrepo: apt-get update reported problems (see above); refusing to resolve from incomplete or unverified sources" >&2
  exit 5
fi
SPECS=$(cat "$J/specs")
echo "osrepo: resolving $(echo "$SPECS" | wc -w) requested packages"
# shellcheck disable=SC2086
if ! apt-get "$@" -q -y --print-uris install $SPECS > "$W/out/uris.raw" 2> "$W/out/sim.log"; then
  cat "$W/out/uris.raw" "$W/out/sim.log" | __EXPLAIN__ > "$W/out/missing.tsv"
  # A failure apt did not explain: try each spec alone (slow: a second per spec).
  [ -s "$W/out/missing.tsv" ] || for s in $SPECS; do
    if ! apt-get "$@" -q -s install "$s" > "$W/out/one.log" 2>&1; then
      why=$(grep '^E: ' "$W/out/one.log" | head -n 1 | sed 's/^E: //')
      printf '%s\t%s\n' "$s" "${why:-cannot be installed}" >> "$W/out/missing.tsv"
    fi
  done
  if [ ! -s "$W/out/missing.tsv" ]; then
    grep '^E: ' "$W/out/sim.log" | sed 's/^E: /*\t/' > "$W/out/missing.tsv" || true
    cat "$W/out/uris.raw" "$W/out/sim.log" >&2
  fi
  cat "$W/out/missing.tsv" >&2
  exit 3
fi
grep "^'" "$W/out/uris.raw" > "$W/out/uris.txt" || true
# apt prints MD5Sum (or nothing, for some security-suite files) there: every file's SHA256
# comes from the indexes apt just verified, in one pass over them.
__INDEX_STANZAS__echo "osrepo: closure of $(grep -c "^'" "$W/out/uris.txt") files"
"#;

/// deb822 sources for the image's own repos with mirror overrides applied.
pub(crate) fn mirror_sources(distro: &Distro, archive: Option<&str>, security: Option<&str>) -> Result<String> {
    if distro.sources.is_empty() {
        bail!("distro {}: a mirror override needs the `sources` list in {}", distro.name, distro.file.display());
    }
    let mut out = String::new();
    for s in &distro.sources {
        let base = match s.role {
            SourceRole::Archive => archive,
            SourceRole::Security => security.or(archive.map(|_| "")).filter(|s| !s.is_empty()),
            SourceRole::Ports => distro.mirror.as_ref().and_then(|m| m.ports.as_deref()),
        };
        let Some(base) = base else {
            bail!(
                "distro {}: the mirror override gives no URL for the {:?} sources (set mirror.security or mirror.ports)",
                distro.name,
                s.role
            );
        };
        out.push_str(&source_stanza(base, s, s.signed_by.as_deref()));
        out.push('\n');
    }
    Ok(out)
}

/// One deb822 stanza.
pub(crate) fn source_stanza(uri: &str, s: &SourceEntry, signed_by: Option<&str>) -> String {
    let mut t = format!(
        "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\n",
        uri.trim_end_matches('/'),
        s.suites.join(" "),
        s.components.join(" ")
    );
    if !s.arches.is_empty() {
        let a: Vec<&str> = s.arches.iter().map(|a| a.deb()).collect();
        t.push_str(&format!("Architectures: {}\n", a.join(" ")));
    }
    if let Some(k) = signed_by {
        t.push_str(&format!("Signed-By: {k}\n"));
    }
    t
}

/// Parse `apt-get --print-uris` output (`'URL' FILE SIZE [HASH]` lines) with the SHA256 of
/// each file taken from `apt-cache show` stanzas of the verified index (matched by Filename
/// and Size).
pub(crate) fn parse_resolution(uris: &str, show: &str) -> Result<Vec<Artifact>> {
    let mut by_file: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for stanza in show.split("\n\n") {
        let get = |f: &str| stanza.lines().find_map(|l| l.strip_prefix(f)).map(str::trim);
        if let (Some(file), Some(size), Some(sha)) = (get("Filename: "), get("Size: "), get("SHA256: ")) {
            by_file.entry(file.to_string()).or_default().push((size.parse().unwrap_or(0), sha.to_string()));
        }
    }
    let mut out = parse_uris(uris)?;
    for a in &mut out {
        let url = super::percent_decode(&a.url);
        let hit = by_file
            .iter()
            .filter(|(f, _)| url.ends_with(&format!("/{f}")))
            .flat_map(|(_, v)| v.iter())
            .find(|(size, _)| *size == a.size);
        match hit {
            Some((_, sha)) => a.checksum = Checksum::parse(&format!("SHA256:{sha}"))?,
            None => bail!("{}: no SHA256 for it in the verified index", a.url),
        }
    }
    Ok(out)
}

/// Parse `apt-get --print-uris` output: `'URL' FILE SIZE HASH` lines (the hash may be absent:
/// it is then filled from the index by `parse_resolution`).
pub(crate) fn parse_uris(text: &str) -> Result<Vec<Artifact>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with('\'') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 3 {
            bail!("apt --print-uris line {}: cannot read {line:?}", i + 1);
        }
        let url = parts[0].trim_matches('\'').to_string();
        let size: u64 =
            parts[2].parse().with_context(|| format!("apt --print-uris line {}: size {:?}", i + 1, parts[2]))?;
        let checksum = match parts.get(3) {
            Some(h) => Checksum::parse(h).with_context(|| format!("apt --print-uris line {}", i + 1))?,
            None => Checksum::Sha256(String::new()),
        };
        if !parts[1].ends_with(".deb") {
            continue;
        }
        out.push(Artifact { file: parts[1].to_string(), url, size, checksum });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(apt_output: &str) -> String {
        let o = std::process::Command::new("sh")
            .args(["-euc", &format!("{EXPLAIN}\n")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(apt_output.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    }

    #[test]
    fn a_failed_install_is_explained_per_spec_from_one_run_of_apt() {
        // What bookworm's apt printed (stdout, then stderr) for
        // `install curl python-apt aufs-tools netcat jq=0.1 socat/nosuch nosuch`.
        let out = "Reading package lists...\nBuilding dependency tree...\n\
            Package aufs-tools is not available, but is referred to by another package.\n\
            This may mean that the package is missing, has been obsoleted, or\n\
            is only available from another source\n\n\
            Package netcat is a virtual package provided by:\n  netcat-openbsd 1.219-1\n  netcat-traditional 1.10-47\n\n\
            E: Unable to locate package nosuch\n\
            E: Package 'aufs-tools' has no installation candidate\n\
            E: Package 'netcat' has no installation candidate\n\
            E: Version '0.1' for 'jq' was not found\n\
            E: Release 'nosuch' for 'socat' was not found\n";
        assert_eq!(
            explain(out),
            "nosuch\tUnable to locate package nosuch\n\
             aufs-tools\tPackage 'aufs-tools' has no installation candidate\n\
             netcat\tPackage 'netcat' has no installation candidate (a virtual package provided by netcat-openbsd, netcat-traditional)\n\
             jq=0.1\tVersion '0.1' for 'jq' was not found\n\
             socat/nosuch\tRelease 'nosuch' for 'socat' was not found\n"
        );
        let m = parse_missing(&explain(out));
        assert_eq!(m.len(), 5);
        assert_eq!(m[3], ("jq=0.1".to_string(), "Version '0.1' for 'jq' was not found".to_string()));
    }

    #[test]
    fn a_conflict_among_the_requests_is_explained_by_the_packages_that_break() {
        let out = "The following information may help to resolve the situation:\n\n\
            The following packages have unmet dependencies:\n \
            mtr : Breaks: mtr-tiny but 0.95-1 is to be installed\n \
            mtr-tiny : Breaks: mtr but 0.95-1 is to be installed\n \
            foo : Depends: bar (>= 2) but 1 is to be installed\n       \
            Depends: baz but it is not installable\n\
            E: Unable to correct problems, you have held broken packages.\n";
        assert_eq!(
            explain(out),
            "mtr\tBreaks: mtr-tiny but 0.95-1 is to be installed\n\
             mtr-tiny\tBreaks: mtr but 0.95-1 is to be installed\n\
             foo\tDepends: bar (>= 2) but 1 is to be installed\n\
             foo\tDepends: baz but it is not installable\n"
        );
    }

    #[test]
    fn index_stanzas_of_the_closure_come_from_every_list_even_one_without_a_final_blank_line() {
        let d = tempfile::tempdir().unwrap();
        let (l, w) = (d.path().join("lists"), d.path().join("w"));
        std::fs::create_dir_all(&l).unwrap();
        std::fs::create_dir_all(w.join("out")).unwrap();
        let stanza = |p: &str, sha: &str| {
            format!("Package: {p}\nVersion: 1\nFilename: pool/{p}_1_amd64.deb\nSize: 7\nMD5sum: x\nSHA256: {sha}\n")
        };
        // The first file's last stanza has no blank line after it.
        std::fs::write(l.join("a_Packages"), format!("{}\n{}", stanza("zz", "ab"), stanza("jq", "aa"))).unwrap();
        let other = "Package: other\nFilename: pool/other_1_all.deb\nSize: 9\n\n";
        std::fs::write(l.join("b_Packages"), format!("{other}{}\n", stanza("tzdata", "bb"))).unwrap();
        std::fs::write(w.join("out/uris.txt"), "'http://m/pool/jq_1_amd64.deb' jq_1_amd64.deb 7 MD5Sum:x\n'http://m/pool/tzdata_1_amd64.deb' tzdata_1_amd64.deb 7\n").unwrap();
        let st =
            std::process::Command::new("sh").args(["-euc", INDEX_STANZAS]).env("L", &l).env("W", &w).status().unwrap();
        assert!(st.success());
        let show = std::fs::read_to_string(w.join("out/show.txt")).unwrap();
        assert_eq!(
            show,
            "Package: jq\nFilename: pool/jq_1_amd64.deb\nSize: 7\nSHA256: aa\n\n\
             Package: tzdata\nFilename: pool/tzdata_1_amd64.deb\nSize: 7\nSHA256: bb\n\n"
        );
    }

    #[test]
    fn resolver_keeps_only_the_sources_of_its_arch() {
        let d = tempfile::tempdir().unwrap();
        let text = "Types: deb\nURIs: http://a/ubuntu\nSuites: jammy\nComponents: main\nArchitectures: amd64\n\n\
                    Types: deb\nURIs: http://p/ubuntu-ports\nSuites: jammy\nComponents: main\nArchitectures: arm64 armhf\n\n\
                    Types: deb\nURIs: http://x/all\nSuites: jammy\nComponents: main\n";
        let f = d.path().join("ubuntu.sources");
        let run = |arch: &str| {
            std::fs::write(&f, text).unwrap();
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(ARCH_SOURCES)
                .env("ARCH", arch)
                .env("SOURCES", d.path())
                .status()
                .unwrap();
            assert!(st.success());
            std::fs::read_to_string(&f).unwrap()
        };
        let amd = run("amd64");
        assert!(amd.contains("http://a/ubuntu") && amd.contains("http://x/all") && !amd.contains("ports"), "{amd}");
        let arm = run("arm64");
        assert!(
            !arm.contains("http://a/ubuntu\n") && arm.contains("ubuntu-ports") && arm.contains("http://x/all"),
            "{arm}"
        );
        assert!(script().contains("awk -v arch") && !script().contains("__ARCH_SOURCES__"));
    }

    #[test]
    fn parses_print_uris() {
        let t = "Reading package lists...\n\
'http://m/debian/pool/main/c/curl/curl_7.88.1-10%2bdeb12u5_amd64.deb' curl_7.88.1-10+deb12u5_amd64.deb 315732 SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
'file:/osrepo/extra/x/pool/a_1_all.deb' a_1_all.deb 10 MD5Sum:0123456789abcdef0123456789abcdef\n";
        let a = parse_uris(t).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].file, "a_1_all.deb");
        assert_eq!(a[0].checksum, Checksum::Md5("0123456789abcdef0123456789abcdef".into()));
        assert_eq!(a[1].size, 315732);
        assert!(matches!(a[1].checksum, Checksum::Sha256(_)));
        assert_eq!(a[1].url, "http://m/debian/pool/main/c/curl/curl_7.88.1-10%2bdeb12u5_amd64.deb");
    }

    #[test]
    fn sha256_comes_from_the_index() {
        let uris = "'http://m/debian/pool/main/c/curl/curl_7.88.1-10%2bdeb12u5_amd64.deb' curl_7.88.1-10+deb12u5_amd64.deb 315732 MD5Sum:0123456789abcdef0123456789abcdef\n";
        let sha = "ab".repeat(32);
        let show = format!("Package: curl\nFilename: pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb\nSize: 315732\nSHA256: {sha}\n\n");
        let a = parse_resolution(uris, &show).unwrap();
        assert_eq!(a[0].checksum, Checksum::Sha256(sha.clone()));
        let wrong_size = show.replace("Size: 315732", "Size: 1");
        assert!(parse_resolution(uris, &wrong_size).is_err());
    }

    #[test]
    fn rejects_garbled_uris() {
        assert!(parse_uris("'http://x' a.deb notanumber SHA256:00").is_err());
        assert!(parse_uris("'http://x' a.deb 1 CRC:00").is_err());
    }

    #[test]
    fn missing_lists_every_spec() {
        let m = parse_missing(
            "nosuch\tUnable to locate package nosuch\ncurl=0.1\tVersion '0.1' for 'curl' was not found\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].0, "curl=0.1");
    }
}
