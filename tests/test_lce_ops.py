"""Larq Compute Engine (LCE 0.16) files in the stock interpreters with the kbnn delegate.

Fixtures (tests/fixtures/larq, written by make_fixtures.py in the LCE environment): Larq models
converted by larq_compute_engine.convert_keras_model (plain and with LCE's int8 options) and the
outputs of LCE's own interpreter. kbnn must reproduce them up to float rounding. Models whose
output is a bitpacked LceBconv2d / LceBMaxPool2d / LceQuantize tensor are hand-built here and
compared bit for bit with NumPy references of LCE's documented semantics (acc = popcount of
input XOR filter, bit = acc > threshold; float/int8 = clamp(2 acc) * m' + b').
"""

from pathlib import Path

import numpy as np
import pytest

from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT8, INT32

FIXTURES = Path(__file__).parent / "fixtures" / "larq"
LCE_FILES = [
    ("mixed", ""),
    ("mixed", ".int8"),
    ("chain", ""),
    ("chain", ".int8"),
    ("grouped", ""),
    ("int8out", ""),
    ("int8out", ".int8"),
]
RNG = np.random.default_rng(7)


def _close(got, want):
    """Float rounding only: a flipped bit anywhere upstream changes a dot product by 2, far
    above this tolerance for these models (multipliers are O(0.1..1))."""
    scale = max(1.0, float(np.abs(want).max()))
    return float(np.abs(got - want).max()) <= 4e-6 * scale


@pytest.mark.parametrize("name,suffix", LCE_FILES)
@pytest.mark.parametrize("kernel", ["auto", "reference"])
def test_lce_file_matches_lce_interpreter(delegate_env, name, suffix, kernel):
    import kbnn

    data = np.load(FIXTURES / f"{name}.npz")
    want = data["lce" + suffix.replace(".", "_")]
    it = kbnn.Interpreter(FIXTURES / f"{name}{suffix}.tflite", num_threads=2, kernel=kernel)
    got = np.stack([np.asarray(it.predict(x[None]))[0] for x in data["inputs"]])
    assert got.shape == want.shape
    assert _close(got, want), float(np.abs(got - want).max())
    if want.ndim == 2:
        np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1))


@pytest.mark.parametrize("kernel", ["auto", "reference"])
def test_lce_int8_file_exact(delegate_env, kernel):
    """QAT-style file: int8 model input/output, LceBconv2d with int8 output (plain and fused
    ReLU). Equal to LCE's interpreter with XNNPACK for the builtin int8 ops (as the stock
    runtimes run them); LCE's default (TFLite reference int8 convolutions) differs only by the
    builtin ops' requantization, at most one step."""
    import kbnn

    data = np.load(FIXTURES / "qat.npz")
    it = kbnn.Interpreter(FIXTURES / "qat.int8.tflite", kernel=kernel)
    got = np.stack([np.asarray(it.predict(x[None]))[0] for x in data["inputs"]])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, data["lce_int8_xnnpack"])
    assert np.abs(got.astype(int) - data["lce_int8"]).max() <= 1


def test_lce_file_batch_resize(delegate_env):
    """LCE's own kernels keep the converted batch (1); kbnn's resize with the input."""
    import kbnn

    data = np.load(FIXTURES / "chain.npz")
    got = np.asarray(kbnn.Interpreter(FIXTURES / "chain.tflite").predict(data["inputs"]))
    assert got.shape == data["lce"].shape
    assert _close(got, data["lce"])


def test_lce_file_in_tf_lite(delegate_env):
    import tensorflow as tf

    data = np.load(FIXTURES / "chain.npz")
    it = tf.lite.Interpreter(
        model_path=str(FIXTURES / "chain.tflite"),
        experimental_delegates=[tf.lite.experimental.load_delegate(delegate_env)],
    )
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    got = []
    for x in data["inputs"]:
        it.set_tensor(inp, x[None])
        it.invoke()
        got.append(it.get_tensor(out)[0])
    assert _close(np.stack(got), data["lce"])


def test_lce_file_without_delegate_names_the_fix():
    from ai_edge_litert.interpreter import Interpreter

    from kbnn.interpreter import DelegateMissingError, explain_error

    it = Interpreter(model_path=str(FIXTURES / "chain.tflite"))
    with pytest.raises(RuntimeError) as e:
        it.allocate_tensors()
    err = explain_error(e.value)
    assert isinstance(err, DelegateMissingError)
    assert "LceQuantize" in str(err) and "Larq Compute Engine" in str(err)


