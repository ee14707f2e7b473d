"""The Android demo's native path, checked on this x86-64 host under qemu-aarch64.

android_demo/scripts/test_native.sh cross-builds ``kbnn_harness`` (android_demo/native/harness.cc)
for aarch64 against the stock TFLite C API shipped in the ai-edge-litert 1.4.0 aarch64 wheel
(libLiteRtRuntimeCApi.so). These tests run the demo's assets (regenerated here with
android_demo/scripts/make_assets.py) through it under ``qemu-aarch64 -L /usr/aarch64-linux-gnu``
and require the same predictions as the x86 runtimes:

* the float twin (builtin ops, XNNPACK) vs ai_edge_litert's x86 Interpreter;
* the kbnn model with the aarch64 libkbnn_delegate.so attached through
  ``tflite_plugin_create_delegate`` vs ``kbnn.Interpreter`` on x86;
* a KbnnBconv2d model assembled by tests/support/tflite_builder.py (no converter needed) on the aarch64
  delegate vs its NumPy reference, bit-exact.

Skips (with the reason) only when the wheel cannot be downloaded, the cross tools are missing, or
(for the converted model) the kbnn TF op library that ``kbnn.convert`` needs is not built.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Script-driven (a shell script, a subprocess build or training): `-m "not integration"` leaves it out.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "android_demo" / "scripts" / "test_native.sh"
BUILD = Path(os.environ.get("KBNN_ANDROID_BUILD_DIR", ROOT / "build"))
NATIVE = BUILD / "android-native-aarch64"
HARNESS = NATIVE / "kbnn_harness"
SYSROOT = "/usr/aarch64-linux-gnu"
EPOCHS = 8  # enough for a model whose predictions are not all one class; the app uses 40


def _load_make_assets():
    spec = importlib.util.spec_from_file_location(
        "make_assets", ROOT / "android_demo" / "scripts" / "make_assets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_assets = _load_make_assets()


@pytest.fixture(scope="module")
def harness() -> Path:
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++", "arm-linux-gnueabihf-g++", "cmake", "ninja"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (see android_demo/README.md)")
    if not os.environ.get("KBNN_ANDROID_NATIVE_BUILT"):
        proc = subprocess.run(
            [str(SCRIPT), "--build-only"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "KBNN_ANDROID_BUILD_DIR": str(BUILD)},
        )
        if proc.returncode != 0:
            cache = BUILD / "android-cache"
            if not any(cache.glob("litert-*/libLiteRtRuntimeCApi.so")):
                pytest.skip(
                    "the ai-edge-litert aarch64 wheel could not be downloaded into "
                    f"{cache}: {proc.stderr[-500:]}"
                )
            pytest.fail(f"test_native.sh --build-only failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    assert HARNESS.exists(), f"{HARNESS} was not built"
    return HARNESS


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """The demo's assets regenerated (fewer epochs); the kbnn model only where kbnn.convert works."""
    out = tmp_path_factory.mktemp("android_assets")
    try:
        make_assets.make_assets(out, epochs=EPOCHS, print_fn=lambda *_: None)
    except Exception as e:  # noqa: BLE001 - reported by the kbnn test below, not fatal here
        (out / "kbnn_error.txt").write_text(f"{type(e).__name__}: {e}")
    return out


def _samples(assets: Path) -> np.ndarray:
    return np.fromfile(assets / make_assets.SAMPLES_BIN, dtype="<f4").reshape(-1, 64)


