"""Issue 22, the training/converter half: silent misuse is refused with a message naming the
layers and the fix, kbnn.convert checks the file it wrote and keeps TF's chatter off the
terminal, the int8 report tells what the file computes, and `kbnn convert` checks its output
path and loads user-defined objects."""

import os
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbnn
from kbnn.checks import ModelMistakeWarning
from kbnn.convert import ConversionError
from kbnn.layers import BitPlaneInput, QuantConv2D, QuantDense
from kbnn.quantizers import MultiBaseSign

pytestmark = pytest.mark.usefixtures("delegate_env")

SIGN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign")


def _binary_model():
    inp = keras.Input((8, 8, 3))
    x = QuantConv2D(8, 3, padding="same", pad_values=1.0, name="bconv", **SIGN)(inp)
    return keras.Model(inp, x, name="tiny")


# ------------------------------------------------------------------ 1. BitPlaneInput + sign input


def test_sign_input_quantizer_after_bitplane_input_raises_when_built():
    with pytest.raises(ValueError, match=r"'planes'.*always \+1.*remove the input_quantizer of 'conv'"):
        keras.Sequential(
            [keras.Input((8, 8, 1)), BitPlaneInput(name="planes"), QuantConv2D(4, 3, name="conv", **SIGN)]
        )
    inp = keras.Input((64,))
    planes = BitPlaneInput(bits=4, value_range=(0.0, 1.0), name="p2")(inp)
    with pytest.raises(ValueError, match=r"'dense' \(QuantDense\).*BitPlaneInput 'p2'.*0\.\.15"):
        QuantDense(4, name="dense", **SIGN)(planes)
    # Without an input quantizer (the documented use) nothing is raised.
    keras.Sequential(
        [keras.Input((8, 8, 1)), BitPlaneInput(), QuantConv2D(4, 3, kernel_quantizer="ste_sign")]
    )


def _bitplane_through_padding():
    inp = keras.Input((8, 8, 1))
    x = BitPlaneInput(name="planes")(inp)
    x = keras.layers.ZeroPadding2D(name="pad")(x)  # a shape-only layer: the layers cannot see it
    x = QuantConv2D(4, 3, name="conv", **SIGN)(x)
    return keras.Model(inp, x, name="mistake")


def test_summary_warns_and_convert_refuses_sign_after_bitplane(tmp_path):
    model = _bitplane_through_padding()
    with pytest.warns(ModelMistakeWarning, match=r"'conv'.*BitPlaneInput 'planes' \(through pad\)"):
        s = kbnn.summary(model, print_fn=None)
    assert len(s.mistakes) == 1 and "WARNING: layer 'conv'" in s.to_text()
    target = tmp_path / "m.tflite"
    with pytest.raises(ConversionError, match=r"'conv'.*'planes'.*remove the input_quantizer"):
        kbnn.convert(model, str(target), progress=False)
    assert not target.exists() and not os.listdir(tmp_path)


# ------------------------------------------------------------------ 2. MultiBaseSign(mode="weights") as input


def test_weights_mode_multibase_as_input_quantizer_warns_and_does_not_convert(tmp_path):
    inp = keras.Input((6, 6, 8))
    with pytest.warns(ModelMistakeWarning, match=r"'abc'.*mode='weights'.*is for kernels.*mode='shift'"):
        layer = QuantConv2D(4, 3, input_quantizer=MultiBaseSign(2), kernel_quantizer="ste_sign", name="abc")
    model = keras.Model(inp, layer(inp))
    target = tmp_path / "m.tflite"
    with pytest.raises(ConversionError, match=r"'abc'.*MatrixSolve.*mode='shift'"):
        kbnn.convert(model, str(target), progress=False)
    assert not target.exists()
    # The kernel quantizer is where mode="weights" belongs: no warning there.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelMistakeWarning)
        QuantConv2D(4, 3, input_quantizer=MultiBaseSign(2, mode="shift"), kernel_quantizer=MultiBaseSign(2))


# ------------------------------------------------------------------ 3. the written file is checked


def _lgamma_model():
    inp = keras.Input((8, 8, 3))
    x = QuantConv2D(8, 3, padding="same", pad_values=1.0, **SIGN)(inp)
    x = keras.layers.Lambda(lambda t: tf.math.lgamma(t), name="lgamma")(x)
    return keras.Model(inp, x, name="unconvertible")


