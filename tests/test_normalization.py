"""ShiftBatchNormalization against a NumPy implementation of BinaryNet's Algorithm 3."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kbnn.layers import ShiftBatchNormalization
from kbnn.layers.normalization import ap2

RNG = np.random.default_rng(3)


def np_ap2(x):
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore"):
        p = np.exp2(np.round(np.log2(np.abs(x))))
    return np.where(x == 0, 0.0, np.sign(x) * p)


def np_shift_bn(x, gamma, beta, eps, axis=-1, mean=None, var=None, shift_variance=True):
    """Algorithm 3; batch statistics unless ``mean``/``var`` are given (inference)."""
    x = x.astype(np.float64)
    red = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = -1
    if mean is None:
        mean = x.mean(axis=red)
        c = x - mean.reshape(shape)
        var = (c * np_ap2(c) if shift_variance else c * c).mean(axis=red)
    c = x - np.reshape(mean, shape)
    y = c * np_ap2(1.0 / np.sqrt(np.reshape(var, shape) + eps))
    return y * np_ap2(np.reshape(gamma, shape)) + np.reshape(beta, shape), mean, var


def test_ap2_values_and_straight_through_gradient():
    x = tf.constant([3.0, -0.3, 0.0, 1.0, -5.0, 0.7], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ap2(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, -0.25, 0.0, 1.0, -4.0, 0.5])
    np.testing.assert_array_equal(y.numpy(), np_ap2(x.numpy()))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.ones(6))


def _layer(channels, **kwargs):
    layer = ShiftBatchNormalization(
        momentum=0.8,
        epsilon=1e-3,
        gamma_initializer="random_normal",
        beta_initializer="random_normal",
        **kwargs,
    )
    return layer


@pytest.mark.parametrize("shift_variance", [True, False])
def test_training_matches_numpy_and_updates_moving_statistics(shift_variance):
    x = (RNG.standard_normal((6, 4, 4, 3)) * [0.5, 2.0, 7.0] + [1.0, -3.0, 0.2]).astype(np.float32)
    layer = _layer(3, shift_variance=shift_variance)
    layer.build(x.shape)
    gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
    y = layer(x, training=True).numpy()
    expected, mean, var = np_shift_bn(x, gamma, beta, 1e-3, shift_variance=shift_variance)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.8 + 0.2 * var, rtol=1e-5)
    exact_var = x.reshape(-1, 3).var(axis=0)
    if shift_variance:
        assert not np.allclose(var, exact_var, rtol=1e-3)
    else:
        np.testing.assert_allclose(var, exact_var, rtol=1e-5)


def test_inference_uses_moving_statistics_and_powers_of_two():
    x = RNG.standard_normal((5, 7, 4)).astype(np.float32) * 3
    layer = _layer(4)
    layer.build(x.shape)
    layer.moving_mean.assign(RNG.standard_normal(4).astype(np.float32))
    layer.moving_variance.assign(RNG.uniform(0.1, 9.0, 4).astype(np.float32))
    before = [v.numpy().copy() for v in layer.non_trainable_weights]
    y = layer(x, training=False).numpy()
    for b, v in zip(before, layer.non_trainable_weights):
        np.testing.assert_array_equal(b, v.numpy())
    expected, _, _ = np_shift_bn(
        x,
        layer.gamma.numpy(),
        layer.beta.numpy(),
        1e-3,
        mean=layer.moving_mean.numpy(),
        var=layer.moving_variance.numpy(),
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # Folded form: y = multiplier * x + bias, multiplier a signed power of two per channel.
    multiplier, bias = layer.folded_multiplier_and_bias()
    np.testing.assert_allclose(y, x * multiplier + bias, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.abs(multiplier), np.exp2(np.round(np.log2(np.abs(multiplier)))))


def test_channels_first_axis_and_mask():
    x = RNG.standard_normal((4, 3, 5)).astype(np.float32)
    layer = _layer(3, axis=1, scale=False)
    y = layer(x, training=True).numpy()
    expected, _, _ = np_shift_bn(x, np.ones(3), layer.beta.numpy(), 1e-3, axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert layer.gamma is None

    # A mask over (batch, steps) leaves the masked steps out of the batch statistics.
    x = RNG.standard_normal((3, 6, 2)).astype(np.float32)
    mask = np.ones((3, 6), bool)
    mask[:, 4:] = False
    layer = _layer(2)
    y = layer(x, training=True, mask=mask).numpy()
    expected, _, _ = np_shift_bn(x[:, :4], layer.gamma.numpy(), layer.beta.numpy(), 1e-3)
    np.testing.assert_allclose(y[:, :4], expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_gamma_and_beta():
    x = tf.constant(RNG.standard_normal((8, 3)).astype(np.float32))
    layer = _layer(3)
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.constant([1.0, 2.0, 3.0])) + tf.reduce_sum(y**2)
    grads = tape.gradient(loss, [layer.gamma.value, layer.beta.value])
    assert all(g is not None and np.all(g.numpy() != 0) for g in grads)
    # d/dbeta = sum over the batch of (w + 2 y).
    np.testing.assert_allclose(
        grads[1].numpy(), 8 * np.array([1.0, 2.0, 3.0]) + 2 * y.numpy().sum(0), rtol=1e-5
    )


def test_config_round_trip_and_keras_file(tmp_path):
    layer = ShiftBatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, center=False, shift_variance=False)
    clone = ShiftBatchNormalization.from_config(layer.get_config())
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(layer.get_config(), sort_keys=True)
    assert not isinstance(layer, keras.layers.BatchNormalization)

    model = keras.Sequential([keras.Input((4, 3)), ShiftBatchNormalization()])
    x = RNG.standard_normal((16, 4, 3)).astype(np.float32)
    model.compile("sgd", "mse")
    model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(model.layers[0].moving_mean.numpy(), 0)
    model.save(tmp_path / "bn.keras")
    loaded = keras.saving.load_model(tmp_path / "bn.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"axis": "x"}, "axis='x'"), ({"momentum": 2.0}, "momentum=2.0"), ({"epsilon": 0.0}, "epsilon=0.0")],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShiftBatchNormalization(**kwargs)
