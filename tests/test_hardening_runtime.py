"""Issue 22, runtime half: inputs of the wrong shape, files that crash the stock runtime, misleading
messages and kbnn-run misuse. Test names carry the item: item1 (predict checks the signature),
item2 (the delegate checks channel counts), item3 (empty batch), item4 (crash files / model
check), item5 (messages), item6 (kbnn-run). Item 7 (file-level fuzz) is tests/test_fuzz_files.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kbnn_runtime
from kbnn_runtime import cli
from kbnn_runtime import interpreter as kint
from support import crash_models
from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT32, fb

RNG = np.random.default_rng(22)
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "larq"
RUNTIME_PATH = str(Path(kbnn_runtime.__file__).resolve().parents[1])
pytestmark = pytest.mark.usefixtures("delegate_env")


def conv_model(cin=8, cout=6, h=6):
    """x [1, h, h, cin] -> KbnnQuantize -> KbnnBconv2d 3x3 VALID (float output)."""
    filters = RNG.standard_normal((cout, 3, 3, cin)).astype(np.float32)
    mult = RNG.uniform(0.5, 1.5, cout).astype(np.float32)
    bias = RNG.standard_normal(cout).astype(np.float32)
    mb = tb.ModelBuilder()
    x = mb.tensor((1, h, h, cin), FLOAT32, name="x")
    q = mb.tensor((1, h, h, tb.words(cin)), INT32, name="x_bits")
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    y = tb.add_bconv(mb, q, 1, h, h, filters, mult, bias, out_shape=(1, h - 2, h - 2, cout))
    mb.tensors[y].name = "y"
    return mb.build([x], [y]), lambda xv: tb.transform(tb.conv_dot(xv, filters), mult, bias)


def quantize_then(op: str, channels: int, shape: tuple):
    """x -> KbnnQuantize -> one kbnn op expecting ``channels`` channels (FC, max-pool, dequantize)."""
    mb = tb.ModelBuilder()
    x = mb.tensor(shape, FLOAT32, name="x")
    q = mb.tensor((*shape[:-1], tb.words(channels)), INT32)
    mb.custom("KbnnQuantize", [x], [q], dict(kbnn_version=1))
    if op == "KbnnBFullyConnected":
        w = mb.tensor((4, tb.words(channels)), INT32, np.zeros((4, tb.words(channels)), np.int32))
        m = mb.tensor((4,), FLOAT32, np.ones(4))
        b = mb.tensor((4,), FLOAT32, np.zeros(4))
        y = mb.tensor((shape[0], 4), FLOAT32, name="y")
        mb.custom(
            op,
            [q, w, m, b],
            [y],
            dict(
                kbnn_version=1,
                input_size=channels,
                activation="NONE",
                clamp_min=float("-inf"),
                clamp_max=float("inf"),
                T=0,
                int8_scale=1.0,
                int8_zero_point=0,
            ),
        )
    elif op == "KbnnBMaxPool2d":
        p = mb.tensor((shape[0], shape[1] // 2, shape[2] // 2, tb.words(channels)), INT32)
        mb.custom(
            op,
            [q],
            [p],
            dict(
                kbnn_version=1,
                channels=channels,
                filter_height=2,
                filter_width=2,
                stride_height=2,
                stride_width=2,
                padding="VALID",
            ),
        )
        y = mb.tensor((shape[0], shape[1] // 2, shape[2] // 2, channels), FLOAT32, name="y")
        mb.custom("KbnnDequantize", [p], [y], dict(kbnn_version=1, channels=channels))
    else:
        y = mb.tensor(shape, FLOAT32, name="y")
        mb.custom("KbnnDequantize", [q], [y], dict(kbnn_version=1, channels=channels))
    return mb.build([x], [y])


def stem_model(cin=3, c=8, h=6):
    """A float CONV_2D stem (XNNPACK) -> KbnnQuantize -> KbnnBconv2d: the demo's structure."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, h, h, cin), FLOAT32, name="x")
    w = mb.tensor((c, 1, 1, cin), FLOAT32, RNG.standard_normal((c, 1, 1, cin)))
    b = mb.tensor((c,), FLOAT32, np.zeros(c))
    s = mb.tensor((1, h, h, c), FLOAT32, name="stem")
    opts = fb.Conv2DOptionsT()
    opts.padding, opts.strideH, opts.strideW = fb.Padding.VALID, 1, 1
    opts.dilationHFactor = opts.dilationWFactor = 1
    mb.builtin(fb.BuiltinOperator.CONV_2D, [x, w, b], [s], fb.BuiltinOptions.Conv2DOptions, opts)
    q = mb.tensor((1, h, h, tb.words(c)), INT32)
    mb.custom("KbnnQuantize", [s], [q], dict(kbnn_version=1))
    filters = RNG.standard_normal((4, 3, 3, c)).astype(np.float32)
    y = tb.add_bconv(
        mb,
        q,
        1,
        h,
        h,
        filters,
        np.ones(4, np.float32),
        np.zeros(4, np.float32),
        out_shape=(1, h - 2, h - 2, 4),
    )
    return mb.build([x], [y])


