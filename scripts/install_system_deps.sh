#!/usr/bin/env bash
# Debian packages the build and the tests need. Idempotent: does nothing when all are present.
set -euo pipefail
PKGS=(g++ make ninja-build googletest libgtest-dev libflatbuffers-dev qemu-user
      g++-aarch64-linux-gnu g++-arm-linux-gnueabihf
      android-libnativehelper-dev android-liblog-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
