#!/usr/bin/env bash
# The install a user does from the release wheels, on a machine WITHOUT a C/C++ compiler:
#
#   bash scripts/build_wheels.sh                 # -> dist/
#   bash scripts/test_wheel_install.sh [DIST]    # default dist/
#
# 1. PATH = build/nocc-bin (symlinks to the tools a user's shell has; no gcc, g++, cc, c++, c89,
#    c99, cpp, clang*, *-gcc*, *-g++*: checked) + the new venv's bin/;
# 2. a NEW venv build/venv-wheels (recreated each run; pip's own cache is reused);
# 3. the public dependencies from the index: the Requires-Dist of the kbnn and kbnn-runtime wheels
#    (and kbnn's "demo" extra), except kbnn-runtime;
# 4. `pip install --no-index --find-links DIST kbnn`: must install both kbnn wheels, build nothing;
# 5. `kbnn demo` (short: KBNN_DEMO_EPOCHS, default 2) in a temporary directory must run to the
#    end and name the TFLite runtime and the kbnn kernel ISA;
# 6. figures: wheel sizes, `import kbnn_runtime` / `import kbnn` time in a fresh process.
# Env: PYTHON (the base interpreter for the venv, default python3), KBNN_DEMO_EPOCHS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$(realpath "${1:-dist}")"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/build/venv-wheels"
NOCC="$ROOT/build/nocc-bin"
EPOCHS="${KBNN_DEMO_EPOCHS:-2}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }

VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' runtime/kbnn_runtime/_version.py)"
KBNN_WHEEL="$(ls "$DIST"/kbnn-"$VERSION"-py3-none-manylinux_*_x86_64.whl 2>/dev/null || true)"
RUNTIME_WHEEL="$(ls "$DIST"/kbnn_runtime-"$VERSION"-py3-none-manylinux_*_x86_64.whl 2>/dev/null || true)"
if [[ -z "$KBNN_WHEEL" || -z "$RUNTIME_WHEEL" ]]; then
  echo "no kbnn $VERSION x86-64 wheels in $DIST: run bash scripts/build_wheels.sh first" >&2; exit 2
fi

# --- 1. a PATH without a compiler ---------------------------------------------------------------
step "PATH without a C/C++ compiler: $NOCC"
TOOLS=(sh bash env cat ls mkdir rmdir rm cp mv ln chmod touch dirname basename readlink realpath
       uname grep sed awk head tail tr wc cut sort uniq tee date sleep id mktemp find xargs du stat
       nproc getconf ldconfig lscpu which true false tar gzip unzip)