def test_a_file_that_does_not_run_is_refused_and_not_written(tmp_path, capfd):
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous")
    capfd.readouterr()
    with pytest.raises(ConversionError, match=r"'unconvertible'.*output 0 of shape \(0, 8, 8, 8\)") as info:
        kbnn.convert(_lgamma_model(), str(target), progress=False)
    assert target.read_bytes() == b"previous"  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]  # and no stray temporary file
    out, err = capfd.readouterr()
    assert "Lgamma" not in out + err and "error:" not in out + err  # the MLIR pages are not printed...
    assert "Lgamma" in info.value.converter_log  # ...but kept


def test_report_says_what_was_checked():
    _, report = kbnn.convert(_binary_model(), progress=False, return_report=True)
    assert report.checked == "kbnn.Interpreter on a zero input: output shape(s) (1, 8, 8, 8)"


# ------------------------------------------------------------------ 4. TF's chatter off the terminal


def _readme_like(size=12):
    return keras.Sequential(
        [
            keras.Input((size, size, 1)),
            QuantConv2D(32, 3, kernel_quantizer="ste_sign", use_bias=False),
            keras.layers.BatchNormalization(),
            QuantConv2D(32, 3, padding="same", pad_values=1.0, use_bias=False, **SIGN),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            QuantDense(10, **SIGN),
            keras.layers.Activation("softmax"),
        ],
        name="readme_like",
    )


def test_converter_output_is_captured_unless_verbose(capfd):
    x = np.random.default_rng(0).random((16, 12, 12, 1), dtype=np.float32)
    capfd.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
        _, report = kbnn.convert(
            _readme_like(), representative_dataset=[x], return_report=True, progress=False
        )
    out, err = capfd.readouterr()
    assert "fully_quantize" not in out + err and "XNNPACK" not in out + err
    assert "fully_quantize" in report.converter_log and "--- int8 quantizer ---" in report.converter_log
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
        kbnn.convert(_readme_like(), representative_dataset=[x], progress=False, verbose=True)
    out, err = capfd.readouterr()
    assert "fully_quantize" in out + err and "kbnn conversion report" in out


def test_captured_fds_restores_descriptors_on_error(capfd):
    from kbnn.convert._capture import captured_fds

    with pytest.raises(RuntimeError):
        with captured_fds() as cap:
            os.write(2, b"native noise\n")
            raise RuntimeError("boom")
    assert cap.text == "native noise\n"
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"


# ------------------------------------------------------------------ 6. the int8 report tells the truth


def test_int8_report_is_derived_from_the_file():
    """A weights-only QuantConv2D is a float CONV_2D in the file that the int8 conversion makes
    int8: the report must say so (it named only 2 layers, missing quant_conv2d, whose tensors
    TF named `quant_conv2d_1/...` like the next layer)."""
    from kbnn.convert import int8 as q8
    from kbnn.convert.flatbuffer import read_model

    x = np.random.default_rng(0).random((16, 12, 12, 1), dtype=np.float32)
    model = _readme_like()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
        data, report = kbnn.convert(model, representative_dataset=[x], return_report=True, progress=False)
    first = model.layers[0].name
    m = read_model(data)
    g = m.subgraphs[0]
    int8_convs = [
        op
        for op in g.operators
        if not m.operatorCodes[op.opcodeIndex].customCode
        and max(
            m.operatorCodes[op.opcodeIndex].builtinCode, m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode
        )
        == 3  # CONV_2D
        and g.tensors[int(op.outputs[0])].type == q8._TENSOR_INT8
    ]
    assert len(int8_convs) == 1
    assert report.row(first).precision == "int8"
    assert first in [r.name for r in report.int8_layers]
    assert f"{len(report.int8_layers)} non-binary layers compute in int8 ({first}," in report.to_text()


def test_int8_layers_stem_without_an_int8_stem_raises():
    x = np.random.default_rng(0).random((16, 12, 12, 1), dtype=np.float32)
    inp = keras.Input((12, 12, 1))
    h = keras.layers.Lambda(lambda t: keras.ops.sin(t), name="sin_stem")(inp)  # no int8 builtin
    h = QuantConv2D(8, 3, **SIGN)(h)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(h), name="no_int8_stem")
    with pytest.raises(ValueError, match=r"int8_layers='stem'.*sin_stem.*nothing to quantize"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kbnn.convert.ConversionWarning)
            kbnn.convert(model, representative_dataset=[x], int8_layers="stem", progress=False)


