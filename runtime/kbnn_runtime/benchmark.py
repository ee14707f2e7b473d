"""Latency of a kbnn .tflite model: whole-model invoke time and per-op time of the kbnn ops.

    import kbnn_runtime                 # or kbnn (kbnn.benchmark is this function)
    result = kbnn_runtime.benchmark("m.tflite", num_threads=1, runs=50, warmup=5)
    print(result)                     # table: median / p10 / p90 per kbnn op, then the totals
    result.median_ms, result.ops[0].median_ms, result.to_dict()

CLI: ``kbnn-run m.tflite --benchmark --threads 1 --runs 50 --warmup 5 [--kernel auto]`` (no
TensorFlow), or ``kbnn benchmark m.tflite ...`` with the same options.

How it measures: the model runs in the stock interpreter (the same one ``kbnn.Interpreter`` uses)
with the kbnn delegate created with the option ``profile=<id>``; the delegate then times every
kbnn node it runs (steady clock around the kernel call) and ``kbnn_delegate_profile_json`` (an
exported C function of libkbnn_delegate.so) returns the per-node times. Each timed run resets the
profile, invokes once (``time.perf_counter_ns`` around ``invoke()``) and reads the profile, so
every op gets one sample per run and its median/p10/p90 are over runs like the total's.

Builtin ops (float stem, pooling, dense...) run inside the interpreter, mostly in XNNPACK
partitions, between the kbnn nodes. They are timed per **group**: the delegate also reports the
steady-clock start and end of each kbnn node (CLOCK_MONOTONIC, the clock of
``time.monotonic_ns()``, which also brackets ``invoke()``), so the gap before the first kbnn node,
between two consecutive ones and after the last is what the builtin ops of the execution plan
between those nodes cost, with the interpreter's own per-node overhead (one ``GroupTiming`` each,
median over runs, in ``result.groups``). The gaps and the kbnn nodes tile each invoke exactly;
``other_ms`` (median of invoke minus the kbnn ops) is the groups' total. Where the delegate's
clock is not the same as Python's (a node's times fall outside its invoke), ``groups`` is empty and
``groups_note`` says why.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BenchmarkResult", "GroupTiming", "OpTiming", "benchmark"]

_ids = itertools.count()
_lib_cache: dict = {}


@dataclasses.dataclass
class OpTiming:
    """Time of one kbnn node over the timed runs (milliseconds)."""

    node: int  # index in the interpreter's execution plan (before delegation)
    op: str  # KbnnBconv2d, KbnnQuantize, ...
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    count: int  # samples (= timed runs)
    output_shape: tuple = ()
    inputs: tuple = ()  # tensor indices
    outputs: tuple = ()
    layer: str | None = None  # Keras layer, when a conversion report was given (kbnn.summary)


@dataclasses.dataclass
class GroupTiming:
    """Time of the builtin ops between two kbnn nodes, with the interpreter's overhead there (ms).

    ``after`` / ``before``: the kbnn nodes (execution-plan indices) around the gap; None for the
    start and the end of the invoke. ``ops``: (node, op name, output tensor name) of the builtin ops
    of the execution plan between them (empty: consecutive kbnn nodes, the gap is pure overhead).
    """

    after: int | None
    before: int | None
    ops: tuple
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    count: int  # samples (= timed runs)

    @property
    def label(self) -> str:
        if not self.ops:
            return "(interpreter between kbnn nodes)"
        names = [o[1] for o in self.ops]
        shown = ", ".join(names[:4]) + (f", ... ({len(names)} ops)" if len(names) > 4 else "")
        return "builtin: " + shown


@dataclasses.dataclass
class BenchmarkResult:
    """Whole-model and per-op latency of one model at one thread count (milliseconds)."""

    model: str
    num_threads: int
    kernel: str
    runs: int
    warmup: int
    warmup_ms: list  # each warm-up invoke, in order (the first includes one-time work)
    samples_ms: list  # each timed invoke
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    ops: list  # OpTiming per kbnn node, in execution order
    kbnn_ms: float  # median over runs of the kbnn ops' summed time
    other_ms: float  # median over runs of (invoke - kbnn ops): builtin ops + interpreter overhead
    builtin_ops: list  # (node, op name, output tensor name) of the builtin ops, not timed one by one
    runtime: str = ""  # the stock runtime and its version, e.g. "ai_edge_litert 2.3.0"
    isa: str = ""  # the kbnn kernel ISA that kernel=auto selects on this CPU (kbnn.interpreter.kernel_isa())
    groups: list = dataclasses.field(default_factory=list)  # GroupTiming, in execution order
    groups_note: str = ""  # why groups is empty, when it is

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        rows = [("node", "op", "output", "median ms", "p10 ms", "p90 ms", "share")]

        def timed_row(node, what, output, t):
            share = 100.0 * t.median_ms / self.median_ms if self.median_ms > 0 else 0.0
            return (
                node,
                what,
                output,
                f"{t.median_ms:.3f}",
                f"{t.p10_ms:.3f}",
                f"{t.p90_ms:.3f}",
                f"{share:.1f}%",
            )

        def nodes(g):
            first, end = g.ops[0][0], g.ops[-1][0]
            return str(first) if first == end else f"{first}-{end}"

        before = {g.before: g for g in self.groups}
        overhead = [g for g in self.groups if not g.ops]
        for o in self.ops:
            g = before.get(o.node)
            if g is not None and g.ops:
                rows.append(timed_row(nodes(g), g.label, "", g))
            shape = "x".join(str(d) for d in o.output_shape)
            rows.append(timed_row(str(o.node), o.op + (f" ({o.layer})" if o.layer else ""), shape, o))
        g = before.get(None)
        if g is not None and g.ops:
            rows.append(timed_row(nodes(g), g.label, "", g))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

        def line(r):
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

        out = [
            f"kbnn benchmark: {self.model}  threads={self.num_threads} kernel={self.kernel} "
            f"runs={self.runs} warmup={self.warmup} runtime={self.runtime or 'unknown'} "
            f"isa={self.isa or 'unknown'}"
        ]
        out.append(line(rows[0]))
        out.append("  ".join("-" * w for w in widths))
        out += [line(r) for r in rows[1:]]
        builtin = ", ".join(sorted({b[1] for b in self.builtin_ops})) or "none"
        out.append(
            f"kbnn ops: {self.kbnn_ms:.3f} ms (median of per-run sums; sum of the op medians "
            f"{sum(o.median_ms for o in self.ops):.3f}); builtin ops + interpreter: "
            f"{self.other_ms:.3f} ms ({builtin})"
        )
        if self.groups:
            with_ops = [g for g in self.groups if g.ops]
            out.append(
                f"builtin groups (the time between kbnn nodes): {sum(g.median_ms for g in with_ops):.3f} ms "
                f"in {len(with_ops)} groups; the interpreter between consecutive kbnn nodes "
                f"{sum(g.median_ms for g in overhead):.3f} ms (sums of medians)"
            )
        elif self.groups_note:
            out.append(f"builtin groups not timed: {self.groups_note}")
        first = f"{self.warmup_ms[0]:.3f} ms" if self.warmup_ms else "n/a"
        out.append(
            f"invoke: median {self.median_ms:.3f} ms  p10 {self.p10_ms:.3f}  p90 {self.p90_ms:.3f}  "
            f"mean {self.mean_ms:.3f}  min {self.min_ms:.3f}  (first warm-up run {first})"
        )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()


def _profile_lib(path: str):
    """ctypes handle on the delegate library: the same instance the runtime dlopen()ed."""
    lib = _lib_cache.get(path)
    if lib is None:
        lib = ctypes.CDLL(path)
        try:
            lib.kbnn_delegate_profile_json.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.kbnn_delegate_profile_json.restype = ctypes.c_long
            lib.kbnn_delegate_profile_reset.argtypes = [ctypes.c_char_p]
            lib.kbnn_delegate_profile_reset.restype = ctypes.c_int
        except AttributeError as e:
            raise RuntimeError(
                f"{path} has no profiling entry points (kbnn_delegate_profile_json): "
                "rebuild it with `pip install ./runtime`"
            ) from e
        _lib_cache[path] = lib
    return lib


class _Profiler:
    def __init__(self, lib, profile_id: str):
        self.lib, self.id = lib, profile_id.encode()
        self.buf = ctypes.create_string_buffer(1 << 16)

    def reset(self):
        if self.lib.kbnn_delegate_profile_reset(self.id) != 0:
            raise RuntimeError("the kbnn delegate did not register its profile")

    def read(self) -> list:
        n = self.lib.kbnn_delegate_profile_json(self.id, self.buf, len(self.buf))
        if n < 0:
            raise RuntimeError("the kbnn delegate did not register its profile")
        if n >= len(self.buf):
            self.buf = ctypes.create_string_buffer(n + 1)
            n = self.lib.kbnn_delegate_profile_json(self.id, self.buf, len(self.buf))
        return json.loads(self.buf.value.decode())["nodes"]


def _model_bytes(model) -> tuple[bytes, str]:
    from kbnn_runtime.interpreter import ModelError, _check_model_bytes

    if isinstance(model, (bytes, bytearray, memoryview)):
        content, name = bytes(model), "<bytes>"
    elif isinstance(model, (str, os.PathLike)):
        try:
            content, name = Path(model).read_bytes(), os.fspath(model)
        except OSError as e:
            raise ModelError(f"Cannot read the model file {os.fspath(model)!r}: {e}") from e
    else:
        raise TypeError(f"model must be a path or bytes. Received: model={type(model).__name__}")
    _check_model_bytes(content)
    return content, name


def _random_inputs(details, seed: int) -> list:
    rng = np.random.default_rng(seed)
    arrays = []
    for d in details:
        shape = [1 if s < 0 else int(s) for s in d["shape"]]
        dtype = np.dtype(d["dtype"])
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype))
    return arrays


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else 0.0


def _gaps(nodes: list, t0: int, t1: int) -> tuple[list, str]:
    """One invoke's gaps around its kbnn nodes: ([((after, before), ns)], "") in time order, or
    ([], why) when the delegate's times cannot be placed inside the invoke [t0, t1]."""
    seq = sorted(nodes, key=lambda n: n.get("start_ns", 0))
    if not seq:
        return [((None, None), t1 - t0)], ""
    if any("start_ns" not in n or n.get("count") != 1 for n in seq):
        return [], "the delegate reported no node start/end times (an older libkbnn_delegate.so?)"
    if seq[0]["start_ns"] < t0 or seq[-1]["end_ns"] > t1:
        return [], (
            "the delegate's steady clock is not Python's time.monotonic_ns() on this platform "
            "(node times outside their invoke)"
        )
    gaps = [((None, seq[0]["node"]), seq[0]["start_ns"] - t0)]
    gaps += [((a["node"], b["node"]), b["start_ns"] - a["end_ns"]) for a, b in zip(seq, seq[1:])]
    gaps.append(((seq[-1]["node"], None), t1 - seq[-1]["end_ns"]))
    return gaps, ""


