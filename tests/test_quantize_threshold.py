"""KbnnQuantize with per-channel thresholds (ReActNet's RSign, Liu et al., ECCV 2020,
arXiv:2003.03488): bit = (x < thresholds[c]), in the TF op and in the delegate on hand-built
.tflite files, against NumPy; float32 input with float32 [C] thresholds, int8 input with int32 [C]
thresholds in the quantized domain; and the bad inputs, each with its error.
"""

import numpy as np
import pytest
from test_delegate import run, skip_unless_isa

from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT8, INT32

RNG = np.random.default_rng(2003)
SPECIALS = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 1e-39, -1e-39], np.float32)


@pytest.fixture(scope="module")
def lib():
    return tb.delegate_library()


def packed_ref(x, t):
    """bit = (x < t) per channel (ordered: NaN gives 0), packed like the kernels."""
    with np.errstate(invalid="ignore"):
        return tb.pack(np.where(x < t, -1.0, 1.0))


def float_case(shape, denormals=True):
    c = shape[-1]
    x = RNG.standard_normal(shape).astype(np.float32)
    t = RNG.uniform(-0.5, 0.5, c).astype(np.float32)
    t[::5] = SPECIALS[RNG.integers(0, len(SPECIALS), len(t[::5]))]
    flat = x.reshape(-1, c)
    flat[::2, ::3] = t[::3]  # ties: x == t gives 0
    flat[1::3, 1::4] = SPECIALS[RNG.integers(0, len(SPECIALS), flat[1::3, 1::4].shape)]
    if not denormals:
        x[np.abs(x) < 1e-30] = 0.0
        t[np.abs(t) < 1e-30] = 0.0
    return x, t


def threshold_model(shape, t, n_attr=True, in_type=FLOAT32, t_type=FLOAT32, const=True, extra=False):
    mb = tb.ModelBuilder()
    x = mb.tensor(shape, in_type, name="x")
    inputs = [x]
    if in_type == INT8:
        mb.quantize(x, 0.05, 3)
    tt = mb.tensor(np.shape(t), t_type, t if const else None, name="thresholds")
    inputs.append(tt)
    if extra:
        inputs.append(mb.tensor(np.shape(t), t_type, t, name="extra"))
    q = mb.tensor(tuple(shape[:-1]) + (tb.words(shape[-1]),), INT32)
    attrs = dict(kbnn_version=1, N=1) if n_attr else dict(kbnn_version=1)
    mb.custom("KbnnQuantize", inputs, [q], attrs)
    model_inputs = [x] if const else [x, tt]
    return mb.build(model_inputs, [q])


# ---- the TF op -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 31, 32, 33, 70, 128])
def test_tf_op_matches_numpy(channels):
    from kbnn import ops

    # TensorFlow runs its kernels with denormals flushed to zero (DAZ/FTZ), so the TF op compares
    # -1e-39 as 0 (the delegate does not): no denormals here; the delegate tests below have them.
    x, t = float_case((3, 4, channels), denormals=False)
    got = ops.quantize(x, t).numpy()
    np.testing.assert_array_equal(got, packed_ref(x, t))
    # Without thresholds: unchanged (bit = x < 0), and zero thresholds give the same words.
    np.testing.assert_array_equal(ops.quantize(x).numpy(), tb.pack(x))
    np.testing.assert_array_equal(ops.quantize(x, np.zeros(channels, np.float32)).numpy(), tb.pack(x))


def test_tf_op_bad_thresholds():
    import tensorflow as tf

    from kbnn import ops

    errors = (ValueError, tf.errors.InvalidArgumentError)
    x = np.zeros((2, 40), np.float32)
    # Eager: the kernel's checks.
    with pytest.raises(errors, match=r"thresholds must have shape \[40\] \(one per input channel\)"):
        ops.quantize(x, np.zeros(39, np.float32))
    with pytest.raises(errors, match=r"thresholds must have shape \[40\]"):
        ops.quantize(x, np.zeros((1, 40), np.float32))

    # Traced: the shape function's checks.
    def traced(t_shape):
        spec = [tf.TensorSpec((None, 40), tf.float32), tf.TensorSpec(t_shape, tf.float32)]
        return tf.function(lambda a, b: ops.quantize(a, b), input_signature=spec).get_concrete_function()

    with pytest.raises(errors, match=r"thresholds must have 40 elements \(one per input channel\)"):
        traced((39,))
    with pytest.raises(errors, match=r"thresholds must have rank 1"):
        traced((1, 40))
    assert traced((None,)).structured_outputs.shape.as_list() == [None, 2]