# ------------------------------------------------------------------------------------------------
# Hand-built LCE graphs, bit-exact against NumPy references of LCE's semantics.


def lce_bconv_opts(cin, stride=(1, 1), dilation=(1, 1), padding="SAME", pad_values=1, act=0):
    return {
        "channels_in": cin,
        "dilation_height_factor": dilation[0],
        "dilation_width_factor": dilation[1],
        "fused_activation_function": act,
        "pad_values": pad_values,
        "padding": 0 if padding == "SAME" else 1,
        "stride_height": stride[0],
        "stride_width": stride[1],
    }


def run(lib, model, x, kernel=None):
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    opts = {"kernel": kernel} if kernel else {}
    it = Interpreter(model_content=model, experimental_delegates=[load_delegate(lib, opts)])
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def quant(t, scale, zp):
    t.quantization = tb.fb.QuantizationParametersT()
    t.quantization.scale = [float(scale)]
    t.quantization.zeroPoint = [int(zp)]


def lce_bconv_model(
    x_shape,
    w,
    out,
    *,
    cin,
    stride=(1, 1),
    dilation=(1, 1),
    padding="SAME",
    pad_values=1,
    act=0,
    mul=None,
    bias=None,
    thresholds=None,
    out_q=None,
    version=1,
    opts=None,
):
    """float x -> LceQuantize -> LceBconv2d(out: 'float' | 'int8' | 'bitpacked')."""
    mb = tb.ModelBuilder()
    n, h, wd, _ = x_shape
    cout, kh, kw, _ = w.shape
    xt = mb.tensor(x_shape, FLOAT32)
    qt = mb.tensor((n, h, wd, tb.words(cin)), INT32)
    mb.custom("LceQuantize", [xt], [qt], None)
    ft = mb.tensor(tb.pack(w).shape, INT32, tb.pack(w))
    mt = mb.tensor((cout,), FLOAT32, mul) if mul is not None else -1
    bt = mb.tensor((cout,), FLOAT32, bias) if bias is not None else -1
    tt = mb.tensor((cout,), INT32, thresholds) if thresholds is not None else -1
    oh, _ = tb._out_size(h, kh, stride[0], dilation[0], padding)
    ow, _ = tb._out_size(wd, kw, stride[1], dilation[1], padding)
    if out == "bitpacked":
        ot = mb.tensor((n, oh, ow, tb.words(cout)), INT32)
    elif out == "int8":
        ot = mb.tensor((n, oh, ow, cout), INT8)
        quant(mb.tensors[ot], *out_q)
    else:
        ot = mb.tensor((n, oh, ow, cout), FLOAT32)
    o = opts or lce_bconv_opts(cin, stride, dilation, padding, pad_values, act)
    mb.custom("LceBconv2d", [qt, ft, mt, bt, tt], [ot], o)
    model = mb.build([xt], [ot])
    if version != 1:
        m = tb.fb.ModelT.InitFromObj(tb.fb.Model.GetRootAsModel(model, 0))
        for c in m.operatorCodes:
            if c.customCode in (b"LceBconv2d", "LceBconv2d"):
                c.version = version
        import flatbuffers

        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        model = bytes(b.Output())
    return model


def lce_transform(dot, K, mul, bias, act, scale=1.0, zp=0.0):
    """LCE 0.16's float/int8 output transform (core/bconv2d/output_transform.h)."""
    m = (-1.0 * mul.astype(np.float64) / scale).astype(np.float32)
    b = ((bias.astype(np.float64) + K * mul.astype(np.float64)) / scale + zp).astype(np.float32)
    lo, hi = {0: (-(2**31), 2**31 - 1), 1: (0, 2**31 - 1), 2: (-1, 1), 3: (0, 6)}[act]
    lo, hi = max(lo, -K), min(hi, K)
    x = np.clip(K - dot, K - hi, K - lo).astype(np.float32)
    return (x * m + b).astype(np.float32)