def stock(model: bytes, shape):
    """The stock ai_edge_litert interpreter with the kbnn delegate, input resized to ``shape``."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, experimental_delegates=[kbnn_runtime.load_delegate()])
    it.resize_tensor_input(it.get_input_details()[0]["index"], list(shape))
    return it


# --- item 1: predict checks every non-batch dimension and the dtype ------------------------------


def test_item1_same_class_in_kbnn_and_kbnn_runtime():
    import kbnn

    assert kbnn.Interpreter is kbnn_runtime.Interpreter


@pytest.mark.parametrize(
    "shape, needle",
    [
        ((2, 28, 28, 8), "dimension 1 is 28, the model expects 6"),
        ((2, 6, 6, 16), "dimension 3 is 16, the model expects 8"),
        ((2, 6, 6, 5), "dimension 3 is 5, the model expects 8"),
        ((2, 6, 6), "(4 dimensions), received shape (2, 6, 6)"),
    ],
)
def test_item1_predict_refuses_other_sizes_and_channels(shape, needle):
    model, _ = conv_model()
    it = kbnn_runtime.Interpreter(model)
    with pytest.raises(ValueError, match="must have shape \\(batch, 6, 6, 8\\)") as e:
        it.predict(RNG.standard_normal(shape).astype(np.float32))
    assert needle in str(e.value)
    assert it.expected_shape() == (None, 6, 6, 8)


def test_item1_batch_still_resizes_and_dtypes():
    model, ref = conv_model()
    it = kbnn_runtime.Interpreter(model)
    for batch in (3, 1):
        x = RNG.standard_normal((batch, 6, 6, 8)).astype(np.float32)
        np.testing.assert_array_equal(it.predict(x), ref(x))
        # float64 and float16 are cast to float32 (documented), the same result
        np.testing.assert_array_equal(it.predict(x.astype(np.float64)), ref(x))
    with pytest.raises(ValueError, match="received complex128 data \\(the imaginary part would be lost\\)"):
        it.predict(np.ones((1, 6, 6, 8), np.complex128))
    with pytest.raises(ValueError, match="beyond the float32 range"):
        it.predict(np.full((1, 6, 6, 8), 1e300))
    with pytest.raises(ValueError, match="takes float32"):
        it.predict(np.full((1, 6, 6, 8), "a"))
    with pytest.raises(ValueError, match="beyond \\+-2\\^24"):
        it.predict(np.full((1, 6, 6, 8), 2**40, np.int64))
    np.testing.assert_array_equal(it.predict(np.ones((1, 6, 6, 8), np.int32)), ref(np.ones((1, 6, 6, 8))))


def test_item1_resize_input_for_dynamic_models():
    model, ref = conv_model()
    it = kbnn_runtime.Interpreter(model)
    it.resize_input("x", (2, 9, 9, 8))
    assert it.expected_shape() == (None, 9, 9, 8)
    x = RNG.standard_normal((3, 9, 9, 8)).astype(np.float32)
    np.testing.assert_array_equal(it.predict(x), ref(x))
    with pytest.raises(ValueError, match="must have shape \\(batch, 9, 9, 8\\)"):
        it.predict(np.zeros((1, 6, 6, 8), np.float32))
    with pytest.raises(ValueError, match="No model input named 'nope'"):
        it.resize_input("nope", (1, 6, 6, 8))
    with pytest.raises(ValueError, match="4 dimensions >= 1"):
        it.resize_input(0, (0, 6, 6, 8))
    # a channel count the model was not converted for: the delegate refuses it (item 2)
    with pytest.raises(kint.KbnnDelegateError, match="expected 8 channels, got 16"):
        it.resize_input(0, (1, 6, 6, 16))


# --- item 2: the delegate checks channel counts, not only words per pixel ------------------------


@pytest.mark.parametrize("channels", [16, 5])
def test_item2_delegate_refuses_other_channel_counts_kbnn_conv(channels):
    model, _ = conv_model()
    it = stock(model, (1, 6, 6, channels))
    with pytest.raises(RuntimeError) as e:
        it.allocate_tensors()
    assert (
        f"node 1 (KbnnBconv2d): bitpacked input tensor 1 carries {channels} channels but the op has "
        f"channels_in=8: expected 8 channels, got {channels}"
    ) in str(e.value)


@pytest.mark.parametrize(
    "op, attr",
    [("KbnnBFullyConnected", "input_size"), ("KbnnBMaxPool2d", "channels"), ("KbnnDequantize", "channels")],
)
def test_item2_delegate_refuses_other_channel_counts_other_ops(op, attr):
    shape = (1, 20) if op == "KbnnBFullyConnected" else (1, 4, 4, 20)
    model = quantize_then(op, 20, shape)
    x = RNG.standard_normal(shape).astype(np.float32)
    ok = stock(model, shape)
    ok.allocate_tensors()
    ok.set_tensor(ok.get_input_details()[0]["index"], x)
    ok.invoke()
    bad = stock(model, (*shape[:-1], 30))  # 30 channels: one 32-bit word, like 20
    with pytest.raises(
        RuntimeError,
        match=f"node 1 \\({op}\\): bitpacked input tensor 1 carries 30 channels "
        f"but the op has {attr}=20: expected 20 channels, got 30",
    ):
        bad.allocate_tensors()


def test_item2_lce_file_with_16_channels():
    model = (FIXTURES / "chain.tflite").read_bytes()
    it = stock(model, (1, 12, 12, 16))
    with pytest.raises(
        RuntimeError,
        match="\\(LceBconv2d\\): bitpacked input tensor \\d+ carries 16 "
        "channels "
        "but the op has channels_in=8: expected 8 channels, got 16",
    ):
        it.allocate_tensors()
    with pytest.raises(ValueError, match="dimension 3 is 16, the model expects 8"):
        kbnn_runtime.Interpreter(model).predict(np.zeros((1, 12, 12, 16), np.float32))


def test_item2_kbnn_run_with_16_channels(tmp_path, capsys):
    np.save(tmp_path / "x16.npy", np.zeros((1, 12, 12, 16), np.float32))
    assert cli.main([str(FIXTURES / "chain.tflite"), "-i", str(tmp_path / "x16.npy")]) == 2
    err = capsys.readouterr().err
    assert "must have shape (batch, 12, 12, 8)" in err and "dimension 3 is 16" in err
    assert len(err.strip().splitlines()) == 1


# --- item 3: empty batch ----------------------------------------------------------------------


def test_item3_predict_refuses_an_empty_batch():
    model, _ = conv_model()
    with pytest.raises(
        ValueError, match="has an empty batch \\(shape \\(0, 6, 6, 8\\)\\): predict needs at least one"
    ):
        kbnn_runtime.Interpreter(model).predict(np.zeros((0, 6, 6, 8), np.float32))


@pytest.mark.parametrize(
    "make, cin", [(lambda: conv_model()[0], 8), (stem_model, 3)], ids=["kbnn_only", "xnnpack_stem"]
)
def test_item3_empty_batch_never_reads_an_unset_shape(make, cin):
    """A batch of 0 through the stock interpreter, after a first allocation at batch 1 (what
    predict used to do): an XNNPACK stem leaves the other dims of its output unset, which the
    delegate printed (input=1621714288x...) and would have built kernels from."""
    model = make()
    for _ in range(3):
        it = stock(model, (1, 6, 6, cin))
        it.allocate_tensors()
        it.resize_tensor_input(0, [0, 6, 6, cin])
        with pytest.raises(RuntimeError) as e:
            it.allocate_tensors()
        m = str(e.value)
        assert not re.search(r"\d{7,}", m), m
        assert "is empty (dimension 0 is 0" in m or "XNNPack" in m, m


# --- item 4: crash files: checked before the interpreter is built -----------------------------

CHILD = r"""
import importlib.abc, json, sys
if sys.argv[1] == "runtime":
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "kbnn"):
                raise ImportError(name + " is blocked")
    sys.meta_path.insert(0, Block())
    import kbnn_runtime as mod
