"""Accuracy effect of the int8 stem (kbnn.convert(..., stem="int8"), KbnnStemConv2d) on digits.

A digits-size Bi-Real model with a trained ResNet-style stem: scikit-learn's 8x8 digits upscaled
4x to 32x32 pixels of 0..255, Conv2D 7x7/2 -> BatchNormalization -> ReLU -> MaxPooling2D 3x3/2
(the zoo's stem, 16 channels) -> two kbnn.blocks.bireal_block -> global average pool -> Dense.
Trained for a few epochs (batch norm statistics re-estimated after training), converted with
stem="float" and stem="int8"; prints the test accuracy of Keras and of both files and their top-1
agreement with Keras on the test set.

    python benchmarks/stem_accuracy_digits.py [--epochs 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build(seed: int):
    import keras

    from kbnn.blocks import bireal_block

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 1), name="image")
    x = keras.layers.Conv2D(16, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    quant = dict(input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign")
    x = bireal_block(x, 16, pad_values=1.0, name="block1", **quant)
    x = bireal_block(x, 16, pad_values=1.0, name="block2", **quant)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, name="classifier")(x)
    return keras.Model(inputs, outputs)


def main(argv=None) -> int:
    import keras
    import numpy as np

    import kbnn
    from kbnn.calibration import recalibrate_batchnorm
    from kbnn.demo import load_digits_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    d = load_digits_data(seed=args.seed)

    def images(x):  # [-1, 1] flat 8x8 -> 32x32x1 of 0..255
        img = ((x.reshape(-1, 8, 8) + 1.0) * 127.5).astype(np.float32)
        return np.kron(img, np.ones((1, 4, 4), np.float32))[..., None]

    xtr, xte = images(d.x_train), images(d.x_test)
    model = build(args.seed)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(xtr, d.y_train, epochs=args.epochs, batch_size=64, verbose=0)
    # The moving batch-norm statistics lag the binary layers' drift: re-estimate them on the
    # training images (kbnn.calibration.recalibrate_batchnorm) before inference.
    recalibrate_batchnorm(model, xtr)
    ref = np.argmax(np.asarray(model.predict(xte, verbose=0)), -1)
    print(f"digits 32x32, {len(xte)} test images, {args.epochs} epochs")
    print(f"  Keras                 accuracy {np.mean(ref == d.y_test):.4f}")
    for stem in ("float", "int8"):
        data, report = kbnn.convert(model, stem=stem, progress=False, return_report=True)
        row = {r.name: r for r in report.layers}["stem_conv"]
        got = np.argmax(np.asarray(kbnn.Interpreter(data).predict(xte)), -1)
        print(
            f"  stem={stem:5s} ({row.op[:40]:40s}) accuracy {np.mean(got == d.y_test):.4f}, "
            f"top-1 agreement with Keras {np.mean(got == ref):.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
