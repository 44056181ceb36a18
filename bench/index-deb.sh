#!/usr/bin/env bash
# Time `osrepo index deb` against `apt-ftparchive` on the same pool, in one run.
# usage: bench/index-deb.sh REPO_ROOT [RUNS]   (REPO_ROOT holds pool/, e.g. out/debian)
set -euo pipefail
src=${1:?usage: bench/index-deb.sh REPO_ROOT [RUNS]}
runs=${2:-5}
bin=${OSREPO:-$(dirname "$0")/../target/release/osrepo}
command -v apt-ftparchive >/dev/null || { echo "apt-ftparchive missing (apt-get install apt-utils)" >&2; exit 1; }
[ -x "$bin" ] || { echo "no osrepo binary at $bin (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -al "$src/pool" "$work/pool" 2>/dev/null || cp -a "$src/pool" "$work/pool"
key=$work/key
"$bin" key generate --out "$key" >/dev/null
n=$(find "$work/pool" -name '*.deb' | wc -l)
bytes=$(du -sb "$work/pool" | cut -f1)
# Warm the page cache so both read from memory.
cat $(find "$work/pool" -name '*.deb') > /dev/null

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
best() { sort -n | head -n 1; }

ftp_packages() { (cd "$work" && apt-ftparchive packages pool > "$work/Packages.ftp"); }
ftp_full() {
  (cd "$work" && mkdir -p ftp/main/binary-amd64 && apt-ftparchive packages pool > ftp/main/binary-amd64/Packages \
    && gzip -9nkf ftp/main/binary-amd64/Packages && xz -kf ftp/main/binary-amd64/Packages \
    && apt-ftparchive release ftp > ftp/Release)
}
osrepo_nokey() { rm -rf "$work/dists"; "$bin" index deb "$work" --codename bench --arch amd64; }
osrepo_key() { rm -rf "$work/dists"; "$bin" index deb "$work" --codename bench --arch amd64 --key "$key/osrepo.key"; }

declare -A res
for name in ftp_packages ftp_full osrepo_nokey osrepo_key; do
  res[$name]=$(for _ in $(seq "$runs"); do t $name; done | best)
done
echo "pool: $n .deb files, $bytes bytes; best of $runs runs each"
printf '%-44s %8.3f s\n' "apt-ftparchive packages" "${res[ftp_packages]}"
printf '%-44s %8.3f s\n' "apt-ftparchive packages+gzip+xz+release" "${res[ftp_full]}"
printf '%-44s %8.3f s\n' "osrepo index deb (Packages,.gz,.xz,Release)" "${res[osrepo_nokey]}"
printf '%-44s %8.3f s\n' "osrepo index deb --key (+InRelease,.gpg)" "${res[osrepo_key]}"
printf 'ratio osrepo/apt-ftparchive (same outputs, unsigned): %.2f\n' "$(echo "${res[osrepo_nokey]} / ${res[ftp_full]}" | bc -l)"
