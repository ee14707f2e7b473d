"""kbnn.quantizers.MultiBaseSign (ABC-Net weights, ABC-Net shift / HORQ residual activations):
forward and gradients vs NumPy, .keras round trip, training, lowering to M x N binary ops (Keras vs
TF ops vs TFLite), the report and kbnn.summary's MACs; Real-to-Binary blocks in the fused layout."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_convert import _custom_ops, needs_interpreter

import kbnn
from kbnn.layers import QuantConv2D
from kbnn.quantizers import MultiBaseSign, abc_shifts
from support.keras_util import randomize_batchnorm
from support.lowering_models import multibase_model


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(11)


def _sign(v):
    return np.where(v >= 0, 1.0, -1.0)


def _mask(v, clip):
    return np.ones_like(v) if clip is None else (np.abs(v) <= clip).astype(np.float64)


def _np_weights(w, bases, clip):
    """ABC-Net weight bases per output channel (float64 NumPy): value and d(sum q*g)/dw / g."""
    flat = w.reshape(-1, w.shape[-1]).astype(np.float64)
    k = flat.shape[0]
    mean, std = flat.mean(0), flat.std(0)
    args = [flat - mean + u * std for u in abc_shifts(bases)]
    signs = [_sign(a) for a in args]
    q = np.zeros_like(flat)
    dq = np.zeros_like(flat)
    for c in range(flat.shape[1]):
        b = np.stack([s[:, c] for s in signs], 1)
        alpha = np.linalg.solve(b.T @ b + 1e-6 * k * np.eye(bases), b.T @ flat[:, c])
        q[:, c] = b @ alpha
        dq[:, c] = sum(alpha[m] * _mask(args[m][:, c], clip) for m in range(bases))
    return q.reshape(w.shape), dq.reshape(w.shape)


def _kernel_with_edges():
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.3, size=(3, 3, 4, 6)).astype(np.float32)
    w[..., 0] = 0.5  # constant channel: std 0, all bases equal (the ridge keeps it solvable)
    w[0, 0, :, 1] = 0.0  # exact zeros
    w[..., 2] *= 10.0  # beyond the clip value: zero straight-through gradient
    return w


@pytest.mark.parametrize("bases", [1, 2, 3])
@pytest.mark.parametrize("clip", [1.0, None])
def test_weights_forward_and_gradient_match_numpy(bases, clip):
    w = _kernel_with_edges()
    q = MultiBaseSign(bases, clip_value=clip)
    wt = tf.constant(w)
    g = np.random.default_rng(1).normal(size=w.shape).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(wt)
        y = q(wt)
        loss = tf.reduce_sum(y * g)
    want, dq = _np_weights(w, bases, clip)
    np.testing.assert_allclose(y.numpy(), want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(tape.gradient(loss, wt).numpy(), g * dq, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(y.numpy()[..., 0], 0.5, rtol=1e-5)
    signs, alphas = q.weight_decomposition(w)
    assert signs.shape == (bases,) + w.shape and alphas.shape == (bases, 6)
    assert set(np.unique(signs)) <= {-1.0, 1.0}
    np.testing.assert_allclose(np.einsum("m...c,mc->...c", signs, alphas), y.numpy(), rtol=1e-6, atol=1e-7)


def test_more_weight_bases_fit_better():
    w = np.random.default_rng(2).normal(size=(3, 3, 16, 8)).astype(np.float32)
    errors = [float(np.mean((np.asarray(MultiBaseSign(m)(w)) - w) ** 2)) for m in (1, 2, 3, 4)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.25 * errors[0]


def _grid(points):
    """A grid with the thresholds themselves (sign(0) = +1) and the clip edges +-1 around them."""
    edges = [p + d for p in points for d in (-1.0, -1e-3, 0.0, 1e-3, 1.0)]
    return np.concatenate([np.linspace(-3, 3, 61), edges]).astype(np.float32)


def test_shift_forward_and_gradients_match_numpy():
    q = MultiBaseSign(3, mode="shift")
    theta, beta = np.array([-0.5, 0.25, 1.0], np.float32), np.array([0.7, 0.3, -0.2], np.float32)
    q.thresholds.assign(theta)
    q.scales.assign(beta)
    x = _grid(theta)
    g = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(q(xt) * g)
    args = [x.astype(np.float32) - t for t in theta]
    want = sum(b * _sign(a) for b, a in zip(beta, args))
    np.testing.assert_allclose(np.asarray(q(x)), want, rtol=1e-6, atol=1e-6)
    masks = [_mask(a, 1.0) for a in args]
    np.testing.assert_allclose(
        tape.gradient(loss, xt).numpy(), g * sum(b * m for b, m in zip(beta, masks)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        tape.gradient(loss, q.thresholds).numpy(),
        [-b * np.sum(g * m) for b, m in zip(beta, masks)],
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        tape.gradient(loss, q.scales).numpy(), [np.sum(g * _sign(a)) for a in args], rtol=1e-5, atol=1e-5
    )


def test_residual_forward_and_gradients_match_numpy():
    q = MultiBaseSign(3, mode="residual", clip_value=1.5)
    beta = np.array([0.9, 0.4, 0.2], np.float32)
    q.scales.assign(beta)
    x = _grid([0.0, 0.9, -0.9, 1.3])
    g = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(q(xt) * g)
    # NumPy forward with forward-mode derivatives (d/dx and d/dbeta_k) through the recursion.
    r, dr_dx, dr_db = x.copy(), np.ones_like(x, np.float64), np.zeros((3,) + x.shape)
    out, dout_dx, dout_db = np.zeros_like(x), np.zeros_like(x, np.float64), np.zeros((3,) + x.shape)
    for n in range(3):
        b, m = _sign(r).astype(np.float32), _mask(r, 1.5)
        db_dx, db_db = m * dr_dx, m * dr_db  # straight-through sign
        out = out + beta[n] * b
        dout_dx += beta[n] * db_dx
        dout_db += beta[n] * db_db
        dout_db[n] += b
        r = r - beta[n] * b
        dr_dx = dr_dx - beta[n] * db_dx
        dr_db = dr_db - beta[n] * db_db
        dr_db[n] -= b
    np.testing.assert_allclose(np.asarray(q(x)), out, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, xt).numpy(), g * dout_dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(loss, q.scales).numpy(), (dout_db * g).sum(1), rtol=1e-5, atol=1e-5
    )


def test_bad_arguments_and_config():
    for bad in (0, 9, 2.0, True):
        with pytest.raises(ValueError, match="bases"):
            MultiBaseSign(bad)
    with pytest.raises(ValueError, match="mode"):
        MultiBaseSign(2, mode="thresholds")
    with pytest.raises(ValueError, match="clip_value"):
        MultiBaseSign(2, clip_value=0.0)
    q = kbnn.quantizers.get("multi_base_sign")
    assert isinstance(q, MultiBaseSign) and q.bases == 2 and q.precision == 2
    assert kbnn.quantizers.binary_bases(MultiBaseSign(3, mode="shift")) == 3
    assert kbnn.quantizers.binary_bases("ste_sign") is None
    assert kbnn.quantizers.binary_bases(kbnn.quantizers.SteSign()) == 1
    with pytest.raises(ValueError, match="mode='weights'"):
        MultiBaseSign(2, mode="shift").weight_decomposition(np.ones((2, 2)))


MULTI = {
    "w2_sign": ("ste_sign", MultiBaseSign(2)),
    "w3_sign_valid": ("approx_sign", MultiBaseSign(3), "valid"),
    "shift2_w1": (MultiBaseSign(2, mode="shift"), "magnitude_aware_sign"),
    "shift3_w2_relu": (MultiBaseSign(3, mode="shift"), MultiBaseSign(2), "same", True),
    "residual2_w3": (MultiBaseSign(2, mode="residual"), MultiBaseSign(3)),
    "residual3_w2_dense": (MultiBaseSign(3, mode="residual"), MultiBaseSign(2), "valid", False, True),
    "shift2_w2_groups2_dilation2": (
        MultiBaseSign(2, mode="shift"),
        MultiBaseSign(2),
        "same",
        False,
        False,
        2,
        2,
    ),
}


def _build(case, head=True):
    act, kern, *rest = MULTI[case]
    act = kbnn.quantizers.deserialize(kbnn.quantizers.serialize(act)) if not isinstance(act, str) else act
    kern = kbnn.quantizers.deserialize(kbnn.quantizers.serialize(kern)) if not isinstance(kern, str) else kern
    model = multibase_model(act, kern, *rest, head=head)
    for layer in model.layers:  # random, non-default activation parameters
        q = getattr(layer, "input_quantizer", None)
        if isinstance(q, MultiBaseSign):
            rng = np.random.default_rng(len(layer.name))
            if q.mode == "shift":
                q.thresholds.assign(np.sort(rng.normal(size=q.bases)).astype(np.float32))
            q.scales.assign(rng.uniform(0.2, 1.0, q.bases).astype(np.float32))
    return model


def _xin(batch=3):
    return np.random.default_rng(5).normal(size=(batch, 6, 6, 24)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(MULTI))
def test_lowering_parity_reference(case):
    model = _build(case)
    x = _xin()
    low = kbnn.convert.lower(model, backend="reference")
    ref, got = np.asarray(model(x, training=False)), np.asarray(low(x))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    act, kern, *_ = MULTI[case]
    n = act.bases if isinstance(act, MultiBaseSign) else 1
    m = kern.bases if isinstance(kern, MultiBaseSign) else 1
    st = {s.node.name: s for s in low.plan}["multi"]
    assert st.kind == "bmulti" and len(st.terms) == n * m
    assert not low.report.not_lowered
    row = low.report.row("multi")
    assert row.op.startswith(f"KbnnBconv2d x{m} over ") and f"= {n * m} binary convolutions" in row.op


@pytest.mark.parametrize("case", sorted(MULTI))
def test_summary_binary_macs_match_converter(case):
    model = _build(case)
    s = kbnn.summary(model, print_fn=None)
    low = kbnn.convert.lower(model, backend="reference")
    for row in s.layers:
        assert row.binary_macs == low.report.row(row.name).binary_macs, row.name
    multi = next(r for r in s.layers if r.name == "multi")
    groups = model.get_layer("multi").groups
    assert (
        multi.macs
        == multi.binary_macs
        == len({st.node.name: st for st in low.plan}["multi"].terms)
        * (int(np.prod(model.get_layer("multi").output.shape[1:])) * 9 * 24 // groups)
    )


def test_not_lowerable_multi_base_layers_are_reported():
    inp = keras.Input((5, 5, 8))
    x = QuantConv2D(
        4, 3, input_quantizer=MultiBaseSign(2), kernel_quantizer="ste_sign", name="weights_mode_input"
    )(inp)
    y = QuantConv2D(
        4,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer=MultiBaseSign(2, mode="shift"),
        kernel_quantizer="ste_sign",
        name="ones_padding",
    )(inp)
    z = QuantConv2D(
        4,
        3,
        input_quantizer="ste_sign",
        kernel_quantizer=MultiBaseSign(2, mode="residual"),
        name="activation_mode_kernel",
    )(inp)
    model = keras.Model(inp, [x, y, z])
    model.get_layer("ones_padding").input_quantizer.scales.assign([0.7, 0.2])  # the +1 padding would be 0.9
    low = kbnn.convert.lower(model, backend="reference")
    assert "data-dependent" in low.report.row("weights_mode_input").reason
    assert "pad" in low.report.row("ones_padding").reason
    assert "activation quantizer" in low.report.row("activation_mode_kernel").reason


def low_terms(model):
    return len(
        {st.node.name: st for st in kbnn.convert.lower(model, backend="reference").plan}["multi"].terms
    )


@needs_interpreter
@pytest.mark.parametrize("case", ["shift3_w2_relu", "residual3_w2_dense", "w2_sign", "shift2_w1"])
def test_tflite_bit_exact_with_tf_ops(case):
    x = _xin()
    model = _build(case, head=False)
    data = kbnn.convert(model, progress=False)
    tf_out = kbnn.convert.lower(model, backend="kbnn")(x)
    got = kbnn.Interpreter(data).predict(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(tf_out))
    np.testing.assert_allclose(np.asarray(got), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4)
    act, kern, *_ = MULTI[case]
    n, m = (q.bases if isinstance(q, MultiBaseSign) else 1 for q in (act, kern))
    expected = n * m
    names = [n for n, _ in _custom_ops(data)]
    assert names.count("KbnnBconv2d") == (kern.bases if isinstance(kern, MultiBaseSign) else 1)
    assert low_terms(model) == expected
    model = _build(case)
    got = np.asarray(kbnn.Interpreter(kbnn.convert(model, progress=False)).predict(x))
    np.testing.assert_array_equal(got.argmax(-1), np.asarray(model(x, training=False)).argmax(-1))


def test_keras_round_trip_and_training_step(tmp_path):
    model = _build("shift3_w2_relu")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.get_layer("multi").input_quantizer.thresholds.numpy().copy()
    x, y = _xin(8), np.arange(8) % 5
    model.fit(x, y, epochs=2, verbose=0)
    q = model.get_layer("multi").input_quantizer
    assert not np.allclose(q.thresholds.numpy(), before)  # trained by the optimizer
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.saving.load_model(path)
    bq = back.get_layer("multi").input_quantizer
    assert isinstance(bq, MultiBaseSign) and bq.mode == "shift" and bq.bases == 3
    np.testing.assert_array_equal(bq.thresholds.numpy(), q.thresholds.numpy())
    np.testing.assert_array_equal(np.asarray(back(x, training=False)), np.asarray(model(x, training=False)))


# ----------------------------------------------------------------------------------------
# Real-to-Binary blocks, fused layout
# ----------------------------------------------------------------------------------------


def _r2b_model(layout, filters=32, strides=1):
    inp = keras.Input((8, 8, 32))
    x = kbnn.blocks.real_to_binary_block(inp, filters, strides=strides, layout=layout, name="blk")
    x = kbnn.blocks.real_to_binary_block(x, filters, layout=layout, name="blk2")
    x = keras.layers.GlobalAveragePooling2D()(x)
    return randomize_batchnorm(keras.Model(inp, keras.layers.Dense(4)(x)))


def _float_ops_between_conv_and_add(low, block):
    """Names of the unlowered (float) nodes on the path from the block's binary conv to its add."""
    plan = {st.node.name: st for st in low.plan}
    conv = plan[f"{block}_conv"]
    key, found = conv.output_key, []
    while True:
        consumers = low.graph.consumers[key]
        nxt = [c for c in consumers if c.name != f"{block}_add"]
        if len(nxt) != len(consumers):
            return found
        (node,) = nxt
        found.append(node.name)
        key = node.out()


