"""kbnn training under tf.distribute matches single-device training (docs/distributed.md).

The training runs in subprocesses (tests/support/distributed_harness.py): logical CPU devices and a
MultiWorkerMirroredStrategy must be set up before TensorFlow initializes, once per process.
Each case trains the same tiny model from the same weights on the same global batches for
3 steps under the strategy and on one device; the tests check the weights agree.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "support" / "distributed_harness.py"
ROOT = HERE.parent

# Float tolerance on every weight (kernels, BN parameters and moving statistics, optimizer-
# trained biases): the replicas' gradient sums and the synchronized batch statistics add the
# same numbers in another order than one device does.
ATOL = 1e-4


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory, delegate_env):
    out = tmp_path_factory.mktemp("mirrored") / "result.json"
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "mirrored", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(out.read_text())


@pytest.mark.integration
@pytest.mark.parametrize("case", ["case_bop_adam", "bop", "shiftadamax", "distiller"])
def test_mirrored_strategy_matches_single_device(mirrored, case):
    """MirroredStrategy on 2 logical CPUs: same weights as one device after 3 steps.

    case_bop_adam: CaseOptimizer(Bop, Adam) + HyperparameterScheduler on Bop's gamma;
    bop: Bop alone on an all-binary model with ShiftBatchNormalization (no float trainables);
    shiftadamax: ShiftAdaMax + ProgressiveQuantization of an IR-Net EDE kernel quantizer;
    distiller: Distiller (KD + attention matching) with CaseOptimizer(Bop, Adam).
    Every case also runs FlipRatio (per step).
    """
    assert mirrored["replicas"] == 2
    result = mirrored["cases"][case]
    assert result["binary_weights"] > 0
    assert result["binary_sign_mismatch"] == 0, result
    assert result["max_abs_diff"] < ATOL, result
    # The logged losses and flip ratios agree too (the Distiller reports per-replica-scaled
    # losses correctly only with its replica scaling).
    for key, values in result["reference_history"].items():
        assert result["history"][key] == pytest.approx(values, rel=1e-4, abs=1e-5), key
    assert 0 < result["history"]["flip_ratio"][0] <= 1


@pytest.mark.integration
def test_unsynchronized_batch_norm_does_not_match(mirrored):
    """Per-replica batch statistics are a different computation: the comparison catches it."""
    result = mirrored["cases"]["unsynchronized"]
    assert result["max_abs_diff"] > 100 * ATOL, result


@pytest.mark.integration
def test_mirrored_model_saves_reloads_and_converts(mirrored):
    out = mirrored["save_reload_convert"]
    assert out["reload_max_abs_diff"] == 0.0
    assert out["lowered"] == ["conv2", "dense"]  # conv1 has a float input: weights-only binarization
    assert out["direct_conversion_bytes"] > 0
    assert out["tflite_argmax_agreement"] == 1.0
    assert out["tflite_max_abs_diff"] < 1e-5


@pytest.mark.integration
def test_multi_worker_mirrored_strategy_two_processes(tmp_path, delegate_env):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1 (TF_CONFIG), one CPU replica each.

    The chief compares the weights of the custom training loop with the same loop on one
    device, then saves, reloads and converts the model. Both workers are stopped in any case.
    """
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "result.json"
    procs, logs = [], []
    started = time.monotonic()
    try:
        for index in range(2):
            log = open(tmp_path / f"worker{index}.log", "w")
            logs.append(log)
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(HARNESS), "worker", str(out)],
                    env=_env(TF_CONFIG=tf_config),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = started + 60
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for log in logs:
            log.close()
    elapsed = time.monotonic() - started
    assert all(proc.poll() is not None for proc in procs)  # nothing left behind
    codes = [proc.returncode for proc in procs]
    assert codes == [0, 0], "\n".join((tmp_path / f"worker{i}.log").read_text()[-4000:] for i in range(2))
    assert elapsed < 60
    result = json.loads(out.read_text())
    assert result["replicas"] == 2
    loop = result["cases"]["custom_loop"]
    assert loop["binary_sign_mismatch"] == 0 and loop["binary_weights"] > 0
    assert loop["max_abs_diff"] < ATOL, loop
    assert loop["history"]["loss"] == pytest.approx(loop["reference_history"]["loss"], rel=1e-5)
    saved = result["save_reload_convert"]
    assert saved["reload_max_abs_diff"] == 0.0 and saved["tflite_argmax_agreement"] == 1.0


def test_shift_batch_norm_synchronized_config_and_no_strategy():
    """Outside a strategy ``synchronized=True`` computes exactly the unsynchronized layer."""
    import keras
    import numpy as np

    import kbnn

    x = np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype("float32")
    a = kbnn.layers.ShiftBatchNormalization(synchronized=True)
    b = kbnn.layers.ShiftBatchNormalization()
    np.testing.assert_array_equal(np.asarray(a(x, training=True)), np.asarray(b(x, training=True)))
    np.testing.assert_array_equal(a.moving_variance.numpy(), b.moving_variance.numpy())
    clone = kbnn.layers.ShiftBatchNormalization.from_config(a.get_config())
    assert clone.synchronized is True
    with pytest.raises(ValueError, match="synchronized"):
        kbnn.layers.ShiftBatchNormalization(synchronized="yes")
    assert (
        keras.saving.get_registered_object("kbnn>ShiftBatchNormalization")
        is kbnn.layers.ShiftBatchNormalization
    )
