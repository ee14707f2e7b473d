"""HyperparameterScheduler and ProgressiveQuantization change their targets during fit()."""

import keras
import numpy as np
import pytest
from keras import ops

import kbnn
import kbnn.layers
from kbnn import callbacks, optimizers, quantizers

HAS_DSQ = hasattr(quantizers, "DSQ")
HAS_EDE = hasattr(quantizers, "IRNetEDE")


class GainQuantizer(quantizers.Quantizer):
    """Test quantizer whose forward pass depends on annealed state: ``gain * x``.

    ``gain`` is a variable (assigned by the callbacks); ``set_progress`` assigns it too and
    counts its calls, so a test can tell which path the callbacks took.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gain = self.add_weight(shape=(), initializer="ones", trainable=False, name="gain")
        self.progress_calls = 0

    def set_progress(self, fraction):
        self.progress_calls += 1
        self.gain.assign(fraction)

    def call(self, inputs):
        return inputs * ops.cast(self.gain, inputs.dtype)


class Recorder(keras.callbacks.Callback):
    """Records ``read()`` at the chosen hook (placed after the callback under test)."""

    def __init__(self, read, hook="on_epoch_begin"):
        super().__init__()
        self.read, self.values = read, []
        setattr(self, hook, lambda *args, **kwargs: self.values.append(self.read()))


def _data(n=64, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], (n, d)).astype("float32")
    y = (x @ rng.normal(size=(d, 1))).astype("float32")
    return x, y


def _value(v):
    return float(ops.convert_to_numpy(v))


def test_scheduler_sets_bop_gamma_inside_case_optimizer_each_epoch():
    x, y = _data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), kbnn.layers.QuantDense(4, kernel_quantizer="ste_sign"), keras.layers.Dense(1)]
    )
    bop = optimizers.Bop(threshold=0.0, gamma=0.5)
    model.compile(
        optimizer=optimizers.CaseOptimizer((optimizers.is_binary_variable, bop), default_optimizer="sgd"),
        loss="mse",
    )
    kernel = model.layers[0].kernel
    start_signs = np.where(kernel.numpy() >= 0, 1.0, -1.0)

    def momentum_l1():
        (momentum,) = [v for v in bop.variables if v.name.endswith("momentum")]
        return np.abs(momentum.numpy()).sum()

    gammas = {0: 0.0, 1: 1.0, 2: 0.25}
    probe = Recorder(lambda: (_value(bop.gamma), momentum_l1(), kernel.numpy().copy()), "on_epoch_end")
    scheduler = callbacks.HyperparameterScheduler(lambda epoch: gammas[epoch], "gamma")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[scheduler, probe])

    assert scheduler.targets == [bop]
    assert [g for g, _, _ in probe.values] == [0.0, 1.0, 0.25]
    assert history.history["gamma"] == [0.0, 1.0, 0.25]
    # The compiled train step saw the assigned value: with gamma 0 the momentum stays 0 and
    # (threshold 0) no weight flips; with gamma 1 it moves.
    _, m0, k0 = probe.values[0]
    assert m0 == 0.0
    np.testing.assert_array_equal(k0, start_signs)
    assert probe.values[1][1] > 0.0


def test_scheduler_step_frequency_follows_optimizer_iterations():
    x, y = _data()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    adam = keras.optimizers.Adam(1.0)
    case = optimizers.CaseOptimizer((optimizers.is_binary_variable, optimizers.Bop()), default_optimizer=adam)
    model.compile(optimizer=case, loss="mse")
    probe = Recorder(lambda: _value(adam.learning_rate), "on_train_batch_end")
    scheduler = callbacks.HyperparameterScheduler(
        lambda step: 0.01 * (step + 1), "learning_rate", update_freq="step"
    )
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[scheduler, probe])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[scheduler, probe])  # keeps counting
    np.testing.assert_allclose(probe.values, 0.01 * np.arange(1, 7), rtol=1e-6)
    assert scheduler.targets == [case]  # learning_rate of a CaseOptimizer is its default's


def test_scheduler_on_quantizers_reaches_the_compiled_forward_pass():
    x, y = _data()
    keras.utils.set_random_seed(0)
    quantizer = GainQuantizer()
    model = keras.Sequential(
        [keras.Input((8,)), kbnn.layers.QuantDense(1, use_bias=False, kernel_quantizer=quantizer)]
    )
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    gains = [1.0, 0.0, 0.5]
    scheduler = callbacks.HyperparameterScheduler(lambda e: gains[e], "gain", target="quantizers")
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[scheduler])

    assert scheduler.targets == [quantizer]
    assert quantizer.progress_calls == 0  # `gain` assigned as a variable, not via set_progress
    assert _value(quantizer.gain) == 0.5
    losses = history.history["loss"]
    # With gain 0 the model outputs zeros: the loss is exactly mean(y^2).
    np.testing.assert_allclose(losses[1], np.mean(y**2), rtol=1e-5)
    assert abs(losses[0] - np.mean(y**2)) > 1e-3 and abs(losses[2] - np.mean(y**2)) > 1e-3


@pytest.mark.skipif(not HAS_DSQ, reason="kbnn.quantizers.DSQ not available")
def test_scheduler_anneals_dsq_alpha():
    x, y = _data()
    dsq = quantizers.DSQ(alpha=0.2)
    model = keras.Sequential([keras.Input((8,)), kbnn.layers.QuantDense(1, kernel_quantizer=dsq)])
    model.compile(optimizer="sgd", loss="mse")
    probe = Recorder(lambda: _value(dsq.alpha))
    schedule = lambda epoch: 0.2 * 0.5**epoch  # noqa: E731
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=64,
        verbose=0,
        callbacks=[callbacks.HyperparameterScheduler(schedule, "alpha", target=dsq), probe],
    )
    np.testing.assert_allclose(probe.values, [0.2, 0.1, 0.05], rtol=1e-6)


def test_progressive_quantization_sets_progress_on_every_quantizer_found():
    x, y = _data()
    q_in, q_kernel, q_inner = GainQuantizer(), GainQuantizer(), GainQuantizer()
    inner = keras.Sequential([keras.Input((4,)), kbnn.layers.QuantDense(1, kernel_quantizer=q_inner)])
    inputs = keras.Input((8,))
    hidden = kbnn.layers.QuantDense(4, input_quantizer=q_in, kernel_quantizer=q_kernel)(inputs)
    model = keras.Model(inputs, inner(hidden))
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    progressive = callbacks.ProgressiveQuantization()
    probe = Recorder(lambda: [_value(q.gain) for q in (q_in, q_kernel, q_inner)])
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[progressive, probe])

    assert {id(q) for q in progressive.quantizers} == {id(q_in), id(q_kernel), id(q_inner)}
    assert probe.values == [[0.0] * 3, [0.5] * 3, [1.0] * 3]
    assert history.history["quantization_fraction"] == [0.0, 0.5, 1.0]
    assert [q.progress_calls for q in (q_in, q_kernel, q_inner)] == [4, 4, 4]  # 3 epochs + train end


def test_progressive_quantization_per_step_with_schedule():
    x, y = _data()
    q = GainQuantizer()
    model = keras.Sequential([keras.Input((8,)), kbnn.layers.QuantDense(1, kernel_quantizer=q)])
    model.compile(optimizer="sgd", loss="mse")
    probe = Recorder(lambda: _value(q.gain), "on_train_batch_end")
    progressive = callbacks.ProgressiveQuantization(
        lambda f: 1.0 - f, hyperparameter="gain", update_freq="step"
    )
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[progressive, probe])
    # 2 epochs x 2 steps: fractions 0, 1/3, 2/3, 1 -> gain 1 - fraction; left at schedule(1).
    np.testing.assert_allclose(probe.values, [1.0, 2 / 3, 1 / 3, 0.0], rtol=1e-6, atol=1e-7)
    assert _value(q.gain) == 0.0 and q.progress_calls == 0


@pytest.mark.skipif(not HAS_EDE, reason="kbnn.quantizers.IRNetEDE not available")
def test_progressive_quantization_drives_ir_net_ede():
    x, y = _data()
    ede_in, ede_kernel = quantizers.IRNetEDE(), quantizers.IRNetEDE()
    model = keras.Sequential(
        [keras.Input((8,)), kbnn.layers.QuantDense(2, input_quantizer=ede_in, kernel_quantizer=ede_kernel)]
    )
    model.compile(optimizer="sgd", loss="mse")
    probe = Recorder(lambda: (_value(ede_in.progress), _value(ede_kernel.progress)))
    progressive = callbacks.ProgressiveQuantization()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[progressive, probe])
    assert probe.values == [(0.0, 0.0), (1.0, 1.0)]


def test_find_quantizers_walks_nested_models_and_blocks():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.convs = [kbnn.layers.QuantDense(3, kernel_quantizer=GainQuantizer()) for _ in range(2)]

        def call(self, x):
            return self.convs[1](self.convs[0](x))

    shared = GainQuantizer()
    block = Block()
    plain = kbnn.layers.QuantDense(3, kernel_quantizer="ste_sign", input_quantizer=quantizers.ste_sign)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            block,
            keras.Sequential([kbnn.layers.QuantDense(3, input_quantizer=shared, kernel_quantizer=shared)]),
            plain,
        ]
    )
    found = callbacks.find_quantizers(model)
    expected = [c.kernel_quantizer for c in block.convs] + [shared, plain.kernel_quantizer]
    assert len(found) == 4 and {id(q) for q in found} == {id(q) for q in expected}
    assert isinstance(plain.kernel_quantizer, quantizers.SteSign)  # the function quantizer is not state


def test_callbacks_report_missing_targets_and_bad_arguments():
    x, y = _data(n=8)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no 'gamma'"):
        scheduler = callbacks.HyperparameterScheduler(lambda e: 1.0, "gamma")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[scheduler])
    with pytest.raises(ValueError, match="no quantizer with 'progress'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ProgressiveQuantization()])
    with pytest.raises(ValueError, match=r"Received: update_freq='batch'"):
        callbacks.HyperparameterScheduler(lambda e: 1.0, "gamma", update_freq="batch")
    with pytest.raises(ValueError, match="has no hyperparameter 'gamma'"):
        scheduler = callbacks.HyperparameterScheduler(lambda e: 1.0, "gamma", target=model.layers[0])
        model.fit(x, y, epochs=1, verbose=0, callbacks=[scheduler])
