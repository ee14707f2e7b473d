"""Bop, CaseOptimizer and ShiftAdaMax against hand-computed values and NumPy references."""

import keras
import numpy as np
import pytest

import kbnn
import kbnn.layers
from kbnn import optimizers, variables


def _binary_variable(values, name="wb"):
    v = keras.Variable(np.asarray(values, "float32"), name=name)
    variables.tag_precision(v, 1)
    return v


def _float_variable(values, name="wf"):
    return keras.Variable(np.asarray(values, "float32"), name=name)


# ---------------------------------------------------------------------------- Bop


def test_bop_flips_exactly_the_weights_whose_momentum_crosses_the_threshold():
    # gamma = 0.5, threshold = 0.25: every value below is exact in float32.
    bop = optimizers.Bop(threshold=0.25, gamma=0.5)
    # Latent start values; Bop works on their signs (sign(0) = +1): w0 = [+1, +1, -1, -1, +1].
    w = _binary_variable([0.3, 2.0, -0.7, -0.01, 0.0])
    grads = [
        [1.0, -1.0, 0.25, -1.0, 0.5],
        [1.0, -1.0, 0.25, 0.0, 0.5],
        [-1.0, 1.0, -1.0, 1.0, 0.0],
    ]
    # m_t = 0.5 m_{t-1} + 0.5 g_t; flip where m_t * sign(w) > 0.25.
    # step 1: m1 = [0.5, -0.5, 0.125, -0.5, 0.25]
    #         m1*w0 = [0.5, -0.5, -0.125, 0.5, 0.25] -> flip e0, e3 (e4 equals tau: no flip)
    #         w1 = [-1, +1, -1, +1, +1]
    # step 2: m2 = [0.75, -0.75, 0.1875, -0.25, 0.375]
    #         m2*w1 = [-0.75, -0.75, -0.1875, -0.25, 0.375] -> flip e4 only (e0 does not flip back)
    #         w2 = [-1, +1, -1, +1, -1]
    # step 3: m3 = [-0.125, 0.125, -0.40625, 0.375, 0.1875]
    #         m3*w2 = [0.125, 0.125, 0.40625, 0.375, -0.1875] -> flip e2, e3
    #         w3 = [-1, +1, +1, -1, -1]
    expected_w = [
        [-1.0, 1.0, -1.0, 1.0, 1.0],
        [-1.0, 1.0, -1.0, 1.0, -1.0],
        [-1.0, 1.0, 1.0, -1.0, -1.0],
    ]
    expected_m = [
        [0.5, -0.5, 0.125, -0.5, 0.25],
        [0.75, -0.75, 0.1875, -0.25, 0.375],
        [-0.125, 0.125, -0.40625, 0.375, 0.1875],
    ]
    for g, w_t, m_t in zip(grads, expected_w, expected_m):
        bop.apply([np.asarray(g, "float32")], [w])
        np.testing.assert_array_equal(w.numpy(), w_t)
        momentum = [v for v in bop.variables if v.name.endswith("momentum")]
        assert len(momentum) == 1
        np.testing.assert_array_equal(momentum[0].numpy(), m_t)
    assert int(bop.iterations.numpy()) == 3


def test_bop_hyperparameters_are_assignable_variables_and_schedules():
    bop = optimizers.Bop(threshold=0.0, gamma=0.5)
    w = _binary_variable([1.0, 1.0])
    bop.gamma = 0.0  # Momentum frozen at 0: nothing can cross a threshold of 0.
    bop.apply([np.asarray([5.0, -5.0], "float32")], [w])
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0])
    bop.gamma = 1.0  # m = g: flips where g * w > 0.
    bop.threshold = 1.0
    bop.apply([np.asarray([0.5, 2.0], "float32")], [w])
    np.testing.assert_array_equal(w.numpy(), [1.0, -1.0])
    assert bop.get_config()["gamma"] == 1.0 and bop.get_config()["threshold"] == 1.0

    # gamma(t) = 0.5 ** t: step 0 uses gamma 1 (m = g), step 1 uses gamma 0.5.
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    bop = optimizers.Bop(threshold=0.0, gamma=schedule)
    w = _binary_variable([1.0])
    bop.apply([np.asarray([-1.0], "float32")], [w])  # m1 = -1: no flip
    bop.apply([np.asarray([4.0], "float32")], [w])  # m2 = 0.5 * -1 + 0.5 * 4 = 1.5: flip
    np.testing.assert_array_equal(w.numpy(), [-1.0])
    with pytest.raises(TypeError, match="schedule"):
        bop.gamma = 0.1
    restored = optimizers.Bop.from_config(bop.get_config())
    assert isinstance(restored._gamma, keras.optimizers.schedules.ExponentialDecay)


