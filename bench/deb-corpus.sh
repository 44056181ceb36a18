#!/usr/bin/env bash
# Fetch a corpus of real .deb files for bench/index-deb.sh, once, from the host's own apt
# sources (whatever archive /etc/apt/sources.list* names; nothing is hard-coded here).
# usage: bench/deb-corpus.sh DEST [COUNT] [MIN_BYTES] [MAX_BYTES]
#   DEST/pool/<name>_<version>_<arch>.deb; defaults: 1530 files of 300 KB..1.6 MB (~1.1 GB),
#   an even spread over the archive's packages in name order (deterministic for one archive
#   snapshot). Needs `apt-get update` done; re-running only fetches what is missing.
set -euo pipefail
dest=${1:?usage: bench/deb-corpus.sh DEST [COUNT] [MIN_BYTES] [MAX_BYTES]}
count=${2:-1530}
min=${3:-300000}
max=${4:-1600000}
mkdir -p "$dest/pool"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
# One line per package (newest stanza apt shows first): name=version size, sizes in range.
apt-cache dumpavail | awk -v min="$min" -v max="$max" '
  /^Package:/ {p=$2} /^Version:/ {v=$2} /^Size:/ {s=$2}
  /^$/ { if (p != "" && s >= min && s <= max && !(p in seen)) { seen[p]=1; print p "=" v, s } p=""; s=0 }' \
  | sort > "$list"
total=$(wc -l < "$list")
[ "$total" -ge "$count" ] || { echo "only $total packages in range; widen MIN/MAX" >&2; exit 1; }
step=$(( total / count ))
awk -v step="$step" -v count="$count" 'NR % step == 0 && n < count { print $1; n++ }' "$list" > "$list.want"
cd "$dest/pool"
# Skip what is already here (apt-get download writes name_version_arch.deb).
while read -r spec; do
  compgen -G "${spec%%=*}_*.deb" >/dev/null || echo "$spec"
done < "$list.want" > "$list.get"
echo "fetching $(wc -l < "$list.get") of $count packages into $dest/pool"
xargs -r -n 100 apt-get download -q < "$list.get"
rm -f "$list.want" "$list.get"
echo "$(find . -name '*.deb' | wc -l) .deb files, $(du -sb . | cut -f1) bytes in $dest/pool"
