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
SYSROOT="$BUILD/arm64-sysroot"
APTDIR="$BUILD/arm64-apt"
WHEELS="$BUILD/arm64-wheels"
SITE="$BUILD/arm64-site"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$BUILD/pip-cache}" PIP_DISABLE_PIP_VERSION_CHECK=1
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
quiet() {  # run a command, show its output only when it fails
  local log rc=0; log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then cat "$log" >&2; fi
  rm -f "$log"; return $rc
}
need() { command -v "$1" >/dev/null || { echo "missing tool: $1 ($2)" >&2; exit 2; }; }
need aarch64-linux-gnu-g++ "apt-get install g++-aarch64-linux-gnu"
need qemu-aarch64 "apt-get install qemu-user"
need cmake "cmake"
need ninja "apt-get install ninja-build"
need apt-get "Debian"
need dpkg "Debian"
[[ -f /usr/include/flatbuffers/flexbuffers.h ]] || { echo "missing flexbuffers.h (apt-get install libflatbuffers-dev)" >&2; exit 2; }

# --- 1. the aarch64 delegate ---------------------------------------------------------------------
step "cross-building libkbnn_delegate.so for aarch64 ($DELEGATE_BUILD)"
# flexbuffers.h (header-only) without putting the host's /usr/include on the cross compiler's path
FB_INCLUDE="$DELEGATE_BUILD-flatbuffers-include"
mkdir -p "$FB_INCLUDE"
ln -sfn /usr/include/flatbuffers "$FB_INCLUDE/flatbuffers"
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
DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 libc6 libstdc++6
      libgcc-s1 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libcrypt1 libsqlite3-0
      libuuid1 libtinfo6 libncursesw6 libreadline8 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2
      libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 media-types)
STAMP="$SYSROOT/.kbnn-sysroot-ok"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "${DEBS[*]}" ]]; then
  step "building the arm64 sysroot $SYSROOT from Debian bookworm .debs"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial" "$APTDIR/debs" "$APTDIR/sources.list.d"
  : > "$APTDIR/status"
  cat > "$APTDIR/sources.list" <<'EOF'
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
  APT=(apt-get -q -o APT::Architecture=arm64 -o APT::Architectures=arm64
       -o Dir::State::Lists="$APTDIR/lists" -o Dir::State::status="$APTDIR/status"
       -o Dir::Cache="$APTDIR" -o Dir::Cache::archives="$APTDIR/archives"
       -o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts="$APTDIR/sources.list.d"
       -o Debug::NoLocking=1)
  if ! quiet "${APT[@]}" update; then
    echo "apt-get update (arm64, Debian bookworm) failed: Debian unreachable?" >&2; exit 3
  fi
  if ! (cd "$APTDIR/debs" && rm -f ./*.deb && quiet "${APT[@]}" download "${DEBS[@]/%/:arm64}"); then
    echo "apt-get download of the arm64 .debs failed: Debian unreachable?" >&2; exit 3
  fi
  rm -rf "$SYSROOT"; mkdir -p "$SYSROOT"
  for deb in "$APTDIR"/debs/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
  echo "${DEBS[*]}" > "$STAMP"
  echo "   $(ls "$APTDIR"/debs/*.deb | wc -l) .debs: $(cd "$APTDIR/debs" && ls *.deb | sed 's/_arm64.deb//' | tr '\n' ' ')"
else
  step "reusing the arm64 sysroot $SYSROOT"
fi
PY_ARM="$SYSROOT/usr/bin/python3.11"
[[ -x "$PY_ARM" ]] || { echo "$PY_ARM missing" >&2; exit 1; }

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
