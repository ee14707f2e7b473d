#!/usr/bin/env bash
# LeakSanitizer on the delegate's own allocations: kernels/tflite/delegate_test.cc (the delegate
# through its C ABI on a fake TfLiteContext, no Python, no TFLite runtime) built with gcc's
# -fsanitize=leak into build/kernels-lsan. Its SoakCreateDestroyCycles test creates and destroys
# the delegate 1000 times, each time claiming a quantize -> bconv2d -> bmaxpool -> dequantize chain,
# preparing its partition and invoking it 10 times (10,000 invokes), checking the output against
# the reference kernels. LeakSanitizer must report nothing; then the negative control
# (KBNN_SOAK_LEAK_ON_PURPOSE=1: one delegate not destroyed) must be reported as a leak.
#
#   bash scripts/test_delegate_lsan.sh      # env: KBNN_SOAK_CYCLES (1000), KBNN_SOAK_INVOKES (10)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/kernels-lsan"
SAN="-fsanitize=leak -fno-omit-frame-pointer"
cmake -S "$ROOT/kernels" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKBNN_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" -DCMAKE_EXE_LINKER_FLAGS="$SAN" >/dev/null
cmake --build "$BUILD" -j"${KBNN_JOBS:-2}" --target kbnn_delegate_test >/dev/null
TEST_BIN="$(find "$BUILD" -name kbnn_delegate_test -type f -perm -u+x -print -quit)"
export KBNN_SOAK_CYCLES="${KBNN_SOAK_CYCLES:-1000}" KBNN_SOAK_INVOKES="${KBNN_SOAK_INVOKES:-10}"
export LSAN_OPTIONS=exitcode=23:report_objects=0
echo "== LeakSanitizer: $KBNN_SOAK_CYCLES create/destroy cycles x $KBNN_SOAK_INVOKES invokes"
start=$SECONDS
"$TEST_BIN" --gtest_filter='Delegate.*' --gtest_brief=1
echo "   no leak reported ($((SECONDS - start)) s, whole delegate suite + soak)"

echo "== negative control: one delegate not destroyed must be reported"
log="$(mktemp)"
rc=0
KBNN_SOAK_CYCLES=2 KBNN_SOAK_INVOKES=1 KBNN_SOAK_LEAK_ON_PURPOSE=1 \
  "$TEST_BIN" --gtest_filter='Delegate.SoakCreateDestroyCycles' >"$log" 2>&1 || rc=$?
if [[ $rc != 23 ]] || ! grep -q "detected memory leaks" "$log" || ! grep -q "tflite_plugin_create_delegate" "$log"; then
  cat "$log" >&2
  rm -f "$log"
  echo "LeakSanitizer did not report the deliberately leaked delegate (exit $rc)" >&2
  exit 1
fi
echo "   reported: $(grep -m1 'SUMMARY: LeakSanitizer' "$log")"
rm -f "$log"
echo "delegate LSan OK"
