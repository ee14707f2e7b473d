"""Bit-plane first layer and multi-base binarization on the digits demo: accuracy, size, latency.

Four variants of :func:`kbnn.demo.build_bitplane_cnn` (a binary CNN for scikit-learn's 8×8
digits: first layer, two stages of two binary residual blocks, binary classifier), trained with
the same schedule (Adam 3e-3, cosine decay, batch 32, labels only) for each seed:

* ``float stem, 1 base``: the first layer is a float 3×3 ``Conv2D``;
* ``bit-plane, 1/2/3 bases``: the first layer is ``BitPlaneInput`` (8 bits) + a binary-weight 3×3
  ``QuantConv2D`` (8 binary convolutions once converted); the blocks and the classifier use 1
  (``approx_sign`` / ``magnitude_aware_sign``), 2 or 3 (``MultiBaseSign`` shift activations and
  ABC-Net weights: ``bases²`` binary convolutions per layer) bases.

For each model: Keras and TFLite (kbnn delegate) test accuracy, ``.tflite`` size, median
single-image latency (1 thread, ``runs`` invokes), binary and float MACs (``kbnn.summary``).
Prints a per-seed log and a table of means, writes ``--out``/bitplane_bases_digits.{json,png}.

    python benchmarks/bitplane_bases_digits.py [--seeds 0 1 2] [--epochs 30]
        [--out benchmarks/results] [--replot]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = (
    ("float stem, 1 base", "float", 1),
    ("bit-plane, 1 base", "bitplane", 1),
    ("bit-plane, 2 bases", "bitplane", 2),
    ("bit-plane, 3 bases", "bitplane", 3),
)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # pragma: no cover
        return "n/a"


def measure(label, stem, bases, seed, epochs, runs):
    import numpy as np

    import kbnn
    from kbnn import demo

    data = demo.load_digits_data(seed=seed)
    x_test = demo.as_images(data.x_test)
    t0 = time.perf_counter()
    model = demo.train_bitplane_cnn(data, bases=bases, stem=stem, epochs=epochs, seed=seed)
    train_s = time.perf_counter() - t0
    keras_pred = np.argmax(model.predict(x_test, verbose=0, batch_size=256), -1)
    with demo._native_stderr_captured(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data_bytes, report = kbnn.convert(model, progress=False, return_report=True)
    interp = kbnn.Interpreter(data_bytes, num_threads=1)
    tfl_pred = np.argmax(interp.predict(x_test), -1)
    latency = demo._median_latency_us(interp, x_test[:1], runs=runs)
    s = kbnn.summary(model, print_fn=None)
    return dict(
        variant=label,
        stem=stem,
        bases=bases,
        seed=seed,
        train_s=train_s,
        keras_acc=float(np.mean(keras_pred == data.y_test)),
        tflite_acc=float(np.mean(tfl_pred == data.y_test)),
        agreement=float(np.mean(keras_pred == tfl_pred)),
        tflite_bytes=len(data_bytes),
        latency_us=latency,
        binary_macs=s.binary_macs,
        float_macs=s.other_macs,
        not_lowered=[r.name for r in report.not_lowered],
    )


def plot(means, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    ax = axes[0]
    for m in means:
        ax.errorbar(
            m["latency_us"],
            m["tflite_acc"] * 100,
            yerr=m["tflite_acc_std"] * 100,
            fmt="o",
            capsize=3,
            label=m["variant"],
        )
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    ax.set_xlabel("median latency per image, 1 thread (µs)")
    ax.set_ylabel("test accuracy, TFLite (%)")
    ax.set_title("accuracy vs latency (mean of seeds)", fontsize=11)
    ax = axes[1]
    labels = [m["variant"].replace(", ", "\n") for m in means]
    bars = ax.bar(labels, [m["tflite_bytes"] / 1024 for m in means], color="#1f77b4")
    for bar, m in zip(bars, means):
        ax.annotate(
            f"{m['tflite_bytes'] / 1024:.1f} KiB",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=9,
        )
    ax.set_ylabel(".tflite size (KiB)")
    ax.set_title("model size", fontsize=11)
    ax.tick_params(axis="x", labelsize=8)
    for a in axes:
        a.spines[["top", "right"]].set_visible(False)
    fig.suptitle("digits 8×8: bit-plane first layer and multi-base binarization", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=300, help="timed single-image invokes per model")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG from --out's JSON")
    args = parser.parse_args(argv)

    import numpy as np

    if args.replot:
        with open(os.path.join(args.out, "bitplane_bases_digits.json")) as f:
            plot(json.load(f)["means"], os.path.join(args.out, "bitplane_bases_digits.png"))
        return 0

    start = time.perf_counter()
    print(f"start: {_uptime()}  ({os.cpu_count()} CPUs)", flush=True)
    rows = []
    for seed in args.seeds:
        for label, stem, bases in VARIANTS:
            r = measure(label, stem, bases, seed, args.epochs, args.runs)
            rows.append(r)
            print(
                f"seed {seed}  {label:20s}  keras {r['keras_acc'] * 100:6.2f}%  "
                f"tflite {r['tflite_acc'] * 100:6.2f}%  "
                f"agree {r['agreement'] * 100:6.2f}%  {r['tflite_bytes']:7,d} B  {r['latency_us']:8.1f} µs  "
                f"train {r['train_s']:5.1f} s",
                flush=True,
            )
    means = []
    for label, stem, bases in VARIANTS:
        sel = [r for r in rows if r["variant"] == label]
        acc = np.array([r["tflite_acc"] for r in sel])
        means.append(
            dict(
                variant=label,
                stem=stem,
                bases=bases,
                tflite_acc=float(acc.mean()),
                tflite_acc_std=float(acc.std()),
                keras_acc=float(np.mean([r["keras_acc"] for r in sel])),
                agreement=float(np.mean([r["agreement"] for r in sel])),
                tflite_bytes=int(np.mean([r["tflite_bytes"] for r in sel])),
                latency_us=float(np.mean([r["latency_us"] for r in sel])),
                binary_macs=sel[0]["binary_macs"],
                float_macs=sel[0]["float_macs"],
            )
        )
    load = _uptime()
    print(f"\nmean of {len(args.seeds)} seeds, {args.epochs} epochs; end: {load}")
    print(
        "| variant | test acc. TFLite (std) | Keras | Keras = TFLite | .tflite | latency (1 thread) "
        "| binary MACs | float MACs |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in means:
        print(
            f"| {m['variant']} | {m['tflite_acc'] * 100:.2f} % ({m['tflite_acc_std'] * 100:.2f}) | "
            f"{m['keras_acc'] * 100:.2f} % | {m['agreement'] * 100:.2f} % | {m['tflite_bytes']:,} B | "
            f"{m['latency_us']:.1f} µs | {m['binary_macs']:,} | {m['float_macs']:,} |"
        )
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bitplane_bases_digits.json"), "w") as f:
        json.dump(
            {"rows": rows, "means": means, "epochs": args.epochs, "seeds": args.seeds, "load": load},
            f,
            indent=1,
        )
    plot(means, os.path.join(args.out, "bitplane_bases_digits.png"))
    print(f"wrote {args.out}/bitplane_bases_digits.json and .png  ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
