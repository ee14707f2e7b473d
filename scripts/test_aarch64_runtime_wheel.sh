#!/usr/bin/env bash
# kbnn-runtime on aarch64 under QEMU, from its RELEASE wheel (the one a user installs):
#   1. the repaired aarch64 wheel of scripts/build_wheels.sh, DIST/kbnn_runtime-V-py3-none-
#      manylinux_*_aarch64.whl (DIST: KBNN_DIST, default dist/; built with scripts/build_wheels.sh
#      when it is not there);
#   2. the arm64 Python 3.11 sysroot build/arm64-sysroot (scripts/lib_arm64.sh, shared with
#      test_aarch64_e2e.sh);
#   3. `pip install --target build/arm64-runtime-site --platform ...aarch64` of that wheel beside the
#      aarch64 ai-edge-litert 1.4.0 wheel and its dependencies (numpy ...) from PyPI;
#   4. scripts/runtime_check.py MODEL_DIR under `qemu-aarch64 -L build/arm64-sysroot python3.11`:
#      the demo's m.tflite must give the x86-64 kbnn.Interpreter outputs (within 1e-5, same argmax:
#      the float stem and classifier run in XNNPACK's aarch64 code), no TensorFlow.
#
#   python scripts/runtime_demo_model.py build/runtime-demo     # main env: model + x86 outputs
#   bash scripts/test_aarch64_runtime_wheel.sh build/runtime-demo
# Env: PYTHON (main env), KBNN_DIST, KBNN_AARCH64_LITERT (default "ai-edge-litert==1.4.0"; e.g.
# "tflite-runtime==2.14.0"). Exit code 3: a download failed (Debian or PyPI unreachable).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="$(cd "${1:?usage: $0 MODEL_DIR}" && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
BUILD="$ROOT/build"
DIST="$(realpath -m "${KBNN_DIST:-$ROOT/dist}")"
SITE="$BUILD/arm64-runtime-site"
LITERT="${KBNN_AARCH64_LITERT:-ai-edge-litert==1.4.0}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$BUILD/pip-cache}" PIP_DISABLE_PIP_VERSION_CHECK=1
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
# shellcheck source=scripts/lib_arm64.sh
source "$ROOT/scripts/lib_arm64.sh"
arm64_check_tools

# --- 1. the aarch64 release wheel ---------------------------------------------------------------
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' runtime/kbnn_runtime/_version.py)"
find_wheel() { ls "$DIST"/kbnn_runtime-"$VERSION"-py3-none-manylinux_*_aarch64.whl 2>/dev/null || true; }
if [[ -z "$(find_wheel)" ]]; then
  step "no aarch64 wheel of kbnn-runtime $VERSION in $DIST: bash scripts/build_wheels.sh $DIST"
  PYTHON="$PYTHON" bash "$ROOT/scripts/build_wheels.sh" "$DIST"
fi
WHEEL="$(find_wheel)"
PLAT="$(basename "$WHEEL" .whl)"; PLAT="${PLAT##*-}"
step "release wheel $(basename "$WHEEL") ($(stat -c %s "$WHEEL") bytes)"
LIB_HEADER="$("$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print(z.read("kbnn_runtime/_lib/libkbnn_delegate.so")[:20].hex())
PY
)"
[[ "${LIB_HEADER:0:8}" == 7f454c46 && "${LIB_HEADER:36:4}" == b700 ]] \
  || { echo "the wheel's libkbnn_delegate.so is not an aarch64 ELF (header $LIB_HEADER)" >&2; exit 1; }

# --- 2. arm64 Python sysroot ---------------------------------------------------------------------
arm64_sysroot

# --- 3. install the wheel beside the aarch64 TFLite runtime --------------------------------------
# kbnn-runtime depends on ai-edge-litert; beside tflite-runtime (built against numpy 1) it is
# installed with --no-deps, as runtime/README.md says.
DEPS=("numpy>=1.23") NODEPS=()
if [[ "$LITERT" == tflite-runtime* ]]; then DEPS=("numpy<2"); NODEPS=(--no-deps); fi
step "pip install --target $SITE (aarch64, cp311): $(basename "$WHEEL") $LITERT ${DEPS[*]}"
rm -rf "$SITE"
if ! quiet "$PYTHON" -m pip download --only-binary=:all: --implementation cp --python-version 3.11 \
    --abi cp311 --abi none --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform any \
    -d "$BUILD/arm64-wheels" "$LITERT" "${DEPS[@]}"; then
  echo "pip download of the aarch64 wheels failed: PyPI unreachable?" >&2; exit 3
fi
quiet "$PYTHON" -m pip install --no-compile --no-index --find-links "$BUILD/arm64-wheels" \
  --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi none \
  --platform "$PLAT" --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
  --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform any \
  "${NODEPS[@]}" --target "$SITE" "$WHEEL" "$LITERT" "${DEPS[@]}"
echo "   $(cd "$SITE" && ls -d *.dist-info | sed 's/.dist-info//' | tr '\n' ' ')"

# --- 4. run under qemu ---------------------------------------------------------------------------
step "aarch64: qemu-aarch64 -L $SYSROOT python3.11 scripts/runtime_check.py (tolerance 1e-5)"
env -i PATH=/usr/bin:/bin HOME="$BUILD" PYTHONPATH="$SITE" PYTHONHOME="$SYSROOT/usr" \
  PYTHONDONTWRITEBYTECODE=1 QEMU_LD_PREFIX="$SYSROOT" \
  qemu-aarch64 -L "$SYSROOT" "$PY_ARM" scripts/runtime_check.py "$MODEL_DIR" --tolerance 1e-5 --in-process
step "aarch64 kbnn-runtime wheel checks passed"
