#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install docker.io and the tools osrepo's
# image bootstrap and tests use, start dockerd in the background when none runs, wait for it.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v gpgv >/dev/null 2>&1 || need+=(gpgv)
command -v apt-ftparchive >/dev/null 2>&1 || need+=(apt-utils)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v createrepo_c >/dev/null 2>&1 || need+=(createrepo-c)
command -v dnf >/dev/null 2>&1 || need+=(dnf dnf-plugins-core)
command -v rpm >/dev/null 2>&1 || need+=(rpm)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v dose-debcheck >/dev/null 2>&1 || need+=(dose-distcheck)
command -v xorriso >/dev/null 2>&1 || need+=(xorriso)
command -v bsdtar >/dev/null 2>&1 || need+=(libarchive-tools)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The SBOM validators go into a venv (scripts/test.sh): Debian splits venv/ensurepip out.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ -e /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-engine: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# arm64 containers run under qemu through binfmt_misc.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || echo "setup-engine: cannot mount binfmt_misc (arm64 emulation unavailable)" >&2
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

sock=/var/run/docker.sock
if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
  echo "setup-engine: DOCKER_HOST=$DOCKER_HOST is not a local socket; using it as it is"
  exit 0
fi
if docker version >/dev/null 2>&1; then
  echo "setup-engine: engine already answers"
  exit 0
fi
echo "setup-engine: starting dockerd (log: /var/log/osrepo-dockerd.log)"
nohup dockerd >/var/log/osrepo-dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if [ -S "$sock" ] && docker version >/dev/null 2>&1; then
    echo "setup-engine: engine ready"
    exit 0
  fi
  sleep 1
done
echo "setup-engine: dockerd did not answer within 60 s; see /var/log/osrepo-dockerd.log" >&2
tail -n 30 /var/log/osrepo-dockerd.log >&2 || true
exit 1
