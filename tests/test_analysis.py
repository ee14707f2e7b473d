"""kbnn.analysis.layer_sensitivity on models whose answer is known by construction.

``inert``: a QuantDense fed ±1 data with a ±1 kernel: binarizing its input and kernel is the
identity, so restoring or binarizing it must change nothing (delta exactly 0).
``critical``: a QuantDense fed the integer outputs of ``inert`` with a real-valued kernel;
the labels are the float model's predictions, so the float model scores 1.0 and binarizing
this layer costs exactly what a NumPy oracle of the binarized forward pass says.
"""

import keras
import numpy as np
import pytest

import kbnn
from kbnn.analysis import layer_sensitivity

D, CLASSES, N = 16, 4, 256


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.choice([-1.0, 1.0], (D, D)).astype("float32")
    w2 = (rng.normal(size=(D, CLASSES)) * rng.uniform(0.05, 3.0, (D, 1))).astype("float32")
    x = rng.choice([-1.0, 1.0], (N, D)).astype("float32")
    return w1, w2, x


def _sign(a):
    return np.where(a >= 0, 1.0, -1.0).astype("float32")


def _model(binary: bool):
    q = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign") if binary else {}
    inputs = keras.Input((D,))
    h = kbnn.layers.QuantDense(D, use_bias=False, name="inert", **q)(inputs)
    out = kbnn.layers.QuantDense(CLASSES, use_bias=False, name="critical", **q)(h)
    model = keras.Model(
        inputs, keras.layers.Activation("softmax", name="softmax")(out), name="binary" if binary else "float"
    )
    w1, w2, _ = _weights()
    model.set_weights([w1, w2])
    return model


@pytest.fixture(scope="module")
def setup():
    w1, w2, x = _weights()
    h = x @ w1
    y = np.argmax(h @ w2, axis=-1)  # the float model is right by construction
    quantized_acc = float(np.mean(np.argmax(_sign(h) @ _sign(w2), -1) == y))
    critical_binarized_acc = quantized_acc  # inert is the identity under binarization
    assert quantized_acc < 0.9  # the construction must make the critical layer matter
    return x, y, quantized_acc, critical_binarized_acc


def test_known_deltas_both_directions(setup):
    x, y, quantized_acc, critical_acc = setup
    report = layer_sensitivity(_model(True), x, y, float_model=_model(False), latency=False)
    assert report.quantized_metric == pytest.approx(quantized_acc, abs=0)
    assert report.float_metric == 1.0
    inert, critical = report.row("inert"), report.row("critical")
    assert inert.restore_delta == 0.0 and inert.binarize_delta == 0.0
    assert critical.restored_metric == 1.0  # only the critical layer's binarization hurt
    assert critical.restore_delta == pytest.approx(1.0 - quantized_acc, abs=1e-12)
    assert critical.binarized_metric == pytest.approx(critical_acc, abs=1e-12)
    assert critical.binarize_delta == pytest.approx(critical_acc - 1.0, abs=1e-12)
    assert report.ranking("restore") == ["critical", "inert"]
    assert report.ranking("binarize") == ["critical", "inert"]
    assert report.ranking() == ["critical", "inert"]
    # MACs from kbnn.summary: 16*16 and 16*4, both fully binary.
    assert (inert.macs, critical.macs) == (D * D, D * CLASSES)
    assert inert.binary_mac_share == pytest.approx(D * D / (D * D + D * CLASSES))
    assert critical.binary_mac_share == pytest.approx(D * CLASSES / (D * D + D * CLASSES))
    assert inert.latency_ms is None


def test_restore_takes_the_float_layers_quantizers(setup):
    """With a float model whose critical layer clips its input (hard tanh, as the demo's float
    twin does), restoring that layer applies the clip: oracle argmax(clip(h) @ W2)."""
    x, y, quantized_acc, _ = setup
    w1, w2, _ = _weights()
    inputs = keras.Input((D,))
    h = kbnn.layers.QuantDense(D, use_bias=False, name="inert")(inputs)
    out = kbnn.layers.QuantDense(
        CLASSES, use_bias=False, name="critical", input_quantizer=keras.activations.get("hard_tanh")
    )(h)
    float_model = keras.Model(inputs, keras.layers.Activation("softmax")(out))
    float_model.set_weights([w1, w2])
    oracle = float(np.mean(np.argmax(np.clip(x @ w1, -1, 1) @ w2, -1) == y))
    assert oracle < 1.0
    report = layer_sensitivity(
        _model(True), x, y, float_model=float_model, directions=("restore",), latency=False
    )
    assert report.row("critical").restored_metric == pytest.approx(oracle, abs=1e-12)
    assert report.row("inert").restore_delta == 0.0
    assert report.quantized_metric == pytest.approx(quantized_acc, abs=0)


