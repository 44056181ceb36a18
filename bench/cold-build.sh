#!/usr/bin/env bash
# Cold debian12 amd64 build of the shipped packages.yaml: osrepo against the seed's own recipe
# (k8sli/os-packages' Dockerfile steps: a fresh container installs wget and dpkg-dev,
# `apt-get install --reinstall --print-uris` of the list plus everything installed, wget of
# every URL, dpkg-scanpackages | gzip), side by side in one run, RUNS times each, alternating.
# Then the rebuild after adding one package (apt's lists are kept in the cache).
# Prints medians and the ratio. Peak memory of osrepo from /usr/bin/time.
# usage: bench/cold-build.sh [RUNS] [WORKDIR]   (needs the engine and debian:bookworm)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=${2:-$(mktemp -d /var/tmp/osrepo-cold.XXXX)}
mkdir -p "$work"
cargo build --release --locked -q
bin=$PWD/target/release/osrepo
[ -f "$work/key/osrepo.key" ] || "$bin" key generate --out "$work/key" >/dev/null
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
"$bin" list debian12 --packages packages.yaml --distros distros 2>/dev/null | awk -F'\t' 'NF == 2 {print $1}' > "$work/names.txt"

seed() {
  docker run --rm -i -v "$work/names.txt:/names.txt:ro" debian:bookworm sh -c '
    set -e
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ca-certificates wget dpkg-dev >/dev/null
    mkdir -p /repo && cd /repo
    { cat /names.txt; dpkg --get-selections | grep -v deinstall | cut -f1 | cut -d: -f1; } | sort -u > list
    xargs apt-get install --reinstall --print-uris < list | awk -F "'\''" "{print \$2}" | grep -v "^$" | sort -u > urls
    wget -q -x -P bookworm -i urls
    dpkg-scanpackages bookworm 2>/dev/null | gzip -9c > bookworm/Packages.gz
    echo "seed: $(wc -l < urls) files"'
}
# Each cold run gets a directory of its own, all removed at the end: ext4 keeps a freed inode
# from reuse for a minute and scans for others, so creating 700 files just after removing the
# last run's would cost about 1 s of CPU that a first build on a fresh machine never pays.
run=0
ours() {
  run=$((run + 1)); last="$work/runs/$run"; mkdir -p "$last"
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" -q build debian12 --arch amd64 --packages "$work/packages.yaml" \
    --distros distros --key "$work/key/osrepo.key" --cache "$last/cache" --out "$last/out" --lock "$last/osrepo.lock"
}
t() {
  local s e; s=$(date +%s.%N)
  "$@" > "$work/last.log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$work/last.log" >&2; exit 1; }
  e=$(date +%s.%N); echo "$e - $s" | bc
}
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

rm -rf "$work/runs"
cp packages.yaml "$work/packages.yaml"
: > "$work/seed.times"; : > "$work/ours.times"; : > "$work/rss.all"
for _ in $(seq "$runs"); do
  t seed >> "$work/seed.times"
  t ours >> "$work/ours.times"; cat "$work/rss" >> "$work/rss.all"
done
files=$(grep -c '^Package: ' "$last/out/debian/dists/bookworm/main/binary-amd64/Packages")
s=$(median < "$work/seed.times"); o=$(median < "$work/ours.times"); rss=$(median < "$work/rss.all")
echo "cold debian12 amd64, shipped packages.yaml ($files packages), medians of $runs (load $(cut -d' ' -f1-3 /proc/loadavg)):"
printf '  seed recipe:  %6.2f s   (runs: %s)\n' "$s" "$(paste -sd' ' "$work/seed.times")"
printf '  osrepo:       %6.2f s   (runs: %s)  peak RSS %d MB\n' "$o" "$(paste -sd' ' "$work/ours.times")" $((rss / 1024))
printf '  osrepo is %.2fx faster\n' "$(echo "$s / $o" | bc -l)"

# Add one package to a built tree (lists, cache and lock kept), RUNS times.
: > "$work/add.times"
for i in $(seq "$runs"); do
  cp packages.yaml "$work/packages.yaml"
  "$bin" -q build debian12 --arch amd64 --packages "$work/packages.yaml" --distros distros \
    --key "$work/key/osrepo.key" --cache "$work/cache" --out "$work/out" --lock "$work/osrepo.lock" > /dev/null 2>&1
  extra=$(sed -n "$(( (i - 1) % 3 + 1 ))p" <<< $'mtr-tiny\nncdu\ntree')
  sed -i "s/^tools:\$/tools:\n  - $extra/" "$work/packages.yaml"
  t "$bin" -q build debian12 --arch amd64 --packages "$work/packages.yaml" --distros distros \
    --key "$work/key/osrepo.key" --cache "$work/cache" --out "$work/out" --lock "$work/osrepo.lock" >> "$work/add.times"
done
printf '  add one package: %.2f s median (runs: %s)\n' "$(median < "$work/add.times")" "$(paste -sd' ' "$work/add.times")"
rm -rf "$work/runs"
