#!/usr/bin/env bash
# What SBOM generation costs a debian12 build from the cache with no network: the build is
# run N times (--locked, warm cache, a fresh out/, in a network namespace of its own, so no
# download can happen), the SBOM phase is read from the build's own log line ("SBOMs of ...
# written in X s") and the ratio of the medians SBOM / (build - SBOM) is printed, with the
# SBOM sizes. The first run makes the lock and fills the cache (network).
#
# usage: bench/sbom.sh [N] (default 5)
#   OSREPO=path/to/osrepo (default target/release/osrepo, else target/debug/osrepo)
#   BENCH_DIR=dir (default target/bench-sbom; reused: its lock and cache stay)
#   PACKAGES=file (default the shipped packages.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
BIN=${OSREPO:-$( [ -x target/release/osrepo ] && echo target/release/osrepo || echo target/debug/osrepo )}
W=${BENCH_DIR:-target/bench-sbom}
mkdir -p "$W"
[ -f "$W/packages.yaml" ] || cp "${PACKAGES:-packages.yaml}" "$W/packages.yaml"
[ -f "$W/key/osrepo.key" ] || "$BIN" key generate --out "$W/key" >/dev/null
args=(debian12 --arch amd64 --packages "$W/packages.yaml" --distros distros --cache "$W/cache"
      --key "$W/key/osrepo.key" --lock "$W/osrepo.lock")
if [ ! -f "$W/osrepo.lock" ]; then
  echo "bench: resolving and fetching once (network)" >&2
  "$BIN" build "${args[@]}" --out "$W/out" >/dev/null
fi
total=() sbom=()
for i in $(seq "$N"); do
  rm -rf "$W/out"
  start=$(date +%s.%N)
  OSREPO_LOG=info unshare --net "$BIN" build "${args[@]}" --locked --out "$W/out" >/dev/null 2>"$W/log"
  end=$(date +%s.%N)
  s=$(sed -n 's/.*SBOMs of .* written in \([0-9.]*\) s.*/\1/p' "$W/log")
  [ -n "$s" ] || { echo "bench: no SBOM timing in the build log" >&2; cat "$W/log" >&2; exit 1; }
  total+=("$(echo "$end - $start" | bc -l)") sbom+=("$s")
done
# Once more with the license records dropped from the cache (a closure seen for the first
# time: every .deb's copyright file is read).
rm -rf "$W/out"
find "$W/cache/records" -name '*.license.json' -delete
OSREPO_LOG=info unshare --net "$BIN" build "${args[@]}" --locked --out "$W/out" >/dev/null 2>"$W/log"
cold=$(sed -n 's/.*SBOMs of .* written in \([0-9.]*\) s.*/\1/p' "$W/log")
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mt=$(median "${total[@]}") ms=$(median "${sbom[@]}")
pkgs=$(grep -c '^Package: ' "$W/out/debian/dists/bookworm/main/binary-amd64/Packages")
echo "binary: $BIN; runs: $N; packages: $pkgs"
echo "build (median): ${mt} s; SBOM generation (median): ${ms} s"
printf 'ratio SBOM / rest of the build: %.2f%%\n' "$(echo "100 * $ms / ($mt - $ms)" | bc -l)"
echo "SBOM generation without cached license records: ${cold} s"
ls -l "$W/out/sbom" | awk 'NR > 1 {print "  " $5 " bytes  " $9}'
