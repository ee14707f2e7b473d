#!/usr/bin/env bash
# Acceptance of kbnn-runtime: in a NEW venv without TensorFlow (build/venv-runtime, recreated each
# run; pip's cache in build/pip-cache), build ./runtime into a wheel, install it, run
# scripts/runtime_check.py:
# kbnn_runtime.Interpreter("m.tflite").predict(x) must equal the main environment's
# kbnn.Interpreter outputs bit for bit, tensorflow must not be importable nor in sys.modules, and
# the kbnn-run command must work. The venv gets the main environment's ai-edge-litert version so
# that the float ops run the same code. Prints the figures: wheel size, venv size, import time,
# time to the first prediction.
#
#   python scripts/runtime_demo_model.py build/runtime-demo     # main env: model + expected outputs
#   bash scripts/test_runtime_venv.sh build/runtime-demo
# Env: PYTHON (the main environment's python, default python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="$(cd "${1:?usage: $0 MODEL_DIR}" && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/build/venv-runtime"
WHEELS="$ROOT/build/runtime-wheels"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$ROOT/build/pip-cache}" PIP_DISABLE_PIP_VERSION_CHECK=1
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }

LITERT="$("$PYTHON" -c "import importlib.metadata as m; print(m.version('ai-edge-litert'))")"
step "new venv $VENV (no TensorFlow); pip wheel ./runtime -> $WHEELS, pip install it + ai-edge-litert==$LITERT"
rm -rf "$VENV" "$WHEELS"
"$PYTHON" -m venv "$VENV"
# One build from source (the wheel), installed from that file: building ./runtime a second time
# for `pip install ./runtime` would compile the same delegate again.
"$VENV/bin/python" -m pip wheel -q --no-deps -w "$WHEELS" ./runtime
WHEEL="$(ls "$WHEELS"/kbnn_runtime-*.whl)"
"$VENV/bin/python" -m pip install -q "$WHEEL" "ai-edge-litert==$LITERT"
"$VENV/bin/python" -m pip list --format=freeze | tr '\n' ' '; echo

step "runtime check (scripts/runtime_check.py) in the venv"
"$VENV/bin/python" scripts/runtime_check.py "$MODEL_DIR"

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "figures {\"wheel\": \"$(basename "$WHEEL")\", \"wheel_bytes\": $(stat -c %s "$WHEEL"),"\
" \"venv_bytes\": $(du -sb "$VENV" | cut -f1), \"site_packages_bytes\": $(du -sb "$SITE" | cut -f1),"\
" \"kbnn_runtime_installed_bytes\": $(du -sb "$SITE/kbnn_runtime" | cut -f1),"\
" \"ai_edge_litert_bytes\": $(du -sb "$SITE/ai_edge_litert" | cut -f1), \"numpy_bytes\": $(du -sb "$SITE/numpy" | cut -f1)}"
step "kbnn-runtime venv acceptance passed"
