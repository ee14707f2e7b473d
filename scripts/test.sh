#!/usr/bin/env bash
# The whole kbnn test suite on a fresh machine: installs what it needs, builds the C++
# kernels (native, sanitizers, aarch64 and armv7 under QEMU) and runs every test.
#
#   bash scripts/test.sh            # what CI runs (seeded samples of the long sweeps)
#   KBNN_NIGHTLY=1 bash scripts/test.sh   # nightly-size sweeps too
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PYTHONUNBUFFERED=1 KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2

step() { printf '\n==== %s (%ds)\n' "$*" "$SECONDS"; }

step "declared dependencies (check_deps)"
# Every third-party import of the package, tests and scripts must be installed by a project file;
# a missing declaration is named here in a second instead of as an ImportError minutes later.
# The shared tool beside the checkout wins; scripts/check_deps.py is a copy for plain clones.
CHECK_DEPS=../shared/tools/check_deps.py
[ -f "$CHECK_DEPS" ] || CHECK_DEPS=scripts/check_deps.py
python3 "$CHECK_DEPS"

step "system packages"
bash scripts/install_system_deps.sh

step "python packages"
# The build requirements first, then kbnn without build isolation: setup.py compiles the TF op
# library against exactly the TensorFlow installed here (and skips a second TF install into an
# isolated build env). kbnn requires kbnn-runtime==its version by name: -e ./runtime in the same
# command provides it (and builds the delegate into runtime/kbnn_runtime/_lib).
# `pip install -e ./runtime -e ".[test]"` works too, just slower.
python3 -m pip install -q --disable-pip-version-check "setuptools>=77" wheel "cmake>=3.16" \
  "tensorflow-cpu>=2.21,<2.22"
python3 -m pip install -q --disable-pip-version-check --no-build-isolation -e ./runtime -e ".[test]"

step "style (ruff check, ruff format --check, clang-format --dry-run -Werror)"
# Fix with: bash scripts/format.sh (then hand-edit what ruff check still reports).
if ! PYTHON=python3 bash scripts/format.sh --check; then
  echo "style check failed: run 'bash scripts/format.sh' and commit the result" \
       "(see docs/architecture.md, \"Tests\")" >&2
  exit 1
fi

if [ -x kernels/scripts/ci.sh ]; then
  step "C++ kernels: native + sanitizers"
  bash kernels/scripts/ci.sh
fi
if [ -x kernels/scripts/test_arm.sh ]; then
  step "C++ kernels: aarch64 and armv7 under QEMU"
  bash kernels/scripts/test_arm.sh
fi

step "delegate parity + bad-input tests on the ASan+UBSan delegate"
bash scripts/test_asan_delegate.sh

step "release artifacts: sdists + manylinux wheels, auditwheel, twine check (build_wheels.sh)"
# dist/ is also what tests/test_aarch64_runtime_wheel.py installs under QEMU.
bash scripts/build_wheels.sh dist

step "the wheels in a new venv without a compiler on PATH, then kbnn demo (test_wheel_install.sh)"
bash scripts/test_wheel_install.sh dist

step "python tests"
PYTEST_ARGS=(-q -p no:cacheprovider)
if [ "${KBNN_NIGHTLY:-0}" != 1 ]; then PYTEST_ARGS+=(-m "not slow"); fi
python3 -m pytest "${PYTEST_ARGS[@]}" tests
step "all tests passed"
