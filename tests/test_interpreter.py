"""kbnn.Interpreter / kbnn.load_delegate / explain_error, and every error path of the delegate:
each must surface as a Python exception with a clear message, and the process must survive."""

import numpy as np
import pytest

from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT32

RNG = np.random.default_rng(7)


# kbnn.load_delegate / kbnn.Interpreter find the library through KBNN_DELEGATE_PATH (conftest.py).
pytestmark = pytest.mark.usefixtures("delegate_env")


@pytest.fixture(scope="module")
def kbnn_mod():
    import kbnn

    return kbnn


def conv_model(
    cin=40, cout=8, h=5, conv_attrs=None, filter_shape=None, mult_len=None, quant_options=None, x_type=FLOAT32
):
    filters = RNG.standard_normal((cout, 3, 3, cin)).astype(np.float32)
    mult = RNG.uniform(0.5, 1.5, cout).astype(np.float32)
    bias = RNG.standard_normal(cout).astype(np.float32)
    mb = tb.ModelBuilder()
    x = mb.tensor((1, h, h, cin), x_type, name="x")
    q = mb.tensor((1, h, h, tb.words(cin)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1) if quant_options is None else quant_options)
    f_t = mb.tensor(
        filter_shape or (cout, 3, 3, tb.words(cin)),
        INT32,
        np.zeros(filter_shape, np.int32) if filter_shape else tb.pack(filters),
    )
    n_m = mult_len or cout
    m_t = mb.tensor((n_m,), FLOAT32, np.resize(mult, n_m))
    b_t = mb.tensor((cout,), FLOAT32, bias)
    y = mb.tensor((1, h - 2, h - 2, cout), FLOAT32, name="y")
    attrs = tb.bconv_attrs(cin, 3, 3) if conv_attrs is None else conv_attrs
    mb.custom("KbnnBconv2d", [q, f_t, m_t, b_t], [y], attrs)

    def ref(xv):
        return tb.transform(tb.conv_dot(xv, filters), mult, bias)

    return mb.build([x], [y]), ref


def test_predict_and_batch_resize(kbnn_mod):
    model, ref = conv_model()
    it = kbnn_mod.Interpreter(model, num_threads=2)
    assert it.input_details[0]["name"] == "x"
    assert it.output_details[0]["name"] == "y"
    for batch in (1, 5, 2):
        xv = RNG.standard_normal((batch, 5, 5, 40)).astype(np.float32)
        np.testing.assert_array_equal(it.predict(xv), ref(xv))
    assert "DELEGATE" in [op["op_name"] for op in it.interpreter._get_ops_details()]


def test_model_from_path(kbnn_mod, tmp_path):
    model, ref = conv_model()
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    xv = RNG.standard_normal((3, 5, 5, 40)).astype(np.float32)
    np.testing.assert_array_equal(kbnn_mod.Interpreter(str(path), kernel="reference").predict(xv), ref(xv))


def test_multiple_inputs_and_outputs(kbnn_mod):
    mb = tb.ModelBuilder()
    a = mb.tensor((2, 40), FLOAT32, name="a")
    b = mb.tensor((2, 3, 3), FLOAT32, name="b")
    qa = mb.tensor((2, 2), INT32, name="qa")
    qb = mb.tensor((2, 3, 1), INT32, name="qb")
    mb.custom("KbnnQuantize", [a], [qa], dict(kbnn_version=1))
    mb.custom("KbnnQuantize", [b], [qb], dict(kbnn_version=1))
    it = kbnn_mod.Interpreter(mb.build([a, b], [qa, qb]))
    av = RNG.standard_normal((4, 40)).astype(np.float32)
    bv = RNG.standard_normal((4, 3, 3)).astype(np.float32)
    for outs in (it.predict(av, bv), it.predict([av, bv]), it.predict({"a": av, "b": bv})):
        np.testing.assert_array_equal(outs[0], tb.pack(av))
        np.testing.assert_array_equal(outs[1], tb.pack(bv))


def test_without_delegate_litert(kbnn_mod):
    from ai_edge_litert.interpreter import Interpreter

    model, _ = conv_model()
    it = Interpreter(model_content=model)
    with pytest.raises(RuntimeError, match="unresolved custom op") as info:
        it.allocate_tensors()
    err = kbnn_mod.interpreter.explain_error(info.value)
    assert isinstance(err, kbnn_mod.interpreter.DelegateMissingError)
    assert "KbnnQuantize" in str(err) and "load_delegate" in str(err)


def test_without_delegate_tf_lite(kbnn_mod):
    import tensorflow as tf

    model, _ = conv_model()
    it = tf.lite.Interpreter(model_content=model)
    with pytest.raises(RuntimeError) as info:
        it.allocate_tensors()
    assert isinstance(
        kbnn_mod.interpreter.explain_error(info.value), kbnn_mod.interpreter.DelegateMissingError
    )


