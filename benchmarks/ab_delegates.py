"""Two builds of the kbnn delegate on the same .tflite files: interleaved medians and their ratio.

    python benchmarks/ab_delegates.py OLD/libkbnn_delegate.so NEW/libkbnn_delegate.so
    python benchmarks/ab_delegates.py A.so B.so --model bireal18 --threads 1 2 --rounds 10 --runs 10

For a change of the delegate or the kernels ("before/after, within noise"): keep a copy of the
library built before the change, rebuild, and give both paths. The models are benchmarks/compare.py's
(``cnn32``, ``bireal18``; default conversion, random weights with fixed seeds), converted once by the
kbnn of this checkout, so only the delegate differs. Both libraries are loaded into one process
(different files, so the dynamic loader keeps them apart) and each round runs A then B ``--runs``
times, so machine load hits both alike. The outputs of A and B must be bit-identical: a difference
is reported and makes the exit status 1. An instruction set is not forced: each build runs what
``kernel=auto`` picks on this CPU (the header names it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare


def _interpreter(content: bytes, library: str, threads: int):
    from ai_edge_litert import interpreter as litert

    delegate = litert.load_delegate(library, {"num_threads": str(threads)})
    interp = litert.Interpreter(model_content=content, experimental_delegates=[delegate], num_threads=threads)
    interp.allocate_tensors()
    return interp


def _run(interp, x, runs: int) -> tuple[list, np.ndarray]:
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        interp.invoke()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times, interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def measure(content: bytes, libraries: dict, x, threads: int, rounds: int, runs: int) -> dict:
    """{name: (median ms, p10 ms, output)} of each library, interleaved."""
    interps = {name: _interpreter(content, path, threads) for name, path in libraries.items()}
    samples = {name: [] for name in libraries}
    outputs = {}
    for name, interp in interps.items():
        _, outputs[name] = _run(interp, x, 3)  # warm-up
    for _ in range(rounds):
        for name, interp in interps.items():
            times, outputs[name] = _run(interp, x, runs)
            samples[name] += times
    return {
        name: (statistics.median(s), float(np.percentile(s, 10)), outputs[name])
        for name, s in samples.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="libkbnn_delegate.so of build A (e.g. before the change)")
    parser.add_argument("b", help="libkbnn_delegate.so of build B (e.g. after it)")
    parser.add_argument("--model", choices=compare.MODELS, nargs="+", default=list(compare.MODELS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    for path in (args.a, args.b):
        if not os.path.isfile(path):
            parser.error(f"no delegate library at {path!r}: build one (python setup.py build_ext --inplace)")
    if os.path.realpath(args.a) == os.path.realpath(args.b):
        parser.error("A and B are the same file: copy the library built before the change elsewhere first")

    import kbnn

    print(f"# {compare.machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"# A = {args.a}\n# B = {args.b}")
    print(f"{'model':10s} {'threads':>7s} {'A ms':>9s} {'B ms':>9s} {'B/A':>6s} {'A p10':>9s} {'B p10':>9s}")
    status = 0
    for name in args.model:
        model, _ = compare.build(name)
        content = kbnn.convert(model, progress=False)
        x = np.random.default_rng(0).normal(size=(1,) + tuple(model.input_shape[1:])).astype(np.float32)
        for threads in args.threads:
            r = measure(content, {"A": args.a, "B": args.b}, x, threads, args.rounds, args.runs)
            (ma, pa, oa), (mb, pb, ob) = r["A"], r["B"]
            print(
                f"{name:10s} {threads:7d} {ma:9.3f} {mb:9.3f} {mb / ma:6.3f} {pa:9.3f} {pb:9.3f}", flush=True
            )
            if not np.array_equal(oa, ob):
                print(f"  OUTPUTS DIFFER: max |A-B| = {np.max(np.abs(oa - ob)):.3g}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
