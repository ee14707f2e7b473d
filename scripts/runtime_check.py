"""kbnn-runtime on its own: runs the demo model with kbnn_runtime where TensorFlow is not installed.

    python scripts/runtime_check.py MODEL_DIR [--tolerance 1e-5] [--in-process]

MODEL_DIR is written by scripts/runtime_demo_model.py (m.tflite, x.npy, expected.npy: the x86-64
kbnn.Interpreter outputs). Needs only the installed kbnn-runtime (numpy + ai_edge_litert or
tflite_runtime): used by scripts/test_runtime_venv.sh (a fresh x86-64 venv) and
scripts/test_aarch64_runtime_wheel.sh (the aarch64 wheel under qemu-aarch64). Checks:

* ``import tensorflow`` fails here, and ``tensorflow`` is not in sys.modules after predicting;
* ``kbnn_runtime.Interpreter("m.tflite").predict(x)`` equals expected.npy: bit for bit by default
  (same platform and runtime), within --tolerance with the same argmax otherwise;
* batch 1 and batch 450 (resize), 1 and 2 threads; the per-op benchmark; the ``kbnn-run`` command
  (``--input/--output`` and ``--benchmark --json``): its console script in a venv, else
  ``python -m kbnn_runtime``, or with --in-process its ``main()`` in this process (qemu-user
  without binfmt_misc cannot start aarch64 subprocesses);
* prints the figures as one JSON line: import time of kbnn_runtime and time to the first
  prediction (import + Interpreter + predict of one image), in fresh processes (median of 5) or,
  with --in-process, in this one.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

IMPORT_TIME = "import time; t = time.perf_counter(); import kbnn_runtime; print(time.perf_counter() - t)"
FIRST_PREDICTION = """
import sys, time
t = time.perf_counter()
import numpy as np, kbnn_runtime
x = np.load(sys.argv[1])[:1]
y = kbnn_runtime.Interpreter(sys.argv[2], num_threads=1).predict(x)
print(time.perf_counter() - t)
"""


def fresh(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def cpu_has(flag: str) -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


def same(y, expected, tolerance, what):
    import numpy as np

    assert y.shape == expected.shape and y.dtype == expected.dtype, (what, y.shape, y.dtype, expected.shape)
    if tolerance is None:
        if not np.array_equal(y, expected):
            raise AssertionError(
                f"{what}: differs from kbnn.Interpreter, max |diff| {np.abs(y - expected).max():.3g}"
            )
        return 0.0
    diff = float(np.abs(y - expected).max())
    assert diff <= tolerance, f"{what}: max |diff| {diff:.3g} > {tolerance}"
    assert np.array_equal(y.argmax(-1), expected.argmax(-1)), f"{what}: argmax differs"
    return diff


def main(argv: list[str]) -> None:
    args = list(argv)
    tolerance, in_process = None, "--in-process" in args
    if "--tolerance" in args:
        i = args.index("--tolerance")
        tolerance = float(args[i + 1])
        del args[i : i + 2]
    if in_process:
        args.remove("--in-process")
    if len(args) != 1:
        sys.exit(__doc__)
    directory = args[0]
    model, x_path = os.path.join(directory, "m.tflite"), os.path.join(directory, "x.npy")

    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:
        raise AssertionError("tensorflow is importable here: this check is for runtime-only environments")
    t0 = time.perf_counter()
    import numpy as np

    import kbnn_runtime

    import_s = time.perf_counter() - t0

    x, expected = np.load(x_path), np.load(os.path.join(directory, "expected.npy"))
    t0 = time.perf_counter()
    kbnn_runtime.Interpreter(model, num_threads=1).predict(x[:1])
    first_s = import_s + time.perf_counter() - t0
    diffs = []
    for threads in (1, 2):
        interpreter = kbnn_runtime.Interpreter(model, num_threads=threads)
        diffs.append(same(interpreter.predict(x), expected, tolerance, f"batch {len(x)}, {threads} threads"))
        diffs.append(same(interpreter.predict(x[:1]), expected[:1], tolerance, f"batch 1, {threads} threads"))
    # Every kernel ISA of the platform is in the library (run-time dispatch): each gives the same.
    kernels = ["reference", "scalar"] + {
        "x86_64": ["avx2"] if cpu_has("avx2") else [],
        "aarch64": ["neon"],
    }.get(platform.machine(), [])
    for kernel in kernels:
        y = kbnn_runtime.Interpreter(model, num_threads=1, kernel=kernel).predict(x)
        diffs.append(same(y, expected, tolerance, f"kernel={kernel}"))
    assert "tensorflow" not in sys.modules, "kbnn_runtime imported tensorflow"
    result = kbnn_runtime.benchmark(model, num_threads=1, runs=5, warmup=1, inputs=[x[:1]])
    ops = sorted({o.op for o in result.ops})
    assert any(op.startswith("KbnnBconv2d") for op in ops), ops  # KbnnBconv2d or KbnnBconv2dResidual
    assert "tensorflow" not in sys.modules, "kbnn_runtime.benchmark imported tensorflow"
    print(
        f"kbnn_runtime {kbnn_runtime.__version__} on {platform.machine()}, {interpreter.runtime}, "
        f"numpy {np.__version__}: {len(x)} images "
        + ("bit-exact" if tolerance is None else f"max |diff| {max(diffs):.3g}")
        + f" vs kbnn.Interpreter (x86-64), kernels auto/{'/'.join(kernels)}; per-op profile: "
        f"{', '.join(ops)}; tensorflow not imported"
    )

    run_cli(model, x_path, expected, tolerance, in_process)
    figures = {
        "machine": platform.machine(),
        "runtime": interpreter.runtime,
        "benchmark_median_ms_batch1": result.median_ms,
    }
    if in_process:
        figures.update(import_kbnn_runtime_s=import_s, first_prediction_s=first_s, measured="in process")
    else:
        figures.update(
            import_kbnn_runtime_s=sorted(fresh(IMPORT_TIME) for _ in range(5))[2],
            first_prediction_s=sorted(fresh(FIRST_PREDICTION, x_path, model) for _ in range(5))[2],
            measured="fresh processes, median of 5",
        )
    print("figures " + json.dumps(figures))
    print("runtime check OK")


def run_cli(model, x_path, expected, tolerance, in_process):
    import contextlib
    import io

    import numpy as np

    def kbnn_run(*argv):
        if in_process:
            from kbnn_runtime import cli

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert cli.main(list(argv)) == 0, argv
            return buf.getvalue()
        return subprocess.run([*command, *argv], check=True, capture_output=True, text=True).stdout

    # The console script beside this Python (venv), else python -m kbnn_runtime.
    script = os.path.join(os.path.dirname(sys.executable), "kbnn-run")
    command = [script] if os.path.isfile(script) else [sys.executable, "-m", "kbnn_runtime"]
    with tempfile.TemporaryDirectory() as tmp:
        y_path = os.path.join(tmp, "y.npy")
        kbnn_run(model, "--input", x_path, "--output", y_path, "--threads", "1")
        same(np.load(y_path), expected, tolerance, "kbnn-run --input/--output")
        out = kbnn_run(model, "--benchmark", "--runs", "3", "--warmup", "1", "--json")
        bench = json.loads(out)
        assert bench["runs"] == 3 and any(o["op"].startswith("KbnnBconv2d") for o in bench["ops"]), out[:500]
    how = "kbnn_runtime.cli.main in process" if in_process else shutil.which(command[0]) or command[0]
    print(f"kbnn-run ({how}): --input/--output and --benchmark OK")


if __name__ == "__main__":
    main(sys.argv[1:])
