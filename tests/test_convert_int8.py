"""kbnn.convert(representative_dataset=...): int8 for the non-binary layers.

Parity: the binary ops of the int8 model are checked against an independent NumPy computation of
the quantized pipeline (sign of the int8 input relative to its zero point, ±1 convolution with
+1 padding, BN folded in float64 from the Keras weights, int8 rounding half away from zero).
"""

import warnings

import keras
import numpy as np
import pytest
from test_convert import needs_interpreter

import kbnn
from kbnn.convert import int8 as q8
from kbnn.convert.flatbuffer import read_model
from kbnn.layers import QuantConv2D
from support.keras_util import randomize_batchnorm

pytestmark = needs_interpreter

QUANT = dict(
    input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign", pad_values=1.0, use_bias=False
)


def _model(seed=0, h=6, w=5, c=32):
    """Float stem → BN → [binary conv → BN] + shortcut → GAP → Dense: a Bi-Real block in small."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, 3), name="image")
    x = keras.layers.Conv2D(c, 3, padding="same", use_bias=False, name="stem")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    y = QuantConv2D(c + 8, 3, padding="same", name="bconv", **QUANT)(x)
    y = keras.layers.BatchNormalization(name="bconv_bn")(y)
    s = keras.layers.Conv2D(c + 8, 1, name="shortcut")(x)
    x = keras.layers.Add(name="add")([y, s])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inp, out, name="int8_block")
    randomize_batchnorm(model, seed)
    return model


def _data(n=96, seed=1, shape=(6, 5, 3)):
    return np.random.default_rng(seed).standard_normal((n,) + shape).astype("float32")


def _convert(model, rep, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kbnn.convert(model, progress=False, return_report=True, representative_dataset=rep, **kw)


def _ops(content):
    """[(op name, [input tensor indices], [output tensor indices])] of the main subgraph."""
    model = read_model(content)
    return model, [
        (q8._op_name(model, op), [int(t) for t in op.inputs], [int(t) for t in op.outputs])
        for op in model.subgraphs[0].operators
    ]


def _run_preserving(content, x):
    """Runs the model with all tensors kept readable; returns the interpreter."""
    litert = kbnn.interpreter._runtime()
    interp = litert.Interpreter(
        model_content=content,
        experimental_delegates=[kbnn.load_delegate(num_threads=1)],
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    d = interp.get_input_details()[0]
    interp.resize_tensor_input(d["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp


def test_int8_model_structure_and_report(delegate_env):
    model = _model()
    x = _data()
    content, report = _convert(model, [x[i : i + 32] for i in range(0, 96, 32)])
    fmodel, ops = _ops(content)
    g = fmodel.subgraphs[0]
    names = [op for op, _, _ in ops]
    # Float interface: one QUANTIZE after the input, one DEQUANTIZE before the output, nothing else.
    assert names.count("114") == 1 and names.count("6") == 1, names
    assert names[0] == "114" and names[-1] == "6"
    for op, ins, outs in ops:
        if op == "KbnnQuantize":
            assert g.tensors[ins[0]].type == 9  # reads the int8 tensor
        elif op == "KbnnBconv2d":
            assert g.tensors[outs[0]].type == 9  # writes int8
        elif op not in ("114", "6"):  # every builtin computes in int8
            acts = [t for t in ins + outs if t >= 0 and not q8._is_constant(fmodel, g.tensors[t])]
            assert {g.tensors[t].type for t in acts} == {9}, (op, [g.tensors[t].name for t in acts])
    assert report.int8 and report.interface == "float32/float32"
    assert {r.name for r in report.int8_layers} == {"stem", "stem_bn", "shortcut", "add", "pool", "logits"}
    row = report.row("bconv")
    assert (row.precision, row.output_type, row.input) == ("1-bit", "int8", "quantize (int8)")
    assert report.row("bconv_bn").status == "folded"
    text = report.to_text()
    assert "dtype" in text.splitlines()[1] and "float32: none" in text
    assert (
        "int8 (all): 6 non-binary layers compute in int8 (stem, stem_bn, shortcut, add, pool, logits)" in text
    )
    # The float conversion has no dtype column and stays float.
    _, freport = kbnn.convert(model, progress=False, return_report=True)
    assert not freport.int8 and "dtype" not in freport.to_text() and not freport.int8_layers


def _round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def test_binary_op_matches_numpy_quantized_pipeline(delegate_env):
    model = _model(seed=3)
    x = _data(seed=4)
    content, _ = _convert(model, [x[:48], x[48:]])
    fmodel, ops = _ops(content)
    g = fmodel.subgraphs[0]
    ((_, qin, _),) = [o for o in ops if o[0] == "KbnnQuantize"]
    ((_, _, cout),) = [o for o in ops if o[0] == "KbnnBconv2d"]
    x_test = _data(8, seed=5)
    interp = _run_preserving(content, x_test)
    q_in = interp.get_tensor(qin[0]).astype(np.int64)
    q_out = interp.get_tensor(cout[0]).astype(np.int64)
    zp_in = int(g.tensors[qin[0]].quantization.zeroPoint[0])
    scale_out = float(g.tensors[cout[0]].quantization.scale[0])
    zp_out = int(g.tensors[cout[0]].quantization.zeroPoint[0])

    # Independent NumPy pipeline: x = s * (q - zp) < 0  <=>  q < zp; +1 padding; ±1 weights · alpha.
    a = np.where(q_in < zp_in, -1.0, 1.0)
    a = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=1.0)
    kernel = model.get_layer("bconv").kernel.numpy().astype(np.float64)  # HWIO
    signs = np.where(kernel >= 0, 1.0, -1.0)
    alpha = np.mean(np.abs(kernel), axis=(0, 1, 2))  # magnitude-aware sign: per-output-channel mean |w|
    n, h, w, _ = q_in.shape
    dot = np.zeros((n, h, w, kernel.shape[-1]))
    for i in range(3):
        for j in range(3):
            dot += np.einsum("nhwc,co->nhwo", a[:, i : i + h, j : j + w, :], signs[i, j])
    bn = model.get_layer("bconv_bn")
    gamma, beta, mean, var = (v.numpy().astype(np.float64) for v in bn.weights)
    s = gamma / np.sqrt(var + bn.epsilon)
    y = dot * alpha * s + (beta - mean * s)
    expected = np.clip(_round_half_away(y / scale_out) + zp_out, -128, 127)
    diff = np.abs(expected - q_out)
    assert np.all(np.abs(dot) <= 9 * 32) and len(np.unique(q_out)) > 20  # a non-trivial output
    assert diff.max() <= 1 and np.mean(diff == 0) >= 0.99, (diff.max(), np.mean(diff == 0))


def test_int8_outputs_close_to_float_rest(delegate_env):
    model = _model(seed=5)
    x = _data(256, seed=6)
    int8_content, _ = _convert(model, lambda: (x[i : i + 64] for i in range(0, 256, 64)))
    float_content = kbnn.convert(model, progress=False)
    x_test = _data(64, seed=7)
    yf = kbnn.Interpreter(float_content).predict(x_test)
    yq = kbnn.Interpreter(int8_content).predict(x_test)
    span = yf.max() - yf.min()
    assert np.abs(yq - yf).max() <= 0.08 * span, np.abs(yq - yf).max() / span
    assert np.mean(np.argmax(yq, -1) == np.argmax(yf, -1)) >= 0.8


def test_int8_interface(delegate_env):
    model = _model(seed=7)
    x = _data(seed=8)
    content, report = _convert(model, [x], inference_input_type="int8", inference_output_type="int8")
    assert report.interface == "int8/int8"
    interp = kbnn.Interpreter(content)
    din, dout = interp.input_details[0], interp.output_details[0]
    assert din["dtype"] == np.int8 and dout["dtype"] == np.int8
    fcontent, _ = _convert(model, [x])
    x_test = _data(16, seed=9)
    s, zp = din["quantization"]
    q = np.clip(np.round(x_test / s) + zp, -128, 127).astype(np.int8)
    out = interp.predict(q).astype(np.float32)
    so, zo = dout["quantization"]
    ref = kbnn.Interpreter(fcontent).predict(x_test)
    assert np.abs((out - zo) * so - ref).max() <= 2 * so + 1e-6
    with pytest.raises(ValueError, match="int8 input"):
        interp.predict(x_test)  # float data into the int8 input: an error, not a silent cast


@pytest.mark.parametrize(
    "rep, match",
    [
        ([], "yielded no batches"),
        (lambda: iter(()), "yielded no batches"),
        (np.zeros((4, 6, 5, 3), "float32"), "must be an iterable of batches"),
        (7, "must be an iterable of batches"),
        ("images", "must be an iterable of input batches"),
        ([np.zeros((6, 5, 3), "float32")], r"shape \(6, 5, 3\) has no batch dimension.*x\[None\]"),
        (
            [np.zeros((2, 5, 6, 3), "float32")],
            r"shape \(2, 5, 6, 3\) does not match the model input \[batch, 6, 5, 3\]",
        ),
        ([np.zeros((0, 6, 5, 3), "float32")], "is empty"),
        ([np.full((2, 6, 5, 3), "a")], "dtype <U1 is not a real number type"),
        ([np.full((2, 6, 5, 3), np.nan, "float32")], "NaN or infinite"),
        ([[np.zeros((2, 6, 5, 3))] * 2], r"has 2 array\(s\); the model has 1 input"),
        ([{"img": np.zeros((2, 6, 5, 3))}], r"without the input\(s\) \['image'\]"),
    ],
)
def test_bad_representative_data(delegate_env, rep, match):
    with pytest.raises(kbnn.convert.RepresentativeDatasetError, match=match):
        _convert(_model(), rep)


def test_dict_and_integer_batches_accepted(delegate_env):
    rng = np.random.default_rng(0)
    batches = [{"image": rng.integers(-3, 4, (8, 6, 5, 3))}, {"image": rng.integers(-3, 4, (5, 6, 5, 3))}]
    _, report = _convert(_model(), batches)
    assert report.int8_layers


def test_int8_interface_needs_dataset_and_valid_types():
    with pytest.raises(ValueError, match="pass `representative_dataset` too"):
        kbnn.convert(_model(), progress=False, inference_input_type="int8")
    with pytest.raises(ValueError, match="must be 'float32' or 'int8'"):
        kbnn.convert(
            _model(), progress=False, representative_dataset=[_data()], inference_output_type="uint8"
        )
    assert q8.interface_type(np.int8, "x") == "int8"
    with pytest.raises(ValueError, match="must be 'float32' or 'int8'"):
        q8.interface_type(["int8"], "inference_input_type")
    assert q8.interface_type("float32", "x") == "float32"


def test_cli_representative_data(delegate_env, tmp_path, capsys):
    from kbnn import cli

    model_path = tmp_path / "m.keras"
    _model().save(model_path)
    np.save(tmp_path / "x.npy", _data(70))
    out = tmp_path / "m_int8.tflite"
    assert (
        cli.main(
            [
                "convert",
                str(model_path),
                str(out),
                "--representative-data",
                str(tmp_path / "x.npy"),
                "--int8-io",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "dtype" in text and "model input/output: int8/int8" in text
    assert kbnn.Interpreter(str(out)).input_details[0]["dtype"] == np.int8
    np.save(tmp_path / "bad.npy", _data(4, shape=(5, 5, 3)))
    assert (
        cli.main(
            [
                "convert",
                str(model_path),
                str(out),
                "--representative-data",
                str(tmp_path / "bad.npy"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "does not match the model input [batch, 6, 5, 3]" in capsys.readouterr().err
    assert cli.main(["convert", str(model_path), str(out), "--int8-io", "--quiet"]) == 2
    assert "--int8-io needs --representative-data" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "convert",
                str(model_path),
                str(out),
                "--representative-data",
                str(tmp_path / "x.npy"),
                "--int8-layers",
                "stem",
            ]
        )
        == 0
    )
    assert "int8 (stem): 2 non-binary layers compute in int8 (stem, stem_bn)" in capsys.readouterr().out
    assert (
        cli.main(
            [
                "convert",
                str(model_path),
                str(out),
                "--representative-data",
                str(tmp_path / "x.npy"),
                "--int8-layers",
                "stem, nope",
                "--quiet",
            ]
        )
        == 2
    )
    assert "--int8-layers" in (err := capsys.readouterr().err) and "no layer(s) ['nope']" in err
    assert cli.main(["convert", str(model_path), str(out), "--int8-layers", "stem", "--quiet"]) == 2
    assert "--int8-layers needs --representative-data" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------
# int8_layers: only some non-binary layers int8 ("stem" or a list), the rest float and fused
# ----------------------------------------------------------------------------------------


def _types(fmodel, ops, name):
    """[(input activation types, output types)] of the ops called ``name``."""
    g = fmodel.subgraphs[0]

    def acts(ts):
        return [g.tensors[t].type for t in ts if t >= 0 and not q8._is_constant(fmodel, g.tensors[t])]

    return [(acts(i), acts(o)) for op, i, o in ops if op == name]


def test_int8_stem_structure_and_report(delegate_env):
    model = _model(seed=11)
    x = _data(seed=12)
    content, report = _convert(model, [x[:48], x[48:]], int8_layers="stem")
    fmodel, ops = _ops(content)
    names = [op for op, _, _ in ops]
    # The stem conv (BN folded in) is int8; the shortcut conv after it and the classifier stay float.
    assert _types(fmodel, ops, "3") == [([9], [9]), ([0], [0])], _types(fmodel, ops, "3")
    assert _types(fmodel, ops, "9") == [([0], [0])]  # FULLY_CONNECTED
    assert _types(fmodel, ops, "KbnnQuantize") == [([9], [2])]  # reads the int8 stem output directly
    # The residual fusion stays: no ADD builtin; the residual stream is float (one DEQUANTIZE).
    assert "KbnnBconv2dResidual" in names and "0" not in names and "KbnnBconv2d" not in names
    assert names.count("114") == 1 and names.count("6") == 1 and names[0] == "114"
    assert [r.name for r in report.int8_layers] == ["stem", "stem_bn"]
    assert report.int8_choice == "stem" and report.row("shortcut").precision == "float32"
    assert (
        report.row("bconv").op.startswith("KbnnBconv2dResidual")
        and report.row("bconv").input == "quantize (int8)"
    )
    assert (
        "int8 (stem): 2 non-binary layers compute in int8 (stem, stem_bn); float32: shortcut, pool, logits"
        in report.to_text()
    )


def test_int8_stem_close_to_float_rest(delegate_env):
    model = _model(seed=13)
    x = _data(256, seed=14)
    content, _ = _convert(model, lambda: (x[i : i + 64] for i in range(0, 256, 64)), int8_layers="stem")
    float_content = kbnn.convert(model, progress=False)
    x_test = _data(128, seed=15)
    yf = kbnn.Interpreter(float_content).predict(x_test)
    yq = kbnn.Interpreter(content).predict(x_test)
    span = yf.max() - yf.min()
    err = np.abs(yq - yf)
    assert err.max() <= 0.08 * span and err.mean() <= 0.02 * span, (err.max() / span, err.mean() / span)
    assert np.mean(np.argmax(yq, -1) == np.argmax(yf, -1)) >= 0.85
    assert not np.array_equal(yq, yf)  # it did quantize something


def test_int8_layers_list(delegate_env):
    model = _model(seed=16)
    x = _data(seed=17)
    rep = [x[:48], x[48:]]
    content, report = _convert(model, rep, int8_layers=["stem", "stem_bn", "logits"])
    fmodel, ops = _ops(content)
    assert "KbnnBconv2dResidual" in [op for op, _, _ in ops]
    assert _types(fmodel, ops, "9") == [([9], [9])]  # the classifier is int8
    assert {r.name for r in report.int8_layers} == {
        "stem",
        "stem_bn",
        "logits",
    } and report.int8_choice == "list"
    # A listed Add that the fusion would fold: the fusion is turned off and the add is int8.
    content, report = _convert(model, rep, int8_layers=["stem", "stem_bn", "shortcut", "add"])
    fmodel, ops = _ops(content)
    names = [op for op, _, _ in ops]
    assert "KbnnBconv2dResidual" not in names and _types(fmodel, ops, "0") == [([9, 9], [9])]
    assert {r.name for r in report.int8_layers} == {"stem", "stem_bn", "shortcut", "add"}


@pytest.mark.parametrize(
    "value, match",
    [
        ("stm", "must be 'all', 'stem' or a list"),
        (3, "must be 'all', 'stem' or a list"),
        (["stem", 2], "must be 'all', 'stem' or a list"),
        ([], "empty list"),
        (["nope"], r"no layer\(s\) \['nope'\]"),
        (["bconv"], "binary kbnn ops or folded into one"),
        (["bconv_bn"], "binary kbnn ops or folded into one"),
    ],
)
def test_int8_layers_bad_values(delegate_env, value, match):
    with pytest.raises(ValueError, match=match):
        _convert(_model(), [_data(8)], int8_layers=value)


def test_int8_layers_needs_dataset_and_a_stem():
    with pytest.raises(ValueError, match="needs the int8 conversion: pass `representative_dataset`"):
        kbnn.convert(_model(), progress=False, int8_layers="stem")
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 5, 3))
    x = QuantConv2D(8, 3, padding="same", name="first_binary", **QUANT)(inp)
    model = keras.Model(inp, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)), name="no_stem")
    with pytest.raises(ValueError, match="no float layers before its first binary layer"):
        _convert(model, [_data(8)], int8_layers="stem")


def test_int8_layers_interface(delegate_env):
    model = _model(seed=18)
    x = _data(seed=19)
    rep = [x[:48], x[48:]]
    content, _ = _convert(model, rep, int8_layers="stem", inference_input_type="int8")
    assert kbnn.Interpreter(content).input_details[0]["dtype"] == np.int8
    content, _ = _convert(model, rep, int8_layers=["logits"], inference_output_type="int8")
    assert kbnn.Interpreter(content).output_details[0]["dtype"] == np.int8
    # An int8 interface that the chosen layers leave float is refused, not silently float.
    with pytest.raises(ValueError, match=r"inference_output_type='int8'.*add the layer\(s\) \['logits'\]"):
        _convert(model, rep, int8_layers="stem", inference_output_type="int8")
    with pytest.raises(ValueError, match=r"inference_input_type='int8'.*add the layer\(s\) \['stem'\]"):
        _convert(model, rep, int8_layers=["logits"], inference_input_type="int8")
