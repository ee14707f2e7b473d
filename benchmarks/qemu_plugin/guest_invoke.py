"""Guest side of benchmarks/arm_insn.py: runs .tflite files under qemu-aarch64 with the
kbnn_insn_count plugin, marking the counting windows (an INSTRUCTION-COUNT PROXY, not a time).

    python3.11 guest_invoke.py SPEC.json

SPEC.json: {"n": 2, "m": 5, "warmup": 1, "threads": 1,
            "models": [{"name": "kbnn", "path": "cnn32-kbnn.tflite", "kbnn": true}, ...],
            "save_dir": "DIR", "check_threads": 2}     (the last two optional)

Needs only numpy, ai_edge_litert and (for "kbnn": true) kbnn_runtime: no TensorFlow. For each model:
the interpreter (kbnn: ``kbnn_runtime.Interpreter``, i.e. the stock interpreter with the kbnn delegate;
otherwise the stock ``ai_edge_litert`` Interpreter with its default XNNPACK delegate) with ``threads``
threads, one fixed random input, ``warmup`` invokes, then two windows: ``n`` invokes and ``m``
invokes, each closed by ``close(KBNN_MARKER_FD)`` (see kbnn_insn_count.c). The host takes
(window m - window n) / (m - n) as the steady-state count per invoke: everything outside the invokes
(the marker, the loop) is the same in both windows and cancels.

With ``save_dir``, each model's inputs and output are saved there (``NAME.in0.npy``, ...,
``NAME.out.npy``) for the host to compare with x86; with ``check_threads`` T as well, after the windows
a second interpreter with T threads runs the same inputs and its output is saved as ``NAME.outT.npy``.

Prints one line ``KBNN_GUEST_RESULT {json}``: the window index of each model's two windows, the
runtime versions, and the file mappings of /proc/self/maps (start, end, offset, path),
from which the host maps instruction addresses to libraries and symbols.
"""

from __future__ import annotations

import json
import os
import platform
import sys

KBNN_MARKER_FD = 0x6B626E6E
_windows_closed = 0


def marker() -> int:
    """Closes the current counting window; returns its index."""
    global _windows_closed
    try:
        os.close(KBNN_MARKER_FD)
    except OSError:
        pass
    _windows_closed += 1
    return _windows_closed - 1


def file_mappings() -> list:
    """Every file-backed mapping (any permission): the lowest one of a file gives its load base."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().startswith("/"):
                start, end = (int(v, 16) for v in parts[0].split("-"))
                out.append([start, end, int(parts[2], 16), parts[5].strip()])
    return out


def interpreter(model: dict, threads: int):
    if model.get("kbnn"):
        import kbnn_runtime

        return kbnn_runtime.Interpreter(model["path"], num_threads=threads).interpreter
    from ai_edge_litert import interpreter as litert

    interp = litert.Interpreter(model_path=model["path"], num_threads=threads)
    interp.allocate_tensors()
    return interp


def save_outputs(model: dict, inputs: list, out, save_dir: str, check_threads: int) -> None:
    """Saves the inputs and the output; with check_threads, the output of that many threads too."""
    import numpy as np

    name = model["name"]
    for k, (_, x) in enumerate(inputs):
        np.save(os.path.join(save_dir, f"{name}.in{k}.npy"), x)
    np.save(os.path.join(save_dir, f"{name}.out.npy"), out)
    if check_threads:
        interp = interpreter(model, check_threads)
        for index, x in inputs:
            interp.set_tensor(index, x)
        interp.invoke()
        interp.invoke()  # the second invoke: state left by the first must not change the result
        out_t = interp.get_tensor(interp.get_output_details()[0]["index"])
        np.save(os.path.join(save_dir, f"{name}.out{check_threads}.npy"), out_t)
        del interp


def main(spec_path: str) -> None:
    import numpy as np

    with open(spec_path) as f:
        spec = json.load(f)
    n, m, warmup, threads = int(spec["n"]), int(spec["m"]), int(spec["warmup"]), int(spec["threads"])
    if not 0 <= n < m:
        raise SystemExit(f"need 0 <= n < m invokes, got n={n} m={m}")
    save_dir, check_threads = spec.get("save_dir"), int(spec.get("check_threads") or 0)
    windows = {}
    for model in spec["models"]:
        interp = interpreter(model, threads)
        rng = np.random.default_rng(1)
        inputs = []
        for d in interp.get_input_details():
            x = rng.standard_normal(d["shape"]).astype(d["dtype"])
            interp.set_tensor(d["index"], x)
            inputs.append((d["index"], x))
        for _ in range(warmup):
            interp.invoke()
        marker()
        for _ in range(n):
            interp.invoke()
        w_n = marker()
        for _ in range(m):
            interp.invoke()
        w_m = marker()
        windows[model["name"]] = [w_n, w_m]
        out = interp.get_tensor(interp.get_output_details()[0]["index"])
        print(f"{model['name']}: output {out.shape} finite={bool(np.isfinite(out).all())}", flush=True)
        del interp
        if save_dir:
            save_outputs(model, inputs, out, save_dir, check_threads)
    from importlib.metadata import version

    import ai_edge_litert

    result = {
        "windows": windows,
        "machine": platform.machine(),
        "litert": version("ai-edge-litert"),
        "litert_path": os.path.dirname(ai_edge_litert.__file__),
        "python": platform.python_version(),
        "maps": file_mappings(),
    }
    print("KBNN_GUEST_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
