"""kbnn.layers.BitPlaneInput: forward/gradient vs NumPy, .keras round trip, bit-plane lowering
(Keras vs TF ops vs TFLite), the report, kbnn.summary's MACs, and the fully binary digits CNN."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_convert import _builtin_ops, _custom_ops, needs_interpreter

import kbnn
from kbnn.layers import BitPlaneInput, QuantConv2D
from support.lowering_models import bitplane_model


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(7)


def _np_bitplane(x, bits, lo, hi):
    levels = (1 << bits) - 1
    v = np.asarray(x, np.float32)
    if lo != 0.0:
        v = v - np.float32(lo)
    k = np.float32(levels / (hi - lo))
    if k != 1.0:
        v = v * k
    raw = np.floor(v + np.float32(0.5))
    return np.clip(raw, 0, levels), raw, k


# Edge values: the range ends, just outside, exact halves (round half up), +-0.
EDGES_255 = np.array(
    [
        -1.0,
        -0.6,
        -0.5,
        -0.49,
        -0.0,
        0.0,
        0.49,
        0.5,
        1.5,
        2.5,
        127.5,
        254.5,
        254.6,
        255.0,
        255.4,
        255.5,
        256.0,
        300.0,
    ],
    np.float32,
)


@pytest.mark.parametrize(
    "bits,value_range,x",
    [
        (8, (0.0, 255.0), EDGES_255),
        (8, (-1.0, 1.0), np.concatenate([np.linspace(-1.2, 1.2, 49), [-1.0, 1.0, 0.0, 1 / 255, -1 / 255]])),
        (4, (0.0, 1.0), np.concatenate([np.linspace(-0.1, 1.1, 61), np.arange(16) / 15 + 0.5 / 15])),
        (1, (0.0, 1.0), np.array([-0.1, 0.0, 0.49, 0.5, 0.51, 1.0, 1.2])),
    ],
)
def test_forward_and_gradient_match_numpy(bits, value_range, x):
    x = np.asarray(x, np.float32)
    layer = BitPlaneInput(bits=bits, value_range=value_range)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        upstream = tf.constant(np.random.default_rng(0).normal(size=x.shape).astype("float32"))
        loss = tf.reduce_sum(y * upstream)
    want, raw, k = _np_bitplane(x, bits, *value_range)
    np.testing.assert_array_equal(y.numpy(), want)
    levels = (1 << bits) - 1
    inside = (raw >= 0) & (raw <= levels)
    np.testing.assert_allclose(
        tape.gradient(loss, xt).numpy(), np.where(inside, upstream.numpy() * k, 0.0), rtol=1e-6
    )


def test_uint8_input_passes_through_and_planes_sum_to_it():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    q = np.asarray(BitPlaneInput()(x))
    np.testing.assert_array_equal(q, x.astype(np.float32))
    planes = [(x.astype(int) >> n) & 1 for n in range(8)]
    np.testing.assert_array_equal(sum((1 << n) * p for n, p in enumerate(planes)), q)


def test_conv_on_planes_is_binarynet_bitplane_sum():
    """s = sum_n 2^(n-1) (x^n . w^b): the conv of the integer input with the binary weights."""
    x = np.random.default_rng(1).integers(0, 256, size=(2, 6, 6, 3)).astype(np.float32)
    inp = keras.Input((6, 6, 3))
    y = QuantConv2D(5, 3, kernel_quantizer="ste_sign", use_bias=False)(BitPlaneInput()(inp))
    model = keras.Model(inp, y)
    wb = np.where(np.asarray(model.layers[-1].kernel) >= 0, 1.0, -1.0).astype(np.float32)
    planes = [((x.astype(int) >> n) & 1).astype(np.float32) for n in range(8)]
    want = sum(2.0**n * tf.nn.conv2d(p, wb, 1, "VALID").numpy() for n, p in enumerate(planes))
    np.testing.assert_array_equal(np.asarray(model(x)), want)


def test_bad_arguments():
    with pytest.raises(ValueError, match="bits"):
        BitPlaneInput(bits=0)
    with pytest.raises(ValueError, match="bits"):
        BitPlaneInput(bits=8.0)
    with pytest.raises(ValueError, match="value_range"):
        BitPlaneInput(value_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="value_range"):
        BitPlaneInput(value_range="0..255")


def _x(batch=4, lo=-1.0, hi=1.0):
    return np.random.default_rng(3).uniform(lo - 0.1, hi + 0.1, size=(batch, 7, 7, 3)).astype(np.float32)


CASES = {
    "same": {},
    "valid": dict(padding="valid"),
    "stride2": dict(strides=2),
    "relu": dict(relu=True),
    "bits4_unit_range": dict(bits=4, value_range=(0.0, 1.0)),
    "dense": dict(dense=True),
    "abc3_kernel": dict(kernel_quantizer=kbnn.quantizers.MultiBaseSign(3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_lowering_parity_reference(case):
    kw = CASES[case]
    model = bitplane_model(**kw)
    x = _x(*(() if "value_range" not in kw else (4, *kw["value_range"])))
    low = kbnn.convert.lower(model, backend="reference")
    ref = np.asarray(model(x, training=False))
    got = np.asarray(low(x))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    st = {s.node.name: s for s in low.plan}
    m = kw["kernel_quantizer"].bases if "kernel_quantizer" in kw else 1
    assert st["first"].kind == "bmulti" and len(st["first"].terms) == kw.get("bits", 8) * m
    assert st["bn"].kind == "folded"
    if kw.get("padding", "same") == "same":
        assert st["first"].attrs["pad_values"] == 1  # zero padding of the integers = +1 padding of the planes
    assert not low.report.not_lowered


def test_report_names_the_ops_and_planes():
    low = kbnn.convert.lower(bitplane_model(dense=True), backend="reference")
    row = low.report.row("first")
    assert row.status == "lowered"
    assert row.op == "KbnnBconv2d x1 over 8 stacked bit planes = 8 binary convolutions + Mul/Add (+bn)"
    assert low.report.row("fc_planes").op.startswith(
        "KbnnBFullyConnected x1 over 8 stacked bit planes = 8 binary products"
    )
    assert "bit planes of first" in low.report.row("planes").op
    assert "8 binary convolutions" in low.report.to_text()


def test_summary_macs_match_converter():
    model = bitplane_model(dense=True)
    s = kbnn.summary(model, print_fn=None)
    low = kbnn.convert.lower(model, backend="reference")
    for row in s.layers:
        assert row.binary_macs == low.report.row(row.name).binary_macs, row.name
    first = next(r for r in s.layers if r.name == "first")
    assert first.macs == first.binary_macs == 8 * 7 * 7 * 20 * 9 * 3
    assert first.input_precision == 8 and "8 binary convolutions" in first.note
    assert next(r for r in s.layers if r.name == "planes").macs == 0


def test_padding_with_ones_is_not_lowerable():
    inp = keras.Input((5, 5, 2))
    x = BitPlaneInput()(inp)
    x = QuantConv2D(4, 3, padding="same", pad_values=1.0, kernel_quantizer="ste_sign", name="c")(x)
    low = kbnn.convert.lower(keras.Model(inp, x), backend="reference")
    assert "pad" in low.report.row("c").reason


@needs_interpreter
@pytest.mark.parametrize("case", ["same", "stride2", "dense", "relu", "abc3_kernel"])
def test_tflite_bit_exact_with_tf_ops(case):
    x = _x()
    model = bitplane_model(**CASES[case], head=False)  # outputs = the bit-plane layers' outputs
    data = kbnn.convert(model, progress=False)
    tf_out = kbnn.convert.lower(model, backend="kbnn")(x)
    got = kbnn.Interpreter(data).predict(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(tf_out))
    np.testing.assert_allclose(np.asarray(got), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4)
    names = [n for n, _ in _custom_ops(data)]
    branches = 2 if CASES[case].get("dense") else 1  # one op and one quantize per bit-plane layer
    m = CASES[case]["kernel_quantizer"].bases if "kernel_quantizer" in CASES[case] else 1
    assert names.count("KbnnBconv2d") == m and names.count("KbnnQuantize") == branches
    model = bitplane_model(**CASES[case])  # with the float head: identical argmax
    got = np.asarray(kbnn.Interpreter(kbnn.convert(model, progress=False)).predict(x))
    np.testing.assert_array_equal(got.argmax(-1), np.asarray(model(x, training=False)).argmax(-1))


@needs_interpreter
def test_uint8_model_input():
    inp = keras.Input((6, 6, 3), dtype="uint8")
    x = BitPlaneInput()(inp)
    x = QuantConv2D(8, 3, kernel_quantizer="ste_sign", use_bias=False)(x)
    model = keras.Model(inp, x)
    x = np.random.default_rng(0).integers(0, 256, size=(2, 6, 6, 3)).astype(np.uint8)
    data = kbnn.convert(model, progress=False)
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    np.testing.assert_array_equal(got, np.asarray(model(x)))  # integer sums: exact


def test_keras_round_trip(tmp_path):
    model = bitplane_model(dense=True, bits=6, value_range=(-2.0, 3.0))
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.saving.load_model(path)
    layer = back.get_layer("planes")
    assert isinstance(layer, BitPlaneInput) and layer.bits == 6 and layer.value_range == (-2.0, 3.0)
    x = _x()
    np.testing.assert_array_equal(np.asarray(back(x, training=False)), np.asarray(model(x, training=False)))


def _digits_check(model, data, min_acc=0.95):
    from kbnn import demo

    x_test = demo.as_images(data.x_test)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kbnn.convert.ConversionWarning)
        data_bytes, report = kbnn.convert(model, progress=False, return_report=True, strict=True)
    builtins = set(_builtin_ops(data_bytes))
    assert not builtins & {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}, builtins
    keras_pred = np.asarray(model.predict(x_test, verbose=0)).argmax(-1)
    tfl_pred = np.asarray(kbnn.Interpreter(data_bytes).predict(x_test)).argmax(-1)
    acc = float(np.mean(tfl_pred == data.y_test))
    assert acc >= min_acc, acc
    assert np.mean(tfl_pred == keras_pred) >= 0.99
    assert report.row("stem_conv").op.startswith("KbnnBconv2d x1 over 8 stacked bit planes")
    s = kbnn.summary(model, print_fn=None)
    assert s.binary_mac_fraction == 1.0
    return acc


@needs_interpreter
def test_fully_binary_digits_cnn_reaches_95_percent():
    """Bit-plane first layer, binary blocks, binary classifier: no float convolution, >= 95 %."""
    from kbnn import demo

    data = demo.load_digits_data(seed=0)
    model = demo.train_bitplane_cnn(data, bases=1, epochs=15, filters=32, seed=0)
    _digits_check(model, data)


@pytest.mark.slow
@needs_interpreter
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bases", [1, 2])
def test_fully_binary_digits_cnn_seeds(seed, bases):
    from kbnn import demo

    data = demo.load_digits_data(seed=seed)
    _digits_check(demo.train_bitplane_cnn(data, bases=bases, epochs=30, seed=seed), data)


@pytest.mark.parametrize("name", ["BiRealNet18", "RealToBinaryNet18"])
def test_zoo_bitplane_stem_has_no_float_stem_macs(name):
    model = getattr(kbnn.models, name)(input_shape=(32, 32, 3), num_classes=10, stem="bitplane")
    s = kbnn.summary(model, print_fn=None)
    stem = next(r for r in s.layers if r.name == "stem_conv")
    assert stem.macs == stem.binary_macs == 8 * 16 * 16 * 64 * 7 * 7 * 3
    low = kbnn.convert.lower(model, backend="reference")
    assert low.report.row("stem_conv").op.startswith("KbnnBconv2d x1 over 8 stacked bit planes")
    assert low.report.row("stem_conv").binary_macs == stem.binary_macs
    x = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(low(x)), np.asarray(model(x, training=False)), rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="stem"):
        getattr(kbnn.models, name)(input_shape=(32, 32, 3), stem="int8")
