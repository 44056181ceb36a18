#!/usr/bin/env bash
# Time `osrepo index rpm` against createrepo_c on the same directory of RPMs, in one run.
# usage: bench/index-rpm.sh [N_RPMS] [RUNS]   (generates N fixture RPMs, default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-3}
command -v createrepo_c >/dev/null || { echo "createrepo_c missing (apt-get install createrepo-c)" >&2; exit 1; }
cargo build --release --locked -q
cargo build --release --locked -q --example gen_rpms
bin=./target/release/osrepo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
./target/release/examples/gen_rpms "$work/a" "$n" >/dev/null
cp -a "$work/a" "$work/b"
cat "$work"/a/*.rpm > /dev/null

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
best() { sort -n | head -n 1; }
ours() { rm -rf "$work/a/repodata"; "$bin" index rpm "$work/a" --compress gz; }
ref() { rm -rf "$work/b/repodata"; createrepo_c --workers 2 --general-compress-type=gz --compress-type=gz --no-database "$work/b"; }

o=$(for _ in $(seq "$runs"); do t ours; done | best)
r=$(for _ in $(seq "$runs"); do t ref; done | best)
echo "$n RPMs ($(du -sb "$work/a" | cut -f1) bytes); best of $runs runs each"
printf '%-66s %8.3f s\n' "osrepo index rpm --compress gz" "$o"
printf '%-66s %8.3f s\n' "createrepo_c --workers 2 --general-compress-type=gz --compress-type=gz --no-database" "$r"
printf 'ratio osrepo/createrepo_c: %.2f\n' "$(echo "$o / $r" | bc -l)"
