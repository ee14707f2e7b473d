"""Runs the parity matrix of scripts/runtime_parity_models.py in a bare tflite_runtime.

    python scripts/runtime_parity_check.py DIR DELEGATE_SO
        [--kbnn-interpreter PATH/runtime/kbnn_runtime/interpreter.py]

Needs only numpy and tflite_runtime (no TensorFlow, no kbnn package): it runs in the
build/venv-tflite-runtime venv (x86-64) and in the arm64 sysroot under qemu-aarch64.
For every model, batch and thread count the output of

    tflite_runtime.interpreter.Interpreter(model_path, experimental_delegates=[
        tflite_runtime.interpreter.load_delegate(DELEGATE_SO, {"num_threads": str(t)})])

must equal the main environment's kbnn.Interpreter output: bit for bit when the model output
comes from a kbnn op, else within 1e-5 with the same argmax (Larq Compute Engine files: LCE's own
interpreter outputs, batch 1). Also checks that without the delegate
the runtime fails with "Encountered unresolved custom op: Kbnn..." and, with --kbnn-interpreter,
that kbnn_runtime.interpreter.explain_error (loaded from the file: it needs only numpy and the
stdlib) turns that into DelegateMissingError.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import time

import numpy as np
import tflite_runtime
from tflite_runtime.interpreter import Interpreter, load_delegate

TOL = 1e-5


def run(model_path, x, delegate_so, threads):
    delegate = load_delegate(delegate_so, {"num_threads": str(threads)})
    interp = Interpreter(model_path=model_path, experimental_delegates=[delegate], num_threads=threads)
    inp = interp.get_input_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def check_missing_delegate(model_path, kbnn_interpreter):
    interp = Interpreter(model_path=model_path)
    try:
        interp.allocate_tensors()
    except RuntimeError as e:
        err = e
    else:
        raise AssertionError("allocate_tensors() without the kbnn delegate did not fail")
    assert "Encountered unresolved custom op: Kbnn" in str(err), str(err)
    print(f"  without delegate: RuntimeError {str(err).splitlines()[0][:90]!r}")
    if kbnn_interpreter:
        spec = importlib.util.spec_from_file_location("kbnn_interpreter_standalone", kbnn_interpreter)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # kbnn_runtime/interpreter.py needs only numpy + the stdlib
        mapped = mod.explain_error(err)
        assert isinstance(mapped, mod.DelegateMissingError), repr(mapped)
        assert "kbnn delegate" in str(mapped), str(mapped)
        print(f"  explain_error -> DelegateMissingError: {str(mapped)[:90]!r}...")


def main(argv):
    args = list(argv)
    kbnn_interpreter = None
    if "--kbnn-interpreter" in args:
        i = args.index("--kbnn-interpreter")
        kbnn_interpreter = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    directory, delegate_so = args
    t0 = time.time()
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    print(
        f"tflite_runtime {tflite_runtime.__version__}, numpy {np.__version__}, "
        f"python {platform.python_version()} on {platform.machine()}; delegate {delegate_so}"
    )
    failures, checked = [], 0
    for name, info in manifest["models"].items():
        path = os.path.join(directory, f"{name}.tflite")
        exact = info["kbnn_output"]
        for b in info.get("batches", manifest["batches"]):
            x = np.load(os.path.join(directory, f"{name}_x_b{b}.npy"))
            for t in manifest["threads"]:
                want = np.load(os.path.join(directory, f"{name}_expected_b{b}_t{t}.npy"))
                got = run(path, x, delegate_so, t)
                checked += 1
                what = f"{name} batch={b} threads={t}"
                if got.shape != want.shape or got.dtype != want.dtype:
                    failures.append(f"{what}: {got.dtype}{got.shape} != {want.dtype}{want.shape}")
                    continue
                diff = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
                if exact:
                    ok = np.array_equal(got, want)
                else:
                    ok = bool(np.allclose(got, want, rtol=TOL, atol=max(TOL, info.get("atol", TOL))))
                    if ok and got.ndim == 2 and got.shape[-1] > 1:
                        ok = np.array_equal(got.argmax(-1), want.argmax(-1))
                print(
                    f"  {what}: {'bit-exact' if exact else f'tol {TOL:g}'} max|diff|={diff:.3g} "
                    f"{'ok' if ok else 'FAIL'}"
                )
                if not ok:
                    failures.append(
                        f"{what}: max|diff|={diff:.3g} ({'bit-exact' if exact else TOL} required)"
                    )
    check_missing_delegate(
        os.path.join(directory, f"{next(iter(manifest['models']))}.tflite"), kbnn_interpreter
    )
    print(f"{checked} runs checked in {time.time() - t0:.1f}s")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("parity OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