rm -rf "$NOCC"; mkdir -p "$NOCC"
for tool in "${TOOLS[@]}"; do
  path="$(command -v "$tool" || true)"
  if [[ -n "$path" && "$path" == /* ]]; then ln -s "$path" "$NOCC/$tool"; fi
done
COMPILER_RE='^(gcc|g\+\+|cc|c\+\+|c89|c99|cpp|clang.*|.*-gcc.*|.*-g\+\+.*|.*-cc|.*-c\+\+|cmake)$'
check_no_compiler() {  # every directory of the PATH given
  local dir hits=""
  IFS=: read -ra dirs <<<"$1"
  for dir in "${dirs[@]}"; do
    [[ -d "$dir" ]] || continue
    hits+="$(ls -1 "$dir" | grep -E "$COMPILER_RE" | sed "s|^|$dir/|" | tr '\n' ' ' || true)"
  done
  if [[ -n "$hits" ]]; then echo "a compiler is on the PATH: $hits" >&2; exit 1; fi
}

# --- 2. a new venv ------------------------------------------------------------------------------
step "new venv $VENV ($("$PYTHON" --version))"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
USER_PATH="$VENV/bin:$NOCC"
check_no_compiler "$USER_PATH"
for cc in gcc g++ cc c++ clang; do
  if env PATH="$USER_PATH" bash -c "command -v $cc" >/dev/null; then echo "$cc found" >&2; exit 1; fi
done
as_user() { env PATH="$USER_PATH" VIRTUAL_ENV="$VENV" "$@"; }

# --- 3. the public dependencies from the index --------------------------------------------------
REQS="$VENV/public-requirements.txt"
"$VENV/bin/python" - "$KBNN_WHEEL" "$RUNTIME_WHEEL" > "$REQS" <<'PY'
import email.parser, sys, zipfile
for wheel in sys.argv[1:]:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.BytesParser().parsebytes(z.read(name))
    for req in meta.get_all("Requires-Dist", []):
        spec, _, marker = req.partition(";")
        if spec.strip().startswith("kbnn-runtime"):
            continue
        if not marker.strip() or marker.strip().replace("'", '"') == 'extra == "demo"':
            print(spec.strip())
PY
step "public dependencies from the index: $(tr '\n' ' ' < "$REQS")"
as_user "$VENV/bin/python" -m pip install -q --only-binary=:all: -r "$REQS"

# --- 4. kbnn from the wheels, nothing compiled --------------------------------------------------
check_no_compiler "$USER_PATH"  # again: the dependencies put their commands into the venv's bin/
step "pip install --no-index --find-links $DIST kbnn"
LOG="$VENV/pip-install-kbnn.log"
as_user "$VENV/bin/python" -m pip install --no-index --find-links "$DIST" kbnn 2>&1 | tee "$LOG"
if grep -Eq "Building wheel|Running setup.py|Preparing metadata \(pyproject.toml\)" "$LOG"; then
  echo "pip built something from source (see above): the wheels were not used" >&2; exit 1
fi
grep -q "Successfully installed.*kbnn-$VERSION" "$LOG" && grep -q "kbnn-runtime-$VERSION" "$LOG" \
  || { echo "kbnn $VERSION and kbnn-runtime $VERSION were not both installed" >&2; exit 1; }
as_user "$VENV/bin/python" -m pip check

# --- 5. kbnn demo, to the end -------------------------------------------------------------------
DEMO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kbnn-wheel-demo.XXXXXX")"
trap 'rm -rf "$DEMO_DIR"' EXIT
step "kbnn demo --epochs $EPOCHS --quiet --out $DEMO_DIR (from $DEMO_DIR, no compiler on the PATH)"
DEMO_LOG="$VENV/kbnn-demo.log"
(cd "$DEMO_DIR" && as_user TF_CPP_MIN_LOG_LEVEL=2 kbnn demo --epochs "$EPOCHS" --quiet --out "$DEMO_DIR") \
  2>&1 | tee "$DEMO_LOG"
grep -q "^TFLite runtime: " "$DEMO_LOG" && grep -q "^kbnn kernel ISA: " "$DEMO_LOG" \
  || { echo "kbnn demo did not name the runtime and the kernel ISA" >&2; exit 1; }
[[ -s "$DEMO_DIR/m.tflite" && -s "$DEMO_DIR/kbnn_demo.png" ]] \
  || { echo "kbnn demo did not write m.tflite and kbnn_demo.png" >&2; exit 1; }
(cd "$DEMO_DIR" && as_user "$VENV/bin/python" - "$VENV" <<'PY'
import pathlib, sys
import kbnn, kbnn_runtime
venv = pathlib.Path(sys.argv[1]).resolve()
for module in (kbnn, kbnn_runtime):  # the installed wheels, not the checkout
    assert venv in pathlib.Path(module.__file__).resolve().parents, module.__file__
assert kbnn.__version__ == kbnn_runtime.__version__, (kbnn.__version__, kbnn_runtime.__version__)
print(f"   kbnn {kbnn.__version__} from {pathlib.Path(kbnn.__file__).parent}")
PY
)

# --- 6. figures ---------------------------------------------------------------------------------
import_seconds() {  # MODULE RUNS: the median of RUNS fresh processes (kbnn: 1, TensorFlow is slow)
  (cd "$DEMO_DIR" && as_user TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - "$1" "$2" <<'PY'
import statistics, subprocess, sys
code = f"import time; t = time.perf_counter(); import {sys.argv[1]}; print(time.perf_counter() - t)"
runs = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout.split()[-1]) for _ in range(int(sys.argv[2]))]
print(f"{statistics.median(runs):.2f}")
PY
  )
}
echo "figures {\"kbnn_wheel\": \"$(basename "$KBNN_WHEEL")\","\
" \"kbnn_wheel_bytes\": $(stat -c %s "$KBNN_WHEEL"), \"runtime_wheel\": \"$(basename "$RUNTIME_WHEEL")\","\
" \"runtime_wheel_bytes\": $(stat -c %s "$RUNTIME_WHEEL"),"\
" \"import_kbnn_runtime_s\": $(import_seconds kbnn_runtime 3), \"import_kbnn_s\": $(import_seconds kbnn 1),"\
" \"venv_bytes\": $(du -sb "$VENV" | cut -f1)}"
step "wheel install without a compiler + kbnn demo passed"
