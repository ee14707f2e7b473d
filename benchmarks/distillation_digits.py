"""Does distillation help the binary CNN of ``kbnn demo``? Distilled vs labels-only students.

For each seed: one float teacher (the demo's CNN with its quantizers off), then two binary
students with the same initialisation (the teacher's weights), optimizer, schedule and number
of epochs, trained (a) with ``kbnn.distillation.Distiller`` (task + KD + attention matching at
every block output, the demo's settings) and (b) on the labels only. Prints the test accuracy
per seed and the mean over seeds.

    python benchmarks/distillation_digits.py [--seeds 0 1 2] [--epochs 30] [--from-scratch]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30, help="student epochs (teacher: half)")
    parser.add_argument(
        "--from-scratch",
        action="store_true",
        help="students start from a fresh initialisation instead of the teacher's weights",
    )
    parser.add_argument("--progress", action="store_true", help="tqdm bars per training run")
    args = parser.parse_args(argv)

    import numpy as np

    from kbnn import demo

    start = time.perf_counter()
    res = demo.compare_distillation(
        seeds=args.seeds, epochs=args.epochs, init_from_teacher=not args.from_scratch, progress=args.progress
    )
    gain = (np.mean(res["distilled"]) - np.mean(res["labels_only"])) * 100
    print(
        f"distilled - labels only: {gain:+.2f} points (mean of {len(args.seeds)} seeds, "
        f"{args.epochs} student epochs, {'fresh init' if args.from_scratch else 'teacher init'}; "
        f"{time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
