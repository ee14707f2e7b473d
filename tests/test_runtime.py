"""kbnn-runtime (runtime/, import kbnn_runtime): kbnn builds on it, it runs without TensorFlow,
the kbnn-run command, the soak check, LeakSanitizer on the delegate and the runtime-only venv.

The model is the demo's m.tflite (fixture runtime_demo_model, build/runtime-demo).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kbnn
import kbnn_runtime
from kbnn_runtime import cli

ROOT = Path(__file__).resolve().parents[1]
# Where kbnn_runtime was imported from (site-packages, or the checkout's runtime/ in development).
RUNTIME_PATH = str(Path(kbnn_runtime.__file__).resolve().parents[1])


def runtime_env(only: bool = False) -> dict:
    """The environment of a subprocess that imports kbnn_runtime (``only``: nothing else on PYTHONPATH)."""
    extra = [] if only or not os.environ.get("PYTHONPATH") else [os.environ["PYTHONPATH"]]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_PATH, *extra]))


@pytest.fixture(scope="module")
def demo(runtime_demo_model):
    model = str(runtime_demo_model / "m.tflite")
    x = np.load(runtime_demo_model / "x.npy")
    return model, x, kbnn.Interpreter(model, num_threads=1).predict(x)


def test_kbnn_uses_the_runtime_modules():
    """One copy: kbnn's interpreter and benchmark are kbnn_runtime's module objects."""
    assert kbnn.Interpreter is kbnn_runtime.Interpreter
    assert kbnn.load_delegate is kbnn_runtime.load_delegate
    assert kbnn.benchmark is kbnn_runtime.benchmark
    assert kbnn.interpreter is sys.modules["kbnn_runtime.interpreter"] is sys.modules["kbnn.interpreter"]
    assert sys.modules["kbnn.benchmark"] is sys.modules["kbnn_runtime.benchmark"]
    from kbnn.interpreter import ModelError, delegate_path

    assert ModelError is kbnn_runtime.ModelError
    assert Path(delegate_path()).name == "libkbnn_delegate.so"


NO_TF_SCRIPT = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "kbnn"):
            raise ImportError(f"{name} is blocked: kbnn_runtime must not need it")
sys.meta_path.insert(0, Block())
try:
    import tensorflow
except ImportError:
    pass
else:
    raise SystemExit("the tensorflow block does not work")
import numpy as np
import kbnn_runtime
model, x_path, y_path = sys.argv[1:]
interpreter = kbnn_runtime.Interpreter(model, num_threads=2)
np.save(y_path, interpreter.predict(np.load(x_path)))
result = kbnn_runtime.benchmark(model, runs=3, warmup=1)
assert any(o.op.startswith("KbnnBconv2d") for o in result.ops), result  # or KbnnBconv2dResidual
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "kbnn"))
assert not leaked, leaked
print("no tensorflow:", interpreter.runtime)
"""


def test_predict_without_tensorflow_matches_kbnn_interpreter(demo, tmp_path):
    """In a subprocess where importing tensorflow (keras, kbnn) fails, kbnn_runtime predicts what
    kbnn.Interpreter predicts, and tensorflow is not in sys.modules afterwards."""
    model, x, expected = demo
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF_SCRIPT, model, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        env=runtime_env(only=True),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no tensorflow: ai_edge_litert" in proc.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


# -- kbnn-run ------------------------------------------------------------------------------------


