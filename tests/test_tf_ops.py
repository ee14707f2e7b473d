"""The kbnn TF op library (kernels/tf) against NumPy / float TensorFlow references."""

import ctypes
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from kbnn import ops
from kbnn.convert import schema


@pytest.fixture(scope="module", autouse=True)
def lib():
    return ops.load_library()


def pm1(rng, shape):
    """Random +-1 float32."""
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------
# Library and packing helpers
# ------------------------------------------------------------------------------------------


def test_native_libraries_are_installed():
    """setup.py's build_ext put the op library into kbnn/_lib and the delegate into kbnn_runtime/_lib."""
    import kbnn_runtime

    lib_dir = pathlib.Path(ops.__file__).resolve().parent / "_lib"
    assert ops.library_path().is_file(), ops.BUILD_HINT
    assert (lib_dir / "_kbnn_tf_ops.so").is_file(), ops.BUILD_HINT
    assert not (lib_dir / "libkbnn_delegate.so").exists(), "the delegate belongs to kbnn_runtime/_lib"
    # A checkout always builds the delegate (kernels/tflite): its library must be in kbnn_runtime/_lib
    # and export the plugin entry points stock runtimes look up.
    runtime_lib = pathlib.Path(kbnn_runtime.__file__).resolve().parent / "_lib" / "libkbnn_delegate.so"
    assert runtime_lib.is_file(), ops.BUILD_HINT
    delegate = ctypes.CDLL(str(runtime_lib))
    for symbol in (
        "tflite_plugin_create_delegate",
        "tflite_plugin_destroy_delegate",
        "kbnn_delegate_schema_json",
    ):
        assert hasattr(delegate, symbol), f"{runtime_lib} does not export {symbol}"


def test_missing_library_message(monkeypatch, tmp_path):
    monkeypatch.setattr(ops, "_library", None)
    monkeypatch.setenv(ops.ENV_PATH, str(tmp_path / "nope.so"))
    with pytest.raises(ops.OpLibraryNotFoundError, match="pip install -e"):
        ops.load_library()
    monkeypatch.delenv(ops.ENV_PATH)


def test_library_records_its_tensorflow(monkeypatch, tmp_path):
    assert ops.built_with_tensorflow() == tf.__version__
    fake = tmp_path / "_kbnn_tf_ops.so"
    fake.write_bytes(b"\0ELF...kbnn-tf-ops-built-with-tensorflow=2.5.0;...")
    monkeypatch.setattr(ops, "_library", None)
    monkeypatch.setenv(ops.ENV_PATH, str(fake))
    with pytest.raises(ops.OpLibraryNotFoundError, match=r"built against TensorFlow 2\.5\.0.*Rebuild"):
        ops.load_library()


def test_ops_registered_from_schema(lib):
    for op in schema.OPS:
        op_def = tf.raw_ops.__dict__.get(op.name)  # not a builtin op
        assert op_def is None
        assert hasattr(lib, op.name)
        from tensorflow.python.framework import op_def_registry

        registered = op_def_registry.get(op.name)
        assert [a.name for a in registered.attr] == [a.name for a in op.attrs]
        assert [t.name for t in registered.input_arg] == [t.name for t in op.inputs]
        assert [t.name for t in registered.output_arg] == [t.name for t in op.outputs]
        version = next(a for a in registered.attr if a.name == schema.VERSION_ATTR)
        assert version.default_value.i == schema.SCHEMA_VERSION


