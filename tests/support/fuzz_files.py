"""File-level fuzz of the kbnn runtime (issue 22): structure-aware mutations of .tflite files, each
survivor run with differential checks. Used by tests/test_fuzz_files.py; also a command:

    python tests/support/fuzz_files.py run CASE_DIR          # the child: runs every case, one JSON line each

Mutations (in place, located with kbnn_runtime.model_check's bounds-checked flatbuffer reader):
custom option bytes (kbnn / LCE ops), tensor shapes (model outputs included), tensor dtypes,
quantization scales / zero points of quantized tensors, builtin option bytes, operator inputs.

Differential checks on every case that loads: (a) the reference kernels with 1 thread, (b) the
optimized kernels (``kernel="auto"``) with 2 threads, both on one batch of 2, and (c) the optimized
kernels with 1 thread on the two samples one at a time. A case must either raise a clear exception
(a kbnn_runtime error class or a ValueError with a message) or give identical results: (a) == (b)
bit for bit, (c) == (a) bit for bit for integer outputs and within 1e-5 for float ones (TFLite's
builtin float kernels round differently by batch; skipped when an output has no batch axis). A
signal, a hang or any other exception is a failure, except an out-of-memory abort reported by
AddressSanitizer's allocator (outcome "sanitizer_oom": a case asking for tens of GB, which a plain
build refuses with an error). Cases run in a child process that
prints a line before and after each one, so a crash is attributed to its case and the rest go on
in a fresh child.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

_RUNTIME = str(Path(__file__).resolve().parents[2] / "runtime")


# --- locating mutable fields ------------------------------------------------------------------


def _fields(content: bytes) -> dict:
    """Byte offsets of mutable fields: {kind: [(offset, size, description)]}."""
    if _RUNTIME not in sys.path:
        sys.path.insert(0, _RUNTIME)
    from kbnn_runtime import model_check as mc

    buf = mc._Buf(content)
    model = buf.table(buf.u32(0))
    codes = [max(c.scalar(0, "<b"), c.scalar(3, "<i")) for c in model.tables(1)]
    out: dict = {
        k: []
        for k in (
            "options",
            "shape",
            "output_shape",
            "dtype",
            "scale",
            "zero_point",
            "builtin_options",
            "op_input",
        )
    }

    def vec(table, index, item):
        start, count = table._vector(index)
        return [] if start is None else [start + item * i for i in range(count)]

    for sg in model.tables(2):
        outputs = set(sg.vector(2, "i") or [])
        for ti, t in enumerate(sg.tables(0)):
            kind = "output_shape" if ti in outputs else "shape"
            out[kind] += [(at, 4, f"tensor {ti} dim") for at in vec(t, 0, 4)]
            at = t._field(1)
            if at is not None:
                out["dtype"].append((at, 1, f"tensor {ti} dtype"))
            q = t.table(4)
            if q is not None:
                out["scale"] += [(at, 4, f"tensor {ti} scale") for at in vec(q, 2, 4)]
                out["zero_point"] += [(at, 8, f"tensor {ti} zero point") for at in vec(q, 3, 8)]
        for oi, op in enumerate(sg.tables(3)):
            start, count = op._vector(5)
            if start is not None and count:
                out["options"].append((start, count, f"operator {oi} custom options"))
            o = op.table(4)
            if o is not None and codes[op.scalar(0, "<I")] != 32:
                size = min(buf.u16(o.vtable + 2), len(content) - o.pos)  # the table's inline bytes
                if size > 4:
                    out["builtin_options"].append((o.pos + 4, size - 4, f"operator {oi} options"))
            out["op_input"] += [(at, 4, f"operator {oi} input") for at in vec(op, 1, 4)]
    return {k: v for k, v in out.items() if v}


_SPECIAL_FLOATS = [0.0, -1.0, float("nan"), float("inf"), 1e-30, 1e30, 0.5]
_SPECIAL_INTS = [0, 1, 2, 3, 5, 7, 8, 16, 31, 32, 33, 64, 255, 1 << 16, -1, -2, 1 << 30]


def mutate(content: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One structure-aware mutation of ``content``; returns (bytes, description)."""
    try:
        fields = _fields(content)
    except Exception:  # noqa: BLE001 - an earlier mutation broke the structure: flip any byte
        data = bytearray(content)
        i = int(rng.integers(len(data)))
        data[i] ^= 1 << int(rng.integers(8))
        return bytes(data), f"raw: bit flip at byte {i}"
    kind = str(rng.choice(sorted(fields)))
    at, size, what = fields[kind][int(rng.integers(len(fields[kind])))]
    data = bytearray(content)
    if kind in ("shape", "output_shape", "op_input"):
        old = struct.unpack_from("<i", data, at)[0]
        new = int(rng.choice(_SPECIAL_INTS)) if rng.random() < 0.6 else old + int(rng.integers(-3, 4))
        struct.pack_into("<i", data, at, new)
        desc = f"{what} {old} -> {new}"
    elif kind == "dtype":
        old = data[at]
        new = int(rng.choice([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 17, 30]))
        data[at] = new & 0xFF
        desc = f"{what} {old} -> {new}"
    elif kind == "scale":
        new = float(rng.choice(_SPECIAL_FLOATS)) if rng.random() < 0.7 else float(rng.normal())
        struct.pack_into("<f", data, at, new)
        desc = f"{what} -> {new}"
    elif kind == "zero_point":
        new = int(rng.choice([-129, -128, 0, 127, 128, 300, -40000, 1 << 40]))
        struct.pack_into("<q", data, at, new)
        desc = f"{what} -> {new}"
    else:  # options / builtin_options: byte flips and overwrites in the region
        n = int(rng.integers(1, 4))
        for _ in range(n):
            i = at + int(rng.integers(size))
            data[i] = int(rng.integers(256)) if rng.random() < 0.5 else data[i] ^ (1 << int(rng.integers(8)))
        desc = f"{what}: {n} byte(s) changed"
    return bytes(data), f"{kind}: {desc}"


