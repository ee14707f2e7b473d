"""ReActNet / BNext pieces: RSign, RPReLU, ChannelMix (NumPy math, gradients, .keras round trips)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kbnn
from kbnn.layers import ChannelMix, QuantConv2D, RPReLU
from kbnn.quantizers import RSign


def _rsign(shape, threshold, **kwargs):
    q = RSign(**kwargs)
    q.build(shape)
    q.threshold.assign(np.asarray(threshold, "float32"))
    return q


def test_rsign_forward_is_sign_after_the_threshold_with_ties_to_plus_one():
    t = np.array([0.0, 0.5, -0.25], "float32")
    q = _rsign((None, 3), t)
    x = np.array([[0.0, 0.5, -0.25], [-1e-6, 0.4999, -0.26], [2.0, -3.0, 0.0]], "float32")
    got = keras.ops.convert_to_numpy(q(x))
    np.testing.assert_array_equal(got, np.where(x - t >= 0, 1.0, -1.0))
    assert got[0].tolist() == [1.0, 1.0, 1.0]  # x == threshold -> +1 (kbnn's sign(0) = +1)
    assert kbnn.quantizers.precision_of(q) == 1
    assert isinstance(kbnn.quantizers.get("rsign"), RSign)


@pytest.mark.parametrize("gradient,clip", [("approx_sign", 1.0), ("ste", 1.5)])
def test_rsign_gradients_match_numpy(gradient, clip):
    rng = np.random.default_rng(0)
    t = rng.normal(scale=0.3, size=4).astype("float32")
    q = _rsign((None, 5, 5, 4), t, gradient=gradient, clip_value=clip)
    x = tf.constant(rng.normal(size=(2, 5, 5, 4)).astype("float32"))
    up = rng.normal(size=(2, 5, 5, 4)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = q(x)
        loss = tf.reduce_sum(y * up)
    gx, gt = tape.gradient(loss, [x, q.threshold])
    v = x.numpy() - t
    d = (
        np.maximum(2 - 2 * np.abs(v), 0)
        if gradient == "approx_sign"
        else (np.abs(v) <= clip).astype("float32")
    )
    np.testing.assert_allclose(gx.numpy(), up * d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gt.numpy(), -(up * d).sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)


def test_rsign_rejects_bad_arguments_and_unknown_channels():
    with pytest.raises(ValueError, match="`gradient` must be one of"):
        RSign(gradient="tanh")
    with pytest.raises(ValueError, match="known channel count"):
        RSign().build((None, None))


def test_rprelu_matches_numpy_and_the_paper_equation():
    layer = RPReLU()
    layer.build((None, 2, 2, 3))
    rng = np.random.default_rng(1)
    gamma, beta, zeta = (rng.normal(size=3).astype("float32") for _ in range(3))
    layer.set_weights([gamma, beta, zeta])
    x = rng.normal(size=(2, 2, 2, 3)).astype("float32")
    want = np.where(x > gamma, x - gamma + zeta, beta * (x - gamma) + zeta)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), want, rtol=1e-6, atol=1e-6)
    fresh = RPReLU()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fresh(x)), np.where(x > 0, x, 0.25 * x), rtol=1e-6
    )  # a fresh RPReLU is a PReLU with slope 0.25
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant(x)))
    g_gamma, g_beta, g_zeta = tape.gradient(loss, [layer.gamma, layer.beta, layer.zeta])
    neg = x <= gamma
    np.testing.assert_allclose(g_zeta.numpy(), np.full(3, 8.0))
    np.testing.assert_allclose(g_beta.numpy(), ((x - gamma) * neg).sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        g_gamma.numpy(), -np.where(neg, beta, 1.0).sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6
    )


def test_channel_mix_matches_numpy_and_clips_the_scale():
    layer = ChannelMix()
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 3, 3)).astype("float32"), rng.normal(size=(2, 3, 3, 3)).astype("float32")
    layer([a, b])
    s = np.array([0.25, -0.5, 1.5], "float32")
    layer.scale.assign(s)
    sc = np.clip(s, 0, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([a, b])), sc * a + (1 - sc) * b, rtol=1e-6)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        ChannelMix(1.5)


def test_new_pieces_round_trip_through_dot_keras_and_count_no_macs(tmp_path):
    inp = keras.Input((6, 6, 4))
    x = QuantConv2D(
        4, 3, padding="same", use_bias=False, input_quantizer="rsign", kernel_quantizer="magnitude_aware_sign"
    )(inp)
    y = RPReLU(name="rprelu")(x)
    out = ChannelMix(0.3, name="mix")([x, y])
    model = keras.Model(inp, out)
    rng = np.random.default_rng(3)
    for v in model.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    xs = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))
    q = loaded.layers[1].input_quantizer
    assert isinstance(q, RSign) and q.gradient == "approx_sign"
    np.testing.assert_array_equal(q.threshold.numpy(), model.layers[1].input_quantizer.threshold.numpy())
    s = kbnn.summary(model, print_fn=None)
    rows = {r.name: r for r in s.layers}
    assert rows["rprelu"].macs == 0 and rows["mix"].macs == 0
    assert s.binary_macs == 36 * 4 * 9 * 4 and s.other_macs == 0