@pytest.mark.parametrize("channels", [1, 31, 32, 33, 100])
def test_quantize_dequantize_round_trip(channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((2, 3, channels)).astype(np.float32)
    x.flat[0] = 0.0
    if channels > 1:
        x.flat[1] = -0.0
    q = ops.quantize(x)
    assert q.dtype == tf.int32 and q.shape == (2, 3, math.ceil(channels / 32))
    np.testing.assert_array_equal(q.numpy(), ops.pack_bits(x))
    d = ops.dequantize(q, channels)
    assert d.shape == x.shape
    np.testing.assert_array_equal(d.numpy(), np.where(x < 0, -1.0, 1.0))
    np.testing.assert_array_equal(ops.unpack_bits(q.numpy(), channels), d.numpy())
    # Padding bits are zero.
    if channels % 32:
        top = np.uint32(q.numpy()[..., -1].view(np.uint32)) >> np.uint32(channels % 32)
        assert not top.any()


def test_pack_bits_layout():
    x = np.ones(40, np.float32)
    x[[0, 3, 31, 32, 39]] = -1
    w = ops.pack_bits(x).view(np.uint32)
    assert w.tolist() == [(1 << 0) | (1 << 3) | (1 << 31), (1 << 0) | (1 << 7)]
    assert ops.pack_bits(np.array([np.nan, 0.0, -0.0, -1e-30], np.float32)).tolist() == [8]
    f = ops.pack_filters(np.ones((2, 3, 3, 33), np.float32))
    assert f.shape == (2, 3, 3, 2)
    assert ops.pack_dense(-np.ones((4, 70), np.float32)).view(np.uint32)[0].tolist() == [
        0xFFFFFFFF,
        0xFFFFFFFF,
        0x3F,
    ]


# ------------------------------------------------------------------------------------------
# bconv2d
# ------------------------------------------------------------------------------------------


def same_pads(size, k, stride, dilation):
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def float_conv(x, w_ohwi, stride, dilation, padding, pad_values, groups):
    """Float reference on +-1 data: the exact integer dot products."""
    n, h, wd, cin = x.shape
    cout, kh, kw, _ = w_ohwi.shape
    if padding == "SAME":
        ph, pw = same_pads(h, kh, stride[0], dilation[0]), same_pads(wd, kw, stride[1], dilation[1])
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=float(pad_values))
    cg, ng = cin // groups, cout // groups
    outs = []
    for g in range(groups):
        xg = x[..., g * cg : (g + 1) * cg]
        wg = np.transpose(w_ohwi[g * ng : (g + 1) * ng], (1, 2, 3, 0))  # HWIO
        outs.append(tf.nn.conv2d(xg, wg, strides=stride, padding="VALID", dilations=dilation).numpy())
    return np.concatenate(outs, axis=-1)


