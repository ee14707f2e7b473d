"""Times a .tflite file in LCE's own interpreter (run inside the LCE venv of
scripts/make_lce_env.sh; used by scripts/larq_zoo_check.py). Prints one JSON line.

    /work/lce-venv/bin/lce-python scripts/lce_benchmark.py MODEL.tflite [RUNS]
"""

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter


def time_once(content, runs, **kw):
    interp = Interpreter(content, num_threads=1, **kw)
    x = np.random.default_rng(0).normal(size=interp.input_shapes[0]).astype(np.float32)
    interp.predict(x)  # warm-up
    times = []
    for _ in range(int(runs)):
        t0 = time.perf_counter()
        interp.predict(x)
        times.append(time.perf_counter() - t0)
    return min(times)


def main(path, runs=3):
    with open(path, "rb") as f:
        content = f.read()
    # LCE's defaults (its float ops on TFLite's builtin kernels) and with XNNPACK for them.
    print(
        json.dumps(
            {
                "model": path,
                "threads": 1,
                "runs": int(runs),
                "min_s": time_once(content, runs),
                "min_s_xnnpack": time_once(content, runs, use_xnnpack=True),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
