"""Train BinaryNet's VGG-like CNN on CIFAR-10 (Courbariaux, Hubara et al., 2016).

NOT RUN HERE: the kbnn development machines cannot download CIFAR-10, so this recipe has
only been imported and its model built (tests/test_models.py); no accuracy from it is
claimed. For comparison, the paper reports a CIFAR-10 test error of 11.40 % (Theano) and
10.15 % (Torch7) for this architecture ("Binarized Neural Networks: Training Deep Neural
Networks with Weights and Activations Constrained to +1 or -1", arXiv:1602.02830, Table 1).

The recipe follows the paper where Keras makes it direct:

* architecture ``2×128C3 – MP2 – 2×256C3 – MP2 – 2×512C3 – MP2 – 2×1024FC – 10``, binary
  weights everywhere, binary activations after the first layer, batch norm after every
  layer (:func:`kbnn.models.BinaryNetCNN`);
* latent weights clipped to [-1, 1] (``WeightClip``), straight-through sign gradients;
* Adam with an exponentially decaying learning rate (1e-3 → 3e-6 here), batch size 50,
  500 epochs;
* square hinge loss on ±1 targets (the paper's L2-SVM output), or ``--loss xent`` for
  softmax cross-entropy.

Differences: the pixels are only scaled to [-1, 1] (the Theano code also applies global
contrast normalization and ZCA whitening); no shift-based batch norm / AdaMax.

Usage::

    python examples/cifar10_binarynet.py --epochs 500
    python examples/cifar10_binarynet.py --epochs 2 --subset 1000   # smoke run
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

import kbnn

REPORTED_TEST_ERROR = {"theano": 0.1140, "torch7": 0.1015}


def build_model(input_shape=(32, 32, 3), num_classes: int = 10, loss: str = "hinge") -> keras.Model:
    """The BinaryNet CIFAR-10 network; without the softmax for the square hinge loss."""
    return kbnn.models.BinaryNetCNN(input_shape, num_classes, softmax=(loss == "xent"))


def load_data(subset: int | None = None):
    """CIFAR-10 via ``keras.datasets`` (downloads ~170 MB on first use), pixels in [-1, 1]."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    x_train = x_train.astype("float32") / 127.5 - 1.0
    x_test = x_test.astype("float32") / 127.5 - 1.0
    y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    if subset:
        x_train, y_train = x_train[:subset], y_train[:subset]
    return (x_train, y_train), (x_test, y_test)


def _pm1(y, num_classes):
    return 2.0 * keras.utils.to_categorical(y, num_classes) - 1.0


def train(
    epochs: int = 500,
    batch_size: int = 50,
    loss: str = "hinge",
    lr_start: float = 1e-3,
    lr_end: float = 3e-6,
    subset: int | None = None,
    model_path: str | None = None,
):
    (x_train, y_train), (x_test, y_test) = load_data(subset)
    model = build_model(loss=loss)
    steps = max(1, epochs * int(np.ceil(len(x_train) / batch_size)))
    schedule = keras.optimizers.schedules.ExponentialDecay(lr_start, steps, lr_end / lr_start)
    if loss == "hinge":
        model.compile(keras.optimizers.Adam(schedule), loss="squared_hinge", metrics=["categorical_accuracy"])
        y_fit, y_val = _pm1(y_train, 10), _pm1(y_test, 10)
    else:
        model.compile(
            keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        y_fit, y_val = y_train, y_test
    kbnn.summary(model)
    model.fit(
        x_train, y_fit, batch_size=batch_size, epochs=epochs, validation_data=(x_test, y_val), shuffle=True
    )
    scores = model.predict(x_test, batch_size=500, verbose=0)
    error = float(np.mean(np.argmax(scores, axis=1) != y_test))
    print(
        f"test error: {100 * error:.2f} %  (paper: {100 * REPORTED_TEST_ERROR['theano']:.2f} % Theano, "
        f"{100 * REPORTED_TEST_ERROR['torch7']:.2f} % Torch7)"
    )
    if model_path:
        model.save(model_path)
    return model, error


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--loss", choices=["hinge", "xent"], default="hinge")
    parser.add_argument("--subset", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--save", default=None, help="path of the .keras file to write")
    args = parser.parse_args(argv)
    train(args.epochs, args.batch_size, args.loss, subset=args.subset, model_path=args.save)


if __name__ == "__main__":
    main()
