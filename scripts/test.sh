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
# The SBOM validators the tests judge osrepo's SBOMs with (tests/sbom.rs fails without them).
if ! target/sbom-tools/bin/python -c 'import spdx_tools, cyclonedx.validation.json, jsonschema' 2>/dev/null \
    || [ ! -x target/sbom-tools/bin/pyspdxtools ]; then
  echo "test: installing the SBOM validators (spdx-tools, cyclonedx-python-lib) into target/sbom-tools"
  python3 -m venv target/sbom-tools
  target/sbom-tools/bin/pip install -q 'spdx-tools==0.8.*' 'cyclonedx-python-lib[json-validation]==11.*'
fi
cargo test --locked -- --test-threads=4
