#!/usr/bin/env bash
# Time `osrepo verify --static` against hashing every file of the same tree with SHA-256 on
# all cores (`sha256sum` in parallel), in one run; medians of RUNS runs, warm page cache.
# usage: bench/verify-static.sh OUT [RUNS]   (OUT: an osrepo output tree, e.g. out/)
set -euo pipefail
out=${1:?usage: bench/verify-static.sh OUT [RUNS]}
runs=${2:-5}
bin=${OSREPO:-$(dirname "$0")/../target/release/osrepo}
[ -x "$bin" ] || { echo "no osrepo binary at $bin (cargo build --release)" >&2; exit 1; }
files=$(find "$out" -type f | wc -l)
bytes=$(du -sbL "$out" | cut -f1)
find "$out" -type f -print0 | xargs -0 cat > /dev/null

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

hash_all() { find "$out" -type f -print0 | xargs -0 -P "$(nproc)" -n 64 sha256sum; }
verify_static() { "$bin" verify --static --out "$out"; }

"$bin" verify --static --out "$out" > /dev/null 2>&1 || { echo "verify --static fails on $out; fix that first" >&2; exit 1; }
h=$(for _ in $(seq "$runs"); do t hash_all; done | median)
v=$(for _ in $(seq "$runs"); do t verify_static; done | median)
echo "tree: $files files, $bytes bytes; median of $runs runs each, $(nproc) cores"
printf '%-40s %8.3f s\n' "sha256sum of every file, all cores" "$h"
printf '%-40s %8.3f s\n' "osrepo verify --static" "$v"
printf '%-40s %8.2f\n' "ratio (verify / hashing)" "$(echo "$v / $h" | bc -l)"
