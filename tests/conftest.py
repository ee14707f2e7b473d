import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest


@pytest.fixture(scope="session")
def delegate_env():
    """Points KBNN_DELEGATE_PATH at libkbnn_delegate.so for kbnn.load_delegate/kbnn.Interpreter.

    tflite_builder.delegate_library() honours an existing KBNN_DELEGATE_PATH (the ASan run sets
    one), else takes the installed copy, else builds one. The old value is restored afterwards.
    """
    from support import tflite_builder as tb

    path = tb.delegate_library()
    old = os.environ.get("KBNN_DELEGATE_PATH")
    os.environ["KBNN_DELEGATE_PATH"] = path
    yield path
    if old is None:
        os.environ.pop("KBNN_DELEGATE_PATH", None)
    else:
        os.environ["KBNN_DELEGATE_PATH"] = old


@pytest.fixture(scope="session")
def runtime_demo_model():
    """build/runtime-demo: the demo's m.tflite (1 epoch), x.npy and the kbnn.Interpreter outputs
    expected.npy (scripts/runtime_demo_model.py; the model is reused, the outputs recomputed)."""
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    out = root / "build" / "runtime-demo"
    proc = subprocess.run(
        [sys.executable, str(root / "scripts" / "runtime_demo_model.py"), str(out)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, (
        f"runtime_demo_model.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return out