def test_cli_predict_output_file_and_print(demo, tmp_path, capsys):
    model, x, expected = demo
    np.save(tmp_path / "x.npy", x[:5])
    assert cli.main([model, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected[:5])
    assert "wrote" in capsys.readouterr().out
    assert cli.main([model, "-i", str(tmp_path / "x.npy"), "--threads", "2", "--kernel", "reference"]) == 0
    out = capsys.readouterr().out
    assert "shape [5, 10] float32" in out
    assert f"argmax: {np.array2string(expected[:5].argmax(1))}" in out


def test_cli_npz_inputs_by_name_and_npz_output(demo, tmp_path):
    model, x, expected = demo
    name = kbnn_runtime.Interpreter(model).input_details[0]["name"]
    np.savez(tmp_path / "x.npz", **{name: x[:3]})
    assert cli.main([model, "--input", str(tmp_path / "x.npz"), "--output", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as z:
        (key,) = z.files
        np.testing.assert_array_equal(z[key], expected[:3])


def test_cli_benchmark_json_and_info(demo, tmp_path, capsys):
    model, x, _ = demo
    assert cli.main([model, "--benchmark", "--runs", "3", "--warmup", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"] == 3 and len(result["samples_ms"]) == 3
    assert any(o["op"].startswith("KbnnBconv2d") for o in result["ops"])  # or KbnnBconv2dResidual
    np.save(tmp_path / "x.npy", x[:2])
    assert cli.main([model, "--benchmark", "--runs", "2", "--input", str(tmp_path / "x.npy")]) == 0
    assert "KbnnBconv2d" in capsys.readouterr().out
    assert cli.main([model]) == 0
    out = capsys.readouterr().out
    assert "inputs:" in out and "[1, 8, 8, 1] float32" in out and "runtime: ai_edge_litert" in out


def test_cli_errors(demo, tmp_path, capsys):
    model, x, _ = demo
    np.save(tmp_path / "x.npy", x[:1])
    assert cli.main([str(tmp_path / "missing.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main([model, "--input", str(tmp_path / "nope.npy")]) == 2
    assert "no such input file" in capsys.readouterr().err
    assert cli.main([model, "--output", str(tmp_path / "y.npy")]) == 2
    assert "--output needs --input" in capsys.readouterr().err
    assert cli.main([model, "--benchmark", "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 2
    assert cli.main([model, "-i", str(tmp_path / "x.npy"), "-i", str(tmp_path / "x.npy")]) == 2
    assert "1 inputs" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((2, 3), np.float32))
    assert cli.main([model, "-i", str(tmp_path / "bad.npy")]) == 2
    assert "must have shape (batch, 8, 8, 1) (4 dimensions)" in capsys.readouterr().err
    (tmp_path / "junk.tflite").write_bytes(b"not a model at all")
    assert cli.main([str(tmp_path / "junk.tflite")]) == 1
    assert "Not a TFLite model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([model, "--kernel", "fastest"])


def test_kbnn_benchmark_cli_shares_the_runtime_options(demo, capsys):
    from kbnn import cli as kbnn_cli

    model, _, _ = demo
    assert kbnn_cli.main(["benchmark", model, "--runs", "2", "--warmup", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_threads"] == 1


# -- soak, LeakSanitizer, the runtime-only venv -----------------------------------------------------


@pytest.mark.integration
def test_soak_resident_memory_flat(demo):
    """10,000 invokes and 1,000 create/destroy cycles with the delegate: RSS growth <= 4 MiB."""
    model, _, _ = demo
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak_runtime.py"), model, "--json"],
        env=runtime_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["invoke_phase"]["invokes"] == 10000 and r["cycle_phase"]["cycles"] == 1000
    assert r["ok"] and r["invoke_phase"]["growth_mib"] <= 4 and r["cycle_phase"]["growth_mib"] <= 4, r
    print(json.dumps(r))


@pytest.mark.integration
def test_soak_detects_growth(demo):
    """The soak check can fail: with a 0 MiB allowance and a leak injected per cycle it reports."""
    model, _, _ = demo
    code = (
        "import sys, kbnn_runtime, runpy\n"
        "hoard = []\n"
        "orig = kbnn_runtime.Interpreter.predict\n"
        "def leaky(self, *a):\n"
        "    hoard.append(bytearray(64 * 1024)); hoard[-1][::4096] = b'x' * 16\n"
        "    return orig(self, *a)\n"
        "kbnn_runtime.Interpreter.predict = leaky\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(ROOT / "scripts" / "soak_runtime.py"),
            model,
            "--invokes",
            "200",
            "--cycles",
            "200",
            "--max-growth-mib",
            "1",
        ],
        env=runtime_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED" in proc.stdout


def _run_script(name, *args, timeout=1800):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode == 3:
        pytest.skip(f"{name}: a download failed (network?):\n" + out[-2000:])
    assert proc.returncode == 0, out[-6000:]
    print(out[-3000:])
    return out


@pytest.mark.integration
def test_delegate_leak_sanitizer():
    """1,000 create/destroy cycles x 10 invokes of the delegate under LeakSanitizer: no leak; the
    negative control (one delegate not destroyed) is reported."""
    out = _run_script("test_delegate_lsan.sh")
    assert "no leak reported" in out and "delegate LSan OK" in out


@pytest.mark.integration
def test_runtime_only_venv(runtime_demo_model):
    """The acceptance: a new venv without TensorFlow, ./runtime built and installed, same outputs."""
    out = _run_script("test_runtime_venv.sh", str(runtime_demo_model))
    assert "bit-exact vs kbnn.Interpreter" in out and "tensorflow not imported" in out
    assert "runtime check OK" in out and "venv acceptance passed" in out
    figures = json.loads(out.split("figures ")[-1].splitlines()[0])
    assert figures["wheel_bytes"] < 1.5e6, figures
