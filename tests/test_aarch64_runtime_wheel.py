"""The RELEASE kbnn-runtime wheel for aarch64, run under QEMU: scripts/test_aarch64_runtime_wheel.sh.

The repaired wheel of scripts/build_wheels.sh (cross-built from the sdist, tagged manylinux_*_aarch64
by auditwheel; built by the script when dist/ lacks it), installed with `pip install --target
--platform ...aarch64` beside the aarch64 ai-edge-litert 1.4.0 wheel, runs the demo's m.tflite in the
arm64 Python 3.11 sysroot under qemu-aarch64 without TensorFlow and must reproduce the x86-64
kbnn.Interpreter outputs (1e-5, same argmax). Cached under build/; skipped only when the downloads
fail.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Script-driven (a shell script, a subprocess build or training): `-m "not integration"` leaves it out.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DOWNLOAD_FAILED = 3


def test_aarch64_runtime_wheel_under_qemu(runtime_demo_model):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test_aarch64_runtime_wheel.sh"), str(runtime_demo_model)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == DOWNLOAD_FAILED:
        pytest.skip("downloading the arm64 .debs / aarch64 wheels failed (network?):\n" + out[-2000:])
    assert proc.returncode == 0, out[-6000:]
    version = re.search(
        r'^__version__ = "([^"]+)"$', (ROOT / "runtime" / "kbnn_runtime" / "_version.py").read_text(), re.M
    ).group(1)
    wheel = rf"kbnn_runtime-{re.escape(version)}-py3-none-manylinux_2_\d+_aarch64\.whl"
    assert re.search(rf"release wheel {wheel}", out), out[-6000:]
    assert f"kbnn_runtime {version} on aarch64" in out, out[-6000:]
    assert "on aarch64, ai_edge_litert 1.4.0" in out and "tensorflow not imported" in out, out[-6000:]
    assert "runtime check OK" in out, out[-6000:]