@pytest.mark.parametrize("strides", [1, 2])
def test_real_to_binary_fused_layout_lowers_with_only_the_gate(strides):
    model = _r2b_model("fused", 64 if strides == 2 else 32, strides)
    low = kbnn.convert.lower(model, backend="reference")
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 32)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(low(x)), np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4)
    plan = {st.node.name: st for st in low.plan}
    for block in ("blk", "blk2"):
        assert plan[f"{block}_conv"].kind == "bconv2d"
        assert plan[f"{block}_bn"].kind == "folded"
        assert _float_ops_between_conv_and_add(low, block) == [f"{block}_scale"]
    # The paper layout keeps the batch norm before the sign and the PReLU before the add.
    paper = kbnn.convert.lower(_r2b_model("paper"), backend="reference")
    assert _float_ops_between_conv_and_add(paper, "blk") == ["blk_scale", "blk_prelu"]
    assert {st.node.name: st for st in paper.plan}["blk_bn"].kind == "keras"


def test_real_to_binary_summary_mac_split_matches_converter():
    model = kbnn.models.RealToBinaryNet18(input_shape=(32, 32, 3), num_classes=10, block_layout="fused")
    s = kbnn.summary(model, print_fn=None)
    low = kbnn.convert.lower(model, backend="reference")
    report = {r.name: r for r in low.report.layers}
    for row in s.layers:
        assert row.binary_macs == report[row.name].binary_macs, row.name
        if row.other_macs:  # float MACs: exported as builtins
            assert report[row.name].status == "builtin", row.name
    assert s.binary_macs == sum(r.binary_macs for r in low.report.layers) > 0
    assert sum(st.kind == "bconv2d" for st in low.plan) == 16
    assert sum(st.kind == "folded" for st in low.plan) == 16  # every block's batch norm


