"""Quantizers: forward values and gradients against NumPy implementations of the papers'
formulas, annealing, stochastic statistics, mixed precision, serialization and custom
quantizers."""

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kbnn import quantizers as q

# Dense grid with the points that matter: 0, tiny +-eps, the clip edges (+-0.5, +-1, +-1.5
# exactly), DSQ/DoReFa/PACT interval edges and ties, and values beyond every clip.
_EDGES = [0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0, 3.0]
GRID = np.unique(np.concatenate([np.linspace(-3.0, 3.0, 121), _EDGES])).astype(np.float32)
assert {0.0, 1.0, -1.0, 0.5, -0.5}.issubset(set(GRID.tolist()))

ALIASES = [
    "ste_sign",
    "stochastic_sign",
    "approx_sign",
    "swish_sign",
    "magnitude_aware_sign",
    "ste_heaviside",
    "ste_tern",
    "dorefa",
    "dsq",
    "ir_net_ede",
    "pact",
]


def forward_and_grad(fn, x, upstream=None):
    """y = fn(x) and the vector-Jacobian product upstream^T dy/dx (upstream = ones by default)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(y * (tf.ones_like(y) if upstream is None else tf.constant(upstream, y.dtype)))
    return y.numpy(), tape.gradient(loss, x).numpy()


# --------------------------------------------------------------------------------------
# NumPy references (float64 on the float32 grid; constants rounded to float32 first so the
# comparisons at the edges are the ones the float32 kernels make)
# --------------------------------------------------------------------------------------


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def np_clip_mask(x, c):
    return np.ones_like(x) if c is None else (np.abs(x) <= np.float32(c)).astype(np.float64)


def np_round_half_up(v):
    return np.floor(v + 0.5)


def np_signswish(x, beta):
    s = 1.0 / (1.0 + np.exp(-beta * x))
    return 2.0 * s * (1.0 + beta * x * (1.0 - s)) - 1.0


def np_signswish_grad(x, beta):  # BNN+ closed form
    return beta * (2.0 - beta * x * np.tanh(beta * x / 2.0)) / (1.0 + np.cosh(beta * x))


def np_dsq_params(alpha, lower, upper, k_bit):
    delta = (upper - lower) / (2**k_bit - 1)
    k = math.log(2.0 / alpha - 1.0) / delta
    s = 1.0 / (1.0 - alpha)
    return delta, k, s


def np_dsq_hard(x, lower, upper, k_bit):
    n = 2**k_bit - 1
    delta = (upper - lower) / n
    idx = np_round_half_up((np.clip(x, lower, upper) - lower) / delta)
    return lower + delta * np.clip(idx, 0, n)


def np_dsq_soft(x, alpha, lower, upper, k_bit):
    """Q_S(x) of the DSQ paper: l + Delta (i + (phi(x) + 1) / 2), l below, u above."""
    n = 2**k_bit - 1
    delta, k, s = np_dsq_params(alpha, lower, upper, k_bit)
    i = np.clip(np.floor((x - lower) / delta), 0, n - 1)
    m = lower + (i + 0.5) * delta
    phi = s * np.tanh(k * (x - m))
    out = lower + delta * (i + (phi + 1.0) / 2.0)
    return np.where(x < lower, lower, np.where(x > upper, upper, out))


def np_dsq_grad(x, alpha, lower, upper, k_bit):
    n = 2**k_bit - 1
    delta, k, s = np_dsq_params(alpha, lower, upper, k_bit)
    i = np.clip(np.floor((x - lower) / delta), 0, n - 1)
    m = lower + (i + 0.5) * delta
    g = delta / 2.0 * s * k * (1.0 - np.tanh(k * (x - m)) ** 2)
    return np.where((x >= lower) & (x <= upper), g, 0.0)


def np_ede_grad(x, progress, t_min=0.1, t_max=10.0):
    t = t_min * 10.0 ** (progress * math.log10(t_max / t_min))
    k = max(1.0 / t, 1.0)
    return k * t * (1.0 - np.tanh(t * x) ** 2)


# (name, function form, class form, kwargs, numpy forward, numpy derivative)
ELEMENTWISE_CASES = [
    ("ste_sign", q.ste_sign, q.SteSign, {}, np_sign, lambda x: np_clip_mask(x, 1.0)),
    ("ste_sign_c0.5", q.ste_sign, q.SteSign, {"clip_value": 0.5}, np_sign, lambda x: np_clip_mask(x, 0.5)),
    ("ste_sign_c1.5", q.ste_sign, q.SteSign, {"clip_value": 1.5}, np_sign, lambda x: np_clip_mask(x, 1.5)),
    ("ste_sign_none", q.ste_sign, q.SteSign, {"clip_value": None}, np_sign, np.ones_like),
    (
        "stochastic_sign_inference",
        lambda x, **kw: q.stochastic_sign(x, training=False, **kw),
        q.StochasticSign,
        {"clip_value": 0.5},
        np_sign,
        lambda x: np_clip_mask(x, 0.5),
    ),
    (
        "approx_sign",
        q.approx_sign,
        q.ApproxSign,
        {},
        np_sign,
        lambda x: np.where(np.abs(x) < 1, 2 - 2 * np.abs(x), 0.0),
    ),
    ("swish_sign_b5", q.swish_sign, q.SwishSign, {}, np_sign, lambda x: np_signswish_grad(x, 5.0)),
    ("swish_sign_b2", q.swish_sign, q.SwishSign, {"beta": 2.0}, np_sign, lambda x: np_signswish_grad(x, 2.0)),
    (
        "ste_heaviside",
        q.ste_heaviside,
        q.SteHeaviside,
        {},
        lambda x: (x > 0).astype(np.float64),
        lambda x: np_clip_mask(x, 1.0),
    ),
    (
        "ste_tern",
        q.ste_tern,
        q.SteTern,
        {"threshold_value": 0.5, "clip_value": 1.5},
        lambda x: np.where(np.abs(x) > 0.5, np.sign(x), 0.0),
        lambda x: np_clip_mask(x, 1.5),
    ),
    (
        "ste_tern_default",
        q.ste_tern,
        q.SteTern,
        {},
        lambda x: np.where(np.abs(x) > np.float32(0.05), np.sign(x), 0.0),
        lambda x: np_clip_mask(x, 1.0),
    ),
    *[
        (
            f"dorefa_act_k{k}",
            q.dorefa,
            q.DoReFa,
            {"k_bit": k},
            (lambda k: lambda x: np_round_half_up((2**k - 1) * np.clip(x, 0, 1)) / (2**k - 1))(k),
            lambda x: ((x >= 0) & (x <= 1)).astype(np.float64),
        )
        for k in (1, 2, 3)
    ],
    *[
        (
            f"dsq_a{alpha}_k{k}_[{lo},{hi}]",
            q.dsq,
            q.DSQ,
            {"alpha": alpha, "lower": lo, "upper": hi, "k_bit": k},
            (lambda lo, hi, k: lambda x: np_dsq_hard(x, lo, hi, k))(lo, hi, k),
            (lambda a, lo, hi, k: lambda x: np_dsq_grad(x, a, lo, hi, k))(alpha, lo, hi, k),
        )
        for alpha, lo, hi, k in [(0.2, -1.0, 1.0, 1), (0.05, -1.5, 1.5, 2), (0.4, 0.0, 3.0, 2)]
    ],
    *[
        (
            f"ir_net_ede_p{p}",
            (lambda p: lambda x, **kw: q.ir_net_ede(x, progress=p, **kw))(p),
            None,
            {},
            np_sign,
            (lambda p: lambda x: np_ede_grad(x, p))(p),
        )
        for p in (0.0, 0.5, 1.0)
    ],
    (
        "pact_a2_k2",
        lambda x, **kw: q.pact(x, alpha=2.0, **kw),
        None,
        {"k_bit": 2},
        lambda x: np_round_half_up(np.clip(x, 0, 2) * 1.5) / 1.5,
        lambda x: ((x >= 0) & (x < 2)).astype(np.float64),
    ),
]


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[c[0] for c in ELEMENTWISE_CASES])
def test_elementwise_forward_and_gradient_match_numpy(case):
    _, fn, cls, kwargs, np_fwd, np_grad = case
    x64 = GRID.astype(np.float64)
    forms = [lambda x: fn(x, **kwargs)]
    if cls is not None:
        forms.append(cls(**kwargs))
    for form in forms:
        y, g = forward_and_grad(form, GRID)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np_fwd(x64).astype(np.float32))
        np.testing.assert_allclose(g, np_grad(x64), rtol=1e-5, atol=2e-6)


def test_sign_of_zero_is_plus_one_everywhere():
    zero = np.zeros((3,), np.float32)
    for fn in (q.sign, q.ste_sign, q.approx_sign, q.swish_sign, q.ir_net_ede, q.dsq):
        np.testing.assert_array_equal(np.asarray(fn(zero)), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(q.dorefa(zero - 0.0, k_bit=1, mode="weights")), [1.0] * 3)
    np.testing.assert_array_equal(np.asarray(q.ste_heaviside(zero)), [0.0] * 3)


# --------------------------------------------------------------------------------------
# Surrogate derivations checked independently
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0])
def test_swish_sign_gradient_is_the_signswish_derivative(beta):
    x = np.linspace(-2.5, 2.5, 201)
    h = 1e-5
    finite_diff = (np_signswish(x + h, beta) - np_signswish(x - h, beta)) / (2 * h)
    np.testing.assert_allclose(np_signswish_grad(x, beta), finite_diff, rtol=1e-6, atol=1e-6)
    _, g = forward_and_grad(lambda v: q.swish_sign(v, beta=beta), x.astype(np.float32))
    np.testing.assert_allclose(g, finite_diff, rtol=1e-4, atol=2e-5)
    # SS_beta has its peak slope beta at 0 and crosses zero slope at |x| ~ 2.4/beta.
    assert g[100] == pytest.approx(beta, rel=1e-5)


@pytest.mark.parametrize(
    "alpha,lower,upper,k_bit", [(0.2, -1.0, 1.0, 1), (0.1, -1.0, 1.0, 2), (0.5, 0.0, 3.0, 3)]
)
def test_dsq_gradient_is_the_derivative_of_the_soft_quantizer(alpha, lower, upper, k_bit):
    n = 2**k_bit - 1
    delta = (upper - lower) / n
    # Q_S is continuous at every interval edge and reaches l and u: confirms s = 1/(1-alpha)
    # matches k = log(2/alpha - 1)/Delta (tanh(k Delta / 2) = 1 - alpha).
    edges = lower + delta * np.arange(n + 1)
    for e in edges:
        np.testing.assert_allclose(
            np_dsq_soft(np.array([e - 1e-12, e + 1e-12]), alpha, lower, upper, k_bit), e, atol=1e-9
        )
    rng = np.random.default_rng(0)
    x = rng.uniform(lower + 1e-3, upper - 1e-3, 200)
    h = 1e-6
    finite_diff = (
        np_dsq_soft(x + h, alpha, lower, upper, k_bit) - np_dsq_soft(x - h, alpha, lower, upper, k_bit)
    ) / (2 * h)
    _, g = forward_and_grad(
        lambda v: q.dsq(v, alpha=alpha, lower=lower, upper=upper, k_bit=k_bit), x.astype(np.float32)
    )
    np.testing.assert_allclose(g, finite_diff, rtol=2e-4, atol=2e-4)
    # The hard forward value is the rounding of the soft value's sign decision.
    y, _ = forward_and_grad(
        lambda v: q.dsq(v, alpha=alpha, lower=lower, upper=upper, k_bit=k_bit), x.astype(np.float32)
    )
    soft = np_dsq_soft(x, alpha, lower, upper, k_bit)
    i = np.clip(np.floor((x - lower) / delta), 0, n - 1)
    np.testing.assert_allclose(
        y, np.where(soft >= lower + (i + 0.5) * delta, lower + (i + 1) * delta, lower + i * delta), atol=1e-6
    )


# --------------------------------------------------------------------------------------
# Quantizers with coupling across elements
# --------------------------------------------------------------------------------------


def test_magnitude_aware_sign_forward_and_exact_scale_gradient():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.6, (3, 2, 4, 5)).astype(np.float32)  # conv kernel HWIO, 5 channels
    w[0, 0, 0, 0] = 0.0
    w[1, 1, 1, 1] = 1.0
    w[2, 0, 3, 2] = 1.7
    upstream = rng.normal(size=w.shape).astype(np.float32)
    for form in (q.magnitude_aware_sign, q.MagnitudeAwareSign()):
        y, g = forward_and_grad(form, w, upstream)
        w64, u64 = w.astype(np.float64), upstream.astype(np.float64)
        n = w.size // w.shape[-1]
        alpha = np.abs(w64).mean(axis=(0, 1, 2), keepdims=True)
        np.testing.assert_allclose(y, alpha * np_sign(w64), rtol=1e-6)
        ref = alpha * u64 * np_clip_mask(w64, 1.0) + np.sign(w64) / n * (u64 * np_sign(w64)).sum(
            axis=(0, 1, 2), keepdims=True
        )
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-6)
    # Per channel: scaling one output channel scales only that channel's output.
    w2 = w.copy()
    w2[..., 3] *= 4.0
    y1, y2 = np.asarray(q.magnitude_aware_sign(w)), np.asarray(q.magnitude_aware_sign(w2))
    np.testing.assert_allclose(y2[..., 3], 4 * y1[..., 3], rtol=1e-6)
    np.testing.assert_allclose(y2[..., :3], y1[..., :3], rtol=1e-6)


def test_ste_tern_twn_threshold():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (64, 8)).astype(np.float32)
    delta = 0.7 * np.abs(x.astype(np.float64)).mean()
    assert np.min(np.abs(np.abs(x) - delta)) > 1e-5  # no element sits on the threshold
    for form in (
        lambda v: q.ste_tern(v, ternary_weight_networks=True),
        q.SteTern(ternary_weight_networks=True),
    ):
        y, g = forward_and_grad(form, x)
        np.testing.assert_array_equal(y, np.where(np.abs(x) > delta, np.sign(x), 0.0))
        np.testing.assert_array_equal(g, np_clip_mask(x, 1.0))
    assert 0 < np.mean(y == 0) < 1


@pytest.mark.parametrize("k_bit", [1, 2, 4])
def test_dorefa_weights_forward_and_gradient(k_bit):
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.7, (6, 7)).astype(np.float32)
    w[0, 0] = 0.0
    upstream = rng.normal(size=w.shape).astype(np.float32)
    n = 2**k_bit - 1
    w64, u64 = w.astype(np.float64), upstream.astype(np.float64)
    t = np.tanh(w64)
    m = np.abs(t).max()
    ref_y = 2 * np_round_half_up(n * (t / (2 * m) + 0.5)) / n - 1
    # d/dw of tanh(w)/max|tanh(w)| (the STE removes only the round), max at a unique index.
    j = np.unravel_index(np.argmax(np.abs(t)), t.shape)
    ref_g = u64 * (1 - t**2) / m
    ref_g[j] -= np.sign(t[j]) * (1 - t[j] ** 2) * (u64 * t).sum() / m**2
    for form in (lambda v: q.dorefa(v, k_bit=k_bit, mode="weights"), q.DoReFa(k_bit=k_bit, mode="weights")):
        y, g = forward_and_grad(form, w, upstream)
        np.testing.assert_allclose(y, ref_y, atol=1e-6)
        assert len(np.unique(y)) <= 2**k_bit and y.min() >= -1 and y.max() <= 1
        np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-5)


def test_ir_net_libra_pb_forward_and_gradient():
    rng = np.random.default_rng(4)
    w = rng.normal(0.3, 0.05, (3, 3, 4, 6)).astype(np.float32)
    w[..., 5] *= 40.0  # channel statistics differ
    upstream = rng.normal(size=w.shape).astype(np.float32)
    progress = 0.5  # t = 1, k = 1
    axes = (0, 1, 2)
    w64, u64 = w.astype(np.float64), upstream.astype(np.float64)
    centred = w64 - w64.mean(axis=axes, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=axes, keepdims=True))
    w_hat = centred / std
    scale = 2.0 ** np.round(np.log2(np.abs(w_hat).mean(axis=axes, keepdims=True)))
    ref_y = np_sign(w_hat) * scale
    v = u64 * scale * np_ede_grad(w_hat, progress)  # gradient w.r.t. w_hat
    ref_g = (v - v.mean(axis=axes, keepdims=True) - w_hat * (v * w_hat).mean(axis=axes, keepdims=True)) / std
    layer = q.IRNetEDE(libra_pb=True)
    layer.set_progress(progress)
    for form in (lambda x: q.ir_net_ede(x, progress=progress, libra_pb=True), layer):
        y, g = forward_and_grad(form, w, upstream)
        np.testing.assert_allclose(y, ref_y, rtol=1e-6)
        np.testing.assert_allclose(g, ref_g, rtol=2e-3, atol=1e-4)
    # The sign is taken after centring: raw weights are all positive, the output is not.
    assert (w > 0).all() and (y < 0).any()


def test_ir_net_libra_pb_power_of_two_scale():
    # Channel 0 takes two values: w_hat = +-1, mean|w_hat| = 1, scale 2^0 whatever the offset
    # and spread. Channel 1 is sparse: 98 equal values and +-10 outliers give w_hat = 0 (sign +1)
    # and +-sqrt(50), mean|w_hat| = sqrt(2)/10, log2 = -2.82, so the scale is 2^-3.
    c0 = np.tile([1.0, 3.0], 50)
    c1 = np.full(100, 5.0)
    c1[10], c1[20] = 15.0, -5.0
    w = np.stack([c0, c1], axis=-1).astype(np.float32)
    y = np.asarray(q.ir_net_ede(w, libra_pb=True))
    np.testing.assert_array_equal(y[:, 0], np.tile([-1.0, 1.0], 50))
    expected = np.full(100, 0.125)
    expected[20] = -0.125
    np.testing.assert_array_equal(y[:, 1], expected)


# --------------------------------------------------------------------------------------
# Stochastic sign
# --------------------------------------------------------------------------------------


def test_stochastic_sign_statistics_and_inference():
    xs = np.array([-1.5, -1.0, -0.6, -0.2, 0.0, 0.3, 0.8, 1.0, 1.2], np.float32)
    samples = 20000
    x = np.tile(xs, (samples, 1))
    layer = q.StochasticSign(seed=7)
    y, g = forward_and_grad(lambda v: layer(v, training=True), x)
    assert set(np.unique(y)) <= {-1.0, 1.0}
    p_hat = (y > 0).mean(axis=0)
    p = np.clip((xs + 1) / 2, 0, 1)
    tolerance = 4.5 * np.sqrt(p * (1 - p) / samples) + 1e-9
    assert np.all(np.abs(p_hat - p) <= tolerance), (p_hat, p)
    np.testing.assert_array_equal(g, np.tile(np_clip_mask(xs, 1.0), (samples, 1)))
    # Fresh samples on each call (the seed generator advances), same statistics.
    y2 = np.asarray(layer(x[:200], training=True))
    assert not np.array_equal(y2, y[:200])
    # Inference, by default and explicitly: the deterministic sign.
    for out in (layer(x[:5]), layer(x[:5], training=False), q.stochastic_sign(x[:5], training=False)):
        np.testing.assert_array_equal(np.asarray(out), np_sign(x[:5]))
    # Same seed, same first draw.
    a = np.asarray(q.StochasticSign(seed=3)(x[:50], training=True))
    b = np.asarray(q.StochasticSign(seed=3)(x[:50], training=True))
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Annealing and learnable parameters
# --------------------------------------------------------------------------------------


def test_dsq_alpha_annealing_changes_the_gradient():
    layer = q.DSQ(alpha=0.5)
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)  # edges and centre of [-1, 1]
    _, g_warm = forward_and_grad(layer, x)
    layer.set_alpha(0.05)
    assert float(layer.alpha.numpy()) == pytest.approx(0.05)
    _, g_cold = forward_and_grad(layer, x)
    np.testing.assert_allclose(g_cold, np_dsq_grad(x.astype(np.float64), 0.05, -1.0, 1.0, 1), rtol=1e-5)
    assert g_cold[2] > g_warm[2]  # sharper: larger gradient at the centre
    assert g_cold[0] < g_warm[0] and g_cold[4] < g_warm[4]  # smaller at the range edges
    layer.alpha.assign(0.5)  # a callback may assign directly too
    np.testing.assert_allclose(forward_and_grad(layer, x)[1], g_warm, rtol=1e-6)
    assert not layer.alpha.trainable and layer.trainable_weights == []
    with pytest.raises(ValueError, match="Received: alpha=1.5"):
        layer.set_alpha(1.5)


def test_ir_net_ede_progress_anneals_from_identity_to_sign():
    layer = q.IRNetEDE()
    x = np.array([0.0, 0.3, 1.0], np.float32)
    assert float(layer.temperature) == pytest.approx(0.1)
    _, g0 = forward_and_grad(layer, x)
    np.testing.assert_allclose(g0, 1 - np.tanh(0.1 * x.astype(np.float64)) ** 2, rtol=1e-5)  # k t = 1
    layer.set_progress(0.5)
    assert float(layer.temperature) == pytest.approx(1.0)
    layer.set_progress(1.0)
    assert float(layer.temperature) == pytest.approx(10.0)
    _, g1 = forward_and_grad(layer, x)
    np.testing.assert_allclose(g1, 10 * (1 - np.tanh(10 * x.astype(np.float64)) ** 2), rtol=1e-4, atol=1e-7)
    assert g1[0] == pytest.approx(10.0, rel=1e-5) and g1[2] < 1e-6
    assert not layer.progress.trainable and layer.trainable_weights == []
    with pytest.raises(ValueError, match="Received: fraction=1.2"):
        layer.set_progress(1.2)


def test_pact_alpha_gradient_and_training_step():
    layer = q.PACT(k_bit=2, alpha_initializer=2.0)
    assert layer.trainable_weights == [layer.alpha]
    x = tf.constant([-1.0, 0.0, 0.7, 1.9, 2.0, 2.5, 7.0])
    upstream = tf.constant([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * upstream)
    np.testing.assert_allclose(y.numpy(), [0.0, 0.0, 2 / 3, 2.0, 2.0, 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, layer.alpha).numpy(), 5.0 + 6.0 + 7.0)  # x >= alpha
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [0, 2, 3, 4, 0, 0, 0])  # 0 <= x < alpha
    # One SGD step on a loss that wants larger outputs raises alpha.
    opt = keras.optimizers.SGD(learning_rate=0.01)
    opt.apply_gradients([(-tape.gradient(loss, layer.alpha), layer.alpha)])
    assert float(layer.alpha.numpy()) == pytest.approx(2.0 + 0.01 * 18.0)
    # Function form with a tensor alpha.
    a = tf.Variable(1.0)
    with tf.GradientTape() as tape2:
        y2 = q.pact(x, alpha=a, k_bit=1)
        loss2 = tf.reduce_sum(y2)
    np.testing.assert_allclose(y2.numpy(), [0, 0, 1, 1, 1, 1, 1])
    assert float(tape2.gradient(loss2, a).numpy()) == 4.0


# --------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ALIASES)
def test_float16_inputs(alias):
    x32 = np.array([-2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0], np.float32)
    x = tf.constant(x32)
    ref_layer = q.get(alias)
    ref_y, ref_g = forward_and_grad(
        lambda v: ref_layer(v, training=False) if alias == "stochastic_sign" else ref_layer(v), x32
    )
    # Function form on float16 tensors.
    fn = getattr(q, alias)
    y, g = forward_and_grad(fn, x32.astype(np.float16))
    assert y.dtype == np.float16 and g.dtype == np.float16
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    if alias != "stochastic_sign":  # the function form samples (training=True by default)
        np.testing.assert_allclose(y.astype(np.float32), ref_y, atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(g.astype(np.float32), ref_g, atol=1e-2, rtol=1e-2)
    # Class form under mixed precision: float16 compute, float32 state.
    layer = q.get(alias)
    layer.dtype_policy = keras.DTypePolicy("mixed_float16")
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
        loss = tf.reduce_sum(tf.cast(out, "float32"))
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy().astype(np.float32), ref_y, atol=2e-3, rtol=2e-3)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), ref_g, atol=1e-2, rtol=1e-2)
    for w in layer.weights:
        assert w.dtype == "float32"


# --------------------------------------------------------------------------------------
# Serialization, aliases, precision
# --------------------------------------------------------------------------------------

NON_DEFAULT_CONFIGS = {
    "ste_sign": (q.SteSign, {"clip_value": 2.0}, 1),
    "stochastic_sign": (q.StochasticSign, {"clip_value": None, "seed": 5}, 1),
    "approx_sign": (q.ApproxSign, {}, 1),
    "swish_sign": (q.SwishSign, {"beta": 3.0}, 1),
    "magnitude_aware_sign": (q.MagnitudeAwareSign, {"clip_value": 0.5}, 1),
    "ste_heaviside": (q.SteHeaviside, {"clip_value": 3.0}, 1),
    "ste_tern": (q.SteTern, {"threshold_value": 0.2, "ternary_weight_networks": True, "clip_value": 2.0}, 2),
    "dorefa": (q.DoReFa, {"k_bit": 3, "mode": "weights"}, 3),
    "dsq": (q.DSQ, {"alpha": 0.3, "lower": 0.0, "upper": 3.0, "k_bit": 2}, 2),
    "ir_net_ede": (q.IRNetEDE, {"t_min": 0.2, "t_max": 5.0, "libra_pb": True}, 1),
    "pact": (q.PACT, {"k_bit": 4, "alpha_initializer": 6.0}, 4),
}
assert sorted(NON_DEFAULT_CONFIGS) == sorted(ALIASES)


@pytest.mark.parametrize("alias", ALIASES)
def test_serialization_round_trip(alias):
    cls, kwargs, bits = NON_DEFAULT_CONFIGS[alias]
    assert type(q.get(alias)) is cls
    layer = cls(**kwargs)
    config = layer.get_config()
    for key, value in kwargs.items():
        if key == "alpha_initializer":
            assert config[key]["config"]["value"] == value
        else:
            assert config[key] == value, key
    clone = cls.from_config(config)
    assert clone.get_config() == config
    restored = q.deserialize(q.serialize(layer))
    assert type(restored) is cls and restored.get_config() == config
    assert type(q.get(q.serialize(layer))) is cls
    assert q.get(layer) is layer
    assert q.precision_of(layer) == q.precision_of(restored) == bits
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    if alias != "stochastic_sign":
        np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(layer(x)))
    # The function form is registered and serializable too.
    fn = getattr(q, alias)
    assert q.deserialize(q.serialize(fn)) is fn
    assert q.precision_of(fn) == cls.precision


def test_precision_and_get_edge_cases():
    assert q.precision_of(None) is None
    assert q.precision_of(lambda x: x) is None
    assert q.get(None) is None
    assert q.precision_of("ste_tern") is None  # strings are resolved by get(), not precision_of
    assert q.precision_of(q.get("ste_tern")) == 2
    with pytest.raises(ValueError, match="Unknown quantizer 'nope'"):
        q.get("nope")
    with pytest.raises(ValueError, match="Received: identifier=3"):
        q.get(3)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: q.SteSign(clip_value=-1.0), "Received: clip_value=-1.0"),
        (lambda: q.ste_sign(np.ones(2, np.float32), clip_value=0), "Received: clip_value=0"),
        (lambda: q.StochasticSign(seed="a"), "Received: seed='a'"),
        (lambda: q.SwishSign(beta=0.0), "Received: beta=0.0"),
        (lambda: q.swish_sign(np.ones(2, np.float32), beta=-2), "Received: beta=-2"),
        (lambda: q.SteTern(threshold_value=-0.1), "Received: threshold_value=-0.1"),
        (lambda: q.SteTern(ternary_weight_networks="yes"), "Received: ternary_weight_networks='yes'"),
        (lambda: q.DoReFa(k_bit=0), "Received: k_bit=0"),
        (lambda: q.DoReFa(k_bit=2.0), "Received: k_bit=2.0"),
        (lambda: q.DoReFa(mode="bias"), "Received: mode='bias'"),
        (lambda: q.dorefa(np.ones(2, np.float32), mode="w"), "Received: mode='w'"),
        (lambda: q.DSQ(alpha=1.0), "Received: alpha=1.0"),
        (lambda: q.DSQ(alpha=0.0), "Received: alpha=0.0"),
        (lambda: q.DSQ(lower=1.0, upper=1.0), "Received: upper=1.0"),
        (lambda: q.DSQ(k_bit=17), "Received: k_bit=17"),
        (lambda: q.dsq(np.ones(2, np.float32), alpha=2.0), "Received: alpha=2.0"),
        (lambda: q.IRNetEDE(t_min=0.0), "Received: t_min=0.0"),
        (lambda: q.IRNetEDE(t_min=2.0, t_max=1.0), "Received: t_max=1.0"),
        (lambda: q.IRNetEDE(libra_pb=1), "Received: libra_pb=1"),
        (lambda: q.ir_net_ede(np.ones(2, np.float32), progress=-0.1), "Received: progress=-0.1"),
        (lambda: q.PACT(alpha_initializer=-6.0), "Received: alpha_initializer=-6.0"),
        (
            lambda: q.PACT(alpha_initializer="not_an_initializer"),
            "Received: alpha_initializer='not_an_initializer'",
        ),
        (lambda: q.pact(np.ones(2, np.float32), alpha=0.0), "Received: alpha=0.0"),
        (lambda: q.PACT(k_bit=True), "Received: k_bit=True"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


# --------------------------------------------------------------------------------------
# Custom quantizers and saved models
# --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kbnn_tests")
def shifted_sign(x):
    """A user quantizer function: sign(x - 0.25) with the clipped STE of ste_sign."""
    return q.ste_sign(x - 0.25)


shifted_sign.precision = 1


@keras.saving.register_keras_serializable(package="kbnn_tests")
class ScaledHeaviside(q.Quantizer):
    """A user Quantizer subclass with a config argument."""

    precision = 1

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return self.scale * q.ste_heaviside(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config


@keras.saving.register_keras_serializable(package="kbnn_tests")
class ApplyQuantizer(keras.layers.Layer):
    """Test layer that owns a quantizer given by identifier (function or Quantizer)."""

    def __init__(self, quantizer, **kwargs):
        super().__init__(**kwargs)
        self.quantizer = q.get(quantizer)

    def call(self, inputs):
        return self.quantizer(inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"quantizer": q.serialize(self.quantizer)})
        return config


def test_custom_quantizers_round_trip_through_get_and_serialize():
    assert q.get(shifted_sign) is shifted_sign
    assert q.deserialize(q.serialize(shifted_sign)) is shifted_sign
    assert q.precision_of(shifted_sign) == 1
    custom = ScaledHeaviside(scale=3.0)
    restored = q.deserialize(q.serialize(custom))
    assert type(restored) is ScaledHeaviside and restored.scale == 3.0
    assert type(q.get(q.serialize(custom))) is ScaledHeaviside
    np.testing.assert_array_equal(
        np.asarray(restored(np.array([-1.0, 0.0, 0.5], np.float32))), [0.0, 0.0, 3.0]
    )


def test_saved_keras_model_with_custom_and_stateful_quantizers(tmp_path):
    inputs = keras.Input((6,))
    h = keras.layers.Dense(6, kernel_initializer="glorot_uniform", name="dense")(inputs)
    a = ApplyQuantizer(shifted_sign, name="fn")(h)
    b = ScaledHeaviside(scale=0.5, name="custom")(h)
    c = ApplyQuantizer("dsq", name="dsq")(h)
    d = q.IRNetEDE(name="ede")(h)
    e = q.PACT(k_bit=3, alpha_initializer=1.5, name="pact")(h)
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b, c, d, e]))
    model.get_layer("dsq").quantizer.set_alpha(0.1)
    model.get_layer("ede").set_progress(0.75)
    model.get_layer("pact").alpha.assign(1.25)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
    assert loaded.get_layer("fn").quantizer is shifted_sign
    assert type(loaded.get_layer("custom")) is ScaledHeaviside and loaded.get_layer("custom").scale == 0.5
    assert float(loaded.get_layer("dsq").quantizer.alpha.numpy()) == pytest.approx(0.1)
    assert float(loaded.get_layer("ede").progress.numpy()) == pytest.approx(0.75)
    assert float(loaded.get_layer("pact").alpha.numpy()) == pytest.approx(1.25)


def test_function_quantizer_is_the_layer_form_of_its_function():
    import inspect

    class HalfSign(q.FunctionQuantizer):
        function = staticmethod(lambda x, clip_value=1.0, scale=0.5: q.ste_sign(x, clip_value) * scale)
        arguments = {"clip_value": lambda v: None if v is None else float(v), "scale": float}

    assert str(inspect.signature(HalfSign)) == "(clip_value=1.0, scale=0.5, **kwargs)"
    assert str(inspect.signature(q.SteSign)) == "(clip_value=1.0, **kwargs)"
    positional, keyword = HalfSign(2, 3), HalfSign(scale=3, clip_value=2, name="h")
    for quantizer in (positional, keyword):
        assert (quantizer.clip_value, quantizer.scale) == (2.0, 3.0)
        config = quantizer.get_config()
        assert (config["clip_value"], config["scale"]) == (2.0, 3.0)
    assert keyword.name == "h" and HalfSign().scale == 0.5
    x = np.array([-1.0, 0.0, 4.0], np.float32)
    np.testing.assert_array_equal(np.asarray(positional(x)), [-3.0, 3.0, 3.0])
    clone = HalfSign.from_config(keyword.get_config())
    assert (clone.clip_value, clone.scale, clone.name) == (2.0, 3.0, "h")
    with pytest.raises(TypeError, match="takes 2 positional arguments"):
        HalfSign(1, 2, 3)
    with pytest.raises(TypeError, match="multiple values for argument 'clip_value'"):
        HalfSign(1, clip_value=2)
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):  # as Layer rejects it
        HalfSign(beta=1.0)
    with pytest.raises(ValueError, match="`clip_value` must be a positive number"):
        q.SteSign(-1.0)
    with pytest.raises(TypeError, match=r"names \['beta'\]"):
        type(
            "Bad",
            (q.FunctionQuantizer,),
            {"function": staticmethod(q.ste_sign), "arguments": {"beta": float}},
        )
    assert q.DoReFa(3).precision == 3 and q.DoReFa.precision == 2
    assert isinstance(q.SteSign(), q.Quantizer) and not isinstance(q.SteHeaviside(), q.SteSign)


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "quantizers"


def test_keras_file_saved_by_the_single_module_quantizers_loads_unchanged():
    """tests/fixtures/quantizers/ was written (make_fixture.py) by the code before
    kbnn/quantizers.py became a package: every quantizer, class and function form, loads from
    it with the same type, get_config(), serialize() output, state and outputs."""
    loaded = keras.saving.load_model(FIXTURE / "every_quantizer.keras")
    data = np.load(FIXTURE / "every_quantizer.npz")
    np.testing.assert_array_equal(np.asarray(loaded(data["x"], training=False)), data["y"])
    expected = json.loads((FIXTURE / "every_quantizer_configs.json").read_text())
    configs = {layer.name: layer.get_config() for layer in loaded.layers}
    assert json.loads(json.dumps(configs)) == expected["get_config"]
    quantizers = {layer.name: layer for layer in loaded.layers if isinstance(layer, q.Quantizer)}
    serialized = {name: q.serialize(layer) for name, layer in quantizers.items()}
    assert json.loads(json.dumps(serialized)) == expected["serialize"]
    for name, layer in quantizers.items():
        assert type(layer) is getattr(q, expected["serialize"][name]["class_name"])
    dense = loaded.get_layer("dense_magnitude_aware_sign")
    assert dense.input_quantizer is q.ste_sign and dense.kernel_quantizer is q.magnitude_aware_sign
    assert type(loaded.get_layer("dense_class_instances").kernel_quantizer) is q.MultiBaseSign
    assert float(loaded.get_layer("pact_layer").alpha.numpy()) == pytest.approx(1.75)
    assert float(loaded.get_layer("ir_net_ede_layer").progress.numpy()) == pytest.approx(0.4)


def test_quantizers_inside_quant_dense(tmp_path):
    from kbnn import layers

    inputs = keras.Input((5,))
    out = layers.QuantDense(
        3, input_quantizer=shifted_sign, kernel_quantizer=ScaledHeaviside(scale=2.0), name="qd"
    )(inputs)
    model = keras.Model(inputs, out)
    path = tmp_path / "qd.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(6).normal(size=(2, 5)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    qd = loaded.get_layer("qd")
    assert qd.input_quantizer is shifted_sign and type(qd.kernel_quantizer) is ScaledHeaviside


def test_compiled_training_step_updates_pact_alpha_and_uses_annealed_state():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8)(inputs)
    h = q.StochasticSign(seed=1, name="stoch")(h)
    h = keras.layers.Dense(8)(h)
    h = q.DSQ(name="dsq")(h)
    h = q.IRNetEDE(name="ede")(h)
    h = keras.layers.Dense(8)(h)
    out = q.PACT(k_bit=2, alpha_initializer=0.5, name="pact")(h)
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", jit_compile=False)
    model.get_layer("ede").set_progress(0.3)
    x = np.random.default_rng(7).normal(size=(32, 4)).astype(np.float32)
    y = np.full((32, 8), 3.0, np.float32)  # targets above alpha: alpha must grow
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert float(model.get_layer("pact").alpha.numpy()) > 0.5
    assert float(model.get_layer("ede").progress.numpy()) == pytest.approx(0.3)
    assert float(model.get_layer("dsq").alpha.numpy()) == pytest.approx(0.2)
    # Inference is deterministic (the stochastic sign takes the sign outside training).
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "alias", ["ste_sign", "approx_sign", "swish_sign", "magnitude_aware_sign", "ste_tern"]
)
def test_quantizers_accept_variables_and_pass_gradients(alias):
    """A latent kernel is a variable: quantizing it directly must work and reach it with gradients."""
    v = keras.Variable(np.array([[-0.5], [0.25], [2.0]], "float32"))
    quant = q.get(alias)
    with tf.GradientTape() as tape:
        y = quant(v)
        loss = tf.reduce_sum(y * np.array([[1.0], [2.0], [3.0]], "float32"))
    g = tape.gradient(loss, v)
    assert g is not None
    assert np.all(np.isfinite(np.asarray(g)))
    assert set(np.unique(np.sign(np.asarray(y)))) <= {-1.0, 0.0, 1.0}