else:
    import kbnn as mod
out = {}
for path in sys.argv[2:]:
    try:
        it = mod.Interpreter(path)
        d = it.input_details[0]
        import numpy as np
        x = np.zeros((4, *d["shape"][1:]), d["dtype"])
        it.predict(x)
        out[path] = ["no error", ""]
    except Exception as e:
        out[path] = [type(e).__name__, str(e)]
try:
    mod.benchmark(sys.argv[2], runs=1, warmup=0)
    out["benchmark"] = ["no error", ""]
except Exception as e:
    out["benchmark"] = [type(e).__name__, str(e)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def crash_files(tmp_path_factory):
    return crash_models.write_all(tmp_path_factory.mktemp("crash"))


@pytest.mark.parametrize("which", ["runtime", "kbnn"])
def test_item4_crash_files_give_a_clear_exception_in_a_subprocess(crash_files, which):
    path = os.pathsep.join([RUNTIME_PATH, str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, which, *map(str, crash_files.values())],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, f"the child died (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, path in crash_files.items():
        kind, message = out[str(path)]
        assert kind == "ModelCheckError", (name, kind, message)
        for needle in crash_models.CASES[name][1]:
            assert needle in message, (name, needle, message)
    assert out["benchmark"][0] == "ModelCheckError"


def test_item4_kbnn_run_reports_crash_files(crash_files, capsys):
    for path in crash_files.values():
        assert cli.main([str(path)]) == 1
        err = capsys.readouterr().err
        assert "The model cannot be run safely" in err and len(err.strip().splitlines()) == 1


def test_item4_model_check_accepts_the_fixtures_and_hand_built_models():
    for f in sorted(FIXTURES.glob("*.tflite")):
        kbnn_runtime.check_model(f.read_bytes())
    for model in (conv_model()[0], stem_model(), quantize_then("KbnnBMaxPool2d", 20, (1, 4, 4, 20))):
        kbnn_runtime.check_model(model)


def _quantized(scale, zero_points, dim=0, shape=(1, 4), dtype=tb.INT8):
    mb = tb.ModelBuilder()
    x = mb.tensor(shape, FLOAT32, name="x")
    q = mb.tensor(shape, dtype, name="q")
    mb.quantize(q, scale, zero_points, dim)
    mb.builtin(fb.BuiltinOperator.QUANTIZE, [x], [q])
    return mb.build([x], [q])


@pytest.mark.parametrize(
    "args, needle",
    [
        (([0.1, 0.2], [0], 1), "2 quantization scales but 1 zero points"),
        (([0.1, 0.2, 0.3], [0, 0, 0], 1), "3 per-axis scales on quantized_dimension 1"),
        (([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0], 5), "quantized_dimension 5"),
        (([float("inf")], [0]), "scale inf"),
        (([0.1], [-129]), "zero point -129, outside the int8 range"),
    ],
)
def test_item4_quantization_parameter_checks(args, needle):
    with pytest.raises(kint.ModelCheckError, match=re.escape(needle)):
        kbnn_runtime.Interpreter(_quantized(*args))


def test_item4_quantize_output_must_be_quantized():
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 4), FLOAT32, name="x")
    q = mb.tensor((1, 4), tb.INT8, name="q")
    mb.builtin(fb.BuiltinOperator.QUANTIZE, [x], [q])
    with pytest.raises(kint.ModelCheckError, match="operator 0 \\(QUANTIZE\\) writes tensor 1 \\('q'"):
        kbnn_runtime.Interpreter(mb.build([x], [q]))


