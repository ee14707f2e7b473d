"""kbnn.models.RealToBinaryNet against Larq Zoo 2.4's RealToBinaryNet (fixture: Larq Zoo's
Real-to-Binary BNN factory at CI size, random weights and batch-norm statistics,
tests/fixtures/larq/r2b_tiny*, written by make_fixtures.py). The full-size model is checked
layer by layer by scripts/larq_zoo_check.py in the LCE environment."""

import warnings
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "larq"


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def _tiny(weights=FIXTURES / "r2b_tiny_weights.h5"):
    from kbnn.models.resnets import _larq_zoo_r2b

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _larq_zoo_r2b("r2b_tiny", (40, 40, 3), 10, True, weights, stem_filters=4, reduction=4)


def _logits(model):
    import keras

    return keras.Model(model.input, model.layers[-2].output)


def test_larq_zoo_weights_give_larq_zoo_outputs():
    data = np.load(FIXTURES / "r2b_tiny.npz")
    model = _tiny()
    got = np.asarray(_logits(model)(data["inputs"], training=False))
    assert _rel(got, data["larq"]) < 1e-5
    np.testing.assert_array_equal(got.argmax(-1), data["larq"].argmax(-1))
    probs = np.asarray(model(data["inputs"], training=False))
    np.testing.assert_allclose(probs, data["larq_softmax"], rtol=1e-5, atol=1e-6)


def test_layer_by_layer():
    """Every batch norm, add and the logits, at the same position in both models."""
    import keras

    layers = np.load(FIXTURES / "r2b_tiny_layers.npz")
    model = _tiny()
    assert len(model.layers) == int(sorted(layers.files)[-1][5:8]) + 1  # same layer count
    keys = [k for k in sorted(layers.files) if type(model.layers[int(k[5:8])]).__name__ == k[9:]]
    assert len(keys) == len(layers.files) - 1  # all but Larq's Softmax (an Activation here)
    assert sum("BatchNormalization" in k for k in keys) == 1 + 16 + 3  # stem, blocks, shortcuts
    probe = keras.Model(model.input, [model.layers[int(k[5:8])].output for k in keys])
    outs = probe(np.load(FIXTURES / "r2b_tiny.npz")["inputs"][:1], training=False)
    for out, k in zip(outs, keys):
        assert _rel(out, layers[k]) < 1e-5, k


def test_converted_model_and_lce_file(delegate_env, tmp_path):
    import kbnn

    data = np.load(FIXTURES / "r2b_tiny.npz")
    kbnn.convert(_logits(_tiny()), str(tmp_path / "r2b.tflite"), progress=False)
    got = np.asarray(kbnn.Interpreter(tmp_path / "r2b.tflite").predict(data["inputs"]))
    assert _rel(got, data["larq"]) < 1e-4
    np.testing.assert_array_equal(got.argmax(-1), data["larq"].argmax(-1))
    lce = kbnn.Interpreter(FIXTURES / "r2b_tiny.tflite")
    got = np.stack([np.asarray(lce.predict(x[None]))[0] for x in data["inputs"]])
    assert _rel(got, data["lce"]) < 1e-5
    np.testing.assert_array_equal(got.argmax(-1), data["lce"].argmax(-1))


def test_public_builder(tmp_path):
    import keras

    import kbnn
    from kbnn.compat import LarqImportError

    model = kbnn.models.RealToBinaryNet(input_shape=(64, 64, 3), num_classes=7)
    assert model.output_shape == (None, 7)
    assert isinstance(model.get_layer("stem_prelu"), keras.layers.PReLU)  # Larq Zoo's stem
    convs = [l for l in model.layers if isinstance(l, kbnn.layers.QuantConv2D)]
    assert [c.filters for c in convs][::4] == [64, 128, 256, 512]
    assert all(c.kernel_quantizer is not None and c.input_quantizer is not None for c in convs)
    gates = [l.units for l in model.layers if l.name.endswith("_gate_reduce")]
    assert gates[::4] == [8, 8, 16, 32] and not any(
        l.use_bias for l in model.layers if isinstance(l, keras.layers.Dense) and "_gate_" in l.name
    )
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Identity)] == [
        f"block{k}_out" for k in range(1, 9)
    ]
    notop = kbnn.models.RealToBinaryNet(input_shape=(32, 32, 3), include_top=False)
    assert notop.output_shape == (None, 1, 1, 512)
    # .keras round trip (static gate pooling, identities).
    path = tmp_path / "r2b.keras"
    notop.save(path)
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.models.load_model(path)(x), notop(x), rtol=1e-6, atol=1e-6)
    # Same layers with weights, other shapes: the first mismatching layer is named.
    with pytest.raises(LarqImportError, match="'stem_conv' weights .* do not match"):
        kbnn.models.RealToBinaryNet(
            input_shape=(40, 40, 3), num_classes=10, weights=FIXTURES / "r2b_tiny_weights.h5"
        )
    with pytest.raises(LarqImportError, match="architectures differ"):
        kbnn.models.RealToBinaryNet(
            input_shape=(32, 32, 3), num_classes=10, weights=FIXTURES / "quicknet_tiny_weights.h5"
        )
    with pytest.raises(ValueError, match="num_classes"):
        kbnn.models.RealToBinaryNet(num_classes=0)


def test_static_gate_pool():
    import keras

    from kbnn.blocks import scaling_gate

    x = keras.Input((5, 3, 16))
    gate = keras.Model(x, scaling_gate(x, 4, pool="static", name="g"))
    assert [type(l).__name__ for l in gate.layers[1:3]] == ["AveragePooling2D", "Flatten"]
    ref = keras.Model(x, scaling_gate(x, 4, pool="global", name="h"))
    ref.set_weights(gate.get_weights())
    v = np.random.default_rng(1).normal(size=(2, 5, 3, 16)).astype("float32")
    np.testing.assert_allclose(gate(v), ref(v), rtol=1e-6)
    dyn = keras.Input((None, None, 16))
    assert isinstance(
        keras.Model(dyn, scaling_gate(dyn, 4, pool="static", name="d")).layers[1],
        keras.layers.GlobalAveragePooling2D,
    )
    with pytest.raises(ValueError, match="pool"):
        scaling_gate(x, 4, pool="max")
