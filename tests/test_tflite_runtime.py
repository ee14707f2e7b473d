"""kbnn models in a bare tflite_runtime 2.14 venv (no TensorFlow): scripts/test_tflite_runtime.sh.

The script creates/reuses build/venv-tflite-runtime (tflite-runtime==2.14.0, numpy<2), converts the
parity models here (main environment) and checks in the venv that
``tflite_runtime.interpreter.Interpreter(..., experimental_delegates=[load_delegate(libkbnn_delegate.so)])``
reproduces kbnn.Interpreter (bit-exact for kbnn-final outputs), batch 1/3, threads 1/2, and that the
missing delegate gives the unresolved-custom-op error that kbnn.interpreter.explain_error maps.
Larq Compute Engine files (tests/fixtures/larq) must give LCE's own interpreter outputs there too.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Script-driven (a shell script, a subprocess build or training): `-m "not integration"` leaves it out.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test_tflite_runtime.sh"
PIP_UNREACHABLE = 3  # the script's exit code when the venv cannot be installed from PyPI


def test_tflite_runtime_venv_parity():
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == PIP_UNREACHABLE:
        pytest.skip("build/venv-tflite-runtime could not be created (PyPI unreachable?):\n" + out[-2000:])
    assert proc.returncode == 0, out[-6000:]
    assert "parity OK" in out, out[-6000:]
    assert "lce_chain batch=1 threads=1" in out, out[-6000:]  # Larq Compute Engine files too
    assert "explain_error -> DelegateMissingError" in out, out[-6000:]