def test_item4_constant_buffer_size_and_reshape_count():
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 4), FLOAT32, name="x")
    c = mb.tensor((4,), FLOAT32, np.ones(4), name="c")
    mb.buffers[-1].data = mb.buffers[-1].data[:8]  # 2 floats for a [4] tensor
    y = mb.tensor((1, 4), FLOAT32, name="y")
    mb.add(x, c, y)
    with pytest.raises(
        kint.ModelCheckError, match="'c'.*constant buffer of 8 bytes; its shape and dtype need 16"
    ):
        kbnn_runtime.Interpreter(mb.build([x], [y]))
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6), FLOAT32, name="x")
    s = mb.tensor((2,), INT32, [1, 4])
    y = mb.tensor((1, 4), FLOAT32, name="y")
    mb.builtin(fb.BuiltinOperator.RESHAPE, [x, s], [y])
    with pytest.raises(kint.ModelCheckError, match="reshapes tensor 0 .* \\(6 elements\\) into tensor 2"):
        kbnn_runtime.Interpreter(mb.build([x], [y]))


def test_item4_reshape_to_a_run_time_shape_is_not_refused():
    # A RESHAPE whose new shape is computed at run time (here a model input; in converted files
    # e.g. SHAPE of a dynamic batch) has a placeholder declared output ([1, 1] from TF's
    # converter): the element count cannot be checked from the file, and a valid model must load
    # (the bit-plane and multi-base conversions are such files).
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6), FLOAT32, name="x")
    s = mb.tensor((2,), INT32, name="new_shape")
    y = mb.tensor((1, 1), FLOAT32, name="y")
    mb.builtin(fb.BuiltinOperator.RESHAPE, [x, s], [y])
    kbnn_runtime.check_model(mb.build([x, s], [y]))