def test_derived_float_model_and_single_direction(setup):
    """Without float_model the float model is the quantized one with its quantizers removed
    (here exactly the float model); directions can be run alone."""
    x, y, _, critical_acc = setup
    report = layer_sensitivity(_model(True), x, y, directions=("binarize",), latency=False)
    assert report.float_metric == 1.0 and report.quantized_metric is None
    assert report.row("inert").binarize_delta == 0.0
    assert report.row("critical").binarized_metric == pytest.approx(critical_acc, abs=1e-12)
    with pytest.raises(ValueError, match="restore"):
        report.ranking("restore")
    text = report.to_text()
    assert "binarize Δaccuracy" in text and "restore Δ" not in text and "critical" in text


def test_full_precision_layers_are_binarized_in_the_float_direction():
    """A plain Keras Dense (float in the quantized model) fed ±1 data with a ±1 kernel: binarizing
    it (as a QuantDense with ste_sign) cannot change anything; the binary layer after it costs
    what the NumPy oracle says."""
    rng = np.random.default_rng(3)
    w0 = rng.choice([-1.0, 1.0], (D, D)).astype("float32")
    _, w2, x = _weights()
    inputs = keras.Input((D,))
    h = keras.layers.Dense(D, use_bias=False, name="pre")(inputs)
    out = kbnn.layers.QuantDense(
        CLASSES, use_bias=False, name="critical", input_quantizer="ste_sign", kernel_quantizer="ste_sign"
    )(h)
    model = keras.Model(inputs, keras.layers.Activation("softmax")(out))
    model.set_weights([w0, w2])
    h = x @ w0
    y = np.argmax(h @ w2, -1)
    oracle = float(np.mean(np.argmax(_sign(h) @ _sign(w2), -1) == y))
    assert oracle < 0.9
    report = layer_sensitivity(model, x, y, latency=False)
    assert [r.name for r in report.layers] == ["pre", "critical"]
    pre, critical = report.row("pre"), report.row("critical")
    assert pre.class_name == "Dense" and pre.restore_delta is None
    assert report.float_metric == 1.0 and pre.binarize_delta == 0.0
    assert critical.binarized_metric == pytest.approx(oracle, abs=1e-12)
    assert report.ranking("restore") == ["critical"]
    assert report.ranking("binarize") == ["critical", "pre"]
    assert report.ranking() == ["critical", "pre"]
    assert "float in the quantized model" not in report.to_text() and "-" in report.to_text()
    only_binary = layer_sensitivity(model, x, y, latency=False, float_layers=False)
    assert [r.name for r in only_binary.layers] == ["critical"]
    assert model.get_layer("pre").__class__ is keras.layers.Dense  # the model itself is untouched


def test_original_model_is_untouched_and_custom_metric(setup):
    x, y, quantized_acc, _ = setup
    model = _model(True)
    before = [w.copy() for w in model.get_weights()]

    def error_rate(y_true, y_pred):
        return float(np.mean(np.argmax(y_pred, -1) != y_true))

    report = layer_sensitivity(
        model,
        x,
        y,
        metric=error_rate,
        higher_is_better=False,
        directions=("restore",),
        latency=False,
        layers=["critical"],
    )
    assert [r.name for r in report.layers] == ["critical"]
    assert report.quantized_metric == pytest.approx(1 - quantized_acc)
    assert report.row("critical").restore_delta == pytest.approx(-(1 - quantized_acc))
    assert report.ranking("restore") == ["critical"]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer("critical").input_quantizer is not None


