"""kbnn.recalibrate_batchnorm and its use in kbnn.analysis.layer_sensitivity (issue 22)."""

import keras
import numpy as np
import pytest

import kbnn
from kbnn.analysis import LayerSensitivity, SensitivityReport, layer_sensitivity


def _dense_bn(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6,))
    h = keras.layers.Dense(5, name="dense")(inp)
    out = keras.layers.BatchNormalization(name="bn", momentum=0.9)(h)
    return keras.Model(inp, out)


def test_moving_statistics_are_the_sample_weighted_batch_statistics():
    model = _dense_bn()
    x = np.random.default_rng(0).normal(2.0, 3.0, (70, 6)).astype("float32")  # batches of 32, 32, 6
    assert kbnn.recalibrate_batchnorm(model, x, batch_size=32) is model
    h = np.asarray(model.get_layer("dense")(x))
    batches = [h[i : i + 32] for i in range(0, 70, 32)]
    sizes = np.array([len(b) for b in batches], float)[:, None]
    mean = (sizes * np.stack([b.mean(0) for b in batches])).sum(0) / 70
    var = (sizes * np.stack([b.var(0) for b in batches])).sum(0) / 70
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.9  # restored
    # One batch: exactly the statistics of the whole data.
    kbnn.recalibrate_batchnorm(model, x, batch_size=1000)
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(0), rtol=1e-4, atol=1e-5)


def test_nested_models_lists_and_limits():
    inner = _dense_bn()
    inp = keras.Input((6,))
    outer = keras.Model(inp, inner(inp))
    x = np.random.default_rng(1).normal(size=(40, 6)).astype("float32")
    kbnn.recalibrate_batchnorm(outer, x, max_samples=10)
    h = np.asarray(inner.get_layer("dense")(x[:10]))
    np.testing.assert_allclose(inner.get_layer("bn").moving_mean.numpy(), h.mean(0), rtol=1e-5, atol=1e-5)
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    two = keras.Model([a, b], keras.layers.BatchNormalization(name="bn2")(keras.layers.Concatenate()([a, b])))
    xa, xb = np.ones((8, 3), "float32"), np.full((8, 3), 3.0, "float32")
    kbnn.recalibrate_batchnorm(two, [xa, xb], batch_size=4)
    np.testing.assert_allclose(two.get_layer("bn2").moving_mean.numpy(), [1, 1, 1, 3, 3, 3], rtol=1e-6)
    kbnn.recalibrate_batchnorm(two, {"a": xb, "b": xa})
    np.testing.assert_allclose(two.get_layer("bn2").moving_mean.numpy(), [3, 3, 3, 1, 1, 1], rtol=1e-6)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert kbnn.recalibrate_batchnorm(plain, np.ones((3, 2))) is plain  # no batch norm: unchanged


