#!/usr/bin/env bash
# The whole test suite, on a fresh machine: engine, base image, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-engine.sh
cargo build --locked
# Lints first (fast): warnings are errors, no function over 80 lines (clippy.toml).
cargo clippy --all-targets --locked -- -D warnings -W clippy::too_many_lines
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  echo "test: bootstrapping the debian12 base image from the host's apt mirror"
  ./target/debug/osrepo image bootstrap debian12
fi
if ! docker image inspect arm64v8/debian:bookworm >/dev/null 2>&1; then
  echo "test: bootstrapping the arm64 debian12 base image (debootstrap under qemu, a few minutes)"
  ./target/debug/osrepo image bootstrap debian12 --arch arm64
fi
cargo test --locked -- --test-threads=4
