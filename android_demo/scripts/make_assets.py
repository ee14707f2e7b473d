#!/usr/bin/env python3
"""Regenerate the Android demo's assets (android_demo/app/src/main/assets/).

Writes:
  kbnn_digits.tflite   the ``kbnn demo`` binarized MLP (scikit-learn 8x8 digits) converted with
                       ``kbnn.convert(model, path)``: bitpacked CUSTOM ops run by the kbnn delegate
  float_digits.tflite  its float twin (same layer sizes, float weights and activations, trained the
                       same way) converted with the stock ``tf.lite.TFLiteConverter`` (XNNPACK runs it)
  samples.bin          sample test images, float32 little-endian, row-major [count, 64], pixels in
                       [-1, 1] exactly as the models take them
  samples.json         {"count", "height", "width", "labels", accuracies, ...} describing samples.bin

Usage (from the repository root):
  python android_demo/scripts/make_assets.py [--out DIR] [--epochs 40] [--per-class 2] [--seed 0]
  python android_demo/scripts/make_assets.py --skip-kbnn   # float twin + samples only

Everything except kbnn_digits.tflite uses only Keras/TensorFlow; kbnn_digits.tflite needs
``kbnn.convert``. Without it the script writes the rest, then exits with status 1 and says so
(unless --skip-kbnn).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT / "android_demo" / "app" / "src" / "main" / "assets"
KBNN_MODEL = "kbnn_digits.tflite"
FLOAT_MODEL = "float_digits.tflite"
SAMPLES_BIN = "samples.bin"
SAMPLES_JSON = "samples.json"
IMAGE_SIDE = 8


def select_samples(x: np.ndarray, y: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each class (in data order), ordered by class."""
    picks = []
    for label in np.unique(y):
        picks.extend(np.flatnonzero(y == label)[:per_class].tolist())
    picks = np.asarray(picks)
    return x[picks].astype(np.float32), y[picks].astype(np.int64)


def build_float_twin(input_dim: int = 64, hidden: int = 256, num_classes: int = 10, depth: int = 2):
    """The binarized MLP's float twin: same layer sizes, float Dense + BN + ReLU."""
    import keras

    inputs = keras.Input((input_dim,), name="pixels")
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(hidden, use_bias=False, name=f"dense_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{i}")(x)
    x = keras.layers.Dense(num_classes, name="dense_out")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="float_mlp")


def train_float_twin(data, epochs: int, seed: int):
    """Train the float twin with the demo's recipe; return (model, test accuracy)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_float_twin()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    _, acc = model.evaluate(data.x_test, data.y_test, verbose=0)
    return model, float(acc)


def convert_float(model, path: Path) -> None:
    """Stock TFLite conversion (float32, builtin ops only)."""
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def kbnn_convert_function():
    """``kbnn.convert`` as documented: ``kbnn.convert(model, path)``; None when this build lacks it."""
    import kbnn

    convert = getattr(kbnn, "convert", None)
    if callable(convert):
        return convert
    return None


def write_samples(out: Path, x: np.ndarray, y: np.ndarray, meta: dict) -> None:
    x.astype("<f4").tofile(out / SAMPLES_BIN)
    info = {
        "format": "float32 little-endian, row-major [count, height * width], pixels in [-1, 1]",
        "count": int(len(y)),
        "height": IMAGE_SIDE,
        "width": IMAGE_SIDE,
        "labels": [int(v) for v in y],
        **meta,
    }
    (out / SAMPLES_JSON).write_text(json.dumps(info, indent=2) + "\n")


def make_assets(
    out: Path, epochs: int = 40, per_class: int = 2, seed: int = 0, skip_kbnn: bool = False, print_fn=print
) -> dict:
    """Train both models, convert them and write the assets into ``out``; return the metadata.

    The float twin and the samples are written first, so they exist even when the kbnn
    conversion fails.

    Raises:
        RuntimeError: ``kbnn.convert`` is unavailable or fails, unless ``skip_kbnn``.
    """
    from kbnn import demo

    out.mkdir(parents=True, exist_ok=True)
    data = demo.load_digits_data(seed=seed)
    x, y = select_samples(data.x_test, data.y_test, per_class)

    print_fn(f"training the float twin ({epochs} epochs)")
    float_model, float_acc = train_float_twin(data, epochs, seed)
    convert_float(float_model, out / FLOAT_MODEL)
    meta = {"float_test_accuracy": round(float_acc, 4), "epochs": epochs, "seed": seed}
    print_fn(f"wrote {out / FLOAT_MODEL} (test accuracy {float_acc * 100:.2f}%)")

    write_samples(out, x, y, meta)
    print_fn(f"wrote {out / SAMPLES_BIN} and {out / SAMPLES_JSON} ({len(y)} samples)")
    if skip_kbnn:
        return meta

    convert = kbnn_convert_function()
    if convert is None:
        raise RuntimeError(
            "kbnn.convert(model, path) is not available in this kbnn build, so "
            f"{KBNN_MODEL} was not written (the float twin and samples were). "
            "Re-run once kbnn.convert exists, or pass --skip-kbnn."
        )
    print_fn(f"training the binarized MLP ({epochs} epochs)")
    result = demo.train_binary_mlp(epochs=epochs, seed=seed, data=data)
    convert(result.model, str(out / KBNN_MODEL))
    meta["kbnn_test_accuracy"] = round(result.test_accuracy, 4)
    write_samples(out, x, y, meta)
    print_fn(f"wrote {out / KBNN_MODEL} (test accuracy {result.test_accuracy * 100:.2f}%)")
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSETS, help=f"output folder (default {ASSETS})")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--per-class", type=int, default=2, help="sample images per digit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-kbnn", action="store_true", help="do not write kbnn_digits.tflite")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if str(REPO_ROOT) not in sys.path:  # run from a checkout without `pip install`
        sys.path.insert(0, str(REPO_ROOT))
    try:
        make_assets(args.out, args.epochs, args.per_class, args.seed, args.skip_kbnn)
    except RuntimeError as e:
        print(f"make_assets: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
