"""Byte-identity check of kbnn.convert: converts a fixed set of Keras models and hashes the files.

    python3 scripts/check_tflite_identical.py --write HASHES.json   # before a refactoring
    python3 scripts/check_tflite_identical.py --check HASHES.json   # after it: exit 1 on any change

The set: the demo model (digits Bi-Real CNN) and binary MLP, every zoo builder at a small input
size, the models of the runtime parity matrix, a bit-plane and a multi-base model, each in the
conversion variants that take different code paths (default, float outputs, no residual fusion,
static batch, int8 with a representative dataset, int8 stem only; the zoo models default and int8
stem only, to keep the run short). Weights come from fixed seeds,
and batch-norm statistics are randomized (tests/support/keras_util.py) so that folding is exercised.

A behaviour-preserving change of the converter must leave every hash unchanged. ``--only NAME``
restricts the run to the cases whose name contains NAME.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kbnn
import kbnn.demo
from kbnn.quantizers import MultiBaseSign

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from runtime_parity_models import MODELS as PARITY_MODELS  # noqa: E402

from support.keras_util import randomize_batchnorm  # noqa: E402
from support.lowering_models import bitplane_model, multibase_model  # noqa: E402


def _bitplane():
    return bitplane_model(dense=True), (7, 7, 3)


def _multibase():
    act, kern = MultiBaseSign(3, mode="shift"), MultiBaseSign(2)
    return multibase_model(act, kern, relu=True, dense=True), (6, 6, 24)


def _zoo(builder, shape, **kwargs):
    def build():
        return builder(input_shape=shape, num_classes=10, **kwargs), shape

    return build


def _demo_cnn():
    return kbnn.demo.build_digits_cnn(), (8, 8, 1)


def _demo_mlp():
    return kbnn.demo.build_binary_mlp(), (64,)


def _models():
    m = kbnn.models
    models = {
        "demo_cnn": _demo_cnn,
        "demo_mlp": _demo_mlp,
        "zoo_binarynet_mlp": _zoo(m.BinaryNetMLP, (28, 28, 1)),
        "zoo_binarynet_cnn": _zoo(m.BinaryNetCNN, (32, 32, 3)),
        "zoo_bireal18": _zoo(m.BiRealNet18, (64, 64, 3)),
        "zoo_r2b18": _zoo(m.RealToBinaryNet18, (64, 64, 3)),
        "zoo_r2b_larq": _zoo(m.RealToBinaryNet, (64, 64, 3)),
        "zoo_xnornet": _zoo(m.XNORNet, (96, 96, 3)),
        "zoo_quicknet": _zoo(m.QuickNet, (64, 64, 3)),
        "zoo_quicknet_small": _zoo(m.QuickNetSmall, (64, 64, 3)),
        "zoo_quicknet_large": _zoo(m.QuickNetLarge, (64, 64, 3)),
        "bitplane": _bitplane,
        "multibase": _multibase,
    }
    models.update({f"parity_{k}": v for k, v in PARITY_MODELS.items()})
    return models


VARIANTS = ("default", "float_out", "no_fuse", "batch1", "int8", "int8_stem")
ZOO_VARIANTS = ("default", "int8_stem")


def _variants(shape):
    rng = np.random.default_rng(1)
    calib = [rng.uniform(-1, 1, (1,) + tuple(shape)).astype("float32") for _ in range(4)]

    def dataset():
        for x in calib:
            yield [x]

    return {
        "default": {},
        "float_out": {"output_types": "float"},
        "no_fuse": {"fuse_residual": False},
        "batch1": {"batch_size": 1},
        "int8": {"representative_dataset": dataset},
        "int8_stem": {"representative_dataset": dataset, "int8_layers": "stem"},
    }


def _build(builder):
    keras.backend.clear_session()  # layer and model names do not depend on which cases ran before
    keras.utils.set_random_seed(1234)
    model, shape = builder()
    return randomize_batchnorm(model, seed=7), shape


def run(only=None) -> dict:
    hashes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, builder in _models().items():
            model = variants = None
            for variant in VARIANTS:
                case = f"{name}/{variant}"
                if name.startswith("zoo_") and variant not in ZOO_VARIANTS:
                    continue  # the large models: the two main paths only (the run takes minutes)
                if only and only not in case:
                    continue
                if model is None:
                    model, shape = _build(builder)
                    variants = _variants(shape)
                kw = variants[variant]
                path = os.path.join(tmp, "m.tflite")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        kbnn.convert(model, path, progress=False, **kw)
                    except Exception as e:  # noqa: BLE001 - an error is a result too: it must stay the same
                        hashes[case] = f"error: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                        print(f"{case:40s} {hashes[case]}", flush=True)
                        continue
                with open(path, "rb") as f:
                    hashes[case] = hashlib.sha256(f.read()).hexdigest()
                print(f"{case:40s} {hashes[case][:16]}", flush=True)
    return hashes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="HASHES.json")
    group.add_argument("--check", metavar="HASHES.json")
    ap.add_argument("--only", help="run only the cases whose name contains this string")
    args = ap.parse_args(argv)
    hashes = run(args.only)
    if args.write:
        with open(args.write, "w") as f:
            json.dump(hashes, f, indent=1, sort_keys=True)
        print(f"{len(hashes)} cases written to {args.write}")
        return 0
    with open(args.check) as f:
        expected = json.load(f)
    if args.only:
        expected = {k: v for k, v in expected.items() if args.only in k}
    changed = sorted(k for k in expected.keys() | hashes.keys() if expected.get(k) != hashes.get(k))
    for k in changed:
        print(f"CHANGED {k}: {expected.get(k, '(missing)')[:60]} -> {hashes.get(k, '(missing)')[:60]}")
    print(f"{len(hashes) - len(changed)}/{len(expected)} cases byte-identical")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
