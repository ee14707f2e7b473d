"""kbnn.convert: lowering analysis, folding math, output-type decisions, warnings, export parity."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbnn
from kbnn.convert import reference_ops
from kbnn.layers import QuantConv2D, QuantDense, QuantDepthwiseConv2D
from support.keras_util import randomize_batchnorm as _randomize_bn

BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)


def _has_ops():
    try:
        from kbnn import ops

        ops.load_library()
    except Exception:  # noqa: BLE001
        return False
    return True


def _has_interpreter():
    try:
        import os

        from kbnn import interpreter

        return _has_ops() and os.path.isfile(interpreter.delegate_path())
    except Exception:  # noqa: BLE001
        return False


needs_ops = pytest.mark.skipif(not _has_ops(), reason="kbnn TF op library not built")
needs_interpreter = pytest.mark.skipif(not _has_interpreter(), reason="kbnn.Interpreter not available")


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)  # deterministic Keras initializers: reproducible models


def _x(shape, seed=1, batch=3):
    return np.random.default_rng(seed).normal(size=(batch,) + tuple(shape)).astype("float32")


def _parity(model, x, backend="reference", **kw):
    low = kbnn.convert.lower(model, backend=backend, **kw)
    ref = np.asarray(model(x, training=False))
    got = np.asarray(low(x))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
    if ref.ndim == 2 and ref.shape[-1] > 1:
        np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    return low, ref, got


def _conv_model(conv_kwargs, shape=(9, 9, 40), filters=36, bn=True, act=None):
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(shape[-1], 1)(inp)  # float first layer
    x = QuantConv2D(filters, 3, **conv_kwargs, **BIN)(x)
    if bn:
        x = keras.layers.BatchNormalization()(x)
    if act:
        x = keras.layers.Activation(act)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5)(x)  # float last layer
    return _randomize_bn(keras.Model(inp, x))


def _kinds(low):
    return {st.node.name: st.kind for st in low.plan}


def _chain_model():
    """Float conv → 3 chained binary convs (maxpool between) → flatten → binary dense → BN."""
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(32, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = QuantConv2D(40, 3, padding="same", pad_values=1.0, name="b1", **BIN)(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = QuantConv2D(64, 3, padding="same", name="b2", **BIN)(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Activation("relu", name="relu2")(x)
    x = QuantConv2D(64, 3, strides=2, groups=2, name="b3", **BIN)(x)
    x = keras.layers.BatchNormalization(name="bn3")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = QuantDense(10, name="fc", **BIN)(x)
    x = keras.layers.BatchNormalization(name="bnfc")(x)
    return _randomize_bn(keras.Model(inp, x))


# ----------------------------------------------------------------------------------------
# API
# ----------------------------------------------------------------------------------------


def test_convert_is_callable_and_schema_importable():
    from kbnn.convert import schema

    assert callable(kbnn.convert)
    assert kbnn.convert.schema is schema
    assert schema.OPS_BY_NAME["KbnnBconv2d"].version == 1
    assert issubclass(kbnn.convert.ConversionWarning, UserWarning)


def test_reference_pack_roundtrip():
    x = _x((3, 45), batch=2)
    x[0, 0, 0] = 0.0
    words = reference_ops.quantize(x)
    assert words.dtype == tf.int32 and words.shape == (2, 3, 2)
    back = reference_ops.dequantize(words, 45).numpy()
    np.testing.assert_array_equal(back, np.where(x >= 0, 1.0, -1.0))
    np.testing.assert_array_equal(reference_ops.pack_filters(x), words.numpy())
    assert int(np.asarray(words)[..., 1].max()) < (1 << 13)  # padding bits are 0


# ----------------------------------------------------------------------------------------
# Analysis and folding
# ----------------------------------------------------------------------------------------


def test_folding_math_matches_keras_bn():
    model = _conv_model({"padding": "valid"})
    low = kbnn.convert.lower(model, backend="reference")
    st = next(s for s in low.plan if s.kind == "bconv2d")
    conv = st.node.layer
    bn = st.folded[0].layer
    assert isinstance(bn, keras.layers.BatchNormalization)
    dot = np.random.default_rng(3).integers(-30, 30, size=(7, 1, 1, st.channels_out)).astype("float32")
    alpha = np.abs(np.asarray(conv.quantized_weight("kernel_quantizer"))).reshape(-1, st.channels_out).max(0)
    want = np.asarray(bn(dot * alpha, training=False))
    np.testing.assert_allclose(st.multiplier * dot + st.bias, want, rtol=1e-5, atol=1e-5)


def test_magnitude_aware_kernel_and_conv_bias_fold():
    inp = keras.Input((6, 6, 8))
    x = QuantConv2D(
        16,
        3,
        input_quantizer="approx_sign",
        kernel_quantizer="magnitude_aware_sign",
        use_bias=True,
        bias_initializer="random_normal",
    )(inp)
    x = keras.layers.BatchNormalization()(x)
    model = _randomize_bn(keras.Model(inp, x))
    low, _, _ = _parity(model, _x((6, 6, 8)))
    st = low.plan[0]
    assert st.kind == "bconv2d" and st.output_type == "float32" and not st.input_bitpacked
    assert len(np.unique(st.multiplier)) > 1


def test_chain_decisions_and_report():
    low = kbnn.convert.lower(_chain_model(), backend="reference")
    plan = {st.node.name: st for st in low.plan}
    assert plan["b1"].kind == "bconv2d" and plan["b1"].output_type == "bitpacked"
    assert not plan["b1"].input_bitpacked
    assert plan["bn1"].kind == "folded" and plan["bn1"].folded_into == "b1"
    assert plan["pool"].kind == "bmaxpool"
    assert plan["b2"].input_bitpacked and plan["b2"].attrs["activation"] == "RELU"
    assert plan["relu2"].kind == "folded"
    assert plan["b3"].attrs["groups"] == 2 and plan["b3"].output_type == "bitpacked"
    assert plan["flat"].kind == "bflatten"
    assert plan["fc"].kind == "bfc" and plan["fc"].input_bitpacked and plan["fc"].output_type == "float32"
    report = low.report
    assert report.row("b1").op.startswith("KbnnBconv2d") and report.row("b1").weight_bits == 1
    assert report.row("pool").op == "KbnnBMaxPool2d"
    assert report.row("bn2").status == "folded"
    assert [r.status for r in report.layers if r.class_name == "Conv2D"] == ["builtin"]
    assert report.not_lowered == []
    text = report.to_text()
    assert "KbnnBFullyConnected" in text and "folded into b3" in text
    # output_types="float": no bitpacked chaining, no bitpacked pooling.
    low_f = kbnn.convert.lower(_chain_model(), backend="reference", output_types="float")
    kinds = _kinds(low_f)
    assert kinds["pool"] == "keras" and kinds["flat"] == "keras"
    assert all(st.output_type == "float32" for st in low_f.plan)


def test_maxpool_between_conv_and_bn_stays_float():
    inp = keras.Input((8, 8, 32))
    x = QuantConv2D(32, 3, padding="same", name="c1", **BIN)(inp)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = QuantConv2D(32, 3, name="c2", **BIN)(x)
    model = _randomize_bn(keras.Model(inp, x))
    low, _, _ = _parity(model, _x((8, 8, 32)))
    kinds = _kinds(low)
    assert kinds == {"c1": "bconv2d", "pool": "keras", "bn": "keras", "c2": "bconv2d"}
    assert all(st.output_type == "float32" for st in low.plan)


def test_shared_consumer_forces_float_output():
    """A binary conv feeding a float consumer and a binary consumer emits float."""
    inp = keras.Input((6, 6, 32))
    a = QuantConv2D(32, 3, padding="same", name="a", **BIN)(inp)
    b = QuantConv2D(32, 3, padding="same", name="b", **BIN)(a)
    out = keras.layers.Add()([a, b])
    low, _, _ = _parity(keras.Model(inp, out), _x((6, 6, 32)))
    assert {st.node.name: st.output_type for st in low.plan if st.kind == "bconv2d"} == {
        "a": "float32",
        "b": "float32",
    }


def test_not_lowerable_layers_warn_and_strict_raises():
    inp = keras.Input((8, 8, 4))
    x = QuantConv2D(
        8, 3, input_quantizer=kbnn.quantizers.DoReFa(k_bit=2), kernel_quantizer="ste_sign", name="dorefa2"
    )(inp)
    x = QuantConv2D(8, 3, input_quantizer=None, kernel_quantizer="ste_sign", name="weights_only")(x)
    x = QuantDepthwiseConv2D(3, input_quantizer="ste_sign", depthwise_quantizer="ste_sign", name="dw")(x)
    x = QuantConv2D(8, 1, input_quantizer="ste_sign", kernel_quantizer="ste_tern", name="tern")(x)
    x = QuantConv2D(8, 1, name="float_quant")(x)  # no quantizers: a float layer, no warning
    x = QuantConv2D(8, 1, name="ok", **BIN)(x)
    model = keras.Model(inp, x)
    low, _, _ = _parity(model, _x((8, 8, 4)))
    bad = {r.name: r.reason for r in low.report.not_lowered}
    assert set(bad) == {"dorefa2", "weights_only", "dw", "tern"}
    assert "DoReFa" in bad["dorefa2"] and "weights-only" in bad["weights_only"]
    assert "QuantDepthwiseConv2D" in bad["dw"] and "{-alpha, +alpha}" in bad["tern"]
    assert _kinds(low)["ok"] == "bconv2d"
    with pytest.raises(kbnn.convert.ConversionError, match="dorefa2"):
        kbnn.convert(model, strict=True, progress=False)
    with pytest.warns(kbnn.convert.ConversionWarning, match="weights_only"):
        try:
            kbnn.convert(model, progress=False)
        except RuntimeError:  # op library not built: the warning came first
            assert not _has_ops()


def test_libra_and_stochastic_inputs():
    assert kbnn.convert.lowering.binary_input_reason(kbnn.quantizers.IRNetEDE()) is None
    assert kbnn.convert.lowering.binary_input_reason(kbnn.quantizers.StochasticSign()) is None
    assert "libra" in kbnn.convert.lowering.binary_input_reason(kbnn.quantizers.IRNetEDE(libra_pb=True))
    assert kbnn.convert.lowering.binary_input_reason(kbnn.quantizers.SteHeaviside()) is not None


# ----------------------------------------------------------------------------------------
# Parity matrix (lowered TF graph vs Keras), reference ops
# ----------------------------------------------------------------------------------------

CONV_CASES = {
    "valid": {"padding": "valid"},
    "same0": {"padding": "same"},
    "same1": {"padding": "same", "pad_values": 1.0},
    "stride2_same0": {"padding": "same", "strides": 2},
    "stride2_valid": {"padding": "valid", "strides": 2},
    "dilation2_same1": {"padding": "same", "pad_values": 1.0, "dilation_rate": 2},
    "groups4_same0": {"padding": "same", "groups": 4},
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_parity_reference(case):
    model = _conv_model(CONV_CASES[case], act="relu")
    low, _, _ = _parity(model, _x((9, 9, 40)))
    assert _kinds(low)[[n for n in _kinds(low) if n.startswith("quant_conv2d")][0]] == "bconv2d"


def test_chain_parity_reference_and_tf_function():
    model = _chain_model()
    x = _x((12, 12, 3), batch=4)
    low, ref, got = _parity(model, x)
    fn = low.tf_function()
    np.testing.assert_allclose(fn(tf.constant(x)).numpy(), got, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fn(tf.constant(x[:1])).numpy(), got[:1], rtol=1e-5, atol=1e-5)


def test_bireal_and_sequential_parity_reference():
    inp = keras.Input((8, 8, 32))
    x = kbnn.blocks.bireal_block(inp)
    x = kbnn.blocks.bireal_block(x, 64, strides=2)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = _randomize_bn(keras.Model(inp, keras.layers.Dense(4)(x)))
    low, _, _ = _parity(model, _x((8, 8, 32)))
    assert sum(st.kind == "bconv2d" for st in low.plan) == 2
    seq = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(48),
            QuantDense(40, **BIN),
            keras.layers.BatchNormalization(),
            QuantDense(33, **BIN),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(3),
        ]
    )
    low, _, _ = _parity(_randomize_bn(seq), _x((20,), batch=5))
    assert [st.output_type for st in low.plan if st.kind == "bfc"] == ["bitpacked", "float32"]


# ----------------------------------------------------------------------------------------
# Export (needs the kbnn TF op library) and interpreter (needs the delegate)
# ----------------------------------------------------------------------------------------


def _custom_ops(data: bytes):
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema_fb

    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
    found = []
    for sg in model.subgraphs:
        for op in sg.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if code.customCode:
                opts = flexbuffers.Loads(bytes(op.customOptions)) if op.customOptions is not None else {}
                found.append((code.customCode.decode(), opts))
    return found


@needs_ops
def test_export_tf_ops_parity_and_custom_ops(tmp_path):
    model = _chain_model()
    x = _x((12, 12, 3), batch=3)
    low, ref, ref_got = _parity(model, x, backend="kbnn")
    path = tmp_path / "m.tflite"
    data = kbnn.convert(model, str(path), progress=False)
    assert path.read_bytes() == data
    ops = _custom_ops(data)
    names = [n for n, _ in ops]
    assert names.count("KbnnBconv2d") == 3 and "KbnnBMaxPool2d" in names and "KbnnBFullyConnected" in names
    assert "KbnnQuantize" in names
    for _name, opts in ops:
        assert opts["kbnn_version"] == kbnn.convert.schema.SCHEMA_VERSION


@needs_ops
@pytest.mark.parametrize(
    "case", ["valid", "same0", "same1", "stride2_same0", "dilation2_same1", "groups4_same0"]
)
def test_conv_parity_kbnn_ops(case):
    model = _conv_model(CONV_CASES[case], act="relu")
    x = _x((9, 9, 40))
    _parity(model, x, backend="kbnn")
    ref = kbnn.convert.lower(model, backend="reference")(x).numpy()
    got = kbnn.convert.lower(model, backend="kbnn")(x).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def _binary_heavy_model():
    inp = keras.Input((8, 8, 32))
    x = QuantConv2D(256, 3, padding="same", pad_values=1.0, **BIN)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = QuantConv2D(256, 3, padding="same", pad_values=1.0, **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    x = QuantConv2D(256, 3, padding="same", pad_values=1.0, **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    return _randomize_bn(keras.Model(inp, x))


def test_report_bytes_close_to_summary():
    model = _binary_heavy_model()
    s = kbnn.summary(model, print_fn=None)
    low = kbnn.convert.lower(model, backend="reference")
    assert abs(low.report.weight_bytes - s.memory_bytes) <= 0.1 * s.memory_bytes


@needs_ops
def test_tflite_size_within_10_percent_of_summary():
    model = _binary_heavy_model()
    s = kbnn.summary(model, print_fn=None)
    data = kbnn.convert(model, progress=False)
    assert abs(len(data) - s.memory_bytes) <= 0.1 * s.memory_bytes, (len(data), s.memory_bytes)


def _builtin_ops(data: bytes):
    from tensorflow.lite.python import schema_py_generated as schema_fb

    names = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
    return {
        names.get(max(c.builtinCode, c.deprecatedBuiltinCode))
        for c in model.operatorCodes
        if not c.customCode
    }


@needs_ops
def test_export_freezes_variables():
    data = kbnn.convert(_conv_model(CONV_CASES["same0"]), progress=False)
    builtins = _builtin_ops(data)
    assert "CONV_2D" in builtins and "FULLY_CONNECTED" in builtins
    assert not builtins & {"READ_VARIABLE", "VAR_HANDLE", "ASSIGN_VARIABLE", "CALL_ONCE"}


def _binary_only_model(conv_kwargs):
    inp = keras.Input((9, 9, 40))
    x = QuantConv2D(36, 3, **conv_kwargs, **BIN)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = QuantConv2D(33, 3, padding="same", **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    return _randomize_bn(keras.Model(inp, x))


@needs_interpreter
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_interpreter_bit_exact_vs_tf_ops(case):
    model = _binary_only_model(CONV_CASES[case])
    x = _x((9, 9, 40), batch=2)
    tf_out = kbnn.convert.lower(model, backend="kbnn")(x).numpy()
    got = np.asarray(kbnn.Interpreter(kbnn.convert(model, progress=False)).predict(x))
    np.testing.assert_array_equal(got, tf_out)
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), rtol=1e-3, atol=1e-3)


@needs_interpreter
def test_interpreter_matches_keras_and_tf_ops():
    model = _chain_model()
    x = _x((12, 12, 3), batch=3)
    data = kbnn.convert(model, progress=False)
    tf_out = kbnn.convert.lower(model, backend="kbnn")(x).numpy()
    ref = np.asarray(model(x, training=False))
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    np.testing.assert_array_equal(got, tf_out)  # float32 output of KbnnBFullyConnected: bit-exact


def test_cli_convert_strict(tmp_path, capsys):
    from kbnn import cli

    inp = keras.Input((6, 6, 4))
    x = QuantConv2D(8, 3, input_quantizer=None, kernel_quantizer="ste_sign", name="weights_only")(inp)
    path = tmp_path / "m.keras"
    keras.Model(inp, x).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = cli.main(["convert", str(path), str(tmp_path / "m.tflite"), "--strict", "--quiet"])
    assert rc == 1
    assert "weights_only" in capsys.readouterr().err


def test_real_to_binary_block_parity_reference():
    inp = keras.Input((8, 8, 32))
    x = kbnn.blocks.real_to_binary_block(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = _randomize_bn(keras.Model(inp, keras.layers.Dense(4)(x)))
    low, _, _ = _parity(model, _x((8, 8, 32)))
    assert sum(st.kind == "bconv2d" for st in low.plan) == 1


@needs_ops
def test_static_batch_size_and_cli_convert(tmp_path, capsys):
    from kbnn import cli

    model = _chain_model()
    data = kbnn.convert(model, batch_size=2, progress=False)
    from tensorflow.lite.python import schema_py_generated as schema_fb

    m = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
    sg = m.subgraphs[0]
    assert list(sg.tensors[sg.inputs[0]].shape) == [2, 12, 12, 3]
    path = tmp_path / "m.keras"
    model.save(path)
    out = tmp_path / "m.tflite"
    assert cli.main(["convert", str(path), str(out)]) == 0
    text = capsys.readouterr().out
    assert "KbnnBMaxPool2d" in text and f"wrote {out}" in text
    assert [n for n, _ in _custom_ops(out.read_bytes())].count("KbnnBconv2d") == 3
    assert kbnn.convert.last_report.file_bytes == out.stat().st_size


@pytest.mark.slow
@needs_interpreter
@pytest.mark.parametrize("name", ["BinaryNetCNN", "XNORNet", "BiRealNet18", "RealToBinaryNet18"])
def test_zoo_models_end_to_end(name, request):
    import os

    if os.environ.get("KBNN_NIGHTLY") != "1" and "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("slow: set KBNN_NIGHTLY=1 or pass -m slow")
    model = _randomize_bn(
        getattr(kbnn.models, name)(
            input_shape=(32, 32, 3) if name == "BinaryNetCNN" else (64, 64, 3), num_classes=10
        )
    )
    x = _x(tuple(model.inputs[0].shape[1:]), batch=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
        data = kbnn.convert(model, progress=False)
    ref = np.asarray(model(x, training=False))
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    report = kbnn.convert.last_report
    assert len(report.lowered) >= 6
    memory = kbnn.summary(model, print_fn=None).memory_bytes
    assert abs(len(data) - memory) <= 0.1 * memory


@pytest.mark.parametrize("kernel_quantizer", ["libra", "dorefa1", "magnitude_aware_sign"])
def test_per_channel_alpha_kernel_quantizers_lower(kernel_quantizer):
    q = {
        "libra": kbnn.quantizers.IRNetEDE(libra_pb=True),
        "dorefa1": kbnn.quantizers.DoReFa(k_bit=1, mode="weights"),
    }.get(kernel_quantizer, kernel_quantizer)
    inp = keras.Input((6, 6, 8))
    x = QuantConv2D(16, 3, padding="same", input_quantizer="swish_sign", kernel_quantizer=q, use_bias=False)(
        inp
    )
    x = keras.layers.BatchNormalization()(x)
    low, _, _ = _parity(_randomize_bn(keras.Model(inp, x)), _x((6, 6, 8)))
    assert low.plan[0].kind == "bconv2d"
    two_bit = QuantConv2D(
        4, 1, input_quantizer="ste_sign", kernel_quantizer=kbnn.quantizers.DoReFa(k_bit=2, mode="weights")
    )
    two_bit.build((None, 3, 3, 4))
    assert kbnn.convert.lowering.binary_kernel(two_bit)[2] is not None


@needs_interpreter
def test_not_lowered_layers_run_as_float_in_interpreter():
    inp = keras.Input((8, 8, 4))
    # Ordered so that every quantizer sees exactly representable values (integer sums): a
    # quantizer after a float sum of thirds would amplify 1-ulp differences between kernels.
    x = QuantDepthwiseConv2D(3, input_quantizer="ste_sign", depthwise_quantizer="ste_sign")(inp)
    x = QuantConv2D(8, 1, input_quantizer="ste_sign", kernel_quantizer="ste_tern")(x)
    x = QuantConv2D(8, 3, input_quantizer=kbnn.quantizers.DoReFa(k_bit=2), kernel_quantizer="ste_sign")(x)
    x = QuantConv2D(8, 1, input_quantizer=None, kernel_quantizer="magnitude_aware_sign")(x)
    model = keras.Model(inp, x)
    xs = _x((8, 8, 4))
    with pytest.warns(kbnn.convert.ConversionWarning):
        data = kbnn.convert(model, progress=False)
    # (a ternary kernel that happens to hold no zeros is exactly binary and does lower)
    assert len(kbnn.convert.last_report.not_lowered) >= 3
    got = np.asarray(kbnn.Interpreter(data).predict(xs))
    np.testing.assert_allclose(got, np.asarray(model(xs, training=False)), rtol=1e-4, atol=1e-4)


def test_nested_model_with_binary_layers_is_reported():
    inner_in = keras.Input((6, 6, 32))
    inner = keras.Model(inner_in, QuantConv2D(32, 3, name="inner_bin", **BIN)(inner_in), name="inner")
    inp = keras.Input((6, 6, 32))
    model = keras.Model(inp, keras.layers.ReLU()(inner(inp)))
    low, _, _ = _parity(model, _x((6, 6, 32)))
    (row,) = low.report.not_lowered
    assert row.name == "inner" and "inner_bin" in row.reason


@pytest.mark.skipif(not (_has_ops() and _has_interpreter()), reason="needs the built TF ops and delegate")
def test_sign_flips_at_binary_layer_inputs_below_1e5():
    """Binary layers see only the sign of their input: count where the converted model's sign
    differs from Keras at the inputs of the binary layers b2, b3 and fc of the chain model (the
    float outputs of the folded BN that feeds them). Folding may move a value by float rounding
    only, so fewer than 1 flip in 10^5 values is required."""
    model = _chain_model()
    x = _x((12, 12, 3), seed=7, batch=64)
    flips = total = 0
    for name in ("bn1", "bn2", "bn3"):  # the values whose signs b2, b3 (via relu2) and fc consume
        sub = keras.Model(model.input, model.get_layer(name).output)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
            tflite = kbnn.convert(sub, progress=False)
        got = kbnn.Interpreter(tflite, num_threads=2).predict(x)
        ref = np.asarray(sub(x, training=False))
        assert got.shape == ref.shape
        flips += int(np.count_nonzero((got >= 0) != (ref >= 0)))
        total += ref.size
    print(f"\nsign flips at binary-layer inputs: {flips} of {total}")
    assert total > 100_000
    assert flips / total < 1e-5


@needs_ops
def test_written_file_gets_umask_permissions(tmp_path):
    import os
    import stat

    model = _conv_model({"padding": "valid"})
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.tflite"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
            data = kbnn.convert(model, str(path), progress=False)
    finally:
        os.umask(old)
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@needs_interpreter
@pytest.mark.parametrize("runtime", ["litert", "tf.lite"])
@pytest.mark.parametrize("threads", [1, 2])
def test_converted_chain_in_each_runtime_and_thread_count(runtime, threads):
    """The converted chain model (bitpacked activations, binary maxpool and dense) gives the same
    bits in the stock LiteRT interpreter (kbnn.Interpreter) and in tf.lite.Interpreter with the
    delegate loaded by path, at 1 and 2 delegate threads, batch 3, and matches Keras."""
    from kbnn import interpreter as kbnn_interp

    model = _chain_model()
    x = _x((12, 12, 3), seed=5, batch=3)
    data = kbnn.convert(model, progress=False)
    tf_out = kbnn.convert.lower(model, backend="kbnn")(x).numpy()
    if runtime == "litert":
        got = np.asarray(kbnn.Interpreter(data, num_threads=threads).predict(x))
    else:
        delegate = tf.lite.experimental.load_delegate(
            kbnn_interp.delegate_path(), {"num_threads": str(threads)}
        )
        it = tf.lite.Interpreter(model_content=data, experimental_delegates=[delegate])
        inp = it.get_input_details()[0]
        it.resize_tensor_input(inp["index"], list(x.shape))
        it.allocate_tensors()
        it.set_tensor(inp["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_array_equal(got, tf_out)
    ref = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))


@pytest.mark.usefixtures("delegate_env")
def test_multi_input_output_order_matches_keras():
    """The .tflite lists inputs and outputs in the Keras model's order, whatever order the TFLite
    converter chose for its tensors (it returned PartitionedCall:1, :0, :2 for this model)."""
    a = keras.Input((6, 6, 8), name="a")
    b = keras.Input((5,), name="b")
    conv = QuantConv2D(
        16, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="zeta"
    )(a)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(conv)
    dense = QuantDense(4, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="alpha")(pooled)
    side = keras.layers.Dense(2, name="mid")(b)
    model = keras.Model([a, b], [dense, conv, side])
    data = kbnn.convert(model, progress=False)
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((2, 6, 6, 8)).astype(np.float32)
    xb = rng.standard_normal((2, 5)).astype(np.float32)
    it = kbnn.Interpreter(data)
    assert [tuple(d["shape"][1:]) for d in it.input_details] == [(6, 6, 8), (5,)]
    outs = it.predict(xa, xb)
    expected = model.predict([xa, xb], verbose=0)
    assert [o.shape for o in outs] == [e.shape for e in expected]
    for o, e in zip(outs, expected):
        np.testing.assert_allclose(o, e, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------
# Residual fusion (KbnnBconv2dResidual) on Bi-Real blocks
# ----------------------------------------------------------------------------------------


def _bireal_model(pad_values=1.0):
    """Float stem, three Bi-Real blocks (identity, downsampling with a shortcut conv, identity)."""
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = kbnn.blocks.bireal_block(x, pad_values=pad_values)
    x = kbnn.blocks.bireal_block(x, 64, strides=2, pad_values=pad_values)
    x = kbnn.blocks.bireal_block(x, pad_values=pad_values)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _randomize_bn(keras.Model(inp, keras.layers.Dense(4)(x)))


def test_residual_fusion_plan_report_and_parity_reference():
    model = _bireal_model()
    x = _x((8, 8, 3))
    low, _, got = _parity(model, x)
    convs = [st for st in low.plan if st.kind == "bconv2d"]
    assert len(convs) == 3 and all(st.residual_key is not None for st in convs)
    adds = [st for st in low.plan if type(st.node.layer) is keras.layers.Add]
    assert len(adds) == 3 and all(st.kind == "folded" and st.runs is not None for st in adds)
    # The 2nd and 3rd convs read the sign output of the previous fused op (no quantize).
    assert [st.input_bits for st in convs] == [False, True, True]
    rows = [low.report.row(st.node.name) for st in convs]
    assert all(r.op.startswith("KbnnBconv2dResidual (+") for r in rows)
    assert rows[0].input == "quantize"
    assert rows[1].input == f"bitpacked (sign output of {convs[0].node.name})"
    assert low.report.row(adds[0].node.name).op == f"folded into {convs[0].node.name}"
    assert "KbnnBconv2dResidual" in low.report.to_text()
    # Opting out gives the plain ops and the same result (bit-exact: the same float add).
    plain = kbnn.convert.lower(model, backend="reference", fuse_residual=False)
    assert not any(st.residual_key is not None or st.input_bits for st in plain.plan)
    assert sum(type(st.node.layer) is keras.layers.Add and st.kind == "keras" for st in plain.plan) == 3
    np.testing.assert_array_equal(np.asarray(plain(x)), got)


def test_residual_fusion_skips_what_it_cannot_fuse():
    inp = keras.Input((6, 6, 32))
    y = QuantConv2D(32, 3, padding="same", **BIN)(inp)
    y = keras.layers.BatchNormalization()(y)
    y2 = keras.layers.Add()([y, y])  # both inputs the conv: not a residual add
    z = QuantConv2D(32, 3, padding="same", **BIN)(y2)
    z = keras.layers.BatchNormalization()(z)
    z = keras.layers.Add()(
        [z, keras.layers.Dense(32)(keras.layers.GlobalAveragePooling2D(keepdims=True)(y2))]
    )
    model = _randomize_bn(keras.Model(inp, z))  # the second add broadcasts [1, 1, 32]
    low, _, _ = _parity(model, _x((6, 6, 32)))
    assert not any(st.residual_key is not None for st in low.plan)


@needs_interpreter
@pytest.mark.parametrize("pad_values", [1.0, 0.0])
def test_residual_fusion_tflite_bit_exact(pad_values):
    model = _bireal_model(pad_values)
    x = _x((8, 8, 3), batch=2)
    data = kbnn.convert(model, progress=False)
    names = [n for n, _ in _custom_ops(data)]
    assert names.count("KbnnBconv2dResidual") == 3 and "KbnnBconv2d" not in names
    assert names.count("KbnnQuantize") == 1  # only the first block's input; the others read the sign output
    assert "ADD" not in _builtin_ops(data)
    for name, opts in _custom_ops(data):
        if name == "KbnnBconv2dResidual":
            assert set(opts) == {a.name for a in kbnn.convert.schema.OPS_BY_NAME[name].attrs}
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    # unfused file: bit-exact (the same float adds); TF-op path and Keras: close (the float stem,
    # pooling and classifier are XNNPACK builtins in TFLite, TF kernels in the TF-op path).
    np.testing.assert_allclose(
        got, kbnn.convert.lower(model, backend="kbnn")(x).numpy(), rtol=1e-5, atol=1e-5
    )
    unfused = kbnn.convert(model, progress=False, fuse_residual=False)
    assert "KbnnBconv2dResidual" not in [n for n, _ in _custom_ops(unfused)]
    np.testing.assert_array_equal(got, np.asarray(kbnn.Interpreter(unfused).predict(x)))
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), rtol=1e-3, atol=1e-3)


@needs_interpreter
def test_residual_fusion_tf_ops_vs_tflite_bit_exact_binary_only():
    """Only kbnn ops between input and output (identity Bi-Real blocks on the input stream)."""
    inp = keras.Input((7, 9, 40))
    x = kbnn.blocks.bireal_block(inp, pad_values=1.0)
    x = kbnn.blocks.bireal_block(x, pad_values=0.0)
    x = kbnn.blocks.bireal_block(x, pad_values=1.0)
    model = _randomize_bn(keras.Model(inp, x))
    x = _x((7, 9, 40), batch=2)
    data = kbnn.convert(model, progress=False)
    names = [n for n, _ in _custom_ops(data)]
    assert names == ["KbnnQuantize"] + ["KbnnBconv2dResidual"] * 3 and not _builtin_ops(data)
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    np.testing.assert_array_equal(got, kbnn.convert.lower(model, backend="kbnn")(x).numpy())
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), rtol=1e-3, atol=1e-3)
    for threads in (1, 3):
        np.testing.assert_array_equal(np.asarray(kbnn.Interpreter(data, num_threads=threads).predict(x)), got)


@needs_ops
def test_cli_convert_no_fuse_residual(tmp_path, capsys):
    from kbnn import cli

    inp = keras.Input((6, 6, 32))
    model = _randomize_bn(keras.Model(inp, kbnn.blocks.bireal_block(kbnn.blocks.bireal_block(inp))))
    path = tmp_path / "m.keras"
    model.save(path)
    assert cli.main(["convert", str(path), str(tmp_path / "fused.tflite"), "--quiet"]) == 0
    assert (
        cli.main(["convert", str(path), str(tmp_path / "plain.tflite"), "--quiet", "--no-fuse-residual"]) == 0
    )
    fused = [n for n, _ in _custom_ops((tmp_path / "fused.tflite").read_bytes())]
    plain = [n for n, _ in _custom_ops((tmp_path / "plain.tflite").read_bytes())]
    assert fused.count("KbnnBconv2dResidual") == 2 and fused.count("KbnnQuantize") == 1
    assert plain.count("KbnnBconv2d") == 2 and plain.count("KbnnQuantize") == 2
    assert "ADD" in _builtin_ops((tmp_path / "plain.tflite").read_bytes())