def test_real_to_binary_bad_layout():
    with pytest.raises(ValueError, match="layout"):
        kbnn.blocks.real_to_binary_block(keras.Input((4, 4, 8)), layout="fast")


@needs_interpreter
def test_summary_latency_attributes_every_multi_base_op():
    model = _build("shift3_w2_relu")
    s = kbnn.summary(model, print_fn=None, latency=True, runs=3, warmup=1)
    timed = [o for o in s.benchmark.ops if o.op == "KbnnBconv2d"]
    assert len(timed) == 2 and all(o.layer == "multi" for o in timed)
    assert next(r for r in s.layers if r.name == "multi").latency_ms is not None


@needs_interpreter
def test_real_to_binary_fused_tflite_matches_keras_and_round_trips(tmp_path):
    model = _r2b_model("fused", 64, 2)
    path = tmp_path / "r2b.keras"
    model.save(path)
    model = keras.saving.load_model(path)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 32)).astype(np.float32)
    data, report = kbnn.convert(model, progress=False, return_report=True)
    got = np.asarray(kbnn.Interpreter(data).predict(x))
    ref = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(got.argmax(-1), ref.argmax(-1))
    assert report.row("blk_conv").op == "KbnnBconv2d (+blk_bn)"
    assert report.row("blk_bn").status == "folded"
