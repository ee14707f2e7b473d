"""The end-to-end demo behind ``kbnn demo``.

Today it trains a binarized multi-layer perceptron (BinaryNet style: binary weights and
binary activations in every hidden layer) on scikit-learn's bundled 8×8 digits with
``model.compile`` / ``model.fit``, evaluates it, and prints the bit-aware summary. Conversion
and execution on the bitpacked kernels join here once ``kbnn.convert`` exists.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np


@dataclasses.dataclass
class DigitsData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_data(test_fraction: float = 0.25, seed: int = 0) -> DigitsData:
    """scikit-learn's bundled digits (1,797 8×8 images), scaled to [-1, 1], stratified split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "The digits demo needs scikit-learn for its bundled data set. "
            "Install it with: pip install 'kbnn[demo]'"
        ) from e
    digits = load_digits()
    x = (digits.data.astype("float32") / 8.0) - 1.0  # pixel values 0..16 -> [-1, 1]
    y = digits.target.astype("int64")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return DigitsData(x_tr, y_tr, x_te, y_te)


def build_binary_mlp(input_dim: int = 64, hidden: int = 256, num_classes: int = 10, depth: int = 2):
    """BinaryNet MLP: a float-input first layer with binary weights, then fully binary layers.

    Every hidden ``QuantDense`` binarizes its kernel with ``ste_sign``; every layer after
    the first also binarizes its input, so those layers are XNOR/popcount layers once
    converted. Batch normalization follows each dense layer (BinaryNet, Courbariaux et al. 2016).
    """
    import keras

    from kbnn import constraints
    from kbnn.layers import QuantDense

    binary = dict(
        kernel_quantizer="ste_sign",
        kernel_constraint=constraints.WeightClip(1.0),
        use_bias=False,
    )
    inputs = keras.Input((input_dim,), name="pixels")
    x = QuantDense(hidden, name="dense_in", **binary)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_in")(x)
    for i in range(depth - 1):
        x = QuantDense(hidden, input_quantizer="ste_sign", name=f"dense_{i + 1}", **binary)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i + 1}")(x)
    x = QuantDense(num_classes, input_quantizer="ste_sign", name="dense_out", **binary)(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_out")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="binary_mlp")


@dataclasses.dataclass
class DemoResult:
    test_accuracy: float
    train_seconds: float
    epochs: int
    model: object


def train_binary_mlp(
    epochs: int = 40, batch_size: int = 64, seed: int = 0, verbose: int = 0, data: DigitsData | None = None
) -> DemoResult:
    """Train the binarized MLP on digits; return test accuracy and wall time."""
    import keras

    keras.utils.set_random_seed(seed)
    data = data or load_digits_data(seed=seed)
    model = build_binary_mlp()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=4, min_lr=1e-4)]
    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
        callbacks=callbacks,
        shuffle=True,
    )
    seconds = time.perf_counter() - start
    _, acc = model.evaluate(data.x_test, data.y_test, verbose=0)
    return DemoResult(float(acc), seconds, epochs, model)


def run(epochs: int = 40, seed: int = 0, verbose: int = 1, print_fn=print) -> DemoResult:
    """Train, evaluate and summarize the binarized MLP; print a report."""
    data = load_digits_data(seed=seed)
    print_fn(
        f"kbnn demo: binarized MLP on scikit-learn digits "
        f"({len(data.x_train)} train / {len(data.x_test)} test images)"
    )
    result = train_binary_mlp(epochs=epochs, seed=seed, verbose=verbose, data=data)
    try:
        from kbnn.summary import summary
    except ImportError:  # the summary module is optional for the training demo
        summary = None
    if summary is not None:
        summary(result.model, print_fn=print_fn)
    print_fn(
        f"test accuracy: {result.test_accuracy * 100:.2f}%  "
        f"(trained {result.epochs} epochs in {result.train_seconds:.1f} s)"
    )
    return result