# ------------------------------------------------------------------ 5. the `kbnn convert` command


@pytest.fixture
def saved_model(tmp_path):
    path = tmp_path / "m.keras"
    _binary_model().save(path)
    return path


@pytest.mark.parametrize("output", ["missing_dir/m.tflite", "."])
def test_cli_convert_bad_output_fails_before_converting(tmp_path, saved_model, output, capsys, monkeypatch):
    from kbnn import cli

    def must_not_convert(*args, **kwargs):  # pragma: no cover - the failure this test catches
        raise AssertionError("kbnn.convert ran although the output cannot be written")

    monkeypatch.setattr(kbnn.convert.converter, "convert", must_not_convert)
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / output if output != "." else tmp_path
    assert cli.main(["convert", str(saved_model), str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kbnn convert: the output")
    assert ("does not exist" in err) if output != "." else ("is a directory" in err)
    assert sorted(os.listdir(tmp_path)) == before


QUANTIZER_MODULE = '''
import keras
import kbnn

@keras.saving.register_keras_serializable(package="{pkg}")
class ScaledSign(kbnn.quantizers.SteSign):
    """A user-defined quantizer (registered): sign with a different clip value."""

class PlainSign(kbnn.quantizers.SteSign):
    """A user-defined quantizer (not registered): needs MODULE:ATTR."""

CUSTOM_OBJECTS = {{"PlainSign": PlainSign}}
'''


def _custom_model(module, cls_name, path):
    inp = keras.Input((8, 8, 3))
    cls = getattr(module, cls_name)
    x = QuantConv2D(
        8,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer=cls(),
        kernel_quantizer="ste_sign",
        name="custom",
    )(inp)
    keras.Model(inp, x).save(path)


@pytest.mark.parametrize(
    "cls_name, spec",
    [("ScaledSign", "{mod}"), ("PlainSign", "{mod}:CUSTOM_OBJECTS"), ("PlainSign", "{mod}:PlainSign")],
)
def test_cli_convert_custom_objects(tmp_path, monkeypatch, capsys, cls_name, spec):
    import importlib

    from kbnn import cli

    mod = f"user_quantizers_{cls_name.lower()}_{spec.count(':')}_{len(spec)}"
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{mod}.py").write_text(textwrap.dedent(QUANTIZER_MODULE.format(pkg=mod)))
    monkeypatch.setattr(sys, "path", [str(src)] + sys.path)
    module = importlib.import_module(mod)
    _custom_model(module, cls_name, tmp_path / "m.keras")
    del sys.modules[mod]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(src)])
    monkeypatch.chdir(src)  # the current directory is importable for --custom-objects
    if cls_name == "PlainSign":  # not registered: loading needs the objects
        assert cli.main(["convert", str(tmp_path / "m.keras"), str(tmp_path / "a.tflite"), "--quiet"]) == 2
        assert "--custom-objects" in capsys.readouterr().err
    code = cli.main(
        [
            "convert",
            str(tmp_path / "m.keras"),
            str(tmp_path / "m.tflite"),
            "--quiet",
            "--custom-objects",
            spec.format(mod=mod),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "m.tflite").stat().st_size > 0


def test_cli_custom_objects_bad_specs(tmp_path, saved_model, capsys, monkeypatch):
    from kbnn import cli

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "holder.py").write_text("VALUE = 3\n")
    for spec, message in [
        ("no_such_module_kbnn", "could not import 'no_such_module_kbnn'"),
        ("holder:MISSING", "has no attribute 'MISSING'"),
        ("holder:VALUE", "must be a dict"),
        ("holder:", "expected MODULE or MODULE:ATTR"),
    ]:
        code = cli.main(["convert", str(saved_model), str(tmp_path / "m.tflite"), "--custom-objects", spec])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (spec, err)


def test_cli_convert_verbose_shows_the_converter_output(tmp_path, saved_model, capfd):
    from kbnn import cli

    capfd.readouterr()
    assert cli.main(["convert", str(saved_model), str(tmp_path / "q.tflite"), "--quiet"]) == 0
    quiet = capfd.readouterr()
    assert "--- TFLite converter ---" not in quiet.out + quiet.err
    assert cli.main(["convert", str(saved_model), str(tmp_path / "v.tflite"), "--quiet", "--verbose"]) == 0
    verbose = capfd.readouterr()
    assert "kbnn conversion report: tiny" in verbose.out and verbose.out.count("kbnn conversion report") == 1
