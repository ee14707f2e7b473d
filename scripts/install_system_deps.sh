#!/usr/bin/env bash
# Debian packages kbnn needs. Idempotent: installs only what is missing.
#
#   bash scripts/install_system_deps.sh           # everything the test suite needs
#   bash scripts/install_system_deps.sh --build   # only what building kbnn needs (the demo)
set -euo pipefail
BUILD_PKGS=(g++ make libflatbuffers-dev)
TEST_PKGS=(ninja-build googletest libgtest-dev qemu-user
           g++-aarch64-linux-gnu g++-arm-linux-gnueabihf
           android-libnativehelper-dev android-liblog-dev)
case "${1:-}" in
  --build) PKGS=("${BUILD_PKGS[@]}") ;;
  "") PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac
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
