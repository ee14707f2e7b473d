#!/usr/bin/env bash
# The delegate's parity and bad-input tests against an ASan+UBSan build of libkbnn_delegate.so
# (built by kernels/scripts/ci.sh into build/kernels-asan). The sanitizer runtimes are preloaded
# into Python; leak checking is off because the interpreter process itself is not leak-clean.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB="$PWD/build/kernels-asan/tflite/libkbnn_delegate.so"
if [ ! -f "$LIB" ]; then
  echo "missing $LIB: run kernels/scripts/ci.sh first (it builds the ASan+UBSan tree)" >&2
  exit 2
fi
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export KBNN_DELEGATE_PATH="$LIB"
# Prove that the sanitized library is the one the runtime loads.
python3 - <<'PY'
import kbnn
kbnn.load_delegate()
maps = open("/proc/self/maps").read()
if "kernels-asan/tflite/libkbnn_delegate.so" not in maps:
    raise SystemExit("the ASan delegate was not loaded; KBNN_DELEGATE_PATH is not honoured")
print("ASan+UBSan delegate loaded")
PY
python3 -m pytest -q -p no:cacheprovider -m "not slow" tests/test_delegate.py tests/test_interpreter.py \
  tests/test_lce_ops.py tests/test_hardening_runtime.py tests/test_fuzz_files.py \
  tests/test_convert.py