# --- item 5: messages -------------------------------------------------------------------------


def test_item5_op_reading_its_own_output_is_not_a_missing_delegate():
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 4, 4, 8), FLOAT32, name="x")
    q = mb.tensor((1, 4, 4, 1), INT32, name="loop")
    f = mb.tensor((2, 3, 3, 1), INT32, np.zeros((2, 3, 3, 1)))
    m = mb.tensor((2,), FLOAT32, np.ones(2))
    b = mb.tensor((2,), FLOAT32, np.zeros(2))
    mb.custom("KbnnBconv2d", [q, f, m, b], [q], tb.bconv_attrs(8, 3, 3, T=2))
    with pytest.raises(
        kint.ModelCheckError, match="operator 0 \\(KbnnBconv2d\\) reads its own output tensor 1 \\('loop'"
    ) as e:
        kbnn_runtime.Interpreter(mb.build([x], [q]))
    assert "Attach the kbnn delegate" not in str(e.value)


def test_item5_unresolved_op_with_the_delegate_attached():
    e = RuntimeError("Encountered unresolved custom op: KbnnQuantize.Node number 0 (KbnnQuantize) failed")
    assert isinstance(kint.explain_error(e), kint.DelegateMissingError)  # a stock interpreter without it
    err = kint._wrap(e, delegate_attached=True)
    assert isinstance(err, kint.KbnnDelegateError) and "Attach the kbnn delegate" not in str(err)
    assert "is attached but did not take over" in str(err)


def test_item5_xnnpack_failures_are_not_kbnn_delegate_errors():
    it = kbnn_runtime.Interpreter(stem_model())
    with pytest.raises(kint.RuntimeFailureError, match="not a kbnn op") as e:
        it.resize_input(0, (1, 6, 6, 5))  # the stem's filter has 3 input channels
    assert not isinstance(e.value, kint.KbnnDelegateError)
    wrapped = kint._wrap(RuntimeError("XNNPack delegate failed to reshape runtime"), delegate_attached=True)
    assert isinstance(wrapped, kint.RuntimeFailureError)


