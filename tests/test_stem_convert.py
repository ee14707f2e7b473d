"""kbnn.convert(..., stem=...): the float stem (Conv2D -> BatchNormalization -> ReLU/PReLU ->
MaxPooling2D on the model input) lowered to one KbnnStemConv2d, with no change to the Keras model;
the option's validation; the report; the result against the NumPy oracle of the op and against
Keras."""

import keras
import numpy as np
import pytest
from test_stem_conv2d import stem_ref

import kbnn
from kbnn.convert import stem as stem_lowering
from kbnn.convert.binary import bn_transform


def _randomize_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, c),
                    rng.uniform(-0.3, 0.3, c),
                    rng.uniform(-0.2, 0.2, c),
                    rng.uniform(0.5, 2.0, c),
                ]
            )


def stem_only(act="relu", pool=True, use_bias=False, size=20, seed=0):
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 7, strides=2, padding="same", use_bias=use_bias, name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    if act == "relu":
        x = keras.layers.ReLU(name="stem_relu")(x)
    elif act == "prelu":
        x = keras.layers.PReLU(shared_axes=[1, 2], name="stem_prelu")(x)
    if pool:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(seed)
    _randomize_bn(model, rng)
    if act == "prelu":
        model.get_layer("stem_prelu").set_weights([rng.uniform(-0.3, 0.3, (1, 1, 16))])
    if use_bias:
        k, _ = model.get_layer("stem_conv").get_weights()
        model.get_layer("stem_conv").set_weights([k, rng.uniform(-0.5, 0.5, 16)])
    return model


@pytest.mark.parametrize(
    "act, pool, use_bias", [("relu", True, False), ("prelu", True, True), (None, False, True)]
)
def test_stem_lowers_to_one_op_matching_the_oracle(act, pool, use_bias):
    model = stem_only(act, pool, use_bias)
    data, report = kbnn.convert(model, stem="int8", progress=False, return_report=True)
    rows = {r.name: r for r in report.layers}
    assert rows["stem_conv"].op.startswith("KbnnStemConv2d"), rows["stem_conv"]
    assert rows["stem_bn"].status == "folded"
    if pool:
        assert rows["stem_pool"].op == "folded into stem_conv"
    x = np.random.default_rng(3).uniform(0, 255, (2, 20, 20, 3)).astype(np.float32)
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    conv = model.get_layer("stem_conv")
    w, sw = stem_lowering.quantize_weights(conv.kernel.numpy())
    s, t = (np.asarray(v, np.float64) for v in bn_transform(model.get_layer("stem_bn")))
    cb = np.asarray(conv.bias.numpy(), np.float64) if use_bias else 0.0
    slope = (
        model.get_layer("stem_prelu").alpha.numpy().reshape(-1).astype(np.float32)
        if act == "prelu"
        else np.zeros(16, np.float32)
    )
    want = stem_ref(
        x,
        w,
        sw,
        s.astype(np.float32),
        (s * cb + t).astype(np.float32),
        slope,
        (2, 2),
        "SAME",
        {"relu": "RELU", "prelu": "PRELU"}.get(act, "NONE"),
        *(((3, 3), (2, 2), "SAME") if pool else (None,)),
    )
    np.testing.assert_array_equal(got, want)
    # int8 rounding only: close to Keras's float result.
    ref = np.asarray(model(x, training=False))
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(got - ref)) < 0.03 * scale, np.max(np.abs(got - ref)) / scale


def test_stem_float_keeps_builtins_and_auto_lowers():
    model = stem_only()
    _, report = kbnn.convert(model, progress=False, return_report=True)
    assert {r.name: r for r in report.layers}["stem_conv"].status != "lowered"
    _, report = kbnn.convert(model, stem="auto", progress=False, return_report=True)
    assert {r.name: r for r in report.layers}["stem_conv"].op.startswith("KbnnStemConv2d")


def test_stem_option_errors():
    model = stem_only()
    with pytest.raises(ValueError, match="`stem` must be one of"):
        kbnn.convert(model, stem="int4", progress=False)
    with pytest.raises(ValueError, match="representative_dataset"):
        kbnn.convert(model, stem="int8", representative_dataset=[np.zeros((1, 20, 20, 3), np.float32)])
    x = inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(x)
    with pytest.raises(ValueError, match="no stem to lower"):
        kbnn.convert(keras.Model(inp, x), stem="int8", progress=False)