CONV_CASES = {
    "valid": dict(shape=(1, 7, 6, 40), cout=9, k=(3, 3)),
    "same_one": dict(shape=(1, 6, 7, 33), cout=5, k=(3, 3), padding="SAME", pad_values=1),
    "same_zero": dict(shape=(1, 6, 7, 33), cout=5, k=(3, 3), padding="SAME", pad_values=0),
    "same_zero_5x5": dict(shape=(1, 8, 8, 3), cout=4, k=(5, 5), padding="SAME", pad_values=0),
    "stride2": dict(shape=(1, 9, 8, 64), cout=7, k=(3, 3), stride=(2, 2), padding="SAME", pad_values=0),
    "dilation2": dict(shape=(1, 9, 9, 20), cout=6, k=(3, 3), dilation=(2, 2), padding="SAME", pad_values=1),
    "dilation2_zero": dict(
        shape=(1, 9, 9, 20), cout=6, k=(3, 2), dilation=(2, 3), padding="SAME", pad_values=0
    ),
    "groups2": dict(shape=(1, 6, 6, 70), cout=6, k=(3, 3), groups=2, padding="SAME", pad_values=0),
    "batch2": dict(shape=(2, 5, 6, 32), cout=33, k=(1, 3), stride=(1, 2)),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_bconv2d_matches_float_conv(case):
    c = CONV_CASES[case]
    rng = np.random.default_rng(len(case))
    stride, dilation = c.get("stride", (1, 1)), c.get("dilation", (1, 1))
    padding, pad_values, groups = c.get("padding", "VALID"), c.get("pad_values", 1), c.get("groups", 1)
    x = pm1(rng, c["shape"])
    cin, cout, (kh, kw) = c["shape"][-1], c["cout"], c["k"]
    w = pm1(rng, (cout, kh, kw, cin // groups))
    multiplier = rng.uniform(-2, 2, cout).astype(np.float32)
    bias = rng.uniform(-3, 3, cout).astype(np.float32)
    dot = float_conv(x, w, stride, dilation, padding, pad_values, groups)

    kwargs = dict(
        channels_in=cin,
        stride_height=stride[0],
        stride_width=stride[1],
        dilation_height=dilation[0],
        dilation_width=dilation[1],
        padding=padding,
        pad_values=pad_values,
        groups=groups,
    )
    xq, wq = ops.quantize(x), ops.pack_filters(w)
    # Plain dot products (multiplier 1, bias 0 by default).
    np.testing.assert_array_equal(ops.bconv2d(xq, wq, **kwargs).numpy(), dot)
    # Fused transform and RELU; float32 multiply then add, like the kernels.
    y = multiplier * dot.astype(np.float32) + bias
    out = ops.bconv2d(xq, wq, multiplier, bias, **kwargs)
    np.testing.assert_array_equal(out.numpy(), y)
    relu = ops.bconv2d(xq, wq, multiplier, bias, activation="RELU", **kwargs).numpy()
    np.testing.assert_array_equal(relu, np.maximum(y, 0))
    # Bitpacked output == quantize(float output).
    packed = ops.bconv2d(xq, wq, multiplier, bias, T=tf.int32, **kwargs)
    assert packed.dtype == tf.int32 and packed.shape[-1] == math.ceil(cout / 32)
    np.testing.assert_array_equal(packed.numpy(), ops.quantize(out).numpy())
    packed_relu = ops.bconv2d(xq, wq, multiplier, bias, T="bitpacked", activation="RELU", **kwargs)
    np.testing.assert_array_equal(packed_relu.numpy(), ops.pack_bits(relu))


def test_bconv2d_int8_and_clamp():
    rng = np.random.default_rng(7)
    x, w = pm1(rng, (1, 5, 5, 50)), pm1(rng, (8, 3, 3, 50))
    multiplier = rng.uniform(0.1, 2, 8).astype(np.float32)
    bias = rng.uniform(-5, 5, 8).astype(np.float32)
    y = multiplier * float_conv(x, w, (1, 1), (1, 1), "VALID", 1, 1) + bias
    xq, wq = ops.quantize(x), ops.pack_filters(w)
    clamp = ops.bconv2d(
        xq, wq, multiplier, bias, channels_in=50, activation="CLAMP", clamp_min=-3.0, clamp_max=4.5
    )
    np.testing.assert_array_equal(clamp.numpy(), np.clip(y, -3.0, 4.5))
    relu6 = ops.bconv2d(xq, wq, multiplier, bias, channels_in=50, activation="RELU6")
    np.testing.assert_array_equal(relu6.numpy(), np.clip(y, 0, 6))
    q = ops.bconv2d(xq, wq, multiplier, bias, channels_in=50, T=tf.int8, int8_scale=0.5, int8_zero_point=-3)
    assert q.dtype == tf.int8 and q.shape == (1, 3, 3, 8)
    r = y / np.float32(0.5)
    expected = np.clip(np.sign(r) * np.floor(np.abs(r) + 0.5) - 3, -128, 127)
    np.testing.assert_array_equal(q.numpy().astype(np.float32), expected)


def test_bconv2d_concurrent_calls():
    """One kernel object (cached weights, shared pool) called from several threads at once."""
    import concurrent.futures

    rng = np.random.default_rng(11)
    w = pm1(rng, (24, 3, 3, 48))
    wq, m = tf.constant(ops.pack_filters(w)), tf.constant(rng.uniform(-1, 1, 24).astype(np.float32))
    f = tf.function(
        lambda xq: ops.bconv2d(xq, wq, m, tf.zeros([24]), channels_in=48, padding="SAME", pad_values=0)
    )
    xs = [pm1(np.random.default_rng(s), (2, 9, 9, 48)) for s in range(8)]
    expected = [m.numpy() * float_conv(x, w, (1, 1), (1, 1), "SAME", 0, 1) + np.float32(0) for x in xs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda x: f(ops.quantize(x)).numpy(), xs * 3))
    for i, r in enumerate(results):
        np.testing.assert_array_equal(r, expected[i % len(xs)])


def test_empty_batches():
    w, wd = ops.pack_filters(np.ones((8, 3, 3, 40))), ops.pack_dense(np.ones((8, 40)))
    assert ops.bconv2d(tf.zeros((0, 5, 5, 2), tf.int32), w, channels_in=40).shape == (0, 3, 3, 8)
    assert ops.bfully_connected(tf.zeros((0, 2), tf.int32), wd, input_size=40, T="bitpacked").shape == (0, 1)
    pooled = ops.bmaxpool2d(tf.zeros((0, 4, 4, 2), tf.int32), channels=40, filter_height=2, filter_width=2)
    assert pooled.shape == (0, 3, 3, 2)
    assert ops.quantize(tf.zeros((0, 40))).shape == (0, 2)
    assert ops.dequantize(tf.zeros((0, 2), tf.int32), 40).shape == (0, 40)


def test_bconv2d_weights_change_between_calls():
    """The kernel caches its packed weights; new filter values must be honoured."""
    rng = np.random.default_rng(3)
    x = pm1(rng, (1, 4, 4, 16))
    f = tf.function(lambda xq, wq: ops.bconv2d(xq, wq, channels_in=16, filter_height=3, filter_width=3))
    for seed in range(3):
        w = pm1(np.random.default_rng(seed), (4, 3, 3, 16))
        got = f(ops.quantize(x), tf.constant(ops.pack_filters(w))).numpy()
        np.testing.assert_array_equal(got, float_conv(x, w, (1, 1), (1, 1), "VALID", 1, 1))


# ------------------------------------------------------------------------------------------
# bfully_connected, bmaxpool2d
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k,cout,batch", [(1, 1, 1), (32, 10, 3), (100, 33, 2), (257, 64, 5)])
def test_bfully_connected_matches_matmul(k, cout, batch):
    rng = np.random.default_rng(k)
    x, w = pm1(rng, (batch, k)), pm1(rng, (cout, k))
    multiplier = rng.uniform(-2, 2, cout).astype(np.float32)
    bias = rng.uniform(-3, 3, cout).astype(np.float32)
    dot = tf.matmul(x, w, transpose_b=True).numpy()
    xq, wq = ops.quantize(x), ops.pack_dense(w)
    np.testing.assert_array_equal(ops.bfully_connected(xq, wq, input_size=k).numpy(), dot)
    y = multiplier * dot + bias
    out = ops.bfully_connected(xq, wq, multiplier, bias, input_size=k)
    np.testing.assert_array_equal(out.numpy(), y)
    packed = ops.bfully_connected(xq, wq, multiplier, bias, input_size=k, activation="RELU", T=tf.int32)
    assert packed.shape == (batch, math.ceil(cout / 32))
    np.testing.assert_array_equal(packed.numpy(), ops.pack_bits(np.maximum(y, 0)))


@pytest.mark.parametrize(
    "shape,k,stride,padding",
    [
        ((1, 6, 6, 40), (2, 2), (2, 2), "VALID"),
        ((2, 7, 5, 33), (3, 3), (2, 2), "SAME"),
        ((1, 5, 5, 64), (3, 2), (1, 1), "SAME"),
    ],
)
def test_bmaxpool2d_matches_max_pool(shape, k, stride, padding):
    x = pm1(np.random.default_rng(shape[-1]), shape)
    expected = tf.nn.max_pool2d(x, ksize=k, strides=stride, padding=padding).numpy()
    out = ops.bmaxpool2d(
        ops.quantize(x),
        channels=shape[-1],
        filter_height=k[0],
        filter_width=k[1],
        stride_height=stride[0],
        stride_width=stride[1],
        padding=padding,
    )
    np.testing.assert_array_equal(out.numpy(), ops.pack_bits(expected))
    np.testing.assert_array_equal(ops.dequantize(out, shape[-1]).numpy(), expected)


# ------------------------------------------------------------------------------------------
# Shape functions
# ------------------------------------------------------------------------------------------

SHAPE_CASES = [
    # (input shape, cout, kh, kw, stride, dilation, padding, T)
    ((2, 9, 8, 40), 33, 3, 3, (1, 1), (1, 1), "VALID", tf.float32),
    ((1, 9, 8, 40), 33, 3, 3, (2, 2), (1, 1), "SAME", tf.int32),
    ((1, 10, 11, 5), 70, 3, 2, (2, 3), (2, 2), "VALID", tf.int32),
    ((1, 10, 11, 5), 7, 5, 3, (3, 1), (2, 3), "SAME", tf.int8),
]


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_shape_functions_match_runtime(case):
    shape, cout, kh, kw, stride, dilation, padding, T = case
    cin = shape[-1]
    kwargs = dict(
        channels_in=cin,
        filter_height=kh,
        filter_width=kw,
        stride_height=stride[0],
        stride_width=stride[1],
        dilation_height=dilation[0],
        dilation_width=dilation[1],
        padding=padding,
        T=T,
    )
    in_words, f_words = math.ceil(cin / 32), math.ceil(cin / 32)
    f = tf.function(lambda x, w, m, b: ops.bconv2d(x, w, m, b, **kwargs))
    sig = (
        tf.TensorSpec(shape[:3] + (in_words,), tf.int32),
        tf.TensorSpec((cout, kh, kw, f_words), tf.int32),
        tf.TensorSpec((cout,), tf.float32),
        tf.TensorSpec((cout,), tf.float32),
    )
    static = f.get_concrete_function(*sig).structured_outputs.shape
    args = [tf.zeros(s.shape, s.dtype) for s in sig]
    runtime = f(*args).shape
    assert static == runtime and static.is_fully_defined()
    # Unknown batch and spatial dims stay unknown; the rest is still exact.
    loose = f.get_concrete_function(
        tf.TensorSpec((None, None, shape[2], in_words), tf.int32), *sig[1:]
    ).structured_outputs.shape
    assert loose.as_list() == [None, None, runtime[2], runtime[3]]

    pool = tf.function(
        lambda x: ops.bmaxpool2d(
            x,
            channels=cin,
            filter_height=kh,
            filter_width=kw,
            stride_height=stride[0],
            stride_width=stride[1],
            padding=padding,
        )
    )
    xs = tf.TensorSpec(shape[:3] + (in_words,), tf.int32)
    assert pool.get_concrete_function(xs).structured_outputs.shape == pool(tf.zeros(xs.shape, tf.int32)).shape

    q = tf.function(ops.quantize).get_concrete_function(tf.TensorSpec((None, 3, cin), tf.float32))
    assert q.structured_outputs.shape.as_list() == [None, 3, in_words]
    d = tf.function(lambda x: ops.dequantize(x, cin))
    d = d.get_concrete_function(tf.TensorSpec((4, in_words), tf.int32))
    assert d.structured_outputs.shape.as_list() == [4, cin]
    fc = tf.function(lambda x, w: ops.bfully_connected(x, w, input_size=cin, T=T)).get_concrete_function(
        tf.TensorSpec((None, in_words), tf.int32), tf.TensorSpec((cout, in_words), tf.int32)
    )
    assert fc.structured_outputs.shape.as_list() == [None, math.ceil(cout / 32) if T == tf.int32 else cout]


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def conv_error(match, x_shape=(1, 5, 5, 1), w_shape=(4, 3, 3, 1), cout=4, **kwargs):
    args = dict(channels_in=32, filter_height=3, filter_width=3)
    args.update(kwargs)
    x, w = tf.zeros(x_shape, tf.int32), tf.zeros(w_shape, tf.int32)
    m = b = tf.ones([cout])
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        ops.bconv2d(x, w, m, b, **args)
    # In a traced graph the shape function reports the same problem while the graph is built.
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=match):
        tf.function(lambda: ops.bconv2d(x, w, m, b, **args)).get_concrete_function()


@pytest.mark.parametrize(
    "match,kwargs",
    [
        (r"KbnnBconv2d: pad_values must be 0 or 1; received 2", dict(pad_values=2)),
        (r"KbnnBconv2d: groups must divide channels_in", dict(groups=3)),
        (r"KbnnBconv2d: stride_height must be >= 1; received 0", dict(stride_height=0)),
        (r"KbnnBconv2d: kbnn_version must be in \[1, 1\]", dict()),
        (r"input's last dimension \(packed words.*must be 2; received 1", dict(channels_in=40)),
        (r"filter dimension 1 \(filter_height\) must be 2; received 3", dict(filter_height=2)),
        (
            r"KbnnBconv2d: VALID padding: the effective filter height 5 \(filter 3, dilation 2\) "
            r"exceeds the input height 4",
            dict(dilation_height=2, x_shape=(1, 4, 5, 1)),
        ),
        (r"multiplier length \(channels_out\) must be 4; received 5", dict(cout=5)),
        (
            r"activation CLAMP needs clamp_min <= clamp_max",
            dict(activation="CLAMP", clamp_min=2.0, clamp_max=1.0),
        ),
        (r"int8 output needs a finite int8_scale > 0", dict(T=tf.int8, int8_scale=0.0)),
        (r"KbnnBconv2d: input must have rank 4 \(bitpacked NHWC", dict(x_shape=(5, 5, 1))),
    ],
)
def test_bconv2d_bad_arguments(match, kwargs):
    if not kwargs:  # an unsupported schema version, written straight through the raw op
        x, w, m = tf.zeros((1, 5, 5, 1), tf.int32), tf.zeros((4, 3, 3, 1), tf.int32), tf.ones([4])
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            ops.load_library().KbnnBconv2d(
                input=x,
                filter=w,
                multiplier=m,
                bias=m,
                channels_in=32,
                filter_height=3,
                filter_width=3,
                kbnn_version=2,
            )
        return
    conv_error(match, **kwargs)


def test_other_ops_bad_arguments():
    def raises(match):
        return pytest.raises(tf.errors.InvalidArgumentError, match=match)

    i32 = lambda *shape: tf.zeros(shape, tf.int32)  # noqa: E731
    with raises(
        r"KbnnDequantize: the input's last dimension \(packed words, ceil\(channels/32\) for "
        r"channels=32\) must be 1; received 3"
    ):
        ops.dequantize(i32(2, 3), channels=32)
    with raises("KbnnDequantize: channels must be >= 1"):
        ops.dequantize(i32(2, 1), channels=0)
    with raises("KbnnQuantize: input must have rank >= 1"):
        ops.quantize(tf.constant(1.0))
    with raises(r"KbnnBFullyConnected: the weights' last dimension .* must be 2; received 1"):
        ops.bfully_connected(i32(2, 2), i32(3, 1), input_size=40)
    with raises(r"KbnnBFullyConnected: multiplier length \(channels_out\) must be 3; received 2"):
        ops.bfully_connected(i32(2, 1), i32(3, 1), tf.ones([2]), tf.ones([3]), input_size=4)
    with raises(r"KbnnBMaxPool2d: VALID padding: the effective filter width 3"):
        ops.bmaxpool2d(i32(1, 4, 2, 1), channels=3, filter_height=3, filter_width=3)
    with pytest.raises(ValueError, match="T must be"):
        ops.bconv2d(i32(1, 3, 3, 1), i32(1, 1, 1, 1), channels_in=1, T=tf.float16)


# ------------------------------------------------------------------------------------------
# TFLite conversion: CUSTOM ops with the schema names and attribute keys
# ------------------------------------------------------------------------------------------


def test_tflite_conversion_custom_ops():
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as tfl

    rng = np.random.default_rng(0)
    w1 = tf.constant(ops.pack_filters(pm1(rng, (40, 3, 3, 3))))
    w2 = tf.constant(ops.pack_filters(pm1(rng, (16, 3, 3, 40))))
    w3 = tf.constant(ops.pack_filters(pm1(rng, (40, 3, 3, 40))))
    wd = tf.constant(ops.pack_dense(pm1(rng, (10, 3 * 3 * 16))))
    m40, b40 = tf.constant(rng.uniform(0.5, 1, 40).astype(np.float32)), tf.constant(np.zeros(40, np.float32))
    m16, b16 = tf.ones([16]), tf.zeros([16])
    m10, b10 = tf.ones([10]), tf.zeros([10])
    ws = tf.constant(rng.integers(-127, 128, (10, 3, 3, 3)).astype(np.int8))

    @tf.function(input_signature=[tf.TensorSpec((1, 10, 10, 3), tf.float32)])
    def model(x):
        stem = ops.stem_conv2d(x, ws, m10, m10, b10, strides=(2, 2), padding="SAME", pool_size=(2, 2))
        x = x + tf.reduce_sum(stem)
        h = ops.quantize(x)
        h = ops.bconv2d(h, w1, m40, b40, channels_in=3, padding="SAME", pad_values=0, T=tf.int32)
        h = ops.bmaxpool2d(h, channels=40, filter_height=2, filter_width=2, stride_height=2, stride_width=2)
        res = ops.dequantize(h, 40)
        _, h = ops.bconv2d_residual(h, w3, m40, b40, res, channels_in=40, padding="SAME")
        h = ops.bconv2d(h, w2, m16, b16, channels_in=40, activation="RELU", T=tf.int8, int8_scale=0.25)
        h = ops.quantize(tf.reshape(tf.cast(h, tf.float32), [1, -1]))
        h = ops.bfully_connected(h, wd, m10, b10, input_size=3 * 3 * 16)
        return h + ops.dequantize(ops.quantize(h), 10)

    x = rng.standard_normal((1, 10, 10, 3)).astype(np.float32)
    assert model(x).shape == (1, 10)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()], model)
    converter.allow_custom_ops = True
    buf = converter.convert()

    m = tfl.Model.GetRootAsModel(buf, 0)
    codes = [m.OperatorCodes(i) for i in range(m.OperatorCodesLength())]
    g = m.Subgraphs(0)
    seen = {}
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = codes[op.OpcodeIndex()]
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin != tfl.BuiltinOperator.CUSTOM:
            continue
        name = code.CustomCode().decode()
        assert name in schema.OPS_BY_NAME, name
        options = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
        assert set(options) == {a.name for a in schema.OPS_BY_NAME[name].attrs}, name
        assert options[schema.VERSION_ATTR] == schema.SCHEMA_VERSION
        seen.setdefault(name, []).append(options)
    assert sorted(seen) == sorted(op.name for op in schema.OPS)
    conv1, conv2 = seen["KbnnBconv2d"]
    assert conv1["T"] == schema.TFLITE_TENSOR_TYPES["bitpacked"] and conv1["padding"] == "SAME"
    assert conv1["pad_values"] == 0 and conv1["channels_in"] == 3
    assert conv2["T"] == schema.TFLITE_TENSOR_TYPES["int8"] and conv2["activation"] == "RELU"
    assert conv2["int8_scale"] == 0.25 and conv2["clamp_max"] == float("inf")
    assert seen["KbnnBFullyConnected"][0]["T"] == schema.TFLITE_TENSOR_TYPES["float32"]
    assert seen["KbnnBMaxPool2d"][0]["stride_height"] == 2

    # The .tflite runs in the stock interpreter with the kbnn delegate, bit-exact with the TF ops.
    import kbnn

    interpreter = kbnn.Interpreter(buf, num_threads=1)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((1, 10, 10, 3)).astype(np.float32)
        np.testing.assert_array_equal(interpreter.predict(x), model(x).numpy())


