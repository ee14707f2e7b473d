"""Small models with bit-plane and multi-base binary layers, shared by the converter tests
(tests/test_bitplane.py, tests/test_multibase.py) and scripts/check_tflite_identical.py."""

import keras

from kbnn.layers import BitPlaneInput, QuantConv2D, QuantDense
from kbnn.quantizers import MultiBaseSign
from support.keras_util import randomize_batchnorm


def bitplane_model(
    padding="same",
    strides=1,
    bits=8,
    value_range=(-1.0, 1.0),
    dense=False,
    relu=False,
    head=True,
    kernel_quantizer="magnitude_aware_sign",
):
    """Bit-plane first layer → BN → binary conv → BN → float head; ``head=False`` ends at the
    outputs of the bit-plane layers (what is bit-exact between TF ops and TFLite)."""
    inp = keras.Input((7, 7, 3))
    x = BitPlaneInput(bits=bits, value_range=value_range, name="planes")(inp)
    x = QuantConv2D(
        20,
        3,
        padding=padding,
        strides=strides,
        kernel_quantizer=kernel_quantizer,
        use_bias=True,
        bias_initializer="random_normal",
        name="first",
    )(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    if relu:
        x = keras.layers.ReLU(name="relu")(x)
    first = x
    x = QuantConv2D(
        32,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        use_bias=False,
        name="second",
    )(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dense:
        y = BitPlaneInput(bits=bits, value_range=value_range, name="planes_fc")(keras.layers.Flatten()(inp))
        y = QuantDense(32, kernel_quantizer="ste_sign", name="fc_planes")(y)
        x = keras.layers.Concatenate()([x, y])
    x = keras.layers.Dense(6, name="logits")(x)
    if not head:
        # One output (copies only after the bit-plane ops: still bit-exact).
        out = keras.layers.Concatenate()([keras.layers.Flatten()(first), y]) if dense else first
        return randomize_batchnorm(keras.Model(inp, out))
    return randomize_batchnorm(keras.Model(inp, x))


def multibase_model(act, kern, padding="same", relu=False, dense=False, groups=1, dilation=1, head=True):
    """A float 1×1 conv → multi-base binary conv (``act`` / ``kern`` quantizers) → BN [→ ReLU]
    [→ multi-base binary dense] → float head; ``head=False`` ends at the last multi-base layer."""
    inp = keras.Input((6, 6, 24))
    x = keras.layers.Conv2D(24, 1, name="float_in")(inp)
    x = QuantConv2D(
        20,
        3,
        padding=padding,
        groups=groups,
        dilation_rate=dilation,
        input_quantizer=act,
        kernel_quantizer=kern,
        use_bias=True,
        bias_initializer="random_normal",
        name="multi",
    )(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name="relu")(x)
    outs = [x]
    if dense:
        y = keras.layers.Flatten()(x)
        y = QuantDense(
            12,
            input_quantizer=MultiBaseSign(2, mode="residual"),
            kernel_quantizer=MultiBaseSign(2),
            name="multi_fc",
        )(y)
        outs.append(y)
        x = y
    if not head:
        return randomize_batchnorm(keras.Model(inp, outs[-1]))
    x = keras.layers.GlobalAveragePooling2D()(x) if not dense else x
    return randomize_batchnorm(keras.Model(inp, keras.layers.Dense(5, name="logits")(x)))
