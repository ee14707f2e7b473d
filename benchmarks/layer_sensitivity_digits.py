"""Layer sensitivity of the ``kbnn demo`` binary CNN, and whether its ranking is stable across seeds.

For each training seed: the demo's float teacher and distilled binary student (same data split,
seed 0, for every training seed, so that only the training differs), then
``kbnn.analysis.layer_sensitivity(student, x_test, y_test, float_model=teacher)`` with batch-norm
statistics re-estimated on the training images, once with test accuracy and once with test
cross-entropy as the metric. Prints each report, the time the probe took, the rankings and how
well they agree between seeds (Spearman's rho per direction, same top layer), and writes
``sensitivity_<metric>_seed<k>.png`` and ``sensitivity_digits.json`` into ``--out``.

    python benchmarks/layer_sensitivity_digits.py [--seeds 0 1] [--epochs 30] [--out .]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def spearman(a: list[str], b: list[str]) -> float:
    """Spearman's rank correlation of two rankings of the same names (no ties)."""
    n = len(a)
    if n < 2:
        return 1.0
    pos = {name: i for i, name in enumerate(b)}
    d2 = sum((i - pos[name]) ** 2 for i, name in enumerate(a))
    return 1.0 - 6.0 * d2 / (n * (n * n - 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=30, help="student epochs (teacher: half)")
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)

    import keras

    import kbnn
    from kbnn import demo

    os.makedirs(args.out, exist_ok=True)
    data = demo.load_digits_data(seed=0)
    x_train, x_test = demo.as_images(data.x_train), demo.as_images(data.x_test)
    metrics = ("accuracy", "crossentropy")
    results = {m: {} for m in metrics}
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        t0 = time.perf_counter()
        teacher = demo.train_teacher(data, max(1, args.epochs // 2), progress=False)
        student = demo.train_student(data, args.epochs, teacher, distill=True, progress=False)
        train_s = time.perf_counter() - t0
        print(f"\n=== training seed {seed} (teacher + student trained in {train_s:.0f} s) ===")
        for metric in metrics:
            with demo._native_stderr_captured():  # the TFLite converter logs every custom op on fd 2
                report = kbnn.analysis.layer_sensitivity(
                    student,
                    x_test,
                    data.y_test,
                    float_model=teacher,
                    metric=metric,
                    calibration_x=x_train,
                    runs=args.latency_runs,
                )
            print(report.to_text())
            report.plot(
                os.path.join(args.out, f"sensitivity_{metric}_seed{seed}.png"),
                title=f"layer sensitivity ({metric}), kbnn demo binary CNN, training seed {seed}",
            )
            results[metric][seed] = report.to_dict()

    seeds = list(args.seeds)
    summary = {"seeds": seeds}
    print("\n=== ranking stability across training seeds (most sensitive first) ===")
    for metric in metrics:
        summary[metric] = {"probe_seconds": {s: results[metric][s]["seconds"] for s in seeds}}
        for direction in ("restore", "binarize", "combined"):
            rankings = {
                s: (
                    results[metric][s]["ranking"]
                    if direction == "combined"
                    else results[metric][s]["rankings"][direction]
                )
                for s in seeds
            }
            rhos = [spearman(rankings[a], rankings[b]) for i, a in enumerate(seeds) for b in seeds[i + 1 :]]
            same_top = len({tuple(rankings[s][:1]) for s in seeds}) == 1
            top3 = set.intersection(*(set(rankings[s][:3]) for s in seeds))
            summary[metric][direction] = {
                "rankings": rankings,
                "spearman": rhos,
                "same_top": same_top,
                "top3_common": sorted(top3),
            }
            print(
                f"{metric:12s} {direction:8s} "
                + " | ".join(f"seed {s}: {' > '.join(rankings[s])}" for s in seeds)
                + f" | Spearman {', '.join(f'{r:+.2f}' for r in rhos)}, same top: {same_top}, "
                f"common top-3: {sorted(top3)}"
            )
        print(
            f"{metric:12s} probe time: "
            + ", ".join(f"{summary[metric]['probe_seconds'][s]:.1f} s" for s in seeds)
        )
    with open(os.path.join(args.out, "sensitivity_digits.json"), "w") as f:
        json.dump({"reports": results, "stability": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
