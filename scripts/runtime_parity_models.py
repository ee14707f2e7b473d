"""Writes the parity matrix for the stand-alone runtime checks (MAIN environment: TF + kbnn).

    python3 scripts/runtime_parity_models.py OUT_DIR

For each model: OUT_DIR/<name>.tflite (kbnn.convert), the inputs x_b1.npy / x_b3.npy, the Keras
outputs keras_b<B>.npy and the kbnn.Interpreter outputs (delegate attached, main-env runtime)
expected_b<B>_t<T>.npy for batch 1 and 3, threads 1 and 2, plus OUT_DIR/manifest.json saying
whether the model's output is produced by a kbnn op (then every runtime must match bit for bit).
Also copies the Larq Compute Engine files of tests/fixtures/larq (lce_<name>.tflite, batch 1)
with LCE's own interpreter outputs as the expected values (float rounding tolerance).

Used by scripts/test_tflite_runtime.sh (x86-64 tflite_runtime venv) and
scripts/test_aarch64_e2e.sh (aarch64 tflite_runtime under qemu); both run
scripts/runtime_parity_check.py on OUT_DIR.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kbnn
from kbnn.layers import QuantConv2D, QuantDense

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from support.keras_util import randomize_batchnorm as _randomize_bn

BIN = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
BATCHES = (1, 3)
THREADS = (1, 2)


def chain_maxpool():
    """Float conv → chained binary convs with bitpacked activations, maxpool between → binary dense."""
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(32, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = QuantConv2D(40, 3, padding="same", pad_values=1.0, **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = QuantConv2D(64, 3, padding="same", **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = QuantConv2D(64, 3, strides=2, groups=2, **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    x = QuantDense(10, **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    return _randomize_bn(keras.Model(inp, x)), (12, 12, 3)


def bireal():
    """Two Bi-Real blocks (binary conv + real shortcut), float head."""
    inp = keras.Input((8, 8, 32))
    x = kbnn.blocks.bireal_block(inp)
    x = kbnn.blocks.bireal_block(x, 64, strides=2)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _randomize_bn(keras.Model(inp, keras.layers.Dense(4)(x))), (8, 8, 32)


def binary_dense():
    """Float first layer → two binary dense layers → float last layer."""
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(48),
            QuantDense(40, **BIN),
            keras.layers.BatchNormalization(),
            QuantDense(33, **BIN),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(3),
        ]
    )
    return _randomize_bn(model), (20,)


def binary_conv_only():
    """Binary convs only: the model's 4-D output comes straight from a kbnn op."""
    inp = keras.Input((9, 9, 40))
    x = QuantConv2D(36, 3, padding="same", pad_values=1.0, **BIN)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = QuantConv2D(33, 3, padding="same", **BIN)(x)
    x = keras.layers.BatchNormalization()(x)
    return _randomize_bn(keras.Model(inp, x)), (9, 9, 40)


MODELS = {
    "chain_maxpool": chain_maxpool,
    "bireal": bireal,
    "binary_dense": binary_dense,
    "binary_conv_only": binary_conv_only,
}


def _ops(data: bytes):
    """(op names in execution order, name of the op producing the first model output)."""
    from tensorflow.lite.python import schema_py_generated as schema_fb

    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(data, 0))
    builtin = {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    sg = model.subgraphs[0]
    names, producer = [], {}
    for op in sg.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if code.customCode:
            name = code.customCode.decode()
        else:
            name = builtin.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        names.append(name)
        for t in op.outputs:
            producer[int(t)] = name
    return names, producer.get(int(sg.outputs[0]), "?")


LCE_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "larq")


def _lce_fixtures(out_dir: str) -> dict:
    """LCE-converted files (batch 1 only: their graphs have fixed batch reshapes); expected =
    LCE's interpreter output for the first fixture input, the same for every thread count."""
    manifest = {}
    for name, key in [
        ("chain", "lce"),
        ("chain.int8", "lce_int8"),
        ("mixed", "lce"),
        ("grouped", "lce"),
        ("int8out.int8", "lce_int8"),
        ("qat.int8", "lce_int8_xnnpack"),
    ]:
        data = np.load(os.path.join(LCE_FIXTURES, name.split(".")[0] + ".npz"))
        tag = "lce_" + name.replace(".", "_")
        with open(os.path.join(LCE_FIXTURES, name + ".tflite"), "rb") as f:
            content = f.read()
        with open(os.path.join(out_dir, tag + ".tflite"), "wb") as f:
            f.write(content)
        np.save(os.path.join(out_dir, f"{tag}_x_b1.npy"), data["inputs"][:1])
        for t in THREADS:
            np.save(os.path.join(out_dir, f"{tag}_expected_b1_t{t}.npy"), data[key][:1])
        ops, last = _ops(content)
        # Float rounding of y = mul * dot + bias is relative to the terms, not to y: the
        # tolerance scales with the largest output.
        atol = 4e-6 * max(1.0, float(np.abs(data[key]).max()))
        if data[key].dtype == np.int8:  # int8 model output: builtin int8 ops may differ by a step
            atol = 1.0
        manifest[tag] = {"kbnn_output": False, "output_op": last, "ops": ops, "batches": [1], "atol": atol}
        print(f"  {tag}: {len(ops)} ops (Larq Compute Engine file), output from {last}")
    return manifest


def main(out_dir: str) -> None:
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    manifest = {}
    for i, (name, build) in enumerate(MODELS.items()):
        keras.utils.set_random_seed(1234 + i)
        model, shape = build()
        path = os.path.join(out_dir, f"{name}.tflite")
        kbnn.convert(model, path, progress=False)
        with open(path, "rb") as f:
            ops, last = _ops(f.read())
        assert any(op.startswith("Kbnn") for op in ops), (name, ops)
        for b in BATCHES:
            x = np.random.default_rng(100 + i).normal(size=(b,) + shape).astype("float32")
            np.save(os.path.join(out_dir, f"{name}_x_b{b}.npy"), x)
            np.save(os.path.join(out_dir, f"{name}_keras_b{b}.npy"), np.asarray(model(x, training=False)))
            for t in THREADS:
                y = np.asarray(kbnn.Interpreter(path, num_threads=t).predict(x))
                np.save(os.path.join(out_dir, f"{name}_expected_b{b}_t{t}.npy"), y)
        manifest[name] = {"kbnn_output": last.startswith("Kbnn"), "output_op": last, "ops": ops}
        print(f"  {name}: {len(ops)} ops, output from {last}")
    manifest.update(_lce_fixtures(out_dir))
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"batches": BATCHES, "threads": THREADS, "models": manifest}, f, indent=1)
    print(f"parity models written to {out_dir} in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