def _groups(per_gap: dict, builtin_ops: list, runs: int) -> list:
    """GroupTiming per gap seen in every run, with the builtin ops of the plan between its nodes."""
    out = []
    for (after, before), v in per_gap.items():
        if len(v) != int(runs):  # the kbnn nodes ran in a different order in some run
            continue
        lo = -1 if after is None else after
        hi = float("inf") if before is None else before
        ops = tuple(b for b in builtin_ops if lo < b[0] < hi)
        out.append(
            GroupTiming(after, before, ops, _pct(v, 50), _pct(v, 10), _pct(v, 90), float(np.mean(v)), len(v))
        )
    return out


def benchmark(
    model,
    num_threads: int = 1,
    runs: int = 50,
    warmup: int = 5,
    kernel: str | None = None,
    inputs: Any = None,
    seed: int = 0,
) -> BenchmarkResult:
    """Times a kbnn .tflite model in the stock interpreter with the kbnn delegate.

    Args:
      model: path to a .tflite file, or its bytes (e.g. from ``kbnn.convert(model)``).
      num_threads: threads of the kbnn delegate and of the interpreter (builtin ops/XNNPACK).
      runs: timed invokes (>= 1).
      warmup: untimed invokes before (>= 0); their times are kept in ``warmup_ms``.
      kernel: kbnn kernel (``auto``, ``reference``, ``scalar``, ``avx2``, ``neon``); None = auto.
      inputs: one array per model input (a list), or None for seeded random data.
      seed: seed of the random inputs.

    Returns:
      A :class:`BenchmarkResult` (print it for a table).
    """
    from kbnn_runtime import interpreter as kint

    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise ValueError(f"runs must be an int >= 1. Received: runs={runs!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0. Received: warmup={warmup!r}")
    content, name = _model_bytes(model)
    options = kint._delegate_options(num_threads, kernel)
    profile_id = f"kbnn-benchmark-{os.getpid()}-{next(_ids)}"
    options["profile"] = profile_id
    litert = kint._runtime()
    path = kint.delegate_path()
    try:
        delegate = litert.load_delegate(path, options)
    except ValueError as e:
        raise kint.KbnnDelegateError(f"Could not create the kbnn delegate from {path}: {e}") from e
    try:
        interp = litert.Interpreter(
            model_content=content, experimental_delegates=[delegate], num_threads=num_threads
        )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise kint._wrap(e, delegate_attached=True) from e
    profiler = _Profiler(_profile_lib(path), profile_id)

    details = interp.get_input_details()
    if inputs is None:
        arrays = _random_inputs(details, seed)
    else:
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != len(details):
            raise ValueError(f"The model has {len(details)} inputs, received {len(arrays)}.")
        arrays = [kint.check_input(a, d) for a, d in zip(arrays, details)]
        if any(tuple(a.shape) != tuple(d["shape"]) for a, d in zip(arrays, details)):
            try:
                for a, d in zip(arrays, details):
                    interp.resize_tensor_input(d["index"], list(a.shape))
                interp.allocate_tensors()
            except (ValueError, RuntimeError) as e:
                raise kint._wrap(e, delegate_attached=True) from e
    for a, d in zip(arrays, details):
        interp.set_tensor(d["index"], a)

    last = [0, 0]  # monotonic ns around the latest invoke (the delegate's steady clock)

    def invoke() -> int:
        t0 = time.monotonic_ns()
        try:
            interp.invoke()
        except (RuntimeError, ValueError) as e:
            raise kint._wrap(e, delegate_attached=True) from e
        last[:] = t0, time.monotonic_ns()
        return last[1] - t0

    warmup_ms = [invoke() / 1e6 for _ in range(int(warmup))]
    samples, per_node, kbnn_sums, meta, per_gap, gap_note = [], {}, [], {}, {}, ""
    for _ in range(int(runs)):
        profiler.reset()
        total = invoke()
        nodes = profiler.read()
        samples.append(total / 1e6)
        kbnn_sums.append(sum(n["ns"] for n in nodes) / 1e6)
        for n in nodes:
            per_node.setdefault(n["node"], []).append(n["ns"] / max(n["count"], 1) / 1e6)
            meta[n["node"]] = n["op"]
        gaps, why = _gaps(nodes, *last)
        gap_note = gap_note or why
        for key, ns in gaps:
            per_gap.setdefault(key, []).append(ns / 1e6)

    # Output shapes (and the builtin ops) from the op details of the interpreter.
    shapes, io, builtin_ops = {}, {}, []
    try:
        ops_details = interp._get_ops_details()
    except Exception:  # noqa: BLE001 - private API of the runtime: optional information
        ops_details = []
    for d in ops_details:
        out = [int(t) for t in d["outputs"] if t >= 0]
        if d["index"] in meta and out:
            io[d["index"]] = (tuple(int(t) for t in d["inputs"]), tuple(out))
            shapes[d["index"]] = tuple(int(s) for s in interp._get_tensor_details(out[0], 0)["shape"])
        elif d["op_name"] != "DELEGATE" and not d["op_name"].startswith("Kbnn"):
            tname = interp._get_tensor_details(out[0], 0)["name"] if out else ""
            builtin_ops.append((int(d["index"]), d["op_name"], tname))
    groups = [] if gap_note else _groups(per_gap, builtin_ops, runs)

    ops = [
        OpTiming(
            node=k,
            op=meta[k],
            median_ms=_pct(v, 50),
            p10_ms=_pct(v, 10),
            p90_ms=_pct(v, 90),
            mean_ms=float(np.mean(v)),
            count=len(v),
            output_shape=shapes.get(k, ()),
            inputs=io.get(k, ((), ()))[0],
            outputs=io.get(k, ((), ()))[1],
        )
        for k, v in sorted(per_node.items())
    ]
    others = [t - k for t, k in zip(samples, kbnn_sums)]
    result = BenchmarkResult(
        model=name,
        num_threads=int(num_threads),
        kernel=kernel or "auto",
        runs=int(runs),
        warmup=int(warmup),
        warmup_ms=warmup_ms,
        samples_ms=samples,
        median_ms=_pct(samples, 50),
        p10_ms=_pct(samples, 10),
        p90_ms=_pct(samples, 90),
        mean_ms=float(np.mean(samples)),
        min_ms=float(np.min(samples)),
        ops=ops,
        kbnn_ms=_pct(kbnn_sums, 50),
        other_ms=_pct(others, 50),
        builtin_ops=builtin_ops,
        runtime=kint.runtime_name(litert),
        isa=kint.kernel_isa(),
        groups=groups,
        groups_note=gap_note,
    )
    interp = None  # dropped here as before (not `del`: invoke() above refers to it)
    return result


