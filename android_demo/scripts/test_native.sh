#!/usr/bin/env bash
# Checks of the Android demo's native part that run on a Linux x86-64 host without the Android
# SDK/NDK (see android_demo/README.md, "What was checked without a device"):
#   1. the JNI layer compiles (-fsyntax-only, -Wall -Wextra -Werror) against Debian's jni.h and
#      android/log.h, for the host and with the aarch64 / armv7 cross compilers;
#   2. kernels + delegate + harness cross-compile for aarch64 and armv7 (Debian cross compilers),
#      and the app's own CMake project configures and builds its delegate + JNI object per ABI;
#   3. tests/test_android_native.py: the aarch64 harness runs models through the stock TFLite C API
#      (libLiteRtRuntimeCApi.so from the ai-edge-litert 1.4.0 aarch64 wheel) under qemu-aarch64 and
#      must predict exactly what the x86 runtimes predict.
# Downloads are cached under build/android-cache/ (pip download of the wheel). Installs nothing.
#
#   android_demo/scripts/test_native.sh               all checks
#   android_demo/scripts/test_native.sh --build-only  steps 1-2 (and the download)
# Needs: g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user android-libnativehelper-dev
#        android-liblog-dev libflatbuffers-dev cmake ninja-build (Debian), pip with network access (first run only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${KBNN_ANDROID_BUILD_DIR:-$ROOT/build}"
CACHE="$BUILD/android-cache"
LITERT_VERSION=1.4.0
CAPI="$CACHE/litert-$LITERT_VERSION-aarch64/libLiteRtRuntimeCApi.so"
BUILD_ONLY=0
[[ "${1:-}" == "--build-only" ]] && BUILD_ONLY=1

step() { echo "== $*"; }
quiet() {  # run a command, show its output only when it fails
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; return 1; fi
  rm -f "$log"
}
need() { command -v "$1" >/dev/null || { echo "missing tool: $1 ($2)" >&2; exit 2; }; }
need aarch64-linux-gnu-g++ "apt-get install g++-aarch64-linux-gnu"
need arm-linux-gnueabihf-g++ "apt-get install g++-arm-linux-gnueabihf"
need qemu-aarch64 "apt-get install qemu-user"
need cmake "cmake"
need ninja "ninja-build"
for h in /usr/include/android/nativehelper/jni.h /usr/include/android/android/log.h \
         /usr/include/flatbuffers/flexbuffers.h; do
  [[ -f "$h" ]] || { echo "missing $h (apt-get install android-libnativehelper-dev" \
                          "android-liblog-dev libflatbuffers-dev)" >&2; exit 2; }
done

# --- 0. the TFLite C API for aarch64, from the ai-edge-litert wheel (cached) ----------------------
if [[ ! -f "$CAPI" ]]; then
  step "downloading ai-edge-litert $LITERT_VERSION (manylinux aarch64) into $CACHE/wheels"
  mkdir -p "$CACHE/wheels" "$(dirname "$CAPI")"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
    --python-version 3.11 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    "ai-edge-litert==$LITERT_VERSION" -d "$CACHE/wheels"
  python3 - "$CACHE/wheels" "$CAPI" <<'PY'
import glob, shutil, sys, zipfile
wheel = sorted(glob.glob(f"{sys.argv[1]}/ai_edge_litert-*aarch64.whl"))[-1]
with zipfile.ZipFile(wheel) as z, z.open("ai_edge_litert/libLiteRtRuntimeCApi.so") as src, \
        open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
fi

# --- 1. JNI layer: syntax check against Debian's Android headers ---------------------------------
JNI_SRC="$ROOT/android_demo/app/src/main/cpp/kbnn_jni.cc"
for cxx in g++ aarch64-linux-gnu-g++ arm-linux-gnueabihf-g++; do
  step "JNI syntax check with $cxx"
  "$cxx" -std=c++17 -fsyntax-only -Wall -Wextra -Werror \
    -I/usr/include/android/nativehelper -I/usr/include/android "$JNI_SRC"
done

# --- 2. cross builds: kernels + delegate + harness -----------------------------------------------
# flexbuffers.h (header-only) for the cross builds, without putting the host's /usr/include on
# the cross compilers' include path.
FLATBUFFERS_INCLUDE="$CACHE/flatbuffers-include"
mkdir -p "$FLATBUFFERS_INCLUDE"
ln -sfn /usr/include/flatbuffers "$FLATBUFFERS_INCLUDE/flatbuffers"
build() {  # name toolchain [extra cmake args]
  local name=$1 toolchain=$2; shift 2
  step "cross build $name ($BUILD/android-native-$name)"
  quiet cmake -S "$ROOT/android_demo/native" -B "$BUILD/android-native-$name" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/kernels/cmake/toolchains/$toolchain.cmake" \
    -DKBNN_ARM_STATIC=OFF -DKBNN_FLEXBUFFERS_INCLUDE="$FLATBUFFERS_INCLUDE" "$@"
  quiet cmake --build "$BUILD/android-native-$name"
}
build aarch64 aarch64-linux-gnu -DKBNN_LITERT_CAPI="$CAPI"
build armv7 arm-linux-gnueabihf -DKBNN_LITERT_CAPI=
for name in aarch64 armv7; do
  if [[ -n "$(find "$BUILD/android-native-$name" -name libkbnn_delegate.so -print -quit)" ]]; then
    echo "$name: libkbnn_delegate.so built"
  else
    echo "$name: libkbnn_delegate.so was not built (kernels/tflite, KBNN_BUILD_DELEGATE)" >&2
    exit 1
  fi
done

# --- 2b. the app's own CMake project (app/src/main/cpp), as AGP drives it, per Android ABI -------
# Debian's cross compilers stand in for the NDK's clang: this checks that the project configures
# and compiles the JNI layer per ABI, and that the armeabi-v7a build of the delegate gets no
# -mfloat-abi=hard (armeabi-v7a is softfp); the arm64-v8a delegate is the one step 2 built.
# Linking libkbnn_jni.so needs the NDK's liblog: not here.
for abi in arm64-v8a:aarch64-linux-gnu armeabi-v7a:arm-linux-gnueabihf; do
  name=${abi%%:*} toolchain=${abi#*:}
  dir="$BUILD/android-app-cmake-$name"
  step "app CMake project, ANDROID_ABI=$name ($dir)"
  quiet cmake -S "$ROOT/android_demo/app/src/main/cpp" -B "$dir" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/kernels/cmake/toolchains/$toolchain.cmake" -DANDROID_ABI="$name" \
    -DKBNN_FLEXBUFFERS_INCLUDE="$FLATBUFFERS_INCLUDE" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DCMAKE_CXX_FLAGS="-I/usr/include/android/nativehelper -I/usr/include/android"
  targets=(CMakeFiles/kbnn_jni.dir/kbnn_jni.cc.o)
  [[ $name == armeabi-v7a ]] && targets+=(kbnn_delegate)
  quiet cmake --build "$dir" --target "${targets[@]}"
  if [[ $name == armeabi-v7a ]] && grep -q -- "-mfloat-abi=hard" "$dir/compile_commands.json"; then
    echo "armeabi-v7a objects compiled with -mfloat-abi=hard" >&2
    exit 1
  fi
done
[[ $BUILD_ONLY == 1 ]] && exit 0

# --- 3. run under qemu and compare with the x86 runtimes -----------------------------------------
step "tests/test_android_native.py"
cd "$ROOT"
KBNN_ANDROID_NATIVE_BUILT=1 KBNN_ANDROID_BUILD_DIR="$BUILD" python3 -m pytest -q -rs tests/test_android_native.py
