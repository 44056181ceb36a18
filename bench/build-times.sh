#!/usr/bin/env bash
# Wall times of osrepo builds of the shipped packages.yaml for debian12, in one run:
# cold (empty cache, no lock, no output), no-op rebuild, rebuild after adding one package;
# then amd64+arm64 in one build and what sharing the pool saves; then the indexer against
# apt-ftparchive on the resulting pool.
# usage: bench/build-times.sh [WORKDIR]   (needs the engine and base images; see scripts/)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d /var/tmp/osrepo-bench.XXXX)}
mkdir -p "$work"
cargo build --release --locked -q
bin=$PWD/target/release/osrepo
[ -f "$work/key/osrepo.key" ] || "$bin" key generate --out "$work/key" >/dev/null
cp packages.yaml "$work/packages.yaml"
rm -rf "$work/cache" "$work/out" "$work/out-both" "$work/osrepo.lock"
b() { "$bin" build debian12 --packages "$work/packages.yaml" --distros distros --key "$work/key/osrepo.key" --cache "$work/cache" "$@"; }
t() {
  local s e; s=$(date +%s.%N)
  "$@" > "$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  e=$(date +%s.%N); echo "$e - $s" | bc
}

cold=$(t b --arch amd64 --out "$work/out")
pkgs=$(grep -c '^Package: ' "$work/out/debian/dists/bookworm/main/binary-amd64/Packages")
bytes=$(awk '/^Size: /{s+=$2} END{print s}' "$work/out/debian/dists/bookworm/main/binary-amd64/Packages")
noop=$(t b --arch amd64 --out "$work/out")
grep -q "up to date" "$work/last.log" || { echo "no-op rebuild did work:"; cat "$work/last.log"; exit 1; }
sed -i 's/^tools:$/tools:\n  - mtr-tiny/' "$work/packages.yaml"
addone=$(t b --arch amd64 --out "$work/out")
fetched=$(awk '$1=="debian12"{print $5}' "$work/last.log")
echo "debian12 amd64, shipped packages.yaml: $pkgs packages, $bytes bytes"
printf '  cold build (empty cache):        %7.2f s\n' "$cold"
printf '  no-op rebuild:                   %7.2f s\n' "$noop"
printf '  rebuild after adding mtr-tiny:   %7.2f s (%s files fetched)\n' "$addone" "$fetched"

rm -rf "$work/cache-both"
both=$(t "$bin" build debian12 --packages "$work/packages.yaml" --distros distros --key "$work/key/osrepo.key" \
  --cache "$work/cache-both" --lock "$work/both.lock" --arch amd64,arm64 --out "$work/out-both")
listed=$(cat "$work"/out-both/debian/dists/bookworm/main/binary-*/Packages | awk '/^Size: /{s+=$2} END{print s}')
pool=$(du -sb --apparent-size "$work/out-both/debian/pool" | cut -f1)
printf 'debian12 amd64+arm64 in one build (empty cache): %.2f s\n' "$both"
echo "  bytes listed by both indexes: $listed; pool on disk: $pool; shared pool saves $((listed - pool)) bytes"

bench/index-deb.sh "$work/out/debian" 3
