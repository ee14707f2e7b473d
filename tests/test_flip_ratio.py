"""kbnn.callbacks.FlipRatio counts sign flips of binary weights; checked against NumPy oracles."""

import glob
import os

import keras
import numpy as np
import pytest

import kbnn
from kbnn.callbacks import FlipRatio, plot_flip_ratio


def _dense_model(kernel_quantizer="ste_sign", units=4, inputs=3, name="d"):
    x = keras.Input((inputs,))
    out = kbnn.layers.QuantDense(
        units, input_quantizer="ste_sign", kernel_quantizer=kernel_quantizer, use_bias=False, name=name
    )(x)
    return keras.Model(x, out)


def _drive(callback, model, changes):
    """Runs the callback's hooks by hand: one epoch, one step per kernel in ``changes``."""
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for step, kernel in enumerate(changes):
        model.get_layer("d").kernel.assign(kernel)
        callback.on_train_batch_end(step)
    logs = {}
    callback.on_epoch_end(0, logs)
    callback.on_train_end()
    return logs


def test_hand_set_changes_count_exactly():
    model = _dense_model()
    start = np.array([[0.5, -0.3, 0.0, 1.0], [2.0, -2.0, 0.1, -0.1], [0.2, 0.2, -0.2, -0.2]], "float32")
    model.get_layer("d").kernel.assign(start)
    step1 = start.copy()
    step1[0, 0] = 0.0  # +0.5 -> 0: sign(0) = +1, no flip
    step1[0, 1] = -0.7  # stays negative
    step1[0, 2] = -0.1  # 0 (+1) -> negative: flip
    step1[1, 0] = -1.0  # flip
    step1[2, 3] = 0.3  # flip
    step2 = step1.copy()
    step2[1, 0] = 1.0  # flips back: a step flip, but no net change over the epoch
    cb = FlipRatio(update_freq="step")
    logs = _drive(cb, model, [step1, step2])
    assert cb.step_history["flip_ratio"] == [3 / 12, 1 / 12]
    assert cb.step_history["flip_ratio/d"] == [3 / 12, 1 / 12]
    assert logs["flip_ratio"] == 2 / 12  # net over the epoch: [0,2] and [2,3]
    assert logs["flip_ratio_events"] == 4 / 12
    assert cb.history["flip_ratio"] == [2 / 12]


def test_sign_of_the_quantizer_output_not_of_the_latent_weight():
    """IR-Net's Libra-PB standardizes each output channel before the sign: a change of one weight
    moves the channel mean and flips another weight whose latent value kept its sign."""
    model = _dense_model(kernel_quantizer=kbnn.quantizers.IRNetEDE(libra_pb=True), units=1, inputs=4)
    model.get_layer("d").kernel.assign(np.array([[1.0], [2.0], [3.0], [4.0]], "float32"))  # mean 2.5
    cb = FlipRatio(update_freq="step")
    logs = _drive(cb, model, [np.array([[1.0], [2.0], [3.0], [10.0]], "float32")])  # mean 4: 3.0 flips
    assert logs["flip_ratio"] == 1 / 4


def test_layers_overall_weighting_and_magnitude_aware():
    x = keras.Input((8,))
    h = kbnn.layers.QuantDense(4, kernel_quantizer="magnitude_aware_sign", use_bias=False, name="a")(x)
    h = keras.layers.Dense(4, name="float")(h)
    out = kbnn.layers.QuantDense(2, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="b")(h)
    model = keras.Model(x, out)
    cb = FlipRatio(update_freq="epoch")
    cb.set_model(model)
    cb.on_train_begin()
    assert cb.keys == ["flip_ratio", "flip_ratio/a", "flip_ratio/b"]  # the float Dense is not watched
    cb.on_epoch_begin(0)
    ka = model.get_layer("a").kernel
    ka.assign(-np.asarray(ka.numpy()))  # all 32 flip (magnitude-aware: alpha * sign)
    logs = {}
    cb.on_epoch_end(0, logs)
    assert logs["flip_ratio/a"] == 1.0 and logs["flip_ratio/b"] == 0.0
    assert logs["flip_ratio"] == 32 / (32 + 8)
    assert "flip_ratio_events" not in logs  # only with per-step counting


def _bop_setup(gamma):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], (128, 16)).astype("float32")
    y = rng.integers(0, 4, 128)
    inputs = keras.Input((16,))
    h = kbnn.layers.QuantDense(
        32, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="d1"
    )(inputs)
    h = keras.layers.BatchNormalization()(h)
    out = kbnn.layers.QuantDense(
        4, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="d2"
    )(h)
    model = keras.Model(inputs, keras.layers.Activation("softmax")(out))
    opt = kbnn.optimizers.CaseOptimizer(
        (kbnn.optimizers.is_binary_variable, kbnn.optimizers.Bop(threshold=1e-6, gamma=gamma)),
        default_optimizer=keras.optimizers.Adam(0.01),
    )
    model.compile(opt, "sparse_categorical_crossentropy")
    return model, x, y


class KernelRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.snapshots = [self._read()]

    def _read(self):
        return [np.asarray(self.model.get_layer(n).kernel.numpy()) for n in ("d1", "d2")]

    def on_train_batch_end(self, batch, logs=None):
        self.snapshots.append(self._read())


def test_bop_training_matches_snapshot_oracle(tmp_path):
    model, x, y = _bop_setup(gamma=0.05)
    cb, rec = FlipRatio(update_freq="step", log_dir=str(tmp_path)), KernelRecorder()
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[rec, cb])
    snaps = rec.snapshots
    total = sum(k.size for k in snaps[0])

    def flips(a, b):
        return sum(int(np.sum((p < 0) != (q < 0))) for p, q in zip(a, b))

    expected_steps = [flips(snaps[i], snaps[i + 1]) / total for i in range(len(snaps) - 1)]
    assert cb.step_history["flip_ratio"] == pytest.approx(expected_steps, abs=0)
    assert sum(expected_steps) > 0  # Bop flipped something
    # Epoch 2 ran steps 4..7: net change between its first and last snapshot.
    assert history.history["flip_ratio"][1] == pytest.approx(flips(snaps[4], snaps[8]) / total, abs=0)
    assert history.history["flip_ratio_events"][1] == pytest.approx(sum(expected_steps[4:]), abs=1e-12)
    for key in ("flip_ratio/d1", "flip_ratio/d2"):
        assert len(history.history[key]) == 2
    # TensorBoard scalars written by the callback itself.
    import tensorflow as tf

    tags = set()
    for path in glob.glob(os.path.join(tmp_path, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"epoch_flip_ratio", "epoch_flip_ratio/d1", "batch_flip_ratio", "batch_flip_ratio/d2"} <= tags


def test_zero_when_nothing_can_flip():
    model, x, y = _bop_setup(gamma=0.0)  # Bop's moving average stays 0: no flip
    cb = FlipRatio(update_freq="step")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    assert cb.history["flip_ratio"] == [0.0] and set(cb.step_history["flip_ratio"]) == {0.0}


class LogsRecorder(keras.callbacks.Callback):
    """Placed after FlipRatio: sees the epoch logs as keras.callbacks.TensorBoard would."""

    def on_epoch_end(self, epoch, logs=None):
        self.seen = dict(logs)


def test_latent_weight_training_and_callbacks_after_it():
    keras.utils.set_random_seed(0)
    model = _dense_model(units=8, inputs=16)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    x = np.random.default_rng(0).normal(size=(64, 16)).astype("float32")
    y = np.random.default_rng(1).normal(size=(64, 8)).astype("float32")
    before = np.asarray(model.get_layer("d").kernel.numpy())
    cb, after_cb = FlipRatio(), LogsRecorder()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[cb, after_cb])
    after = np.asarray(model.get_layer("d").kernel.numpy())
    assert history.history["flip_ratio"] == [np.mean((before < 0) != (after < 0))]
    assert history.history["flip_ratio"][0] > 0
    assert after_cb.seen["flip_ratio"] == history.history["flip_ratio"][0]
    assert after_cb.seen["flip_ratio/d"] == history.history["flip_ratio"][0]


def test_tensorboard_instance_as_log_dir(tmp_path):
    cb = FlipRatio(log_dir=keras.callbacks.TensorBoard(str(tmp_path / "tb")))
    assert cb.log_dir == str(tmp_path / "tb")


def test_plot_and_errors(tmp_path):
    cb = FlipRatio(update_freq="step")
    model = _dense_model()
    _drive(cb, model, [np.ones((3, 4), "float32"), -np.ones((3, 4), "float32")])
    fig = plot_flip_ratio(cb, tmp_path / "steps.png")
    assert (tmp_path / "steps.png").stat().st_size > 1000 and fig.axes[0].get_xlabel() == "step"
    fig = plot_flip_ratio({"flip_ratio": [0.1, 0.0, 0.01]}, tmp_path / "epochs.png", log_scale=True)
    assert fig.axes[0].get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="No 'flip_ratio' series"):
        plot_flip_ratio({"loss": [1.0]})
    with pytest.raises(ValueError, match="update_freq"):
        FlipRatio(update_freq="batch")
    with pytest.raises(ValueError, match="log_dir"):
        FlipRatio(log_dir=3)
    float_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    float_model.compile("adam", "mse")
    with pytest.raises(ValueError, match="no binary weight"):
        float_model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0, callbacks=[FlipRatio()])
