"""Soak check of kbnn_runtime in the stock runtime: resident memory must stay flat.

    python scripts/soak_runtime.py MODEL.tflite [--invokes 10000] [--cycles 1000] [--json]

Needs only kbnn_runtime (numpy + ai_edge_litert or tflite_runtime). Two phases, each measured with
the process's resident set size (/proc/self/statm) after a warm-up that lets allocator pools and
the runtime's one-time caches settle:

1. invokes: one ``kbnn_runtime.Interpreter`` with the kbnn delegate (2 threads), ``--invokes``
   predictions of one image, RSS sampled every 10%;
2. cycles: ``--cycles`` times create an Interpreter (a new delegate and its thread pool, the model
   claimed and prepared), predict once, destroy it.

Fails (exit 1) when the RSS after the warm-up grows by more than --max-growth-mib (default 4 MiB)
in either phase, or when a prediction differs from the first one. The C++ side of the same check
under LeakSanitizer is scripts/test_delegate_lsan.sh.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

import numpy as np


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def sample_input(interpreter, seed=0):
    rng = np.random.default_rng(seed)
    d = interpreter.input_details[0]
    shape = [1] + [int(s) for s in d["shape"][1:]]
    return rng.standard_normal(shape).astype(d["dtype"])


def soak(model: str, invokes: int, cycles: int, max_growth: float) -> dict:
    import kbnn_runtime

    interpreter = kbnn_runtime.Interpreter(model, num_threads=2)
    x = sample_input(interpreter)
    reference = interpreter.predict(x).copy()
    warm = max(1, invokes // 10)
    for _ in range(warm):
        interpreter.predict(x)
    gc.collect()
    start, samples, t0 = rss_mib(), [], time.perf_counter()
    for i in range(1, invokes + 1):
        y = interpreter.predict(x)
        if i % max(1, invokes // 10) == 0:
            samples.append(round(rss_mib(), 2))
    invoke_s = time.perf_counter() - t0
    if not np.array_equal(y, reference):
        raise AssertionError("the prediction changed during the invoke soak")
    invokes_result = {
        "invokes": invokes,
        "rss_start_mib": round(start, 2),
        "rss_end_mib": samples[-1],
        "rss_max_mib": max(samples),
        "growth_mib": round(max(samples) - start, 2),
        "samples_mib": samples,
        "seconds": round(invoke_s, 2),
    }
    del interpreter
    gc.collect()

    def cycle(kernel):
        it = kbnn_runtime.Interpreter(model, num_threads=1 + cycle.count % 2, kernel=kernel)
        cycle.count += 1
        out = it.predict(x)
        del it
        return out

    cycle.count = 0
    warm = max(1, cycles // 10)
    for _ in range(warm):
        cycle(None)
    gc.collect()
    start, samples, t0 = rss_mib(), [], time.perf_counter()
    for i in range(1, cycles + 1):
        y = cycle("reference" if i % 3 == 0 else None)
        if not np.array_equal(y, reference):
            raise AssertionError(f"cycle {i}: the prediction differs from the first one")
        if i % max(1, cycles // 10) == 0:
            gc.collect()
            samples.append(round(rss_mib(), 2))
    cycles_result = {
        "cycles": cycles,
        "rss_start_mib": round(start, 2),
        "rss_end_mib": samples[-1],
        "rss_max_mib": max(samples),
        "growth_mib": round(max(samples) - start, 2),
        "samples_mib": samples,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return {
        "model": model,
        "runtime": kbnn_runtime.runtime_name(),
        "invoke_phase": invokes_result,
        "cycle_phase": cycles_result,
        "max_growth_mib": max_growth,
        "ok": invokes_result["growth_mib"] <= max_growth and cycles_result["growth_mib"] <= max_growth,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model")
    p.add_argument("--invokes", type=int, default=10000)
    p.add_argument("--cycles", type=int, default=1000)
    p.add_argument("--max-growth-mib", type=float, default=4.0)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.invokes < 10 or args.cycles < 10:
        p.error("--invokes and --cycles must be at least 10")
    r = soak(args.model, args.invokes, args.cycles, args.max_growth_mib)
    if args.json:
        print(json.dumps(r))
    else:
        for phase in ("invoke_phase", "cycle_phase"):
            f = r[phase]
            n = f.get("invokes", f.get("cycles"))
            print(
                f"{phase}: {n} in {f['seconds']} s, RSS {f['rss_start_mib']} -> {f['rss_end_mib']} MiB "
                f"(max {f['rss_max_mib']}, growth {f['growth_mib']} MiB; samples {f['samples_mib']})"
            )
        print(f"{r['runtime']}; limit {args.max_growth_mib} MiB growth: {'OK' if r['ok'] else 'FAILED'}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
