"""Larq Zoo-sized checks (not CI): kbnn against larq-zoo 2.4 models with random weights.

    bash scripts/make_lce_env.sh
    /work/lce-venv/bin/lce-python tests/fixtures/larq/make_fixtures.py --out /tmp/zoo_small --zoo /tmp/zoo
    python scripts/larq_zoo_check.py /tmp/zoo [--lce-python /work/lce-venv/bin/lce-python]

For every model written by make_fixtures.py --zoo (NAME.h5, NAME_weights.h5, NAME_logits.tflite,
NAME.npz, NAME_layers.npz) it reports, as max |diff| relative to the largest magnitude:
  * QuickNet*, BiRealNet and RealToBinaryNet: kbnn.models.QuickNet* / BiRealNet18 /
    RealToBinaryNet(weights=NAME_weights.h5) layer by layer (every batch-norm / add layer at
    the same position) and logits against Larq;
  * every model: kbnn.compat.load_larq_model(NAME.h5) against Larq (or the error it raises);
  * LCE's NAME_logits.tflite in kbnn.Interpreter against LCE's interpreter;
  * kbnn.convert of the kbnn model: logits and argmax against Larq;
  * with --lce-python: 1-thread latency of LCE's file in LCE's interpreter and in kbnn.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.simplefilter("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kbnn  # noqa: E402

QUICKNETS = {
    "quicknet": "QuickNet",
    "quicknet_small": "QuickNetSmall",
    "quicknet_large": "QuickNetLarge",
    "birealnet": "BiRealNet18",
    "realtobinarynet": "RealToBinaryNet",
}
HERE = os.path.dirname(os.path.abspath(__file__))


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(1e-30, np.abs(b).max()))


def logits_model(model):
    return keras.Model(model.input, model.layers[-2].output)


def time_kbnn(path, x, runs=5):
    it = kbnn.Interpreter(path, num_threads=1)
    it.predict(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.predict(x)
        times.append(time.perf_counter() - t0)
    return min(times)


def teacher_forced(model, layers, keys, x):
    """Layer by layer with each residual segment fed Larq's output of the previous add: a sign
    that flips in one segment (binarized activations within float rounding of zero, which
    happens between two TF runs of the same Larq model too) cannot then spread downstream."""
    worst, prev, seg = 0.0, None, []
    for n, k in enumerate(keys):
        seg.append(k)
        if not k.endswith("Add") and n < len(keys) - 1:
            continue
        start = model.input if prev is None else model.layers[int(prev[5:8])].output
        sub = keras.Model(start, [model.layers[int(j[5:8])].output for j in seg])
        outs = sub(x if prev is None else layers[prev], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]  # one output: no list
        worst = max([worst] + [rel(o, layers[j]) for o, j in zip(outs, seg)])
        prev, seg = k, []
    return worst


def check(d, name, lce_python, tmp):
    data = np.load(os.path.join(d, name + ".npz"))
    x, larq = data["inputs"], data["larq"]
    print(f"== {name}: inputs {x.shape}, |logits| <= {np.abs(larq).max():.3g}")
    models = {}
    if name in QUICKNETS:
        m = getattr(kbnn.models, QUICKNETS[name])(weights=os.path.join(d, name + "_weights.h5"))
        models["kbnn.models." + QUICKNETS[name]] = m
        layers = np.load(os.path.join(d, name + "_layers.npz"))
        # Same position and class in both models (the heads differ in Flatten layers).
        keys = [
            k
            for k in sorted(layers.files)
            if int(k[5:8]) < len(m.layers) and type(m.layers[int(k[5:8])]).__name__ == k[9:]
        ]
        idx = [int(k[5:8]) for k in keys]
        probe = keras.Model(m.input, [m.layers[i].output for i in idx])
        xl = x[: len(layers[keys[0]])]  # make_fixtures.py stores the layers of every input (once: the first)
        outs = probe(xl, training=False)
        worst = max((rel(o, layers[k]), k) for o, k in zip(outs, keys))
        print(f"  layer by layer ({len(keys)} layers): worst relative max|diff| {worst[0]:.2e} at {worst[1]}")
        print(
            "  teacher-forced layer by layer: worst relative max|diff| "
            f"{teacher_forced(m, layers, keys, xl):.2e}"
        )
    try:
        # Larq Zoo's Lambda layers (Real-to-Binary nets) are identities.
        import h5py

        with h5py.File(os.path.join(d, name + ".h5"), "r") as f:
            cfg = json.loads(f.attrs["model_config"])
        lambdas = {
            l["config"]["name"]: "identity" for l in cfg["config"]["layers"] if l["class_name"] == "Lambda"
        }
        models["load_larq_model"] = kbnn.compat.load_larq_model(
            os.path.join(d, name + ".h5"), lambda_layers=lambdas
        )
    except Exception as e:  # noqa: BLE001 - reported, not fatal: the note lists what does not map
        print(f"  load_larq_model: {type(e).__name__}: {str(e)[:300]}")
    for what, m in models.items():
        y = np.asarray(logits_model(m)(x, training=False))
        print(
            f"  {what}: logits relative max|diff| {rel(y, larq):.2e}, argmax equal "
            f"{bool((y.argmax(-1) == larq.argmax(-1)).all())}"
        )
    lce_file = os.path.join(d, name + "_logits.tflite")
    it = kbnn.Interpreter(lce_file, num_threads=1)
    y = np.stack([np.asarray(it.predict(v[None]))[0] for v in x])
    print(
        f"  LCE file in kbnn.Interpreter vs LCE interpreter: relative max|diff| "
        f"{rel(y, data['lce']):.2e}, argmax equal {bool((y.argmax(-1) == data['lce'].argmax(-1)).all())}"
    )
    if models:
        what, m = next(iter(models.items()))
        path = os.path.join(tmp, name + "_kbnn.tflite")
        kbnn.convert(logits_model(m), path, progress=False)
        y = np.asarray(kbnn.Interpreter(path, num_threads=1).predict(x))
        print(
            f"  kbnn.convert({what}): relative max|diff| {rel(y, larq):.2e}, argmax equal "
            f"{bool((y.argmax(-1) == larq.argmax(-1)).all())}"
        )
    if lce_python:
        out = (
            subprocess.run(
                [lce_python, os.path.join(HERE, "lce_benchmark.py"), lce_file, "5"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        lce = json.loads(out)
        kbnn_s = time_kbnn(lce_file, x[:1])
        print(
            f"  1 thread, LCE's file: LCE interpreter {lce['min_s'] * 1e3:.1f} ms "
            f"({lce['min_s_xnnpack'] * 1e3:.1f} ms with use_xnnpack=True), kbnn.Interpreter "
            f"{kbnn_s * 1e3:.1f} ms -> {lce['min_s'] / kbnn_s:.1f}x "
            f"({lce['min_s_xnnpack'] / kbnn_s:.1f}x)"
        )


def main(argv):
    lce_python = None
    if "--lce-python" in argv:
        i = argv.index("--lce-python")
        lce_python = argv[i + 1]
        del argv[i : i + 2]
    if len(argv) != 1:
        sys.exit(__doc__)
    d = argv[0]
    names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".npz") and not f.endswith("_layers.npz"))
    tmp = os.path.join(d, "kbnn")
    os.makedirs(tmp, exist_ok=True)
    for name in names:
        check(d, name, lce_python, tmp)


if __name__ == "__main__":
    main(sys.argv[1:])
