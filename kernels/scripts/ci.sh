#!/usr/bin/env bash
# kbnn C++ kernels CI: Release build + full test suite, then an ASan+UBSan build with a smaller
# sweep, then a ThreadSanitizer run of the threaded tests (KBNN_CI_TSAN=0 skips it).
# Build trees: build/kernels-{native,asan,tsan} under the repo root (reused).
#
#   bash kernels/scripts/ci.sh                 # CI size
#   KBNN_NIGHTLY=1 bash kernels/scripts/ci.sh  # + the full >= 5000-config sweep per ISA
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="$ROOT/kernels"
JOBS="${KBNN_JOBS:-2}"
step() { printf '\n== kernels: %s (%ds)\n' "$*" "$SECONDS"; }

step "configure + build Release (build/kernels-native)"
cmake -S "$SRC" -B "$ROOT/build/kernels-native" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build/kernels-native" -j"$JOBS"

step "ctest Release"
SWEEP="${KBNN_SWEEP_CONFIGS:-500}"
if [ "${KBNN_NIGHTLY:-0}" = 1 ]; then SWEEP=6000; fi
(cd "$ROOT/build/kernels-native" && KBNN_SWEEP_CONFIGS="$SWEEP" ctest --output-on-failure -j"$JOBS")

step "configure + build ASan+UBSan (build/kernels-asan)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$SRC" -B "$ROOT/build/kernels-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKBNN_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN" >/dev/null
cmake --build "$ROOT/build/kernels-asan" -j"$JOBS"

step "ctest ASan+UBSan (smaller sweep)"
(cd "$ROOT/build/kernels-asan" && \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  KBNN_SWEEP_CONFIGS="${KBNN_ASAN_SWEEP_CONFIGS:-300}" ctest --output-on-failure -j"$JOBS")

if [ "${KBNN_CI_TSAN:-1}" = 1 ]; then
  step "ThreadSanitizer: thread pool + threaded ops (build/kernels-tsan)"
  cmake -S "$SRC" -B "$ROOT/build/kernels-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKBNN_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  cmake --build "$ROOT/build/kernels-tsan" -j"$JOBS" --target ops_test bconv2d_sweep_test
  (cd "$ROOT/build/kernels-tsan/tests" && export TSAN_OPTIONS=halt_on_error=1 && ./ops_test && \
    KBNN_SWEEP_CONFIGS=150 ./bconv2d_sweep_test)
fi

step "kernels OK"
