"""Bi-Real and Real-to-Binary blocks: shapes, arithmetic, gate, serialization."""

import keras
import numpy as np
import pytest

import kbnn  # noqa: F401
from kbnn.blocks import bireal_block, downsample_shortcut, real_to_binary_block, scaling_gate
from kbnn.layers import QuantConv2D


def _conv_same_np(x, w, stride=1, pad_value=0.0):
    """NHWC 'same' convolution in NumPy (odd kernel, TF 'same' padding split)."""
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    xp = np.full((n, h + ph, wd + pw, c), pad_value, dtype=np.float64)
    xp[:, ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + wd, :] = x
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def _bn_np(x, layer):
    gamma, beta, mean, var = (np.asarray(v) for v in layer.get_weights())
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def _sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def _set_bn(layer, rng):
    c = layer.get_weights()[0].shape[0]
    layer.set_weights(
        [rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2.0, c)]
    )


def test_bireal_block_shapes_and_layers():
    x = keras.Input((8, 8, 16))
    y = bireal_block(x, name="b")
    assert tuple(y.shape) == (None, 8, 8, 16)
    z = bireal_block(y, 32, strides=2, name="d")
    assert tuple(z.shape) == (None, 4, 4, 32)
    model = keras.Model(x, z)
    names = [layer.name for layer in model.layers]
    for part in (
        "b_conv",
        "b_bn",
        "b_add",
        "d_conv",
        "d_bn",
        "d_add",
        "d_shortcut_pool",
        "d_shortcut_conv",
        "d_shortcut_bn",
    ):
        assert part in names
    assert "b_shortcut_conv" not in names  # identity shortcut
    conv = model.get_layer("b_conv")
    assert isinstance(conv, QuantConv2D) and not conv.use_bias
    assert conv.input_precision == 1 and conv.kernel_precision == 1
    # The converter's QuantConv2D → BatchNormalization pair is adjacent in the graph.
    assert model.get_layer("b_bn").input is conv.output
    # Channel change without stride: shortcut conv but no pooling.
    w = bireal_block(keras.Input((5, 5, 4)), 6, name="c")
    assert tuple(w.shape) == (None, 5, 5, 6)


def test_bireal_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Received: x.shape"):
        bireal_block(keras.Input((16,)), name="bad")
    with pytest.raises(ValueError, match="Received: strides=0"):
        bireal_block(keras.Input((4, 4, 2)), strides=0, name="bad")
    with pytest.raises(ValueError, match="Received: filters=-1"):
        real_to_binary_block(keras.Input((4, 4, 2)), -1, name="bad")


@pytest.mark.parametrize("pad_values", [0.0, 1.0])
def test_bireal_block_arithmetic_identity_shortcut(pad_values):
    """y = BN(conv(sign(x), magnitude_aware_sign(W))) + x, checked against NumPy."""
    rng = np.random.default_rng(0)
    inp = keras.Input((5, 5, 3))
    model = keras.Model(inp, bireal_block(inp, pad_values=pad_values, name="b"))
    conv = model.get_layer("b_conv")
    w = rng.normal(size=conv.kernel.shape)
    conv.kernel.assign(w)
    _set_bn(model.get_layer("b_bn"), rng)
    x = rng.normal(size=(2, 5, 5, 3))
    got = model.predict(x, verbose=0)
    alpha = np.mean(np.abs(w), axis=(0, 1, 2))  # Bi-Real magnitude-aware weights, per out channel
    ref = _bn_np(_conv_same_np(_sign(x), alpha * _sign(w), pad_value=pad_values), model.get_layer("b_bn")) + x
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_bireal_block_arithmetic_downsampling_shortcut():
    """Stride 2 + channel change: shortcut = BN(conv1x1(avgpool2x2(x)))."""
    rng = np.random.default_rng(1)
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, bireal_block(inp, 3, strides=2, kernel_quantizer="ste_sign", name="d"))
    w = rng.normal(size=(3, 3, 2, 3))
    model.get_layer("d_conv").kernel.assign(w)
    w1 = rng.normal(size=(1, 1, 2, 3))
    model.get_layer("d_shortcut_conv").set_weights([w1])
    for bn in ("d_bn", "d_shortcut_bn"):
        _set_bn(model.get_layer(bn), rng)
    x = rng.normal(size=(2, 4, 4, 2))
    got = model.predict(x, verbose=0)
    pooled = x.reshape(2, 2, 2, 2, 2, 2).mean(axis=(2, 4))
    shortcut = _bn_np(np.tensordot(pooled, w1[0, 0], axes=([3], [0])), model.get_layer("d_shortcut_bn"))
    main = _bn_np(_conv_same_np(_sign(x), _sign(w), stride=2), model.get_layer("d_bn"))
    np.testing.assert_allclose(got, main + shortcut, rtol=1e-4, atol=1e-4)


def test_downsample_shortcut_skips_pool_for_stride_one():
    x = keras.Input((6, 6, 4))
    y = downsample_shortcut(x, 8, strides=1, name="s")
    model = keras.Model(x, y)
    assert tuple(y.shape) == (None, 6, 6, 8)
    assert "s_shortcut_pool" not in [layer.name for layer in model.layers]


