"""WeightClip and Bipolar: values, aliases, serialization, use in layers."""

import keras
import numpy as np
import pytest

from kbnn import constraints, regularizers
from kbnn.layers import QuantDense

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("clip_value", [1.0, 0.25])
def test_weight_clip_clamps(clip_value):
    w = RNG.standard_normal((5, 4)).astype(np.float32) * 2
    out = keras.ops.convert_to_numpy(constraints.WeightClip(clip_value)(w))
    np.testing.assert_array_equal(out, np.clip(w, -clip_value, clip_value))
    assert np.any(np.abs(w) > clip_value)  # the test exercises clipping


def test_weight_clip_alias_serialization_and_training():
    c = constraints.get("weight_clip")
    assert isinstance(c, constraints.WeightClip) and c.clip_value == 1.0
    restored = constraints.deserialize(constraints.serialize(constraints.WeightClip(0.5)))
    assert isinstance(restored, constraints.WeightClip) and restored.clip_value == 0.5
    with pytest.raises(ValueError, match="clip_value=-1"):
        constraints.WeightClip(-1)

    # Applied after each optimizer step by Keras.
    layer = QuantDense(3, kernel_constraint="weight_clip", kernel_quantizer="ste_sign", use_bias=False)
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(keras.optimizers.SGD(100.0), "mse")
    x = RNG.standard_normal((8, 4)).astype(np.float32)
    model.fit(x, RNG.standard_normal((8, 3)).astype(np.float32) * 10, epochs=1, verbose=0)
    kernel = layer.kernel.numpy()
    assert np.max(np.abs(kernel)) == pytest.approx(1.0)


def test_bipolar_value_matches_numpy():
    w = RNG.standard_normal((3, 3, 2)).astype(np.float32)
    reg = regularizers.Bipolar(0.1)
    expected = 0.1 * np.sum(1.0 - w.astype(np.float64) ** 2)
    assert float(reg(w)) == pytest.approx(expected, rel=1e-5)
    assert float(regularizers.Bipolar(0.0)(w)) == 0.0


def test_bipolar_alias_serialization_and_layer_loss():
    r = regularizers.get("bipolar")
    assert isinstance(r, regularizers.Bipolar) and r.scale == 1e-5
    restored = regularizers.deserialize(regularizers.serialize(regularizers.Bipolar(0.3)))
    assert isinstance(restored, regularizers.Bipolar) and restored.scale == 0.3
    with pytest.raises(ValueError, match="scale=-1"):
        regularizers.Bipolar(-1)

    layer = QuantDense(2, kernel_regularizer=regularizers.Bipolar(0.5), use_bias=False)
    layer.build((1, 3))
    layer(np.zeros((1, 3), np.float32))
    (loss,) = layer.losses
    assert float(loss) == pytest.approx(0.5 * np.sum(1 - layer.kernel.numpy() ** 2), rel=1e-5)
    # Config of a kbnn layer keeps the regularizer through a round trip.
    clone = QuantDense.from_config(layer.get_config())
    assert (
        isinstance(clone.kernel_regularizer, regularizers.Bipolar) and clone.kernel_regularizer.scale == 0.5
    )