def test_bop_round_trips_through_keras_serialization():
    bop = optimizers.Bop(threshold=1e-6, gamma=1e-3, name="my_bop", clipvalue=2.0)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(bop))
    assert type(restored) is optimizers.Bop
    assert restored.name == "my_bop" and restored.clipvalue == 2.0
    np.testing.assert_allclose(float(restored.threshold.numpy()), 1e-6, rtol=1e-6)
    np.testing.assert_allclose(float(restored.gamma.numpy()), 1e-3, rtol=1e-6)


def test_bop_rejects_float_variables_and_bad_arguments():
    with pytest.raises(ValueError, match="CaseOptimizer"):
        optimizers.Bop().build([_float_variable([1.0, 2.0])])
    with pytest.raises(ValueError, match=r"Received: gamma=1\.5"):
        optimizers.Bop(gamma=1.5)
    with pytest.raises(ValueError, match=r"Received: threshold=-1"):
        optimizers.Bop(threshold=-1)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.Bop(weight_decay=0.1)


# ------------------------------------------------------------------ CaseOptimizer


def test_case_optimizer_routes_each_variable_to_one_optimizer_only():
    bop = optimizers.Bop(threshold=0.0, gamma=1.0)
    sgd = keras.optimizers.SGD(learning_rate=0.5, momentum=0.5)
    wb = _binary_variable([[1.0, 1.0, -1.0], [-1.0, 1.0, 1.0]])
    wf = _float_variable([1.0, 2.0, 3.0, 4.0])
    opt = optimizers.CaseOptimizer((variables.is_binary_variable, bop), default_optimizer=sgd)
    gb = np.asarray([[0.5, -0.5, 0.5], [-0.5, 0.5, -0.5]], "float32")
    gf = np.asarray([1.0, -1.0, 0.5, 0.0], "float32")
    opt.apply([gb, gf], [wb, wf])

    # Bop with gamma 1 and threshold 0 flips where g * w > 0 -> elements (0,0), (1,0), (1,1).
    np.testing.assert_array_equal(wb.numpy(), [[-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    # SGD, first step with momentum: w - lr * g exactly (a Bop or SGD touch of the other
    # variable would make wb non-binary or leave wf unchanged).
    np.testing.assert_array_equal(wf.numpy(), [0.5, 2.5, 2.75, 4.0])
    # Each sub-optimizer built slots for its own variables only.
    assert [tuple(v.shape) for v in bop.variables if v.name.endswith("momentum")] == [(2, 3)]
    assert [tuple(v.shape) for v in sgd.variables if len(v.shape)] == [(4,)]
    assert opt.optimizer_for(wb) is bop and opt.optimizer_for(wf) is sgd
    assert int(opt.iterations.numpy()) == 1 and int(bop.iterations.numpy()) == 1
    assert len(opt.variables) == 1 + len(bop.variables) + len(sgd.variables)

    # The default optimizer's learning rate is the CaseOptimizer's.
    opt.learning_rate = 0.25
    np.testing.assert_allclose(float(sgd.learning_rate.numpy()), 0.25)


def test_case_optimizer_first_matching_predicate_wins():
    first, second = keras.optimizers.SGD(1.0), keras.optimizers.SGD(2.0)
    opt = optimizers.CaseOptimizer((lambda v: "a" in v.name, first), (lambda v: True, second))
    va, vb = _float_variable([1.0], name="a"), _float_variable([1.0], name="b")
    opt.apply([np.ones(1, "float32"), np.ones(1, "float32")], [va, vb])
    np.testing.assert_array_equal(va.numpy(), [0.0])  # lr 1 (first)
    np.testing.assert_array_equal(vb.numpy(), [-1.0])  # lr 2 (second)


def test_case_optimizer_without_default_rejects_unmatched_variables():
    opt = optimizers.CaseOptimizer((variables.is_binary_variable, optimizers.Bop()))
    with pytest.raises(ValueError, match="no `default_optimizer`.*Received: variable="):
        opt.build([_binary_variable([1.0]), _float_variable([1.0], name="bias")])
    with pytest.raises(AttributeError, match="default_optimizer"):
        opt.learning_rate  # noqa: B018 - the attribute access itself raises
    with pytest.raises(ValueError, match="at least one"):
        optimizers.CaseOptimizer()
    with pytest.raises(ValueError, match="pair"):
        optimizers.CaseOptimizer(optimizers.Bop())


def test_case_optimizer_config_keeps_shared_optimizers_and_needs_registered_predicates():
    shared = keras.optimizers.SGD(0.1)
    opt = optimizers.CaseOptimizer(
        (variables.is_binary_variable, optimizers.Bop(gamma=1e-3)),
        (kbnn.optimizers.is_binary_variable, shared),
        default_optimizer=shared,
    )
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(restored) is optimizers.CaseOptimizer
    assert [type(o) for o in restored.optimizers] == [optimizers.Bop, keras.optimizers.SGD]
    assert restored.default_optimizer is restored.optimizers[1]
    assert restored._predicates == [variables.is_binary_variable] * 2
    np.testing.assert_allclose(float(restored.optimizers[0].gamma.numpy()), 1e-3, rtol=1e-6)

    unregistered = optimizers.CaseOptimizer((lambda v: True, keras.optimizers.SGD()))
    with pytest.raises(ValueError, match="register"):
        unregistered.get_config()


def _binary_model():
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((16,)),
            kbnn.layers.QuantDense(8, kernel_quantizer="ste_sign"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def test_case_optimizer_fit_lowers_loss_and_survives_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], (256, 16)).astype("float32")
    y = (x @ rng.choice([-1.0, 1.0], 16) > 0).astype("float32")[:, None]
    model = _binary_model()
    bop = optimizers.Bop(threshold=1e-3, gamma=1e-2)
    adam = keras.optimizers.Adam(0.01)
    model.compile(
        optimizer=optimizers.CaseOptimizer((optimizers.is_binary_variable, bop), default_optimizer=adam),
        loss="binary_crossentropy",
    )
    binary_kernel = model.layers[0].kernel
    float_kernel = model.layers[1].kernel
    start = binary_kernel.numpy().copy()
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses

    # Bop trained the binary kernel (kept binary, some flips), Adam the rest.
    kernel = binary_kernel.numpy()
    assert set(np.unique(kernel)) <= {-1.0, 1.0}
    assert np.any(kernel != np.where(start >= 0, 1.0, -1.0))
    assert not set(np.unique(float_kernel.numpy())) <= {-1.0, 1.0}
    assert int(model.optimizer.iterations.numpy()) == 4 * 8

    path = tmp_path / "case.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is optimizers.CaseOptimizer
    assert [type(o) for o in loaded.optimizer.optimizers] == [optimizers.Bop, keras.optimizers.Adam]
    saved_state = [v.numpy() for v in model.optimizer.variables]
    loaded_state = [v.numpy() for v in loaded.optimizer.variables]
    assert len(saved_state) == len(loaded_state) == 1 + 4 + 2 + 2 * 3
    for a, b in zip(saved_state, loaded_state):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    # Training continues from the restored state identically in both models.
    model.train_on_batch(x[:32], y[:32])
    loaded.train_on_batch(x[:32], y[:32])
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


# -------------------------------------------------------------------- ShiftAdaMax


def _ap2_exp(x):
    return np.round(np.log2(np.abs(x)))


def _numpy_shift_adamax(w, grads, lr=2.0**-10, beta_1=1 - 2.0**-3, beta_2=1 - 2.0**-10, eps=1e-7):
    """BinaryNet Algorithm 4 in float32 NumPy; returns the weights after each step."""
    f = np.float32
    w, m, v = w.astype(f), np.zeros_like(w, f), np.zeros_like(w, f)
    out = []
    for t, g in enumerate(grads, start=1):
        m = f(beta_1) * m + f(1 - beta_1) * g
        v = np.maximum(f(beta_2) * v, np.abs(g))
        e = _ap2_exp(f(lr)) - _ap2_exp(f(1) - f(beta_1) ** f(t)) - _ap2_exp(np.maximum(v, f(eps)))
        w = w - (f(2) ** e.astype(f)) * m
        out.append(w)
    return out


def test_shift_adamax_step_size_is_a_power_of_two():
    # lr 0.003 is not a power of two: AP2 rounds it (to 2**-8) before use.
    opt = optimizers.ShiftAdaMax(learning_rate=0.003)
    w = _float_variable(np.zeros(64))
    g = np.random.default_rng(3).normal(size=64).astype("float32") * np.logspace(-3, 3, 64, dtype="float32")
    opt.apply([g], [w])
    m = [v for v in opt.variables if v.name.endswith("momentum")][0].numpy()
    ratio = -w.numpy() / m  # w0 = 0 so dw = -2**e * m exactly
    exponent = np.log2(ratio)
    np.testing.assert_array_equal(exponent, np.round(exponent))
    # First step: m = g/8, v = |g|, 1 - beta_1 = 1/8 -> e = -8 + 3 - round(log2|g|).
    np.testing.assert_array_equal(exponent, -8 + 3 - np.round(np.log2(np.abs(g))))
    assert not np.allclose(exponent, exponent[0])  # per-element, not one global step


def test_shift_adamax_matches_numpy_algorithm_4():
    rng = np.random.default_rng(7)
    w0 = rng.normal(size=(3, 5)).astype("float32")
    grads = [rng.normal(size=(3, 5)).astype("float32") * s for s in (1.0, 0.1, 3.0, 0.5, 0.02)]
    opt = optimizers.ShiftAdaMax()
    w = _float_variable(w0)
    for g, expected in zip(grads, _numpy_shift_adamax(w0, grads)):
        opt.apply([g], [w])
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-7)
    restored = optimizers.ShiftAdaMax.from_config(opt.get_config())
    assert (restored.beta_1, restored.beta_2) == (1 - 2.0**-3, 1 - 2.0**-10)
    with pytest.raises(ValueError, match=r"Received: beta_1=1"):
        optimizers.ShiftAdaMax(beta_1=1)