def test_explain_error_leaves_unrelated_errors(kbnn_mod):
    e = RuntimeError("something else")
    assert kbnn_mod.interpreter.explain_error(e) is e


def test_stock_interpreter_with_load_delegate(kbnn_mod):
    from ai_edge_litert.interpreter import Interpreter

    model, ref = conv_model()
    it = Interpreter(model_content=model, experimental_delegates=[kbnn_mod.load_delegate(num_threads=1)])
    it.allocate_tensors()
    xv = RNG.standard_normal((1, 5, 5, 40)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], xv)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), ref(xv))


BAD_OPTIONS = [
    ("wrong type", dict(tb.bconv_attrs(40, 3, 3), filter_height="3"), "'filter_height' must be int"),
    ("unknown version", dict(tb.bconv_attrs(40, 3, 3), kbnn_version=99), "unsupported kbnn_version 99"),
    (
        "missing attr",
        {k: v for k, v in tb.bconv_attrs(40, 3, 3).items() if k != "channels_in"},
        "missing attr 'channels_in'",
    ),
    ("bad enum", dict(tb.bconv_attrs(40, 3, 3), padding="FULL"), "padding"),
    ("bad T", dict(tb.bconv_attrs(40, 3, 3), T=1), "attr 'T'"),
    ("huge", dict(tb.bconv_attrs(40, 3, 3), stride_height=2**40), "out of range"),
    ("not a flexbuffer", b"\x01\x02\x03\x04\x05\x06", "not a valid flexbuffer"),
    ("no options", None, "no custom options"),
]


@pytest.mark.parametrize("name,attrs,needle", BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_corrupted_options(kbnn_mod, name, attrs, needle):
    model, _ = conv_model(conv_attrs=attrs if attrs is not None else b"")
    with pytest.raises(kbnn_mod.interpreter.KbnnDelegateError) as info:
        kbnn_mod.Interpreter(model)
    msg = str(info.value)
    assert "node 1 (KbnnBconv2d) not claimed" in msg and needle in msg, msg


MISMATCHES = [
    ("filter dims", dict(filter_shape=(8, 5, 5, 2)), "filter shape [8, 5, 5, 2] does not match"),
    ("filter words", dict(filter_shape=(8, 3, 3, 1)), "does not match"),
    ("channels attr", dict(conv_attrs=tb.bconv_attrs(70, 3, 3)), "must have 3 words per pixel"),
    ("multiplier size", dict(mult_len=5), "multiplier has 5 elements, expected 8"),
    ("input type", dict(x_type=INT32), "input must be float32, got int32"),
]


@pytest.mark.parametrize("name,kwargs,needle", MISMATCHES, ids=[c[0] for c in MISMATCHES])
def test_mismatched_shapes_and_types(kbnn_mod, name, kwargs, needle):
    model, _ = conv_model(**kwargs)
    with pytest.raises(kbnn_mod.interpreter.KbnnDelegateError, match="kbnn delegate: node") as info:
        kbnn_mod.Interpreter(model)
    assert needle in str(info.value), str(info.value)


def test_output_type_mismatch(kbnn_mod):
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 2, 2, 8), FLOAT32, name="x")
    q = mb.tensor((1, 2, 2, 1), FLOAT32)  # should be int32
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    with pytest.raises(
        kbnn_mod.interpreter.KbnnDelegateError, match="has type float32, the op produces int32"
    ):
        kbnn_mod.Interpreter(mb.build([x], [q]))


def test_unknown_kbnn_op(kbnn_mod):
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 8), FLOAT32, name="x")
    y = mb.tensor((1, 8), FLOAT32)
    mb.custom("KbnnFancyNewOp", [x], [y], dict(kbnn_version=1))
    with pytest.raises(kbnn_mod.interpreter.KbnnDelegateError, match="unknown kbnn op"):
        kbnn_mod.Interpreter(mb.build([x], [y]))


@pytest.mark.parametrize("cut", [0, 3, 7, 100, 0.5, 0.9, -16])
def test_truncated_model(kbnn_mod, cut):
    model, _ = conv_model()
    n = int(len(model) * cut) if isinstance(cut, float) else (len(model) + cut if cut < 0 else cut)
    with pytest.raises(kbnn_mod.interpreter.ModelError):
        kbnn_mod.Interpreter(model[:n]).predict(np.zeros((1, 5, 5, 40), np.float32))


def test_corrupted_model_bytes_never_crash(kbnn_mod):
    model, _ = conv_model()
    rng = np.random.default_rng(3)
    outcomes = set()
    for _ in range(60):
        buf = bytearray(model)
        for _ in range(4):
            buf[int(rng.integers(8, len(buf)))] ^= 1 << int(rng.integers(0, 8))
        try:
            kbnn_mod.Interpreter(bytes(buf)).predict(np.ones((1, 5, 5, 40), np.float32))
            outcomes.add("ok")
        except (ValueError, RuntimeError) as e:
            outcomes.add(type(e).__name__)
    assert outcomes


