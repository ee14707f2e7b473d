#!/usr/bin/env bash
# kbnn models in a bare tflite_runtime 2.14 (x86-64), in its own virtual environment without
# TensorFlow or kbnn:
#   1. creates/reuses build/venv-tflite-runtime (python3 -m venv) with tflite-runtime==2.14.0 and
#      numpy<2 (pip cache: build/pip-cache);
#   2. the MAIN environment (TF + kbnn) converts the parity models and saves the inputs and the
#      kbnn.Interpreter outputs as .npy (scripts/runtime_parity_models.py);
#   3. the venv runs them through tflite_runtime.interpreter.Interpreter with
#      load_delegate(libkbnn_delegate.so) (scripts/runtime_parity_check.py): bit-exact for
#      kbnn-final models, 1e-5 otherwise; batch 1 and 3, threads 1 and 2; plus the
#      missing-delegate error and kbnn.interpreter.explain_error.
#
#   bash scripts/test_tflite_runtime.sh
# Env: KBNN_DELEGATE_PATH (default: runtime/kbnn_runtime/_lib/libkbnn_delegate.so), PYTHON (main env, python3).
# Exit code 3: the venv could not be set up (PyPI unreachable).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/build/venv-tflite-runtime"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/build/pip-cache}" PIP_DISABLE_PIP_VERSION_CHECK=1
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }

DELEGATE="${KBNN_DELEGATE_PATH:-$ROOT/runtime/kbnn_runtime/_lib/libkbnn_delegate.so}"
[[ -f "$DELEGATE" ]] || { echo "no $DELEGATE: build it with \`pip install -e ./runtime -e .\` (or set KBNN_DELEGATE_PATH)" >&2; exit 2; }

# --- 1. the venv ----------------------------------------------------------------------------------
if ! "$VENV/bin/python" -c "import tflite_runtime, numpy, sys; \
sys.exit(not (tflite_runtime.__version__ == '2.14.0' and numpy.__version__ < '2'))" 2>/dev/null; then
  step "creating $VENV (tflite-runtime==2.14.0, numpy<2)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  if ! "$VENV/bin/python" -m pip install -q --only-binary=:all: "tflite-runtime==2.14.0" "numpy<2"; then
    echo "could not install tflite-runtime==2.14.0 / numpy<2 from PyPI into $VENV" >&2
    rm -rf "$VENV"
    exit 3
  fi
else
  step "reusing $VENV"
fi
"$VENV/bin/python" -c "import tensorflow" 2>/dev/null && { echo "$VENV must not have TensorFlow" >&2; exit 1; }

# --- 2. models + expected outputs from the main environment -------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbnn-tflite-runtime.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
step "converting the parity models (main environment)"
"$PYTHON" scripts/runtime_parity_models.py "$WORK" 2>&1 | grep -v -e "^INFO: Created TensorFlow Lite" -e "^WARNING: All log messages"

# --- 3. tflite_runtime ----------------------------------------------------------------------------
step "tflite_runtime 2.14 parity"
"$VENV/bin/python" scripts/runtime_parity_check.py "$WORK" "$DELEGATE" \
  --kbnn-interpreter "$ROOT/runtime/kbnn_runtime/interpreter.py"
step "tflite_runtime checks passed"