def test_item5_tensor_data_is_null_does_not_escape_predict():
    model, _ = conv_model()
    it = kbnn_runtime.Interpreter(model)

    def null(index):
        raise ValueError("Tensor data is null. Run allocate_tensors() first")

    it.interpreter.get_tensor = null
    with pytest.raises(kint.RuntimeFailureError, match="Tensor data is null"):
        it.predict(np.zeros((1, 6, 6, 8), np.float32))


def test_item5_channels_first_input_names_the_expected_shape():
    it = kbnn_runtime.Interpreter(stem_model())
    with pytest.raises(ValueError) as e:
        it.predict(np.zeros((2, 3, 6, 6), np.float32))
    assert "must have shape (batch, 6, 6, 3)" in str(e.value) and "channels-first (NCHW)" in str(e.value)
    assert "XNNPack" not in str(e.value)


# --- item 6: kbnn-run --------------------------------------------------------------------------


@pytest.fixture()
def small_model(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(conv_model()[0])
    np.save(tmp_path / "x.npy", RNG.standard_normal((2, 6, 6, 8)).astype(np.float32))
    return path


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_item6_empty_and_corrupt_input_files(small_model, tmp_path, capsys):
    (tmp_path / "empty.npy").write_bytes(b"")
    rc, _, err = _run([small_model, "-i", tmp_path / "empty.npy"], capsys)
    assert rc == 2 and "cannot read --input" in err and "empty" in err and "Traceback" not in err
    (tmp_path / "junk.npy").write_bytes(b"junk" * 10)
    rc, _, err = _run([small_model, "-i", tmp_path / "junk.npy"], capsys)
    assert rc == 2 and "not a NumPy .npy/.npz file" in err


def test_item6_output_is_written_exactly_where_printed(small_model, tmp_path, capsys):
    x = tmp_path / "x.npy"
    rc, out, _ = _run([small_model, "-i", x, "-o", tmp_path / "y.out"], capsys)
    assert rc == 0 and f"wrote {tmp_path / 'y.out'}" in out
    assert (tmp_path / "y.out").is_file() and not (tmp_path / "y.out.npy").exists()
    assert np.load(tmp_path / "y.out").shape == (2, 4, 4, 6)
    rc, _, err = _run([small_model, "-i", x, "-o", tmp_path], capsys)
    assert rc == 2 and "is a directory" in err
    rc, _, err = _run([small_model, "-i", x, "-o", tmp_path / "missing" / "y.npy"], capsys)
    assert rc == 2 and "does not exist" in err
    rc, out, _ = _run([small_model, "-i", x, "-o", tmp_path / "y.npz"], capsys)
    assert rc == 0 and set(np.load(tmp_path / "y.npz").files) == {"y"}


def test_item6_complex_and_wrong_rank_inputs(small_model, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.ones((1, 6, 6, 8), np.complex64))
    rc, _, err = _run([small_model, "-i", tmp_path / "c.npy"], capsys)
    assert rc == 2 and "complex64" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "r3.npy", np.ones((6, 6, 8), np.float32))
    rc, _, err = _run([small_model, "--benchmark", "--runs", "1", "-i", tmp_path / "r3.npy"], capsys)
    assert rc == 2 and "must have shape (batch, 6, 6, 8) (4 dimensions)" in err
    np.save(tmp_path / "x0.npy", np.ones((0, 6, 6, 8), np.float32))
    rc, _, err = _run([small_model, "-i", tmp_path / "x0.npy"], capsys)
    assert rc == 2 and "empty batch" in err


# --- found by the file fuzz (item 7) ------------------------------------------------------------


def _bitpacked_input_conv(cin=40):
    """A KbnnBconv2d reading a bitpacked int32 model input: no kbnn op packed it."""
    mb = tb.ModelBuilder()
    q = mb.tensor((1, 5, 5, tb.words(cin)), INT32, name="x_bits")
    filters = RNG.standard_normal((4, 3, 3, cin)).astype(np.float32)
    y = tb.add_bconv(
        mb, q, 1, 5, 5, filters, np.ones(4, np.float32), np.zeros(4, np.float32), out_shape=(1, 3, 3, 4)
    )
    return mb.build([q], [y]), filters