def _run_harness(
    harness: Path, model: Path, samples: Path, delegate: Path | None = None, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    cmd = [
        "qemu-aarch64",
        "-L",
        SYSROOT,
        str(harness),
        "--model",
        str(model),
        "--samples",
        str(samples),
        "--threads",
        str(threads),
        "--runs",
        "3",
    ]
    if delegate is not None:
        cmd += ["--delegate", str(delegate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"harness failed:\n{proc.stdout}\n{proc.stderr}"
    preds, outs = [], []
    for line in proc.stdout.splitlines():
        if line.startswith("sample "):
            fields = line.split()
            assert fields[2] == "pred" and fields[4] == "out", line
            preds.append(int(fields[3]))
            outs.append([float(v) for v in fields[5:]])
    assert "latency_us median" in proc.stdout, proc.stdout
    return np.asarray(preds), np.asarray(outs, dtype=np.float32)


def test_float_twin_matches_x86(harness, assets):
    from ai_edge_litert.interpreter import Interpreter

    x = _samples(assets)
    interp = Interpreter(model_path=str(assets / make_assets.FLOAT_MODEL))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    expected = []
    for row in x:
        interp.set_tensor(inp["index"], row[None])
        interp.invoke()
        expected.append(interp.get_tensor(out["index"])[0])
    expected = np.asarray(expected)

    preds, outs = _run_harness(harness, assets / make_assets.FLOAT_MODEL, assets / make_assets.SAMPLES_BIN)
    np.testing.assert_array_equal(preds, expected.argmax(1))
    np.testing.assert_allclose(outs, expected, rtol=1e-5, atol=1e-6)
    assert len(set(preds.tolist())) > 1, "degenerate model: one class for every sample"


@pytest.fixture(scope="module")
def aarch64_delegate(harness) -> Path:
    """The aarch64 libkbnn_delegate.so that test_native.sh cross-built beside the harness from
    kernels/tflite (the script itself fails when it is missing); not finding it is a failure."""
    found = sorted(NATIVE.rglob("libkbnn_delegate.so"))
    assert found, f"test_native.sh built {harness} but no aarch64 libkbnn_delegate.so under {NATIVE}"
    return found[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_kbnn_model_matches_x86_interpreter(harness, aarch64_delegate, assets, threads):
    import kbnn
    from kbnn import ops

    try:
        ops.load_library()
    except Exception as e:  # noqa: BLE001 - an unbuilt native library, not a failure of this path
        pytest.skip(f"the kbnn TF op library that kbnn.convert needs is not built here: {e}")
    model = assets / make_assets.KBNN_MODEL
    assert model.exists(), f"kbnn.convert failed on the demo model: {(assets / 'kbnn_error.txt').read_text()}"

    x = _samples(assets)
    expected = np.asarray(kbnn.Interpreter(str(model)).predict(x)).reshape(len(x), -1)
    preds, outs = _run_harness(harness, model, assets / make_assets.SAMPLES_BIN, aarch64_delegate, threads)
    np.testing.assert_array_equal(preds, expected.argmax(1))
    np.testing.assert_allclose(outs, expected, rtol=1e-5, atol=1e-6)
    labels = np.asarray(__import__("json").loads((assets / make_assets.SAMPLES_JSON).read_text())["labels"])
    assert (preds == labels).mean() > 0.5, "the converted demo model should mostly be right"


@pytest.mark.parametrize("threads", [1, 3])
def test_builder_bconv2d_on_aarch64_delegate(harness, aarch64_delegate, tmp_path, threads):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from support import tflite_builder as tb
    finally:
        sys.path.pop(0)

    rng = np.random.default_rng(7)
    n, h, w, cin, cout, k = 2, 6, 5, 45, 19, 3  # cin not a multiple of 32: padding bits in play
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    filters = rng.standard_normal((cout, k, k, cin)).astype(np.float32)
    multiplier = rng.uniform(0.5, 2.0, cout).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    expected = tb.transform(tb.conv_dot(x, filters), multiplier, bias)

    mb = tb.ModelBuilder()
    x_t = mb.tensor((n, h, w, tb.words(cin)), tb.INT32)
    out_t = tb.add_bconv(mb, x_t, n, h, w, filters, multiplier, bias, out_shape=expected.shape)
    model = tmp_path / "bconv.tflite"
    model.write_bytes(mb.build([x_t], [out_t]))
    samples = tmp_path / "x.bin"
    tb.pack(x).astype("<i4").tofile(samples)

    _, outs = _run_harness(harness, model, samples, aarch64_delegate, threads)
    np.testing.assert_array_equal(outs.reshape(expected.shape), expected)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-rs"]))