@pytest.mark.parametrize(
    "case",
    [
        dict(cin=40, cout=33, k=(3, 3), stride=(1, 1), padding="SAME", pad_values=1),
        dict(cin=64, cout=64, k=(3, 3), stride=(2, 2), padding="SAME", pad_values=1, groups=2),
        dict(cin=7, cout=45, k=(3, 2), stride=(1, 2), dilation=(2, 1), padding="VALID"),
    ],
)
@pytest.mark.parametrize("kernel", ["auto", "reference"])
def test_bconv_bitpacked_thresholds_bit_exact(lib_path, case, kernel):
    groups = case.get("groups", 1)
    cin, cout, (kh, kw) = case["cin"], case["cout"], case["k"]
    x = RNG.normal(size=(2, 9, 8, cin)).astype(np.float32)
    w = RNG.normal(size=(cout, kh, kw, cin // groups)).astype(np.float32)
    K = kh * kw * cin // groups
    thr = RNG.integers(-2, K + 2, size=cout).astype(np.int32)
    thr[0], thr[-1] = -(2**31), 2**31 - 1  # always 1 / always 0
    model = lce_bconv_model(
        x.shape,
        w,
        "bitpacked",
        cin=cin,
        stride=case["stride"],
        dilation=case.get("dilation", (1, 1)),
        padding=case["padding"],
        pad_values=case.get("pad_values", 1),
        thresholds=thr,
    )
    got = run(lib_path, model, x, kernel)
    dot = tb.conv_dot(x, w, case["stride"], case.get("dilation", (1, 1)), case["padding"], 1, groups)
    acc = (K - dot) / 2
    want = tb.pack(np.where(acc > thr, -1.0, 1.0))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("out", ["float", "int8"])
def test_bconv_float_int8_fused_activation_exact(lib_path, act, out):
    cin, cout = 50, 20
    x = RNG.normal(size=(1, 7, 6, cin)).astype(np.float32)
    w = RNG.normal(size=(cout, 3, 3, cin)).astype(np.float32)
    mul = RNG.uniform(-0.3, 0.3, cout).astype(np.float32)
    bias = RNG.normal(size=cout).astype(np.float32)
    q = (0.07, -5)
    model = lce_bconv_model(
        x.shape, w, out, cin=cin, padding="SAME", pad_values=1, act=act, mul=mul, bias=bias, out_q=q
    )
    got = run(lib_path, model, x)
    K = 9 * cin
    dot = tb.conv_dot(x, w, padding="SAME", pad_value=1)
    if out == "float" and act == 0:  # kbnn's float output: mul * dot + bias, float rounding
        np.testing.assert_allclose(got, lce_transform(dot, K, mul, bias, act), rtol=2e-6, atol=2e-5)
    elif out == "float":  # LCE's exact transform
        np.testing.assert_array_equal(got, lce_transform(dot, K, mul, bias, act))
    else:
        y = lce_transform(dot, K, mul, bias, act, *q)
        want = np.clip(np.sign(y) * np.floor(np.abs(y) + 0.5), -128, 127).astype(np.int8)
        np.testing.assert_array_equal(got, want)


def test_bconv_same_zero_float(lib_path):
    cin, cout = 40, 12
    x = RNG.normal(size=(1, 6, 6, cin)).astype(np.float32)
    w = RNG.normal(size=(cout, 3, 3, cin)).astype(np.float32)
    mul = RNG.uniform(-0.3, 0.3, cout).astype(np.float32)
    bias = RNG.normal(size=cout).astype(np.float32)
    model = lce_bconv_model(x.shape, w, "float", cin=cin, pad_values=0, mul=mul, bias=bias)
    got = run(lib_path, model, x)
    want = tb.transform(tb.conv_dot(x, w, padding="SAME", pad_value=0), mul, bias)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_quantize_dequantize_int8(lib_path):
    """float -> LceQuantize -> LceDequantize(int8 out); int8 -> LceQuantize (zero point)."""
    mb = tb.ModelBuilder()
    xt = mb.tensor((2, 3, 37), FLOAT32)
    qt = mb.tensor((2, 3, 2), INT32)
    ot = mb.tensor((2, 3, 37), INT8)
    quant(mb.tensors[ot], 0.3, 4)
    mb.custom("LceQuantize", [xt], [qt], None)
    mb.custom("LceDequantize", [qt], [ot], None)
    model = mb.build([xt], [ot])
    x = RNG.normal(size=(2, 3, 37)).astype(np.float32)
    x[0, 0, :3] = [0.0, -0.0, np.nan]
    got = run(lib_path, model, x)
    off = int(np.floor(1 / np.float32(0.3) + 0.5))
    np.testing.assert_array_equal(got, np.where(x < 0, 4 - off, 4 + off).astype(np.int8))

    mb = tb.ModelBuilder()
    xt = mb.tensor((1, 70), INT8)
    quant(mb.tensors[xt], 0.1, 3)
    qt = mb.tensor((1, 3), INT32)
    mb.custom("LceQuantize", [xt], [qt], None)
    model = mb.build([xt], [qt])
    x = RNG.integers(-128, 128, size=(1, 70)).astype(np.int8)
    np.testing.assert_array_equal(run(lib_path, model, x), tb.pack(x.astype(np.float32) - 3))


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_bmaxpool(lib_path, padding):
    mb = tb.ModelBuilder()
    xt = mb.tensor((1, 7, 7, 45), FLOAT32)
    qt = mb.tensor((1, 7, 7, 2), INT32)
    oh = 4 if padding == "SAME" else 3
    ot = mb.tensor((1, oh, oh, 2), INT32)
    mb.custom("LceQuantize", [xt], [qt], None)
    mb.custom(
        "LceBMaxPool2d",
        [qt],
        [ot],
        {
            "filter_height": 3,
            "filter_width": 3,
            "padding": 0 if padding == "SAME" else 1,
            "stride_height": 2,
            "stride_width": 2,
        },
    )
    model = mb.build([xt], [ot])
    x = RNG.normal(size=(1, 7, 7, 45)).astype(np.float32) + 0.8
    want = tb.pack(tb.maxpool_ref(x, (3, 3), (2, 2), padding))
    np.testing.assert_array_equal(run(lib_path, model, x), want)


@pytest.mark.parametrize(
    "change,needle",
    [
        (dict(opts={"channels_in": 8}), "missing option 'stride_height'"),
        (dict(act=7), "fused_activation_function' = 7"),
        (dict(opts=dict(lce_bconv_opts(8), padding=5)), "not a TFLite padding"),
        (dict(opts=dict(lce_bconv_opts(8), pad_values=2)), "pad_values' = 2"),
        (dict(pad_values=0, out="bitpacked"), "SAME zero-padding"),
    ],
)
def test_unsupported_lce_options_clear_error(delegate_env, change, needle):
    import kbnn
    from kbnn.interpreter import KbnnDelegateError

    cin, cout = 8, 4
    w = RNG.normal(size=(cout, 3, 3, cin)).astype(np.float32)
    out = change.pop("out", "float")
    kw = (
        dict(thresholds=np.zeros(cout, np.int32))
        if out == "bitpacked"
        else dict(mul=np.ones(cout, np.float32), bias=np.zeros(cout, np.float32))
    )
    model = lce_bconv_model((1, 5, 5, cin), w, out, cin=cin, **kw, **change)
    with pytest.raises(KbnnDelegateError, match=needle):
        kbnn.Interpreter(model).predict(np.zeros((1, 5, 5, cin), np.float32))


def test_unsupported_lce_op_version_clear_error(delegate_env):
    """The runtimes hand delegates version 1 for every unresolved custom op, so kbnn.Interpreter
    reads the versions from the file."""
    import kbnn
    from kbnn.interpreter import ModelError, _custom_op_versions

    w = RNG.normal(size=(4, 3, 3, 8)).astype(np.float32)
    kw = dict(mul=np.ones(4, np.float32), bias=np.zeros(4, np.float32))
    assert _custom_op_versions(lce_bconv_model((1, 5, 5, 8), w, "float", cin=8, **kw)) == [
        ("LceQuantize", 1),
        ("LceBconv2d", 1),
    ]
    model = lce_bconv_model((1, 5, 5, 8), w, "float", cin=8, version=2, **kw)
    with pytest.raises(ModelError, match="LceBconv2d has version 2"):
        kbnn.Interpreter(model)
    assert _custom_op_versions(b"\x08\x00\x00\x00TFL3" + bytes(20)) == []


@pytest.fixture(scope="session")
def lib_path():
    return tb.delegate_library()