def test_bad_arguments_are_named():
    model = _dense_bn()
    with pytest.raises(ValueError, match="empty"):
        kbnn.recalibrate_batchnorm(model, np.zeros((0, 6), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        kbnn.recalibrate_batchnorm(model, np.zeros((4, 6), "float32"), batch_size=0)
    with pytest.raises(ValueError, match="max_samples"):
        kbnn.recalibrate_batchnorm(model, np.zeros((4, 6), "float32"), max_samples=0)
    with pytest.raises(ValueError, match="same number of samples"):
        kbnn.recalibrate_batchnorm(model, [np.zeros((4, 6)), np.zeros((3, 6))])
    with pytest.raises(ValueError, match="built keras.Model"):
        kbnn.recalibrate_batchnorm(keras.Sequential([keras.layers.Dense(1)]), np.zeros((4, 6)))


# ------------------------------------------------------------------ layer_sensitivity


def _stale_bn_model():
    """A binary dense layer + a batch norm with stale statistics: evaluate (as is) and the
    recalibrated metric differ, and the report must give both."""
    rng = np.random.default_rng(0)
    inp = keras.Input((16,))
    h = kbnn.layers.QuantDense(
        4, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="bin"
    )(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    model = keras.Model(inp, keras.layers.Activation("softmax")(h))
    w = rng.normal(size=(16, 4)).astype("float32")
    model.get_layer("bin").set_weights([w])
    x = rng.normal(size=(200, 16)).astype("float32")
    y = np.argmax(np.sign(x + (x == 0)) @ np.sign(w), -1)
    bn = model.get_layer("bn")
    bn.moving_mean.assign([6.0, -6.0, 0.0, 0.0])  # stale statistics favour class 0
    return model, x, y


def test_sensitivity_reports_as_is_and_recalibrated_baselines():
    model, x, y = _stale_bn_model()
    as_is = float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y))
    report = layer_sensitivity(model, x, y, directions=("restore",), latency=False)
    assert report.quantized_metric_as_is == pytest.approx(as_is, abs=0)
    assert report.quantized_metric > as_is + 0.1
    text = report.to_text()
    assert f"{as_is:.4f} as is, {report.quantized_metric:.4f} with batch-norm statistics re-estimated" in text
    assert report.to_dict()["quantized_metric_as_is"] == as_is
    np.testing.assert_array_equal(
        model.get_layer("bn").moving_mean.numpy(), [6.0, -6.0, 0.0, 0.0]
    )  # untouched


def test_derived_float_baseline_worse_than_the_binary_model_is_not_presented_as_a_gain():
    """Without a float twin the float model is the latent weights used as float weights. Here the
    binary model is exact (y is its own prediction) while that float network is not: binarizing
    its only layer moves it back to the trained network, which read as a large *gain*."""
    rng = np.random.default_rng(4)
    w = rng.normal(size=(16, 4)).astype("float32")
    inp = keras.Input((16,))
    out = kbnn.layers.QuantDense(
        4, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="bin"
    )(inp)
    model = keras.Model(inp, keras.layers.Activation("softmax")(out))
    model.get_layer("bin").set_weights([w])
    x = (rng.normal(size=(300, 16)) * np.where(rng.random(16) < 0.25, 20.0, 0.05)).astype("float32")
    y = np.argmax(np.sign(x + (x == 0)) @ np.sign(w), -1)
    assert np.mean(np.argmax(x @ w, -1) == y) < 0.8  # the latent-weight float network is far off
    report = layer_sensitivity(model, x, y, latency=False)
    row = report.row("bin")
    assert row.binarize_delta is None and row.binarized_metric is None
    assert report.float_derived and "float_model=" in report.binarize_note
    assert "binarize Δ not reported" in report.to_text()
    assert report.quantized_metric == 1.0 and row.restore_delta is not None
    # With the trained float twin the binarize direction is reported (a loss, not a gain).
    twin = keras.Model(
        inp, keras.layers.Activation("softmax")(kbnn.layers.QuantDense(4, use_bias=False, name="bin")(inp))
    )
    twin.get_layer("bin").set_weights([w])
    y_twin = np.argmax(x @ w, -1)
    with_twin = layer_sensitivity(model, x, y_twin, float_model=twin, directions=("binarize",), latency=False)
    assert with_twin.binarize_note == "" and with_twin.row("bin").binarize_delta < 0


@pytest.mark.parametrize("latencies, unit", [([0.012, 0.2], "µs"), ([0.5, 2.5], "ms")])
def test_latency_panel_uses_one_unit(tmp_path, latencies, unit):
    pytest.importorskip("matplotlib")
    rows = [
        LayerSensitivity(
            name=f"l{i}",
            class_name="QuantConv2D",
            restore_delta=0.01 * i,
            restored_metric=0.5,
            binary_mac_share=0.5,
            latency_ms=v,
        )
        for i, v in enumerate(latencies)
    ]
    report = SensitivityReport("m", "accuracy", True, ("restore",), 0.5, None, rows)
    fig = report.plot(tmp_path / "p.png")
    ax = fig.axes[-1]
    assert ax.get_title().endswith(f"latency ({unit})")
    labels = [t.get_text() for t in ax.texts]
    assert len(labels) == 2 and all(label.endswith(f" {unit}") for label in labels)
    scale = 1000.0 if unit == "µs" else 1.0
    assert [float(label.split()[0]) for label in labels] == pytest.approx(
        [scale * v for v in latencies], rel=1e-2
    )
