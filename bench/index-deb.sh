#!/usr/bin/env bash
# `osrepo index deb` against apt-ftparchive and against hashing the same bytes, side by side
# in one run: every round runs each contender once (in turn, so load from other processes
# falls on all of them alike); the table gives medians, the range and the peak RSS.
#
# usage: bench/index-deb.sh REPO_ROOT [RUNS]   (REPO_ROOT holds pool/; default 5 runs)
#   A corpus of real packages: bench/deb-corpus.sh /work/corpus/bookworm (1,530 .debs,
#   1.1 GB, from the host's apt sources), then bench/index-deb.sh /work/corpus/bookworm.
#
# Contenders (all write Packages, Packages.gz, Packages.xz and Release of the same pool):
#   ftp_default   apt-ftparchive packages, gzip -9, xz, apt-ftparchive release (one after
#                 the other, as the issue measured it), defaults (MD5, SHA-1, SHA-256, SHA-512)
#   ftp_sha256    the same, restricted to SHA-256 (-o APT::FTPArchive::{MD5,SHA1,SHA512}=false)
#   sha256_floor  sha256sum of every .deb on all cores (xargs -P NPROC): the floor for
#                 reading and hashing the bytes once
#   osrepo        osrepo index deb (SHA-256, the default)
#   osrepo_all    osrepo index deb --hashes md5,sha1,sha256,sha512 (what ftp_default writes)
#   osrepo_key    osrepo index deb --key (+ InRelease, Release.gpg)
set -euo pipefail
src=${1:?usage: bench/index-deb.sh REPO_ROOT [RUNS]}
runs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${OSREPO:-$here/../target/release/osrepo}
command -v apt-ftparchive >/dev/null || { echo "apt-ftparchive missing (apt-get install apt-utils)" >&2; exit 1; }
[ -x "$bin" ] || { echo "no osrepo binary at $bin (cargo build --release --locked)" >&2; exit 1; }
. "$here/common.sh"

work=$(mktemp -d)
res=$work/res
mkdir -p "$res"
trap 'rm -rf "$work"' EXIT
cp -al "$src/pool" "$work/pool" 2>/dev/null || cp -a "$src/pool" "$work/pool"
key=$work/key
"$bin" key generate --out "$key" >/dev/null
n=$(find "$work/pool" -name '*.deb' | wc -l)
bytes=$(du -sbL "$work/pool" | cut -f1)
nproc=$(nproc)
# Warm the page cache so that every contender reads from memory.
find "$work/pool" -name '*.deb' -print0 | xargs -0 cat > /dev/null
export work bin key nproc

ftp() {
  local d=$work/ftp-$1
  shift
  rm -rf "$d" && mkdir -p "$d/main/binary-amd64"
  (cd "$work" && apt-ftparchive "$@" packages pool > "$d/main/binary-amd64/Packages")
  gzip -9nkf "$d/main/binary-amd64/Packages" && xz -kf "$d/main/binary-amd64/Packages"
  apt-ftparchive "$@" release "$d" > "$d/Release"
}
ftp_default() { ftp default; }
ftp_sha256() { ftp sha256 -o APT::FTPArchive::MD5=false -o APT::FTPArchive::SHA1=false -o APT::FTPArchive::SHA512=false; }
sha256_floor() { find "$work/pool" -name '*.deb' -print0 | xargs -0 -P "$nproc" -n 32 sha256sum; }
osrepo() { rm -rf "$work/dists"; "$bin" index deb "$work" --codename bench --arch amd64 "$@"; }
osrepo_default() { osrepo; }
osrepo_all() { osrepo --hashes md5,sha1,sha256,sha512; }
osrepo_key() { osrepo --key "$key/osrepo.key"; }
export -f ftp ftp_default ftp_sha256 sha256_floor osrepo osrepo_default osrepo_all osrepo_key

contenders=(ftp_default ftp_sha256 sha256_floor osrepo_default osrepo_all osrepo_key)
load_before=$(load)
for _ in $(seq "$runs"); do
  for c in "${contenders[@]}"; do measure "$c"; done
done
load_after=$(load)

echo "pool: $n .deb files, $bytes bytes; $runs rounds, $nproc cores; load average $load_before (start), $load_after (end)"
echo "medians of $runs rounds; CPU = user + system seconds of every process"
header
row "apt-ftparchive packages+gzip+xz+release (defaults)" ftp_default
row "apt-ftparchive ... restricted to SHA-256" ftp_sha256
row "sha256sum of every .deb on $nproc cores (floor)" sha256_floor
row "osrepo index deb (SHA-256)" osrepo_default
row "osrepo index deb --hashes md5,sha1,sha256,sha512" osrepo_all
row "osrepo index deb --key (+InRelease, Release.gpg)" osrepo_key
ratios "speed-up vs apt-ftparchive defaults (same outputs: --hashes all)" ftp_default osrepo_all
ratios "speed-up vs apt-ftparchive defaults (osrepo's default, SHA-256)" ftp_default osrepo_default
ratios "speed-up vs apt-ftparchive restricted to SHA-256 (same outputs)" ftp_sha256 osrepo_default
ratios "osrepo index deb / SHA-256 floor on all cores (lower is better)" osrepo_default sha256_floor