def test_real_to_binary_block_structure_and_arithmetic():
    """y = PReLU(conv(sign(BN(x)), sign(W)) · gate(BN(x))) + x, checked against NumPy."""
    rng = np.random.default_rng(2)
    inp = keras.Input((4, 4, 8))
    model = keras.Model(inp, real_to_binary_block(inp, reduction=4, name="r"))
    names = [layer.name for layer in model.layers]
    for part in (
        "r_bn",
        "r_conv",
        "r_gate_pool",
        "r_gate_reduce",
        "r_gate_expand",
        "r_scale",
        "r_prelu",
        "r_add",
    ):
        assert part in names
    assert model.get_layer("r_gate_reduce").units == 2
    w = rng.normal(size=(3, 3, 8, 8))
    model.get_layer("r_conv").kernel.assign(w)
    _set_bn(model.get_layer("r_bn"), rng)
    w_red, b_red = rng.normal(size=(8, 2)), rng.normal(size=2)
    w_exp, b_exp = rng.normal(size=(2, 8)), rng.normal(size=8)
    model.get_layer("r_gate_reduce").set_weights([w_red, b_red])
    model.get_layer("r_gate_expand").set_weights([w_exp, b_exp])
    slope = rng.uniform(0.05, 0.5, size=(1, 1, 8))
    model.get_layer("r_prelu").set_weights([slope])
    x = rng.normal(size=(3, 4, 4, 8))
    got = model.predict(x, verbose=0)
    real = _bn_np(x, model.get_layer("r_bn"))
    hidden = np.maximum(real.mean(axis=(1, 2)) @ w_red + b_red, 0.0)
    gate = 1.0 / (1.0 + np.exp(-(hidden @ w_exp + b_exp)))
    y = _conv_same_np(_sign(real), _sign(w)) * gate[:, None, None, :]
    y = np.where(y >= 0, y, slope * y)
    np.testing.assert_allclose(got, y + x, rtol=1e-4, atol=1e-4)


def test_real_to_binary_gate_rescales_each_channel():
    """With a known gate (zero kernels, chosen biases) every output channel is scaled by sigmoid(b_c)."""
    rng = np.random.default_rng(3)
    inp = keras.Input((4, 4, 4))
    y = real_to_binary_block(inp, 6, name="g")
    block = keras.Model(inp, y)
    model = keras.Model(inp, [y, block.get_layer("g_conv").output, block.get_layer("g_scale").output])
    model.get_layer("g_gate_reduce").set_weights([np.zeros((4, 1)), np.zeros(1)])
    b = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    model.get_layer("g_gate_expand").set_weights([np.zeros((1, 6)), b])
    x = rng.normal(size=(2, 4, 4, 4))
    _, conv_out, scaled = model.predict(x, verbose=0)
    expected = 1.0 / (1.0 + np.exp(-b))
    mask = np.abs(conv_out) > 1e-3
    ratio = np.divide(scaled, conv_out, out=np.zeros_like(scaled), where=mask)
    np.testing.assert_allclose(ratio[mask], np.broadcast_to(expected, ratio.shape)[mask], rtol=1e-4)
    assert len(np.unique(np.round(ratio[mask], 4))) == 6  # really per channel, not one scale


def test_real_to_binary_block_without_gate():
    inp = keras.Input((4, 4, 8))
    model = keras.Model(inp, real_to_binary_block(inp, 16, strides=2, reduction=None, name="n"))
    names = [layer.name for layer in model.layers]
    assert "n_scale" not in names and "n_gate_pool" not in names
    assert "n_shortcut_conv" in names
    assert model.output.shape == (None, 2, 2, 16)


def test_scaling_gate_shape_and_range():
    x = keras.Input((3, 3, 16))
    g = scaling_gate(x, 5, reduction=8, name="s")
    assert tuple(g.shape) == (None, 1, 1, 5)
    out = keras.Model(x, g).predict(np.random.default_rng(0).normal(size=(2, 3, 3, 16)), verbose=0)
    assert np.all((out > 0) & (out < 1))


def test_blocks_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    inp = keras.Input((8, 8, 4))
    y = bireal_block(inp, name="b1", pad_values=1.0)
    y = bireal_block(y, 8, strides=2, name="b2")
    y = real_to_binary_block(y, name="r1")
    y = real_to_binary_block(y, 16, strides=2, name="r2")
    model = keras.Model(inp, y)
    # Non-trivial state everywhere (BN statistics, PReLU slopes).
    for layer in model.layers:
        if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.PReLU)):
            layer.set_weights([rng.uniform(0.5, 1.5, size=v.shape) for v in layer.get_weights()])
    x = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    path = tmp_path / "blocks.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-5, atol=1e-5)
    conv = loaded.get_layer("b1_conv")
    assert isinstance(conv, QuantConv2D) and conv.pad_values == 1.0 and conv.input_precision == 1