def test_missing_files_and_library(kbnn_mod, tmp_path, monkeypatch):
    with pytest.raises(kbnn_mod.interpreter.ModelError, match="Cannot read"):
        kbnn_mod.Interpreter(str(tmp_path / "nope.tflite"))
    with pytest.raises(kbnn_mod.interpreter.ModelError, match="TFL3"):
        kbnn_mod.Interpreter(b"0123456789abcdef")
    monkeypatch.setenv("KBNN_DELEGATE_PATH", str(tmp_path / "libkbnn_delegate.so"))
    with pytest.raises(kbnn_mod.interpreter.DelegateNotFoundError, match="pip install"):
        kbnn_mod.load_delegate()


def test_load_delegate_argument_errors(kbnn_mod):
    with pytest.raises(ValueError, match="num_threads"):
        kbnn_mod.load_delegate(num_threads=0)
    with pytest.raises(ValueError, match="kernel"):
        kbnn_mod.load_delegate(kernel="fast")


def test_tf_lite_fallback_runtime(kbnn_mod, monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("KBNN_RUNTIME", "tf.lite")
    model, ref = conv_model()
    xv = RNG.standard_normal((2, 5, 5, 40)).astype(np.float32)
    it = kbnn_mod.Interpreter(model)
    assert isinstance(it.interpreter, tf.lite.Interpreter)
    assert it.runtime == f"tf.lite (tensorflow {tf.__version__})"
    np.testing.assert_array_equal(it.predict(xv), ref(xv))


def test_default_runtime_is_ai_edge_litert(kbnn_mod, monkeypatch):
    """ai-edge-litert is an install requirement: with no override it is what runs the model, and
    the interpreter says so (issue 9: a new user silently got the deprecated tf.lite)."""
    from importlib.metadata import version

    from ai_edge_litert.interpreter import Interpreter

    monkeypatch.delenv("KBNN_RUNTIME", raising=False)
    model, _ = conv_model()
    it = kbnn_mod.Interpreter(model)
    assert isinstance(it.interpreter, Interpreter)
    assert it.runtime == f"ai_edge_litert {version('ai-edge-litert')}"
    assert kbnn_mod.interpreter.runtime_name() == it.runtime


def test_tf_lite_fallback_warns(kbnn_mod, monkeypatch):
    """Only when no standalone runtime imports does kbnn fall back to tf.lite, with a warning."""
    import builtins

    real_import = builtins.__import__

    def no_standalone(name, *args, **kwargs):
        if name.split(".")[0] in ("ai_edge_litert", "tflite_runtime"):
            raise ImportError(f"No module named {name!r} (hidden by the test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv("KBNN_RUNTIME", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_standalone)
    monkeypatch.setattr(kbnn_mod.interpreter, "_warned_fallback", False)
    with pytest.warns(RuntimeWarning, match="ai_edge_litert is not installed.*tf.lite"):
        module = kbnn_mod.interpreter._runtime()
    assert kbnn_mod.interpreter.runtime_name(module).startswith("tf.lite (tensorflow ")


@pytest.mark.parametrize(
    "value, error, needle",
    [
        ("tflite", ValueError, "KBNN_RUNTIME='tflite' is not a TFLite runtime kbnn knows"),
        ("tflite_runtime", ImportError, "pip install tflite-runtime"),
    ],
)
def test_bad_runtime_override(kbnn_mod, monkeypatch, value, error, needle):
    import importlib.util

    if value == "tflite_runtime" and importlib.util.find_spec("tflite_runtime") is not None:
        pytest.skip("tflite_runtime is installed here; its venv test covers it")
    monkeypatch.setenv("KBNN_RUNTIME", value)
    model, _ = conv_model()
    with pytest.raises(error, match=needle):
        kbnn_mod.Interpreter(model)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def test_kernel_isa_names_the_dispatch_choice(kbnn_mod, monkeypatch):
    """kernel_isa() is the delegate's kbnn_delegate_kernel_isa(): the ISA kernel=auto runs."""
    monkeypatch.delenv("KBNN_KERNEL", raising=False)
    isa = kbnn_mod.interpreter.kernel_isa()
    assert isa in ("scalar", "avx2", "neon") or isa.startswith(("avx512", "neon")), isa
    flags = _cpu_flags()
    if isa == "avx2":
        assert "avx2" in flags
    if isa.startswith("avx512"):
        assert "avx512f" in flags
    if "avx2" in flags and "popcnt" in flags:
        assert isa != "scalar", "an AVX2 CPU must not fall back to the scalar kernels"
    # KBNN_KERNEL steers kernel=auto, and kernel_isa() follows it.
    for forced in ("scalar", "reference"):
        monkeypatch.setenv("KBNN_KERNEL", forced)
        assert kbnn_mod.interpreter.kernel_isa() == forced
    monkeypatch.delenv("KBNN_KERNEL")
    assert kbnn_mod.interpreter.kernel_isa() == isa
