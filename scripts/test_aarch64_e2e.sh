#!/usr/bin/env bash
# kbnn end to end on aarch64 under QEMU: the stock tflite_runtime 2.14 aarch64 wheel, in an arm64
# Python 3.11 from Debian bookworm, runs the converted models with the aarch64 libkbnn_delegate.so
# and must reproduce the x86-64 kbnn.Interpreter outputs (bit-exact for kbnn-final outputs, else
# 1e-5 with the same argmax).
#   1. cross-builds libkbnn_delegate.so with the aarch64 toolchain (shared, KBNN_ARM_STATIC=OFF)
#      into build/e2e-aarch64-delegate;
#   2. builds the arm64 sysroot build/arm64-sysroot from Debian .debs (apt with
#      -o APT::Architecture=arm64 into the private dir build/arm64-apt, `apt-get download`, `dpkg -x`);
#   3. `pip download`s the cp311 manylinux aarch64 wheels of tflite-runtime==2.14.0 and numpy<2 into
#      build/arm64-wheels and unzips them into build/arm64-site;
#   4. converts the parity models (main env, scripts/runtime_parity_models.py) and runs
#      scripts/runtime_parity_check.py with `qemu-aarch64 -L build/arm64-sysroot .../python3.11`.
# Everything downloaded or built is cached under build/; delete those dirs to start over.
#
#   bash scripts/test_aarch64_e2e.sh
# Needs: g++-aarch64-linux-gnu qemu-user cmake ninja-build libflatbuffers-dev apt-get dpkg (Debian).
# Exit code 3: a download failed (Debian or PyPI unreachable).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
BUILD="$ROOT/build"
DELEGATE_BUILD="$BUILD/e2e-aarch64-delegate"
WHEELS="$BUILD/arm64-wheels"
SITE="$BUILD/arm64-site"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$BUILD/pip-cache}" PIP_DISABLE_PIP_VERSION_CHECK=1
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
# shellcheck source=scripts/lib_arm64.sh
source "$ROOT/scripts/lib_arm64.sh"
arm64_check_tools

# --- 1. the aarch64 delegate ---------------------------------------------------------------------
step "cross-building libkbnn_delegate.so for aarch64 ($DELEGATE_BUILD)"
FB_INCLUDE="$DELEGATE_BUILD-flatbuffers-include"
arm64_flexbuffers_include "$FB_INCLUDE"
quiet cmake -S kernels -B "$DELEGATE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/kernels/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DKBNN_ARM_STATIC=OFF -DKBNN_BUILD_TESTS=OFF -DKBNN_BUILD_BENCH=OFF -DKBNN_BUILD_DELEGATE=ON \
  -DKBNN_FLEXBUFFERS_INCLUDE="$FB_INCLUDE"
quiet cmake --build "$DELEGATE_BUILD" --target kbnn_delegate
DELEGATE="$(find "$DELEGATE_BUILD" -name libkbnn_delegate.so -print -quit)"
[[ -n "$DELEGATE" ]] || { echo "libkbnn_delegate.so was not built in $DELEGATE_BUILD" >&2; exit 1; }
ELF_HEADER="$(aarch64-linux-gnu-readelf -h "$DELEGATE")"
grep -q "Machine:.*AArch64" <<<"$ELF_HEADER" && grep -q "Type:.*DYN" <<<"$ELF_HEADER" \
  || { echo "$DELEGATE is not an aarch64 shared library:" >&2; echo "$ELF_HEADER" >&2; exit 1; }
echo "   $DELEGATE"

# --- 2. arm64 Python sysroot from Debian bookworm .debs ------------------------------------------
arm64_sysroot

# --- 3. aarch64 wheels ---------------------------------------------------------------------------
WSTAMP="$SITE/.kbnn-site-ok"
if [[ ! -f "$WSTAMP" ]]; then
  step "pip download: tflite-runtime==2.14.0, numpy<2 (cp311, manylinux aarch64) into $WHEELS"
  mkdir -p "$WHEELS"
  if ! quiet "$PYTHON" -m pip download --no-deps --only-binary=:all: --implementation cp \
      --python-version 3.11 --abi cp311 --platform manylinux_2_34_aarch64 \
      --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
      --platform manylinux2014_aarch64 -d "$WHEELS" "tflite-runtime==2.14.0" "numpy<2"; then
    echo "pip download of the aarch64 wheels failed: PyPI unreachable?" >&2; exit 3
  fi
  rm -rf "$SITE"; mkdir -p "$SITE"
  "$PYTHON" - "$WHEELS" "$SITE" <<'PY'
import glob, sys, zipfile
for pattern in ("tflite_runtime-2.14.0-*aarch64.whl", "numpy-1.*aarch64.whl"):
    wheel = sorted(glob.glob(f"{sys.argv[1]}/{pattern}"))[-1]
    print("   unzip", wheel.rsplit("/", 1)[-1])
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():  # keep the execute bits (bundled .so files)
            path = z.extract(info, sys.argv[2])
            mode = info.external_attr >> 16
            if mode:
                import os
                os.chmod(path, mode & 0o777 | 0o600)
PY
  touch "$WSTAMP"
else
  step "reusing $SITE"
fi

# --- 4. models from the main environment, run under qemu ----------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbnn-aarch64-e2e.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
step "converting the parity models (main environment, x86-64 kbnn.Interpreter outputs)"
"$PYTHON" scripts/runtime_parity_models.py "$WORK" 2>&1 | grep -v -e "^INFO: Created TensorFlow Lite" -e "^WARNING: All log messages"

step "aarch64: qemu-aarch64 -L $SYSROOT python3.11 scripts/runtime_parity_check.py"
env -i PATH=/usr/bin:/bin HOME="$WORK" PYTHONPATH="$SITE" PYTHONHOME="$SYSROOT/usr" \
  PYTHONDONTWRITEBYTECODE=1 QEMU_LD_PREFIX="$SYSROOT" \
  qemu-aarch64 -L "$SYSROOT" "$PY_ARM" scripts/runtime_parity_check.py "$WORK" "$DELEGATE" \
    --kbnn-interpreter "$ROOT/runtime/kbnn_runtime/interpreter.py"
step "aarch64 end-to-end checks passed"