def attribute_ops(result: BenchmarkResult, report) -> dict:
    """Maps the kbnn nodes of ``result`` to Keras layers through a conversion report.

    KbnnBconv2d / KbnnBFullyConnected / KbnnBMaxPool2d nodes are matched, in execution order and
    per op name, to the report's lowered layers of that op in layer order; a KbnnQuantize is
    attributed to the layer whose op consumes its output, a KbnnDequantize to the layer that
    produced its input. Sets ``OpTiming.layer`` and returns ``{layer name: ms}`` (medians summed).
    """
    queues: dict = {}
    for row in report.layers:
        if row.status == "lowered":
            queues.setdefault(row.op.split(" ")[0], []).extend([row.name] * getattr(row, "op_count", 1))
    layer_of: dict = {}
    for o in result.ops:
        q = queues.get(o.op)
        if o.op not in ("KbnnQuantize", "KbnnDequantize") and q:
            layer_of[o.node] = q.pop(0)
    producer = {t: o.node for o in result.ops for t in o.outputs}
    consumers: dict = {}
    for o in result.ops:
        for t in o.inputs:
            consumers.setdefault(t, []).append(o.node)
    for o in result.ops:
        if o.node in layer_of or not o.inputs or not o.outputs:
            continue
        if o.op == "KbnnQuantize":
            for c in consumers.get(o.outputs[0], []):
                if c in layer_of:
                    layer_of[o.node] = layer_of[c]
                    break
        elif o.op == "KbnnDequantize" and producer.get(o.inputs[0]) in layer_of:
            layer_of[o.node] = layer_of[producer[o.inputs[0]]]
    per_layer: dict = {}
    for o in result.ops:
        o.layer = layer_of.get(o.node)
        if o.layer is not None:
            per_layer[o.layer] = per_layer.get(o.layer, 0.0) + o.median_ms
    return per_layer
