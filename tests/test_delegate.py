"""libkbnn_delegate.so in the stock interpreters (ai_edge_litert, tf.lite) on hand-built models.

Binary paths are compared bit-exactly with NumPy references (float convolution on ±1 data);
float outputs use the kernels' documented formula y = float32(multiplier * dot) + bias.
"""

import ctypes
import json

import numpy as np
import pytest

from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT32

RNG = np.random.default_rng(1234)


@pytest.fixture(scope="session")
def lib():
    return tb.delegate_library()


def run(lib, model, inputs, num_threads=None, kernel=None, runtime="litert"):
    options = {}
    if num_threads is not None:
        options["num_threads"] = str(num_threads)
    if kernel is not None:
        options["kernel"] = kernel
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter, load_delegate
    else:
        import tensorflow as tf

        Interpreter, load_delegate = tf.lite.Interpreter, tf.lite.experimental.load_delegate
    it = Interpreter(model_content=model, experimental_delegates=[load_delegate(lib, options)])
    details = it.get_input_details()
    for d, x in zip(details, inputs):
        if tuple(x.shape) != tuple(d["shape"]):
            it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(details, inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


# CPU features each x86 kernel ISA needs (the delegate's own check also asks the OS for zmm state).
ISA_CPU_FLAGS = {
    "avx2": ("avx2", "popcnt"),
    "avx512": ("avx512f", "avx512vl", "avx512bw", "avx512_vpopcntdq"),
}


def skip_unless_isa(kernel):
    """Skips the test, saying why, when this CPU lacks the kernel ISA (avx2 / avx512)."""
    if kernel not in ISA_CPU_FLAGS:
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    missing = [fl for fl in ISA_CPU_FLAGS[kernel] if fl not in flags]
    if missing:
        pytest.skip(f"kernel={kernel} not tested: this CPU lacks {', '.join(missing)}")


def int8_ref(y, scale, zp):
    r = (y / np.float32(scale)).astype(np.float32)
    r = np.sign(r) * np.floor(np.abs(r) + 0.5)
    return np.clip(r + zp, -128, 127).astype(np.int8)


def test_schema_json_matches_schema_py(lib):
    from kbnn.convert import schema

    so = ctypes.CDLL(lib)
    so.kbnn_delegate_schema_json.restype = ctypes.c_char_p
    table = json.loads(so.kbnn_delegate_schema_json().decode())
    assert table["schema_version"] == schema.SCHEMA_VERSION
    assert table["version_attr"] == schema.VERSION_ATTR
    assert [op["name"] for op in table["ops"]] == [op.name for op in schema.OPS]
    for got, want in zip(table["ops"], schema.OPS):
        assert got["version"] == want.version
        assert [(t["name"], t["dtype"]) for t in got["inputs"]] == [(t.name, t.dtype) for t in want.inputs]
        assert [(t["name"], t["dtype"]) for t in got["outputs"]] == [(t.name, t.dtype) for t in want.outputs]
        assert [(a["name"], a["type"]) for a in got["attrs"]] == [(a.name, a.type) for a in want.attrs]
        for a, w in zip(got["attrs"], want.attrs):
            assert a["required"] == (w.default is None or w.name == schema.VERSION_ATTR), a


def quant_bconv_model(n, h, w, cin, filters, mult, bias, out_shape, T=0, **attrs):
    mb = tb.ModelBuilder()
    x = mb.tensor((n, h, w, cin), FLOAT32, name="x")
    q = mb.tensor((n, h, w, tb.words(cin)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    y = tb.add_bconv(mb, q, n, h, w, filters, mult, bias, out_shape=out_shape, T=T, **attrs)
    return mb.build([x], [y])


CONV_CASES = [
    # cin, cout, k, stride, dilation, padding, pad_values, groups, activation
    (40, 8, 3, 1, 1, "VALID", 1, 1, "NONE"),
    (33, 5, 3, 2, 1, "SAME", 1, 1, "RELU"),
    (64, 16, 3, 1, 1, "SAME", 0, 1, "NONE"),
    (70, 6, 5, 1, 2, "SAME", 1, 1, "RELU6"),
    (64, 8, 1, 2, 1, "VALID", 1, 2, "NONE"),
    (32, 32, 3, 1, 1, "SAME", 1, 1, "NONE"),
]


@pytest.mark.parametrize("kernel", ["auto", "avx2", "avx512"])
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("T", [0, 2, 9])
def test_bconv2d(lib, case, T, kernel):
    skip_unless_isa(kernel)
    cin, cout, k, s, d, padding, pad_values, groups, act = case
    n, h, w = 2, 9, 8
    filters = RNG.standard_normal((cout, k, k, cin // groups)).astype(np.float32)
    mult = RNG.uniform(0.1, 2, cout).astype(np.float32)
    bias = RNG.standard_normal(cout).astype(np.float32)
    x = RNG.standard_normal((n, h, w, cin)).astype(np.float32)
    dot = tb.conv_dot(x, filters, (s, s), (d, d), padding, pad_values, groups)
    y = tb.transform(dot, mult, bias, act)
    oc = tb.words(cout) if T == 2 else cout
    model = quant_bconv_model(
        n,
        h,
        w,
        cin,
        filters,
        mult,
        bias,
        (n,) + y.shape[1:3] + (oc,),
        T=T,
        stride_height=s,
        stride_width=s,
        dilation_height=d,
        dilation_width=d,
        padding=padding,
        pad_values=pad_values,
        groups=groups,
        activation=act,
        int8_scale=0.25,
        int8_zero_point=3,
    )
    (out,) = run(lib, model, [x], num_threads=2, kernel=kernel)
    if T == 0:
        np.testing.assert_array_equal(out, y)
    elif T == 2:
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, tb.pack(y))
    else:
        np.testing.assert_array_equal(out, int8_ref(y, 0.25, 3))


@pytest.mark.parametrize("T", [0, 2])
def test_bfully_connected(lib, T):
    n, k, cout = 3, 100, 37
    wts = RNG.standard_normal((cout, k)).astype(np.float32)
    mult = RNG.uniform(0.1, 2, cout).astype(np.float32)
    bias = RNG.standard_normal(cout).astype(np.float32)
    mb = tb.ModelBuilder()
    x = mb.tensor((n, k), FLOAT32, name="x")
    q = mb.tensor((n, tb.words(k)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    w_t = mb.tensor((cout, tb.words(k)), INT32, tb.pack(wts))
    m_t, b_t = mb.tensor((cout,), FLOAT32, mult), mb.tensor((cout,), FLOAT32, bias)
    y_t = mb.tensor((n, tb.words(cout) if T == 2 else cout), INT32 if T == 2 else FLOAT32)
    mb.custom("KbnnBFullyConnected", [q, w_t, m_t, b_t], [y_t], dict(kbnn_version=1, input_size=k, T=T))
    xv = RNG.standard_normal((n, k)).astype(np.float32)
    (out,) = run(lib, mb.build([x], [y_t]), [xv])
    y = tb.transform(tb.sign(xv).astype(np.float64) @ tb.sign(wts).T.astype(np.float64), mult, bias)
    np.testing.assert_array_equal(out, tb.pack(y) if T == 2 else y)


@pytest.mark.parametrize("k,s,padding", [(2, 2, "VALID"), (3, 2, "SAME"), (3, 1, "VALID")])
def test_bmaxpool_quantize_dequantize(lib, k, s, padding):
    n, h, w, c = 2, 7, 6, 45
    mb = tb.ModelBuilder()
    x = mb.tensor((n, h, w, c), FLOAT32, name="x")
    q = mb.tensor((n, h, w, 2), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    ref = tb.maxpool_ref(RNG.standard_normal((1, 1, 1, 1)), (1, 1), (1, 1))  # warm the helper
    xv = RNG.standard_normal((n, h, w, c)).astype(np.float32)
    ref = tb.maxpool_ref(xv, (k, k), (s, s), padding)
    p = mb.tensor((n,) + ref.shape[1:3] + (2,), INT32)
    mb.custom(
        "KbnnBMaxPool2d",
        [q],
        [p],
        dict(
            kbnn_version=1,
            channels=c,
            filter_height=k,
            filter_width=k,
            stride_height=s,
            stride_width=s,
            padding=padding,
        ),
    )
    dq = mb.tensor(ref.shape, FLOAT32)
    mb.custom("KbnnDequantize", [p], [dq], dict(kbnn_version=1, channels=c))
    q_out, p_out, dq_out = run(lib, mb.build([x], [q, p, dq]), [xv])
    np.testing.assert_array_equal(q_out, tb.pack(xv))
    np.testing.assert_array_equal(p_out, tb.pack(ref))
    np.testing.assert_array_equal(dq_out, ref)


def chain_model(n=1, h=10, w=10, c=48):
    """quantize → bconv (bitpacked) → bmaxpool → bconv (float): one partition, 3 internal tensors."""
    f1 = RNG.standard_normal((40, 3, 3, c)).astype(np.float32)
    m1, b1 = RNG.uniform(0.5, 1.5, 40).astype(np.float32), RNG.standard_normal(40).astype(np.float32)
    f2 = RNG.standard_normal((10, 3, 3, 40)).astype(np.float32)
    m2, b2 = RNG.uniform(0.5, 1.5, 10).astype(np.float32), RNG.standard_normal(10).astype(np.float32)
    mb = tb.ModelBuilder()
    x = mb.tensor((n, h, w, c), FLOAT32, name="x")
    q = mb.tensor((n, h, w, 2), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    a = tb.add_bconv(mb, q, n, h, w, f1, m1, b1, out_shape=(n, h, w, 2), T=2, padding="SAME")
    p = mb.tensor((n, h // 2, w // 2, 2), INT32)
    mb.custom(
        "KbnnBMaxPool2d",
        [a],
        [p],
        dict(kbnn_version=1, channels=40, filter_height=2, filter_width=2, stride_height=2, stride_width=2),
    )
    y = tb.add_bconv(mb, p, n, h // 2, w // 2, f2, m2, b2, out_shape=(n, h // 2 - 2, w // 2 - 2, 10))

    def ref(xv):
        y1 = tb.transform(tb.conv_dot(xv, f1, padding="SAME"), m1, b1)
        pooled = tb.maxpool_ref(y1, (2, 2), (2, 2))
        return tb.transform(tb.conv_dot(pooled, f2), m2, b2)

    return mb.build([x], [y]), ref


def test_chain_in_one_partition(lib):
    model, ref = chain_model()
    xv = RNG.standard_normal((1, 10, 10, 48)).astype(np.float32)
    (out,) = run(lib, model, [xv])
    np.testing.assert_array_equal(out, ref(xv))


def test_builtin_between_kbnn_ops_two_partitions(lib):
    n, h, w, c = 2, 6, 6, 35
    f = RNG.standard_normal((20, 3, 3, c)).astype(np.float32)
    m, b = RNG.uniform(0.5, 1.5, 20).astype(np.float32), RNG.standard_normal(20).astype(np.float32)
    offset = RNG.standard_normal((1, 1, 1, 20)).astype(np.float32)
    wts = RNG.standard_normal((7, 4 * 4 * 20)).astype(np.float32)
    mb = tb.ModelBuilder()
    x = mb.tensor((n, h, w, c), FLOAT32, name="x")
    q = mb.tensor((n, h, w, 2), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    y = tb.add_bconv(mb, q, n, h, w, f, m, b, out_shape=(n, 4, 4, 20))
    o_t = mb.tensor((1, 1, 1, 20), FLOAT32, offset)
    s = mb.tensor((n, 4, 4, 20), FLOAT32)
    mb.add(y, o_t, s)
    # Quantize on [n, 4, 4, 20] then a 4x4 VALID bconv = a fully connected layer over the map.
    q2 = mb.tensor((n, 4, 4, 1), INT32)
    mb.custom("KbnnQuantize", [s], [q2], dict(kbnn_version=1))
    z = tb.add_bconv(
        mb,
        q2,
        n,
        4,
        4,
        wts.reshape(7, 4, 4, 20),
        np.ones(7, np.float32),
        np.zeros(7, np.float32),
        out_shape=(n, 1, 1, 7),
    )
    xv = RNG.standard_normal((n, h, w, c)).astype(np.float32)
    (out,) = run(lib, mb.build([x], [z]), [xv])
    y_ref = tb.transform(tb.conv_dot(xv, f), m, b) + offset
    z_ref = tb.conv_dot(y_ref, wts.reshape(7, 4, 4, 20)).astype(np.float32)
    np.testing.assert_array_equal(out, z_ref)


def test_batch_resize_and_threads(lib):
    model, ref = chain_model(n=1)
    outs = {}
    for threads in (1, 2):
        for batch in (1, 3):
            xv = np.random.default_rng(batch).standard_normal((batch, 10, 10, 48)).astype(np.float32)
            (out,) = run(lib, model, [xv], num_threads=threads)
            np.testing.assert_array_equal(out, ref(xv))
            outs[threads, batch] = out
    np.testing.assert_array_equal(outs[1, 3], outs[2, 3])


def test_resize_same_interpreter(lib):
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    model, ref = chain_model(n=1)
    it = Interpreter(model_content=model, experimental_delegates=[load_delegate(lib, {"num_threads": "2"})])
    idx = it.get_input_details()[0]["index"]
    for batch in (1, 4, 2):
        xv = RNG.standard_normal((batch, 10, 10, 48)).astype(np.float32)
        it.resize_tensor_input(idx, list(xv.shape))
        it.allocate_tensors()
        it.set_tensor(idx, xv)
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), ref(xv))


@pytest.mark.parametrize("kernel", ["reference", "scalar", "avx2", "avx512", "auto"])
def test_kernel_choices_agree(lib, kernel):
    skip_unless_isa(kernel)
    model, ref = chain_model(n=2)
    xv = RNG.standard_normal((2, 10, 10, 48)).astype(np.float32)
    (out,) = run(lib, model, [xv], kernel=kernel, num_threads=2)
    np.testing.assert_array_equal(out, ref(xv))


def test_tf_lite_interpreter(lib):
    model, ref = chain_model(n=1)
    xv = RNG.standard_normal((2, 10, 10, 48)).astype(np.float32)
    (out,) = run(lib, model, [xv], runtime="tf")
    np.testing.assert_array_equal(out, ref(xv))


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"num_threads": "x"}, "num_threads"),
        ({"kernel": "sse9"}, "kernel"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_bad_delegate_options(lib, options, needle):
    from ai_edge_litert.interpreter import load_delegate

    with pytest.raises(ValueError, match=needle):
        load_delegate(lib, options)


def residual_model(n, h, w, cin, filters, mult, bias, res_shape, **attrs):
    """x -> KbnnQuantize -> KbnnBconv2dResidual(residual = x) -> (float sum, bitpacked signs)."""
    cout, kh, kw, _ = filters.shape
    mb = tb.ModelBuilder()
    x = mb.tensor((n, h, w, cin), FLOAT32, name="x")
    r = mb.tensor(res_shape, FLOAT32, name="residual")
    q = mb.tensor((n, h, w, tb.words(cin)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    f_t = mb.tensor((cout, kh, kw, tb.words(cin)), INT32, tb.pack(filters))
    m_t = mb.tensor((cout,), FLOAT32, mult)
    b_t = mb.tensor((cout,), FLOAT32, bias)
    y = mb.tensor(res_shape, FLOAT32, name="sum")
    bits = mb.tensor(tuple(res_shape[:3]) + (tb.words(cout),), INT32, name="bits")
    a = tb.bconv_attrs(cin, kh, kw, **attrs)
    for key in ("T", "int8_scale", "int8_zero_point"):
        del a[key]
    mb.custom("KbnnBconv2dResidual", [q, f_t, m_t, b_t, r], [y, bits], a)
    return mb.build([x, r], [y, bits])


@pytest.mark.parametrize("kernel", ["reference", "scalar", "avx2", "avx512", "auto"])
@pytest.mark.parametrize(
    "cin,cout,padding,pad_values,act",
    [(64, 64, "SAME", 1, "NONE"), (40, 72, "SAME", 0, "RELU"), (33, 5, "VALID", 1, "NONE")],
)
def test_bconv2d_residual(lib, kernel, cin, cout, padding, pad_values, act):
    skip_unless_isa(kernel)
    n, h, w = 2, 7, 9
    filters = RNG.standard_normal((cout, 3, 3, cin)).astype(np.float32)
    mult = RNG.uniform(-0.3, 0.3, cout).astype(np.float32)
    bias = RNG.standard_normal(cout).astype(np.float32)
    x = RNG.standard_normal((n, h, w, cin)).astype(np.float32)
    y = tb.transform(tb.conv_dot(x, filters, padding=padding, pad_value=pad_values), mult, bias, act)
    res = RNG.standard_normal(y.shape).astype(np.float32)
    model = residual_model(
        n, h, w, cin, filters, mult, bias, y.shape, padding=padding, pad_values=pad_values, activation=act
    )
    out, bits = run(lib, model, [x, res], num_threads=2, kernel=kernel)
    want = (y + res).astype(np.float32)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(bits, tb.pack(want))


def test_bconv2d_residual_bad_residual_shape(lib):
    filters = RNG.standard_normal((8, 3, 3, 32)).astype(np.float32)
    model = residual_model(
        1, 6, 6, 32, filters, np.ones(8, np.float32), np.zeros(8, np.float32), (1, 6, 5, 8), padding="SAME"
    )
    with pytest.raises(
        Exception,
        match=r"residual shape \[1, 6, 5, 8\] must equal the output shape "
        r"\[1, 6, 6, 8\]",
    ):
        run(lib, model, [np.zeros((1, 6, 6, 32), np.float32), np.zeros((1, 6, 5, 8), np.float32)])