def test_item7_padding_bits_of_an_unknown_bitpacked_input_are_checked():
    """Found by the fuzz: a bitpacked input not packed by a kbnn op (a model input, a constant) with
    bits beyond channels_in made the reference and the optimized kernels disagree."""
    model, filters = _bitpacked_input_conv()
    x = RNG.standard_normal((2, 5, 5, 40)).astype(np.float32)
    clean = tb.pack(x)
    outs = [
        kbnn_runtime.Interpreter(model, num_threads=t, kernel=k).predict(clean)
        for k, t in (("reference", 1), ("auto", 2))
    ]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], tb.transform(tb.conv_dot(x, filters), np.ones(4), np.zeros(4)))
    dirty = clean.copy()
    dirty[1, 2, 3, 1] |= np.int32(1 << 20)  # channel 52 of a 40-channel input
    for kernel in ("reference", "auto"):
        with pytest.raises(
            kint.KbnnDelegateError,
            match="bitpacked input tensor 0 has bits set beyond 40 channels \\(row 38\\)",
        ):
            kbnn_runtime.Interpreter(model, kernel=kernel).predict(dirty)


def _pool_model(filter_hw=(2, 2), stride=(2, 2)):
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6, 6, 4), FLOAT32, name="x")
    y = mb.tensor((1, 3, 3, 4), FLOAT32, name="y")
    o = fb.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW = fb.Padding.SAME, *stride
    o.filterHeight, o.filterWidth = filter_hw
    mb.builtin(fb.BuiltinOperator.MAX_POOL_2D, [x], [y], fb.BuiltinOptions.Pool2DOptions, o)
    return mb.build([x], [y])


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(filter_hw=(65538, 2)), "filter_height=65538 for an input of 6"),
        (dict(stride=(0, 2)), "stride_h=0; it must be >= 1"),
    ],
)
def test_item7_pooling_windows_and_strides_are_checked(kwargs, needle):
    """Found by the fuzz: a MAX_POOL_2D window of 65538 x 22018 kept the stock kernel busy for
    minutes on a 6x6 input."""
    kbnn_runtime.check_model(_pool_model())
    with pytest.raises(kint.ModelCheckError, match=re.escape(needle)):
        kbnn_runtime.Interpreter(_pool_model(**kwargs))


def test_item7_conv_without_its_filter_and_pool_with_a_wrong_output_shape():
    """Found by the nightly-size fuzz: a CONV_2D whose filter (input 1) is -1 segfaults the stock
    runtime; a MAX_POOL_2D declared [1, 2^30, 3, 4] kept it busy for minutes."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6, 6, 3), FLOAT32, name="x")
    b = mb.tensor((8,), FLOAT32, np.zeros(8))
    y = mb.tensor((1, 6, 6, 8), FLOAT32, name="y")
    opts = fb.Conv2DOptionsT()
    opts.padding, opts.strideH, opts.strideW = fb.Padding.VALID, 1, 1
    mb.builtin(fb.BuiltinOperator.CONV_2D, [x, -1, b], [y], fb.BuiltinOptions.Conv2DOptions, opts)
    with pytest.raises(kint.ModelCheckError, match="operator 0 \\(CONV_2D\\) has no input 1"):
        kbnn_runtime.Interpreter(mb.build([x], [y]))
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 6, 6, 4), FLOAT32, name="x")
    y = mb.tensor((1, 1 << 30, 3, 4), FLOAT32, name="y")
    o = fb.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = fb.Padding.VALID, 2, 2, 2, 2
    mb.builtin(fb.BuiltinOperator.MAX_POOL_2D, [x], [y], fb.BuiltinOptions.Pool2DOptions, o)
    with pytest.raises(kint.ModelCheckError, match=re.escape("and VALID padding give [1, 3, 3, 4]")):
        kbnn_runtime.Interpreter(mb.build([x], [y]))
