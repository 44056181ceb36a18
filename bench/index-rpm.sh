#!/usr/bin/env bash
# `osrepo index rpm` against createrepo_c on the same generated RPMs, side by side in one
# run: every round runs each contender once, in turn; the table gives medians, the range
# and the peak RSS, and the outputs are checked to be the same bytes.
#
# usage: bench/index-rpm.sh [N_RPMS] [RUNS] [PAYLOAD_KIB]
#   defaults: 2000 RPMs of ~580 KiB (1.2 GB, examples/gen_rpms.rs), 5 rounds.
#   Kept in $OSREPO_BENCH_RPMS (default /work/corpus/rpms-N-KIB) between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD/bench
n=${1:-2000}
runs=${2:-5}
kib=${3:-580}
command -v createrepo_c >/dev/null || { echo "createrepo_c missing (apt-get install createrepo-c)" >&2; exit 1; }
cargo build --release --locked -q
cargo build --release --locked -q --example gen_rpms
. "$here/common.sh"
bin=$PWD/target/release/osrepo
corpus=${OSREPO_BENCH_RPMS:-/work/corpus/rpms-$n-$kib}
if [ "$(find "$corpus" -name '*.rpm' 2>/dev/null | wc -l)" != "$n" ]; then
  rm -rf "$corpus"
  ./target/release/examples/gen_rpms "$corpus" "$n" "$kib" >/dev/null
fi
work=$(mktemp -d)
res=$work/res
mkdir -p "$res" "$work/a" "$work/b"
trap 'rm -rf "$work"' EXIT
# Hard links: the same bytes (and mtimes, which both write as <time file>) for both.
cp -al "$corpus"/*.rpm "$work/a/" && cp -al "$corpus"/*.rpm "$work/b/"
cat "$work"/a/*.rpm > /dev/null
nproc=$(nproc)
export work bin nproc

osrepo() { rm -rf "$work/a/repodata"; "$bin" index rpm "$work/a" --compress gz; }
createrepo() {
  rm -rf "$work/b/repodata"
  createrepo_c --workers "$1" --general-compress-type=gz --compress-type=gz --no-database "$work/b"
}
createrepo_c_w1() { createrepo 1; }
createrepo_c_w2() { createrepo 2; }
createrepo_c_wn() { createrepo "$nproc"; }
export -f osrepo createrepo createrepo_c_w1 createrepo_c_w2 createrepo_c_wn

contenders=(createrepo_c_w1 createrepo_c_w2 osrepo)
if [ "$nproc" -gt 2 ]; then contenders+=(createrepo_c_wn); fi
load_before=$(load)
for _ in $(seq "$runs"); do
  for c in "${contenders[@]}"; do measure "$c"; done
done
load_after=$(load)

# The documents must be the same bytes, package by package (createrepo_c lists packages in
# the order its workers finish; osrepo sorts them), with the same frame.
python3 - "$work/a/repodata" "$work/b/repodata" <<'PY'
import glob, gzip, sys
def parts(d, kind):
    text = gzip.open(glob.glob(f"{d}/*-{kind}.xml.gz")[0]).read().decode()
    head, *pkgs = text.split("<package ")
    last = pkgs[-1].rsplit("</package>", 1)
    pkgs[-1], foot = last[0] + "</package>", last[1]
    return head, sorted(p.strip() for p in pkgs), foot
for kind in ("primary", "filelists", "other"):
    if parts(sys.argv[1], kind) != parts(sys.argv[2], kind):
        sys.exit(f"{kind}.xml differs from createrepo_c's")
PY

echo "$n RPMs, $(du -sbL "$corpus" | cut -f1) bytes; $runs rounds, $nproc cores; load average $load_before (start), $load_after (end)"
echo "primary, filelists and other.xml: byte-identical to createrepo_c's"
echo "medians of $runs rounds; CPU = user + system seconds of every process"
header
row "createrepo_c --workers 1 (gz, --no-database)" createrepo_c_w1
row "createrepo_c --workers 2 (gz, --no-database)" createrepo_c_w2
if [ "$nproc" -gt 2 ]; then row "createrepo_c --workers $nproc (gz, --no-database)" createrepo_c_wn; fi
row "osrepo index rpm --compress gz" osrepo
ratios "speed-up vs createrepo_c --workers 2" createrepo_c_w2 osrepo
if [ "$nproc" -gt 2 ]; then ratios "speed-up vs createrepo_c --workers $nproc" createrepo_c_wn osrepo; fi
ratios "speed-up vs createrepo_c --workers 1" createrepo_c_w1 osrepo
