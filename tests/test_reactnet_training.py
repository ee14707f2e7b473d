"""ReActNet's two-step recipe (kbnn.distillation.two_step): a tiny run must improve on its start."""

import keras
import numpy as np
import pytest

from kbnn.blocks import reactnet_block
from kbnn.distillation import two_step
from kbnn.layers import QuantConv2D
from kbnn.quantizers import RSign


def _build(input_quantizer, kernel_quantizer):
    inp = keras.Input((6, 6, 1), name="input")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = reactnet_block(x, 8, input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer, name="b1")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="logits")(x))


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.normal(scale=0.3, size=(n, 6, 6, 1)).astype("float32")
    x[:, :2, :, 0] += (y == 0)[:, None, None]
    x[:, 4:, :, 0] += (y == 1)[:, None, None]
    x[:, :, 4:, 0] += (y == 2)[:, None, None]
    return x, y


def test_two_step_trains_both_steps_on_the_distributional_loss_and_improves():
    keras.utils.set_random_seed(0)
    x, y = _data()
    result = two_step(
        _build,
        x,
        y,
        teacher=None,
        teacher_epochs=10,
        epochs=(8, 8),
        batch_size=16,
        optimizer=lambda: keras.optimizers.Adam(0.02),
    )
    step1, step2 = result.histories["step1"].history, result.histories["step2"].history
    # The distributional loss alone (alpha_task = 0) drives both steps, and each improves on its start.
    assert step1["kd_loss"][-1] < step1["kd_loss"][0], step1["kd_loss"]
    assert step2["kd_loss"][-1] < step1["kd_loss"][0], (step1["kd_loss"], step2["kd_loss"])
    # Step 1 has real weights, step 2 binary ones; both binarize activations with RSign.
    conv1 = [layer for layer in result.step1.layers if isinstance(layer, QuantConv2D)]
    conv2 = [layer for layer in result.student.layers if isinstance(layer, QuantConv2D)]
    assert all(c.kernel_quantizer is None and isinstance(c.input_quantizer, RSign) for c in conv1)
    assert all(c.kernel_precision == 1 and isinstance(c.input_quantizer, RSign) for c in conv2)
    acc = np.mean(np.argmax(result.student.predict(x, verbose=0), axis=-1) == y)
    assert acc >= 0.6, acc  # three classes: chance is 1/3
    assert result.teacher.trainable and result.student.trainable


def test_two_step_rejects_bad_arguments():
    x, y = _data(8)
    with pytest.raises(ValueError, match="`epochs` must be an int or 2"):
        two_step(_build, x, y, epochs=(1, 2, 3))
    with pytest.raises(ValueError, match="`teacher` must be a trained keras.Model"):
        two_step(_build, x, y, teacher="resnet34")
