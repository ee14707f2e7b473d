"""kbnn.compat.load_larq_model on Larq 0.14 / tf-keras 2.16 .h5 files (tests/fixtures/larq,
written by make_fixtures.py in the LCE environment, random weights and batch-norm statistics).

The loaded Keras 3 model must give Larq's outputs (float rounding), and kbnn.convert must export
it with kbnn ops and the same argmax on every input.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "larq"
# quicknet_tiny: Larq Zoo's QuickNet factory (TFOpLambda adds, blurpool_initializer function).
MODELS = ["mixed", "chain", "grouped", "int8out", "larq_only", "quicknet_tiny"]


def _load(name):
    from kbnn.compat import load_larq_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_larq_model(FIXTURES / f"{name}.h5")


def _close(got, want):
    scale = max(1.0, float(np.abs(want).max()))
    return float(np.abs(np.asarray(got) - want).max()) <= 1e-6 * scale


@pytest.mark.parametrize("name", MODELS)
def test_loaded_model_matches_larq(name):
    import kbnn

    data = np.load(FIXTURES / f"{name}.npz")
    model = _load(name)
    got = np.asarray(model(data["inputs"], training=False))
    assert _close(got, data["larq"]), float(np.abs(got - data["larq"]).max())
    # Only kbnn layers / quantizers / constraints remain.
    for layer in model.layers:
        assert not type(layer).__module__.startswith(("larq", "tf_keras")), layer
        if type(layer).__name__.startswith("Quant"):
            assert isinstance(layer, kbnn.layers.QuantLayerMixin)


def test_savedmodel_directory():
    """The same model saved by tf-keras as a SavedModel directory (config from
    keras_metadata.pb, weights from the variables checkpoint)."""
    from kbnn.compat import load_larq_model

    data = np.load(FIXTURES / "larq_only.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_larq_model(FIXTURES / "larq_only_savedmodel")
    assert _close(np.asarray(model(data["inputs"], training=False)), data["larq"])


def test_mapped_objects():
    import kbnn

    model = _load("larq_only")
    conv = model.get_layer("quant_conv2d_12")
    assert isinstance(conv.input_quantizer, kbnn.quantizers.DoReFa)
    assert conv.input_quantizer.get_config()["k_bit"] == 2
    assert isinstance(conv.kernel_quantizer, kbnn.quantizers.SteTern)
    assert conv.kernel_quantizer.get_config()["threshold_value"] == pytest.approx(0.1)
    assert isinstance(conv.kernel_constraint, kbnn.constraints.WeightClip)
    dw = model.get_layer("quant_depthwise_conv2d")
    assert dw.depthwise_constraint.get_config()["clip_value"] == pytest.approx(0.5)
    last = model.get_layer("quant_conv2d_13")
    assert isinstance(last.kernel_quantizer, kbnn.quantizers.MagnitudeAwareSign)
    assert last.input_quantizer.get_config()["clip_value"] == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["mixed", "chain", "grouped"])
def test_kbnn_convert_exports_loaded_model(delegate_env, tmp_path, name):
    import kbnn

    data = np.load(FIXTURES / f"{name}.npz")
    model = _load(name)
    path = tmp_path / f"{name}.tflite"
    kbnn.convert(model, str(path), progress=False)
    content = path.read_bytes()
    assert b"KbnnBconv2d" in content and b"Lce" not in content
    got = np.asarray(kbnn.Interpreter(path).predict(data["inputs"]))
    assert _close(got, data["larq"]) or np.abs(got - data["larq"]).max() < 2e-5
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    np.testing.assert_array_equal(flat(got).argmax(-1), flat(data["larq"]).argmax(-1))


def test_keras_save_roundtrip(tmp_path):
    import keras

    model = _load("chain")
    data = np.load(FIXTURES / "chain.npz")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(again(data["inputs"])), np.asarray(model(data["inputs"])))


# ------------------------------------------------------------------------------------------------
# Config mapping and errors (synthetic tf-keras configs).


def _functional(*layers):
    return {"class_name": "Functional", "config": {"name": "m", "layers": list(layers)}}


def _qconv(**cfg):
    base = {
        "name": "qc",
        "filters": 4,
        "kernel_size": [3, 3],
        "padding": "same",
        "groups": 1,
        "use_bias": False,
    }
    base.update(cfg)
    return {"class_name": "QuantConv2D", "module": "larq.layers", "config": base}


def test_map_string_aliases_noop_and_metrics():
    from kbnn.compat import map_larq_config

    with pytest.warns(UserWarning, match="flip_ratio"):
        out = map_larq_config(
            _functional(
                _qconv(
                    input_quantizer="ste_sign",
                    kernel_quantizer={"class_name": "NoOp", "config": {"precision": 1}},
                    kernel_constraint="weight_clip",
                    metrics=["flip_ratio"],
                )
            )
        )
    cfg = out["config"]["layers"][0]["config"]
    assert out["config"]["layers"][0]["class_name"] == "QuantConv2D"
    assert cfg["input_quantizer"]["class_name"] == "SteSign"
    assert cfg["kernel_quantizer"] is None  # NoOp: identity
    assert cfg["kernel_constraint"]["class_name"] == "WeightClip"
    assert "metrics" not in cfg
    out = map_larq_config(
        _functional(
            _qconv(
                input_quantizer={
                    "class_name": "DoReFaQuantizer",
                    "config": {"k_bit": 3, "mode": "weights", "metrics": []},
                }
            )
        )
    )
    q = out["config"]["layers"][0]["config"]["input_quantizer"]
    assert q["config"]["k_bit"] == 3 and q["config"]["mode"] == "weights"


@pytest.mark.parametrize(
    "layer,needle",
    [
        (_qconv(input_quantizer={"class_name": "MyQuantizer", "config": {}}), "'MyQuantizer' has no kbnn"),
        (_qconv(input_quantizer={"class_name": "SteSign", "config": {"clip": 1}}), "unknown arguments"),
        (
            _qconv(kernel_constraint={"module": "larq.constraints", "class_name": "Other", "config": {}}),
            "constraint 'Other'",
        ),
        (_qconv(groups=2, metrics=None, frobnicate=True), "frobnicate"),
        (
            {"class_name": "QuantLocallyConnected2D", "module": "larq.layers", "config": {"name": "lc"}},
            "LocallyConnected",
        ),
        (
            {"class_name": "QuantFancy", "module": "larq.layers", "config": {"name": "f"}},
            "unknown Larq layer",
        ),
    ],
)
def test_unmapped_things_are_named(layer, needle):
    from kbnn.compat import LarqImportError, map_larq_config

    with pytest.raises(LarqImportError, match=needle):
        map_larq_config(_functional(layer))


def test_tf_op_lambda():
    from kbnn.compat import LarqImportError, map_larq_config

    def op(fn, kwargs):
        return {
            "class_name": "TFOpLambda",
            "name": "t",
            "config": {"name": "t", "trainable": True, "dtype": "float32", "function": fn},
            "inbound_nodes": [["a", 0, 0, kwargs]],
        }

    out = map_larq_config(_functional(op("__operators__.add", {"y": ["b", 0, 0], "name": None})))
    layer = out["config"]["layers"][0]
    assert layer["class_name"] == "Add"
    assert layer["inbound_nodes"] == [[["a", 0, 0, {}], ["b", 0, 0, {}]]]
    with pytest.raises(LarqImportError, match="math.reduce_sum"):
        map_larq_config(_functional(op("math.reduce_sum", {"axis": 1})))
    with pytest.raises(LarqImportError, match="between two layer outputs"):
        map_larq_config(_functional(op("math.multiply", {"y": 2.0})))


def test_lambda_layers():
    from kbnn.compat import LarqImportError, map_larq_config

    lam = {
        "class_name": "Lambda",
        "name": "out",
        "config": {
            "name": "out",
            "trainable": True,
            "dtype": "float32",
            "function": ["4wEAAAAAAAAA", None, None],
            "function_type": "lambda",
        },
        "inbound_nodes": [[["a", 0, 0, {}]]],
    }
    lam2 = dict(lam, name="out2", config=dict(lam["config"], name="out2"))
    with pytest.raises(LarqImportError, match="lambda_layers=\\{'out': 'identity', 'out2': 'identity'\\}"):
        map_larq_config(_functional(lam, lam2))
    out = map_larq_config(_functional(lam), {"out": "identity"})["config"]["layers"][0]
    assert out["class_name"] == "Identity" and "function" not in out["config"]
    out = map_larq_config(_functional(lam), {"out": abs})["config"]["layers"][0]
    assert out["class_name"] == "KbnnMappedLambda"
    with pytest.raises(LarqImportError, match="must be 'identity' or a function"):
        map_larq_config(_functional(lam), {"out": 3})


def test_bad_files(tmp_path):
    import h5py

    from kbnn.compat import LarqImportError, load_larq_model

    with pytest.raises(LarqImportError, match="not a tf-keras SavedModel directory"):
        load_larq_model(tmp_path)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(LarqImportError, match="Cannot read"):
        load_larq_model(tmp_path / "x.h5")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_group("layer")
    with pytest.raises(LarqImportError, match="weights-only"):
        load_larq_model(tmp_path / "w.h5")
