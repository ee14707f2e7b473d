"""Flip ratio of the ``kbnn demo`` binary CNN trained with Adam (latent weights) vs Bop.

The demo's binary CNN (Bi-Real blocks, magnitude-aware binary weights) is trained on the digits
labels from the same initialisation twice: (a) Adam on every variable, the binary kernels as
latent real-valued weights; (b) ``CaseOptimizer(Bop, Adam)``: Bop on the binary kernels, Adam on
the rest. ``kbnn.callbacks.FlipRatio(update_freq="step")`` records, per epoch, the fraction of
binary weights whose sign changed (net over the epoch) and the flips counted step by step.
Prints the per-epoch table and the test accuracy of both, writes ``flip_ratio_digits.png`` and
``flip_ratio_digits.json`` into ``--out``.

    python benchmarks/flip_ratio_digits.py [--epochs 20] [--seed 0] [--gamma 1e-3 --threshold 1e-6]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (both runs)")
    parser.add_argument("--gamma", type=float, default=1e-3, help="Bop adaptivity rate")
    parser.add_argument("--threshold", type=float, default=1e-6, help="Bop flip threshold")
    parser.add_argument("--out", default=".")
    args = parser.parse_args(argv)

    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import kbnn
    from kbnn import demo

    os.makedirs(args.out, exist_ok=True)
    data = demo.load_digits_data(seed=args.seed)
    x_train, x_test = demo.as_images(data.x_train), demo.as_images(data.x_test)
    keras.utils.set_random_seed(args.seed)
    initial = demo.build_digits_cnn(binary=True).get_weights()

    def optimizer(kind):
        adam = keras.optimizers.Adam(args.lr)
        if kind == "adam":
            return adam
        bop = kbnn.optimizers.Bop(threshold=args.threshold, gamma=args.gamma)
        return kbnn.optimizers.CaseOptimizer(
            (kbnn.optimizers.is_binary_variable, bop), default_optimizer=adam
        )

    runs = {}
    for kind in ("adam", "bop"):
        keras.utils.set_random_seed(args.seed + 1)
        model = demo.build_digits_cnn(binary=True)
        model.set_weights(initial)
        model.compile(optimizer(kind), "sparse_categorical_crossentropy", metrics=["accuracy"])
        flips = kbnn.callbacks.FlipRatio(update_freq="step")
        t0 = time.perf_counter()
        history = model.fit(
            x_train,
            data.y_train,
            epochs=args.epochs,
            batch_size=32,
            verbose=0,
            shuffle=True,
            callbacks=[flips],
        )
        acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == data.y_test))
        runs[kind] = {
            "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
            "step_flip_ratio": flips.step_history["flip_ratio"],
            "test_accuracy": acc,
            "seconds": time.perf_counter() - t0,
            "callback": flips,
        }
        print(f"{kind}: test accuracy {acc * 100:.2f}% ({runs[kind]['seconds']:.0f} s)")

    layers = [k for k in runs["adam"]["history"] if k.startswith("flip_ratio/")]
    print(
        f"\nflip ratio per epoch (net sign changes over the epoch / flips counted per step), {len(layers)} "
        "binary layers"
    )
    print(
        f"{'epoch':>5}  {'Adam net':>9} {'Adam steps':>10}  {'Bop net':>9} {'Bop steps':>10}  "
        f"{'Adam acc':>8} {'Bop acc':>8}"
    )
    for e in range(args.epochs):
        a, b = runs["adam"]["history"], runs["bop"]["history"]
        print(
            f"{e + 1:5d}  {a['flip_ratio'][e]:9.5f} {a['flip_ratio_events'][e]:10.5f}  "
            f"{b['flip_ratio'][e]:9.5f} {b['flip_ratio_events'][e]:10.5f}  {a['accuracy'][e]:8.3f} "
            f"{b['accuracy'][e]:8.3f}"
        )
    for kind in ("adam", "bop"):
        h = runs[kind]["history"]
        print(
            f"{kind} last epoch per layer: "
            + ", ".join(f"{k[len('flip_ratio/') :]} {h[k][-1]:.5f}" for k in layers)
        )

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), dpi=110)
    for kind, color in (("adam", "#1f77b4"), ("bop", "#d62728")):
        label = "Adam (latent weights)" if kind == "adam" else f"Bop (γ={args.gamma:g}, τ={args.threshold:g})"
        kbnn.callbacks.plot_flip_ratio(
            runs[kind]["history"], ax=axes[0], per_layer=False, label=label, color=color
        )
        kbnn.callbacks.plot_flip_ratio(
            runs[kind]["callback"], ax=axes[1], per_layer=False, label=label, color=color
        )
    kbnn.callbacks.plot_flip_ratio(runs["bop"]["history"], ax=axes[2], per_layer=True, label="Bop: all")
    axes[0].set_title("net flip ratio per epoch", fontsize=10)
    axes[1].set_title("flip ratio per step", fontsize=10)
    axes[2].set_title("Bop, per binary layer (per epoch)", fontsize=10)
    fig.suptitle(
        f"kbnn demo binary CNN on digits: test accuracy Adam {runs['adam']['test_accuracy'] * 100:.1f}%, "
        f"Bop {runs['bop']['test_accuracy'] * 100:.1f}%",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "flip_ratio_digits.png"))
    for kind in runs:
        runs[kind].pop("callback")
    with open(os.path.join(args.out, "flip_ratio_digits.json"), "w") as f:
        json.dump({"args": vars(args), "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