# ---- the delegate --------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["litert", "tf"])
@pytest.mark.parametrize("kernel", ["auto", "reference", "scalar", "avx2", "avx512"])
@pytest.mark.parametrize("channels", [5, 32, 33, 96, 100])
def test_delegate_float_thresholds(lib, channels, kernel, runtime):
    skip_unless_isa(kernel)
    shape = (2, 3, 4, channels)
    x, t = float_case(shape)
    (out,) = run(lib, threshold_model(shape, t), [x], kernel=kernel, runtime=runtime)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, packed_ref(x, t))


@pytest.mark.parametrize("runtime", ["litert", "tf"])
def test_delegate_without_n_attr_and_two_threads(lib, runtime):
    # The node's inputs decide (a writer that leaves out the TF list-length attr N), any thread count.
    shape = (5, 7, 45)
    x, t = float_case(shape)
    model = threshold_model(shape, t, n_attr=False)
    (out,) = run(lib, model, [x], num_threads=2, runtime=runtime)
    np.testing.assert_array_equal(out, packed_ref(x, t))


@pytest.mark.parametrize("runtime", ["litert", "tf"])
@pytest.mark.parametrize("channels", [7, 32, 65])
def test_delegate_int8_thresholds(lib, channels, runtime):
    shape = (2, 5, channels)
    q = RNG.integers(-128, 128, shape).astype(np.int8)
    t = RNG.integers(-128, 128, channels).astype(np.int32)
    t[: min(4, channels)] = [-1000, -128, 128, 1000][: min(4, channels)]  # all-0 / all-1 channels
    model = threshold_model(shape, t, in_type=INT8, t_type=INT32)
    (out,) = run(lib, model, [q], runtime=runtime)
    np.testing.assert_array_equal(out, tb.pack(np.where(q.astype(np.int32) < t, -1.0, 1.0)))


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("shape", r"thresholds must have shape \[40\] \(one per input channel\), got \[39\]"),
        ("rank", r"thresholds must have shape \[40\] \(one per input channel\), got \[1, 40\]"),
        ("dtype_float", r"thresholds must be float32 \(for float32 input\) \[40\]"),
        ("dtype_int8", r"thresholds must be int32 \(quantized domain, for int8 input\) \[40\]"),
        ("not_const", r"thresholds must be a constant tensor"),
        ("three_inputs", r"expected 1 to 2 inputs and 1 outputs, got 3"),
    ],
)
def test_delegate_bad_thresholds(lib, kind, needle):
    shape = (2, 40)
    x = np.zeros(shape, np.float32)
    t = np.zeros(40, np.float32)
    if kind == "shape":
        model = threshold_model(shape, t[:39])
    elif kind == "rank":
        model = threshold_model(shape, t.reshape(1, 40))
    elif kind == "dtype_float":
        model = threshold_model(shape, t.astype(np.int32), t_type=INT32)
    elif kind == "dtype_int8":
        model, x = threshold_model(shape, t, in_type=INT8, t_type=FLOAT32), x.astype(np.int8)
    elif kind == "not_const":
        model = threshold_model(shape, t, const=False)
    else:
        model = threshold_model(shape, t, extra=True)
    inputs = [x, t] if kind == "not_const" else [x]
    with pytest.raises(Exception, match=needle):
        run(lib, model, inputs)


@pytest.mark.parametrize("num_threads", [1, 2, 3])
@pytest.mark.parametrize("thresholds", [False, True])
def test_delegate_quantize_threads(lib, num_threads, thresholds):
    # Large enough to be split over the delegate's threads (>= 16384 values per task).
    shape = (3, 61, 29, 70)
    x, t = float_case(shape)
    if thresholds:
        model = threshold_model(shape, t)
        want = packed_ref(x, t)
    else:
        mb = tb.ModelBuilder()
        xt = mb.tensor(shape, FLOAT32, name="x")
        q = mb.tensor(shape[:-1] + (tb.words(shape[-1]),), INT32)
        mb.custom("KbnnQuantize", [xt], [q], dict(kbnn_version=1))
        model = mb.build([xt], [q])
        want = tb.pack(x)
    (out,) = run(lib, model, [x], num_threads=num_threads)
    np.testing.assert_array_equal(out, want)
