"""KbnnStemConv2d (kernels/include/kbnn/stem_conv2d.h): the delegate's op on hand-built models and
the TF op, each against the NumPy oracle of the header's formula, bit-exactly, on every kernel
ISA this CPU has; and the delegate's Prepare errors."""

import numpy as np
import pytest
from test_delegate import run, skip_unless_isa

from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT8


def _out(n, k, s, padding):
    if padding == "VALID":
        return (n - k) // s + 1, 0
    o = -(-n // s)
    return o, max((o - 1) * s + k - n, 0) // 2


def stem_ref(
    x, w, sw, mult, bias, slope, strides, padding, act, pool=None, pool_strides=None, pool_padding="VALID"
):
    """The header's formula in float32 NumPy (x NHWC float32, w OHWI int8)."""
    f32 = np.float32
    n, h, wd, cin = x.shape
    cout, kh, kw, _ = w.shape
    oh, pt = _out(h, kh, strides[0], padding)
    ow, pl = _out(wd, kw, strides[1], padding)
    outs = []
    for b in range(n):
        xb = x[b]
        s_x = f32(np.max(np.abs(xb))) / f32(127)
        q = np.zeros_like(xb) if s_x == 0 else np.clip(np.rint(xb / s_x), -127, 127)
        qp = np.zeros((h + kh + oh * strides[0], wd + kw + ow * strides[1], cin), np.int64)
        qp[pt : pt + h, pl : pl + wd] = q.astype(np.int64)
        acc = np.zeros((oh, ow, cout), np.int64)
        for i in range(kh):
            for j in range(kw):
                patch = qp[i : i + oh * strides[0] : strides[0], j : j + ow * strides[1] : strides[1]]
                acc += patch[:oh, :ow] @ w[:, i, j, :].astype(np.int64).T
        scale = f32(s_x) * sw
        y = acc.astype(f32) * scale
        y = y * mult
        y = y + bias
        if act == "RELU":
            y = np.where(y > 0, y, f32(0))
        elif act == "PRELU":
            y = np.where(y > 0, y, y * slope)
        if pool is not None:
            ps = pool_strides or pool
            ph, pt2 = _out(oh, pool[0], ps[0], pool_padding)
            pw, pl2 = _out(ow, pool[1], ps[1], pool_padding)
            yp = np.full((oh + 2 * pool[0] + ph * ps[0], ow + 2 * pool[1] + pw * ps[1], cout), -np.inf, f32)
            yp[pt2 : pt2 + oh, pl2 : pl2 + ow] = y
            m = np.full((ph, pw, cout), -np.inf, f32)
            for i in range(pool[0]):
                for j in range(pool[1]):
                    m = np.maximum(m, yp[i : i + ph * ps[0] : ps[0], j : j + pw * ps[1] : ps[1]][:ph, :pw])
            y = m
        outs.append(y.astype(f32))
    return np.stack(outs)


def case(rng, cin=3, cout=24, k=(7, 7), x_shape=(2, 19, 17)):
    w = rng.integers(-127, 128, size=(cout, *k, cin)).astype(np.int8)
    sw = (rng.random(cout) * 0.02 + 0.001).astype(np.float32)
    mult = (rng.random(cout) * 2 - 0.5).astype(np.float32)
    bias = (rng.random(cout) - 0.5).astype(np.float32)
    slope = (rng.random(cout) * 0.5 - 0.1).astype(np.float32)
    x = (rng.random((x_shape[0], x_shape[1], x_shape[2], cin)) * 2 - 1).astype(np.float32) * 100
    return x, w, sw, mult, bias, slope


def stem_model(x_shape, w, sw, mult, bias, slope, const_filter=True, **attrs):
    mb = tb.ModelBuilder()
    x_t = mb.tensor(x_shape, FLOAT32, name="input")
    f_t = mb.tensor(w.shape, INT8, w if const_filter else None, name="filter")
    vec = [mb.tensor([w.shape[0]], FLOAT32, v) for v in (sw, mult, bias, slope)]
    out_t = mb.tensor([1, 1, 1, w.shape[0]], FLOAT32, name="output")
    opts = dict(
        kbnn_version=1,
        channels_in=int(w.shape[3]),
        filter_height=int(w.shape[1]),
        filter_width=int(w.shape[2]),
    )
    opts.update(attrs)
    mb.custom("KbnnStemConv2d", [x_t, f_t, *vec], [out_t], opts)
    inputs = [x_t] if const_filter else [x_t, f_t]
    return mb.build(inputs, [out_t])


GEOMETRIES = [
    # strides, padding, activation, pool (size, strides, padding)
    ((2, 2), "SAME", "RELU", ((3, 3), (2, 2), "SAME")),
    ((2, 2), "SAME", "PRELU", None),
    ((1, 2), "VALID", "NONE", ((2, 3), (2, 1), "VALID")),
]


@pytest.mark.parametrize("kernel", ["reference", "scalar", "avx2", None])
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_delegate_stem_matches_numpy_oracle(kernel, geom):
    skip_unless_isa(kernel)
    lib = tb.delegate_library()
    rng = np.random.default_rng(5)
    strides, padding, act, pool = geom
    x, w, sw, mult, bias, slope = case(rng)
    x[1] = 0.0  # an all-zero batch item: s_x = 0, the output is the bias path only
    attrs = dict(stride_height=strides[0], stride_width=strides[1], padding=padding, activation=act)
    if pool is not None:
        attrs.update(
            pool_height=pool[0][0],
            pool_width=pool[0][1],
            pool_stride_height=pool[1][0],
            pool_stride_width=pool[1][1],
            pool_padding=pool[2],
        )
    model = stem_model(x.shape, w, sw, mult, bias, slope, **attrs)
    want = stem_ref(x, w, sw, mult, bias, slope, strides, padding, act, *(pool or (None, None, "VALID")))
    for threads in (1, 2):
        (got,) = run(lib, model, [x], num_threads=threads, kernel=kernel)
        np.testing.assert_array_equal(got, want, err_msg=f"kernel={kernel} threads={threads}")


def test_tf_op_matches_numpy_oracle():
    from kbnn import ops

    rng = np.random.default_rng(9)
    x, w, sw, mult, bias, slope = case(rng, cin=4, cout=9, k=(3, 5), x_shape=(2, 11, 13))
    got = ops.stem_conv2d(
        x,
        w,
        sw,
        mult,
        bias,
        slope,
        strides=(2, 1),
        padding="SAME",
        activation="PRELU",
        pool_size=(3, 3),
        pool_strides=(2, 2),
        pool_padding="SAME",
    ).numpy()
    want = stem_ref(x, w, sw, mult, bias, slope, (2, 1), "SAME", "PRELU", (3, 3), (2, 2), "SAME")
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "build, needle",
    [
        (lambda a: stem_model((1, 9, 9, 3), *a, const_filter=False), "filter must be a constant"),
        (lambda a: stem_model((1, 9, 9, 4), *a), "channels_in=3"),
        (lambda a: stem_model((1, 4, 4, 3), *a, padding="VALID"), "VALID padding"),
    ],
)
def test_delegate_stem_bad_inputs_are_clear_errors(build, needle):
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    rng = np.random.default_rng(1)
    _, w, sw, mult, bias, slope = case(rng, cout=8)
    model = build((w, sw, mult, bias, slope))
    lib = tb.delegate_library()
    with pytest.raises((RuntimeError, ValueError)) as e:
        it = Interpreter(model_content=model, experimental_delegates=[load_delegate(lib, {})])
        it.allocate_tensors()
    assert needle in str(e.value), str(e.value)