def test_crossentropy_metric_is_lower_better(setup):
    x, y, _, _ = setup
    w1, w2, _ = _weights()
    report = layer_sensitivity(
        _model(True), x, y, float_model=_model(False), metric="crossentropy", latency=False
    )
    assert report.metric_name == "crossentropy" and report.higher_is_better is False

    def ce(logits):
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return -np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)))

    h = x @ w1
    assert report.float_metric == pytest.approx(ce(h @ w2), rel=1e-5)
    assert report.quantized_metric == pytest.approx(ce(_sign(h) @ _sign(w2)), rel=1e-5)
    assert report.row("inert").restore_delta == 0.0
    assert report.row("critical").restore_delta < 0  # lower loss when restored
    assert report.ranking() == ["critical", "inert"]


def test_batchnorm_recalibration_makes_restore_fair():
    """A BN after a binary layer keeps the statistics of the binary outputs; restoring the layer
    changes their scale. Recalibrated, the variant's BN statistics are those of its own outputs."""
    rng = np.random.default_rng(1)
    inputs = keras.Input((D,))
    h = kbnn.layers.QuantDense(
        D, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="bin"
    )(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    out = keras.layers.Dense(CLASSES, activation="softmax", name="head")(h)
    model = keras.Model(inputs, out)
    model.get_layer("bin").set_weights([rng.normal(size=(D, D)).astype("float32") * 0.01])
    x = rng.normal(size=(128, D)).astype("float32")
    y = rng.integers(0, CLASSES, 128)
    captured = {}
    original = kbnn.analysis._recalibrate

    def spy(variant, x_cal):
        original(variant, x_cal)
        bn = variant.get_layer("bn")
        captured[len(captured)] = (np.asarray(bn.moving_variance.numpy()), variant)

    kbnn.analysis._recalibrate = spy
    try:
        layer_sensitivity(model, x, y, directions=("restore",), latency=False)
    finally:
        kbnn.analysis._recalibrate = original
    (base_var, _), (restored_var, restored) = captured[0], captured[1]
    feature = keras.Model(restored.input, restored.get_layer("bin").output)
    np.testing.assert_allclose(restored_var, np.var(np.asarray(feature(x)), axis=0), rtol=1e-3, atol=1e-6)
    # Binary outputs are sums of 16 ±1 products; the float ones are ~100x smaller here.
    assert np.median(base_var) > 100 * np.median(restored_var)
    assert model.get_layer("bn").momentum == 0.99  # the original's momentum is untouched


def test_latency_and_plot(tmp_path, delegate_env):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 32))
    h = kbnn.layers.QuantConv2D(
        32,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        use_bias=False,
        name="bconv",
    )(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(3, activation="softmax", name="head")(h)
    model = keras.Model(inputs, out)
    x = np.random.default_rng(0).normal(size=(32, 8, 8, 32)).astype("float32")
    y = np.argmax(model.predict(x, verbose=0), -1)
    report = layer_sensitivity(model, x, y, runs=5)
    row = report.row("bconv")
    assert row.latency_ms is not None and row.latency_ms > 0
    assert report.model_latency_ms >= row.latency_ms
    assert row.binary_mac_share == 1.0
    fig = report.plot(tmp_path / "s.png", title="t")
    assert (tmp_path / "s.png").stat().st_size > 1000 and len(fig.axes) == 3
    d = report.to_dict()
    assert set(d["ranking"]) == {"bconv", "head"} and d["layers"][0]["name"] == "bconv"
    head = report.row("head")  # full precision in the model: binarize column only
    assert head.restore_delta is None and head.binarize_delta is not None and head.latency_ms is None
    assert report.ranking("restore") == ["bconv"]


def test_bad_input_is_named():
    model = _model(True)
    _, _, x = _weights()
    y = np.zeros(N, dtype="int64")
    with pytest.raises(ValueError, match="directions"):
        layer_sensitivity(model, x, y, directions=("up",), latency=False)
    with pytest.raises(ValueError, match="cannot be probed"):
        layer_sensitivity(model, x, y, layers=["softmax"], latency=False)
    with pytest.raises(ValueError, match="same, non-zero number"):
        layer_sensitivity(model, x, y[:3], latency=False)
    with pytest.raises(ValueError, match="metric"):
        layer_sensitivity(model, x, y, metric="f1", latency=False)
    with pytest.raises(ValueError, match="no binary layer"):
        layer_sensitivity(_model(False), x, y, latency=False)
    other = keras.Sequential([keras.Input((D,)), keras.layers.Dense(CLASSES, name="x")])
    with pytest.raises(ValueError, match="no layers named"):
        layer_sensitivity(model, x, y, float_model=other, directions=("binarize",), latency=False)
