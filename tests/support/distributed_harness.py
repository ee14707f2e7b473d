"""Trains tiny kbnn models under tf.distribute and on one device; run as a subprocess.

``tests/test_distributed.py`` starts this script; it is a script (not imported by pytest)
because TensorFlow's logical devices and a MultiWorkerMirroredStrategy must be configured
before TensorFlow initializes, once per process.

    python tests/support/distributed_harness.py mirrored OUT.json
        2 logical CPUs, MirroredStrategy vs the default (single-device) strategy, every case.
    python tests/support/distributed_harness.py worker OUT.json      (TF_CONFIG set by the caller)
        one MultiWorkerMirroredStrategy worker, training with a custom loop (Keras 3's fit
        does not run multi-worker, docs/distributed.md); the chief (index 0) also trains the
        single-device reference and writes the comparison.

Every case trains the same model from the same initial weights on the same data (global
batch ``BATCH``, no shuffling) for ``STEPS`` steps, once under the strategy and once on one
device, and reports the largest weight difference, the signs of binary weights that differ,
and (for the main case) that the strategy-trained model saves, reloads and converts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 16
STEPS = 3
SAMPLES = BATCH * STEPS


def _configure(mode: str):
    import tensorflow as tf

    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return tf.distribute.MultiWorkerMirroredStrategy()


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, SAMPLES).astype("int64")
    return x, y


def _quant_cnn(kind: str, name: str = "quant_cnn"):
    """Quant layers + ShiftBatchNormalization (+ Keras BN); every layer named for comparison."""
    import keras

    import kbnn

    sync = dict(synchronized=kind != "unsynchronized")
    binary_only = kind == "binary_only"  # no float trainable variable: Bop alone can train it
    second_kernel = "ir_net_ede" if kind == "ede" else "ste_sign"
    inputs = keras.Input((8, 8, 1), name="image")
    x = kbnn.layers.QuantConv2D(
        8, 3, kernel_quantizer="ste_sign", padding="same", pad_values=1.0, use_bias=False, name="conv1"
    )(inputs)
    x = kbnn.layers.ShiftBatchNormalization(
        momentum=0.9, center=not binary_only, scale=not binary_only, name="sbn1", **sync
    )(x)
    x = kbnn.layers.QuantConv2D(
        8,
        3,
        input_quantizer="ste_sign",
        kernel_quantizer=second_kernel,
        padding="same",
        pad_values=1.0,
        use_bias=False,
        name="conv2",
    )(x)
    if binary_only:
        x = kbnn.layers.ShiftBatchNormalization(momentum=0.9, center=False, scale=False, name="bn2", **sync)(
            x
        )
    else:
        x = keras.layers.BatchNormalization(momentum=0.9, name="bn2", **sync)(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = kbnn.layers.QuantDense(
        10, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=not binary_only, name="dense"
    )(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def _teacher():
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="tanh", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(10, activation="softmax", name="dense")(x)
    return keras.Model(inputs, x, name="teacher")


def _optimizer(case: str):
    import keras

    import kbnn

    if case in ("case_bop_adam", "distiller", "unsynchronized"):
        return kbnn.optimizers.CaseOptimizer(
            (kbnn.optimizers.is_binary_variable, kbnn.optimizers.Bop(threshold=1e-4, gamma=0.5)),
            default_optimizer=keras.optimizers.Adam(0.01),
        )
    if case == "bop":
        return kbnn.optimizers.Bop(threshold=1e-4, gamma=0.5)
    if case == "shiftadamax":
        return kbnn.optimizers.ShiftAdaMax(2.0**-6)
    raise ValueError(case)


def _callbacks(case: str, flips: list):
    import kbnn

    cbs = [kbnn.callbacks.FlipRatio(update_freq="step")]
    flips.append(cbs[0])
    if case in ("case_bop_adam", "bop"):
        # Step-wise gamma schedule (HyperparameterScheduler reaches Bop inside the CaseOptimizer).
        cbs.append(
            kbnn.callbacks.HyperparameterScheduler(lambda step: 0.5 / (1 + step), "gamma", update_freq="step")
        )
    if case == "shiftadamax":
        cbs.append(kbnn.callbacks.ProgressiveQuantization(update_freq="step"))
    return cbs


# "unsynchronized": the main case with per-replica batch norm statistics, which must NOT match
# (shows the comparison can fail).
_MODEL_KIND = {
    "case_bop_adam": "plain",
    "bop": "binary_only",
    "shiftadamax": "ede",
    "distiller": "plain",
    "unsynchronized": "unsynchronized",
}
CASES = tuple(_MODEL_KIND)


def _initial_weights(case: str):
    """Initial weights (seeded, built outside any strategy) for the student and teacher."""
    import keras

    keras.utils.set_random_seed(1234)
    student = _quant_cnn(_MODEL_KIND[case]).get_weights()
    teacher = _teacher().get_weights() if case == "distiller" else None
    return student, teacher


def _train(case: str, strategy, init):
    """Train ``case`` from ``init`` under ``strategy`` (None: no strategy); returns the model."""
    import contextlib

    import kbnn

    x, y = _data()
    flips: list = []
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = _quant_cnn(_MODEL_KIND[case])
        model.set_weights(init[0])
        if case == "distiller":
            teacher = _teacher()
            teacher.set_weights(init[1])
            trainer = kbnn.distillation.Distiller(
                model,
                teacher,
                feature_pairs=[("conv2", "bn2")],
                alpha_kd=1.0,
                alpha_attention=5.0,
                temperature=2.0,
            )
        else:
            trainer = model
        trainer.compile(
            optimizer=_optimizer(case), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    history = trainer.fit(
        x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=_callbacks(case, flips)
    )
    return model, history.history, flips[0]


def _train_custom_loop(strategy, init):
    """The main case in a custom training loop (``strategy.run`` + ``optimizer.apply``).

    Keras 3's ``fit`` does not run under a MultiWorkerMirroredStrategy with several workers
    (keras-team/keras#20585, docs/distributed.md), so the multi-worker check trains with the
    loop TensorFlow documents for custom training: per-replica loss summed over the replica's
    samples and divided by the global batch size, gradients all-reduced by the optimizer.
    ``strategy=None`` runs the same loop on one device (the reference).
    """
    import keras
    import tensorflow as tf

    x, y = _data()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = _quant_cnn(_MODEL_KIND["case_bop_adam"])
        model.set_weights(init[0])
        optimizer = _optimizer("case_bop_adam")
        optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True)) / BATCH
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    @tf.function
    def step(xb, yb):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(xb, yb)), axis=None)

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    losses = [float(step(xb, yb)) for xb, yb in strategy.experimental_distribute_dataset(dataset)]
    return model, {"loss": losses}


def _compare(model, reference) -> dict:
    import numpy as np

    import kbnn

    out = {"max_abs_diff": 0.0, "worst": None, "binary_sign_mismatch": 0, "binary_weights": 0}
    for a, b in zip(model.weights, reference.weights):
        assert a.shape == b.shape, (a.path, b.path)  # same architecture (auto names may differ)
        va, vb = np.asarray(a.numpy()), np.asarray(b.numpy())
        diff = float(np.max(np.abs(va - vb))) if va.size else 0.0
        if diff > out["max_abs_diff"]:
            out["max_abs_diff"], out["worst"] = diff, a.path
        if kbnn.variables.is_binary_variable(b):
            out["binary_sign_mismatch"] += int(np.sum((va >= 0) != (vb >= 0)))
            out["binary_weights"] += int(va.size)
    return out


def _save_reload_convert(model, workdir: str) -> dict:
    import keras
    import numpy as np

    import kbnn

    x, _ = _data()
    path = os.path.join(workdir, "distributed.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    # A direct call, not predict(): under a multi-worker strategy predict() is a collective
    # that every worker would have to join.
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    out = {"reload_max_abs_diff": float(np.max(np.abs(reloaded.predict(x, verbose=0) - expected)))}
    _, report = kbnn.convert(reloaded, os.path.join(workdir, "m.tflite"), progress=False, return_report=True)
    out["lowered"] = sorted(r.name for r in report.layers if r.status == "lowered")
    # The strategy-trained model itself (MirroredVariables) converts too.
    direct = kbnn.convert(model, progress=False)
    out["direct_conversion_bytes"] = len(direct)
    got = kbnn.Interpreter(os.path.join(workdir, "m.tflite"), num_threads=1).predict(x)
    out["tflite_argmax_agreement"] = float(np.mean(np.argmax(got, -1) == np.argmax(expected, -1)))
    out["tflite_max_abs_diff"] = float(np.max(np.abs(got - expected)))
    return out


def main(argv) -> int:
    import keras

    keras.config.disable_traceback_filtering()
    mode, out_path = argv[1], argv[2]
    started = time.perf_counter()
    strategy = _configure(mode)
    import tensorflow as tf

    chief = mode == "mirrored" or json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0
    results = {"replicas": strategy.num_replicas_in_sync, "cases": {}}
    trained = {}
    if mode != "mirrored":
        init = _initial_weights("case_bop_adam")
        model, history = _train_custom_loop(strategy, init)
        trained["case_bop_adam"] = model
        results["cases"]["custom_loop"] = {"history": history}
        if chief:
            reference, ref_history = _train_custom_loop(None, init)
            results["cases"]["custom_loop"].update(_compare(model, reference))
            results["cases"]["custom_loop"]["reference_history"] = ref_history
    for case in CASES if mode == "mirrored" else ():
        init = _initial_weights(case)
        model, history, flip = _train(case, strategy, init)
        trained[case] = model
        results["cases"][case] = {"history": history, "flip_history": flip.history}
        if chief:
            reference, ref_history, _ = _train(case, None, init)
            results["cases"][case].update(_compare(model, reference))
            results["cases"][case]["reference_history"] = ref_history
    if chief:
        with tempfile.TemporaryDirectory() as workdir:
            results["save_reload_convert"] = _save_reload_convert(trained["case_bop_adam"], workdir)
    results["seconds"] = time.perf_counter() - started
    results["tf_version"] = tf.__version__
    if chief:
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
