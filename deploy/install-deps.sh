#!/usr/bin/env bash
# Installs everything the build, the tests and the quickstart need, from
# Debian's packages. Idempotent: skips apt entirely when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git procps psmisc systemd
  libzmq3-dev libpq-dev libyaml-dev libcurl4-openssl-dev
  libcmocka-dev libjansson-dev libsodium-dev libssl-dev libmicrohttpd-dev wrk
  postgresql postgresql-contrib pgbackrest python3 python3-zmq python3-yaml clang openssl chromium nodejs prometheus
)
# the browser tests' npm (nodesource's nodejs bundles it; Debian's is a package)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