def make_cases(seeds: dict, n: int, seed: int, out: Path) -> list:
    """Writes ``n`` mutated files (round-robin over ``seeds`` {name: bytes}) into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(seeds)
    cases = []
    for i in range(n):
        name = names[i % len(names)]
        content = seeds[name]
        desc = []
        for _ in range(1 + int(rng.integers(2))):  # 1 or 2 mutations
            content, d = mutate(content, rng)
            desc.append(d)
        path = out / f"case{i:05d}.tflite"
        path.write_bytes(content)
        cases.append({"case": i, "seed": name, "path": str(path), "mutation": "; ".join(desc)})
    (out / "cases.json").write_text(json.dumps(cases))
    return cases


# --- running cases (the child) -----------------------------------------------------------------


def _clear(e: BaseException) -> bool:
    from kbnn_runtime import interpreter as kint

    kinds = (
        kint.ModelError,
        kint.KbnnDelegateError,
        kint.RuntimeFailureError,
        kint.DelegateMissingError,
        ValueError,
    )
    return isinstance(e, kinds) and bool(str(e).strip())


def _inputs(details, rng):
    arrays = []
    for d in details:
        shape = [2] + [max(1, int(s)) for s in d["shape"][1:]]
        dtype = np.dtype(d["dtype"])
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype))
        else:
            arrays.append(np.zeros(shape, dtype))
    return arrays


def _same(a, b) -> bool:
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    return len(a) == len(b) and all(
        x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
        for x, y in zip(a, b)
    )


def _close(a, b) -> bool:
    """Batch split check: exact for integer outputs; float outputs within 1e-5 (TFLite's builtin
    float kernels, e.g. SOFTMAX with beta != 1, vectorize by batch and differ in the last ulp)."""
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind == "f":
            if not np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def run_case(path: str) -> dict:
    """Runs one case; returns {"outcome": "rejected"|"identical"|"mismatch"|"unclear", ...}."""
    import kbnn_runtime

    def attempt(fn):
        try:
            return fn(), None
        except Exception as e:  # noqa: BLE001 - classified below
            return None, e

    def result(e):
        kind = "rejected" if _clear(e) else "unclear"
        return {"outcome": kind, "error": f"{type(e).__name__}: {str(e)[:300]}"}

    ref, e = attempt(lambda: kbnn_runtime.Interpreter(path, num_threads=1, kernel="reference"))
    if e is not None:
        return result(e)
    # Sizes beyond what a test should allocate: a clear refusal of this harness, not a finding.
    if any(math.prod(max(1, int(s)) for s in d["shape"]) > 1 << 18 for d in ref.input_details):
        return {"outcome": "rejected", "error": "harness: input too large to run"}
    x = _inputs(ref.input_details, np.random.default_rng(0))
    ya, ea = attempt(lambda: ref.predict(*x))
    opt, e = attempt(lambda: kbnn_runtime.Interpreter(path, num_threads=2, kernel="auto"))
    if e is not None:
        return {"outcome": "mismatch", "error": f"loads with kernel=reference, not auto: {e}"}
    yb, eb = attempt(lambda: opt.predict(*x))
    if ea is not None or eb is not None:
        if ea is None or eb is None:
            return {"outcome": "mismatch", "error": f"reference: {ea!r}; optimized 2 threads: {eb!r}"}
        if not _clear(ea) or not _clear(eb):
            return result(ea if not _clear(ea) else eb)
        return result(ea)
    if not _same(ya, yb):
        return {"outcome": "mismatch", "error": "reference (1 thread) != optimized (2 threads)"}
    one, e = attempt(lambda: kbnn_runtime.Interpreter(path, num_threads=1, kernel="auto"))
    if e is not None:
        return {"outcome": "mismatch", "error": f"loads with 2 threads, not 1: {e}"}
    parts = []
    for i in range(2):
        y, e = attempt(lambda i=i: one.predict(*[a[i : i + 1] for a in x]))
        if e is not None:
            if not _clear(e):
                return result(e)
            return {"outcome": "rejected", "error": f"batch 1 only: {type(e).__name__}: {str(e)[:200]}"}
        parts.append(y if isinstance(y, list) else [y])
    full = ya if isinstance(ya, list) else [ya]
    if any(o.ndim == 0 or o.shape[0] != 2 for o in full) or any(
        o.ndim == 0 or o.shape[0] != 1 for p in parts for o in p
    ):
        return {"outcome": "identical", "note": "outputs without a batch axis: no split check"}
    split = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    if not _close(ya, split if isinstance(ya, list) else split[0]):
        return {"outcome": "mismatch", "error": "one batch-2 run != two batch-1 runs"}
    return {"outcome": "identical"}


def child_main(case_dir: str, start: int) -> int:
    cases = json.loads((Path(case_dir) / "cases.json").read_text())
    kill = os.environ.get("KBNN_FUZZ_KILL_CASE")  # negative control of the harness: a signal
    for c in cases[start:]:
        print(json.dumps({"start": c["case"]}), flush=True)
        if kill is not None and int(kill) == c["case"]:
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        r = run_case(c["path"])
        r["case"] = c["case"]
        print(json.dumps(r), flush=True)
    return 0


# --- the parent -------------------------------------------------------------------------------


def run_cases(case_dir: Path, cases: list, case_timeout_s: float = 60.0, env: dict | None = None) -> list:
    """Runs the cases in child processes. A child that dies (signal) or stays on one case longer
    than ``case_timeout_s`` marks that case "crash" / "hang", and a fresh child goes on with the
    next case. Returns one result dict per case (with its seed and mutation)."""
    import selectors
    import tempfile

    results: dict = {}
    start = 0
    while start < len(cases):
        with tempfile.TemporaryFile("w+") as errf:
            proc = subprocess.Popen(
                [sys.executable, __file__, "run", str(case_dir), str(start)],
                stdout=subprocess.PIPE,
                stderr=errf,
                text=True,
                env=env,
            )
            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            current, hung = None, False
            while True:
                if not sel.select(timeout=case_timeout_s):
                    hung = True
                    proc.kill()
                    break
                line = proc.stdout.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "start" in msg:
                    current = msg["start"]
                else:
                    results[msg["case"]] = msg
                    current = None
            proc.wait()
            sel.close()
            proc.stdout.close()
            errf.seek(0)
            err = errf.read()[-500:]
        if proc.returncode == 0 and current is None and not hung:
            break
        if current is None:  # died before its first case: report and stop
            results[-1] = {"case": -1, "outcome": "crash", "error": f"child rc={proc.returncode}: {err}"}
            break
        outcome = "hang" if hung else "crash"
        if not hung and "AddressSanitizer: out-of-memory" in err:
            # The sanitizer's allocator aborts on an allocation the system cannot back (where
            # glibc returns NULL and the runtime reports an error): a limit, not a memory error.
            outcome = "sanitizer_oom"
        results[current] = {
            "case": current,
            "outcome": outcome,
            "error": f"child rc={proc.returncode}: {err}",
        }
        start = current + 1
    by_case = {c["case"]: c for c in cases}
    return [dict(by_case.get(k, {}), **v) for k, v in sorted(results.items())]


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        sys.exit(child_main(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
    print(__doc__)
    sys.exit(2)
