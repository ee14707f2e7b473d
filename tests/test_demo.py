"""The README's main job: a binarized MLP trained with compile/fit on bundled digits."""

import time

import numpy as np
import pytest

from kbnn import demo


def test_digits_data_is_real_and_scaled():
    data = demo.load_digits_data()
    assert data.x_train.shape[1] == 64 and len(data.x_train) + len(data.x_test) == 1797
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0
    # Stratified split: every class is present in the test set.
    assert set(np.unique(data.y_test)) == set(range(10))


def test_binary_mlp_layers_are_binary():
    model = demo.build_binary_mlp(hidden=32)
    quant = [l for l in model.layers if l.__class__.__name__ == "QuantDense"]
    assert len(quant) == 3
    assert all(l.kernel_precision == 1 for l in quant)
    # The first layer sees float pixels; all later dense layers are XNOR/popcount layers.
    assert quant[0].input_precision is None
    assert all(l.input_precision == 1 for l in quant[1:])


def test_binarized_mlp_reaches_90_percent_on_digits():
    start = time.perf_counter()
    result = demo.train_binary_mlp()
    seconds = time.perf_counter() - start
    print(f"\nbinarized MLP on digits: test accuracy {result.test_accuracy:.4f}, "
          f"fit {result.train_seconds:.1f} s, total {seconds:.1f} s")
    assert result.test_accuracy >= 0.90
    # Hidden-layer kernels are binary in the forward pass: sign of the latent weights.
    dense = result.model.get_layer("dense_1")
    w = np.asarray(dense.kernel)
    assert np.all(np.abs(w) <= 1.0 + 1e-6)  # WeightClip keeps latent weights in [-1, 1]
