#!/usr/bin/env bash
# The main job on a fresh machine: a local engine and base image if none, a signing key if
# none, then the debian12 repository of ./packages.yaml into ./out.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-engine.sh
cargo build --locked --release
bin=./target/release/osrepo
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  "$bin" image bootstrap debian12
fi
if [ ! -f keys/osrepo.key ] && [ -z "${OSREPO_SIGNING_KEY:-}" ]; then
  "$bin" key generate --out keys/
fi
keyargs=()
[ -z "${OSREPO_SIGNING_KEY:-}" ] && keyargs=(--key keys/osrepo.key)
"$bin" build debian12 --arch amd64 --out out/ "${keyargs[@]}" "$@"
