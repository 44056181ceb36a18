#!/usr/bin/env bash
# The CI workflow's steps on one machine: build and verify each distro/arch as its own part
# (JUnit files in ci-work/verify-*.xml), merge, verify the merged tree statically, pack.
# usage: ci/local.sh TAG DISTRO... (arches from ARCHES, default "amd64 arm64")
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: ci/local.sh TAG DISTRO...}
shift
[ $# -gt 0 ] || { echo "usage: ci/local.sh TAG DISTRO..." >&2; exit 2; }
arches=${ARCHES:-amd64 arm64}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

scripts/setup-engine.sh
cargo build --locked --release
bin=./target/release/osrepo
if [ -z "${OSREPO_SIGNING_KEY:-}" ]; then
  [ -f keys/osrepo.key ] || "$bin" key generate --out keys/
  export OSREPO_SIGNING_KEY="$(cat keys/osrepo.key)"
fi
rm -rf ci-work && mkdir -p ci-work/parts
status=0
for d in "$@"; do
  for a in $arches; do
    "$bin" build "$d" --arch "$a" --out "ci-work/parts/$d-$a" || { status=1; continue; }
    "$bin" verify "$d" --arch "$a" --out "ci-work/parts/$d-$a" --junit "ci-work/verify-$d-$a.xml" || status=1
  done
done
parts=(ci-work/parts/*)
"$bin" merge ci-work/out "${parts[@]}"
"$bin" verify --static --out ci-work/out
"$bin" pack ci-work/out --name "os-packages-$tag" --dest ci-work/dist
(cd ci-work/dist && sha256sum -c sha256sum.txt)
exit $status