# ----------------------------------------------------------------------------------------
# KbnnBconv2dResidual: bconv2d (float) + residual add + quantize of the sum, in one op
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["NONE", "RELU"])
@pytest.mark.parametrize(
    "shape,cout,kw",
    [
        ((2, 7, 6, 40), 40, dict(padding="SAME", pad_values=1)),
        ((1, 9, 9, 64), 96, dict(padding="SAME", pad_values=0, stride_height=2, stride_width=2)),
        ((1, 5, 5, 33), 70, dict(padding="VALID")),
    ],
)
def test_bconv2d_residual_matches_unfused_ops_and_reference(shape, cout, kw, activation):
    from kbnn.convert import reference_ops

    rng = np.random.default_rng(5)
    cin = shape[-1]
    x = ops.quantize(rng.standard_normal(shape).astype(np.float32))
    w = ops.pack_filters(pm1(rng, (cout, 3, 3, cin)))
    m = rng.uniform(-0.2, 0.2, cout).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    plain = ops.bconv2d(x, w, m, b, channels_in=cin, activation=activation, **kw)
    r = rng.standard_normal(plain.shape).astype(np.float32)
    r.flat[0] = -0.0  # sign(-0) = +1, as KbnnQuantize
    out, bits = ops.bconv2d_residual(x, w, m, b, r, channels_in=cin, activation=activation, **kw)
    # The unfused ops: the same single float add, then KbnnQuantize. Bit-exact.
    np.testing.assert_array_equal(out.numpy(), (plain + r).numpy())
    np.testing.assert_array_equal(bits.numpy(), ops.quantize(plain + r).numpy())
    assert bits.shape == tuple(plain.shape[:3]) + ((cout + 31) // 32,)
    # The plain-TF reference of the schema's semantics.
    ref_out, ref_bits = reference_ops.bconv2d_residual(
        x, w, m, b, r, channels_in=cin, filter_height=3, filter_width=3, activation=activation, **kw
    )
    # (exact integer dot products on +-1 floats, then the same multiply, add, activation and add)
    np.testing.assert_array_equal(out.numpy(), ref_out.numpy())
    np.testing.assert_array_equal(bits.numpy(), ref_bits.numpy())


def test_bconv2d_residual_bad_arguments():
    rng = np.random.default_rng(0)
    x = ops.quantize(rng.standard_normal((1, 6, 6, 32)).astype(np.float32))
    w = ops.pack_filters(pm1(rng, (8, 3, 3, 32)))
    m, b = np.ones(8, np.float32), np.zeros(8, np.float32)
    with pytest.raises(
        (tf.errors.InvalidArgumentError, ValueError),
        match=r"KbnnBconv2dResidual: residual must have the output's shape",
    ):
        ops.bconv2d_residual(x, w, m, b, np.zeros((1, 6, 5, 8), np.float32), channels_in=32, padding="SAME")
    with pytest.raises(
        (tf.errors.InvalidArgumentError, ValueError), match=r"KbnnBconv2dResidual: .*residual"
    ):
        ops.bconv2d_residual(x, w, m, b, np.zeros((1, 6, 6), np.float32), channels_in=32, padding="SAME")
    # The raw op has no T attribute: the fused output is float32 only.
    with pytest.raises(TypeError, match="T"):
        ops.load_library().KbnnBconv2dResidual(
            input=x,
            filter=w,
            multiplier=m,
            bias=b,
            residual=np.zeros((1, 6, 6, 8), np.float32),
            channels_in=32,
            filter_height=3,
            filter_width=3,
            T=tf.int32,
        )
