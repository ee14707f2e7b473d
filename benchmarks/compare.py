"""kbnn vs float TFLite (XNNPACK) vs int8 TFLite: median latency of one architecture, one run.

    python benchmarks/compare.py                      # the 6-layer binary CNN at 32x32, 1 and 2 threads
    python benchmarks/compare.py --model bireal18     # kbnn.models.BiRealNet18 at 224x224
    python benchmarks/compare.py --threads 1 --rounds 15 --runs 10
    python benchmarks/compare.py --markdown           # + the tables as Markdown rows for benchmarks/README.md

Default model ("6-layer binary 3x3 CNN at 32x32, 64->256 channels, ~1.17 G binary MACs"):

    Input 32x32x3
    conv0: float Conv2D 3x3, 3->64, SAME + BN            (the stem: binary input of 3 channels makes no sense)
    conv1: QuantConv2D 3x3, 64->64,   SAME + BN          binary: sign(input) (ste_sign), sign(weights)
    conv2: QuantConv2D 3x3, 64->128,  SAME + BN
    conv3: QuantConv2D 3x3, 128->128, SAME + BN
    conv4: QuantConv2D 3x3, 128->256, SAME + BN
    conv5: QuantConv2D 3x3, 256->256, SAME + BN
    GlobalAveragePooling2D -> Dense(10)

Six 3x3 conv layers, all at 32x32 (stride 1, no pooling), 64 -> 256 channels. The five binary ones do
32*32*9*(64*64 + 64*128 + 128*128 + 128*256 + 256*256) = 1,170,210,816 binary MACs (kbnn.summary
prints it below). The converter lowers each binary conv + BN to one KbnnBconv2d with bitpacked output
(the last one with float output), plus one KbnnQuantize after the stem.

Variants, same architecture and weights where they exist:
  kbnn       kbnn.convert(model) run by the stock interpreter + the kbnn delegate (float non-binary layers)
  kbnn-int8  kbnn.convert(model, representative_dataset=...): the same binary ops, the non-binary layers
             (stem, shortcuts, adds, pooling, classifier) int8 builtins; float input/output
  kbnn-int8stem  kbnn.convert(model, representative_dataset=..., int8_layers="stem"): only the float
             layers before the first binary layer int8 (e.g. the 7x7 stem conv + BN + max-pool), the rest
             float with the residual fusion on
  float      the float twin (QuantConv2D without quantizers = plain conv), tf.lite.TFLiteConverter
             .from_keras_model, run by the stock interpreter (XNNPACK)
  int8       the float twin, post-training full-integer quantization (representative dataset: 16 random
             inputs), float input/output, run by the stock interpreter (XNNPACK int8 / builtin kernels)
The three int8 variants are calibrated on the same 16 random inputs. The header names the CPU (model name from
/proc/cpuinfo), the kbnn kernel ISA that kernel=auto selects (kbnn.interpreter.kernel_isa()) and the load
average: benchmarks/README.md keeps one table per ISA.
Timing: the interpreters are built first, then `--rounds` rounds each run every variant `--runs`
times (interleaved, so machine load hits all variants alike); the median is over all runs. The kbnn
per-op profile (kbnn.benchmark) follows the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

BINARY = dict(
    input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False
)
CHANNELS = (64, 64, 128, 128, 256, 256)


def cnn32(binary: bool = True, seed: int = 0):
    """The default 6-layer 3x3 CNN at 32x32 (see the module docstring); binary=False: float twin."""
    import keras

    import kbnn

    keras.utils.set_random_seed(seed)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(CHANNELS[0], 3, padding="same", use_bias=False, name="conv0")(inp)
    x = keras.layers.BatchNormalization(name="bn0")(x)
    for i, c in enumerate(CHANNELS[1:], start=1):
        if binary:
            x = kbnn.layers.QuantConv2D(c, 3, padding="same", name=f"conv{i}", **BINARY)(x)
        else:
            x = keras.layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inp, x, name="cnn32_binary" if binary else "cnn32_float")


def randomize_bn(model, seed: int = 0):
    """Non-trivial BN statistics (so the folded thresholds are not all zero)."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n).astype("float32"),
                    rng.normal(0, 0.1, n).astype("float32"),
                    rng.normal(0, 0.1, n).astype("float32"),
                    rng.uniform(0.5, 2.0, n).astype("float32"),
                ]
            )


def float_twin(model):
    """The same architecture with every quantizer removed (QuantConv2D/QuantDense -> float layers),
    weights copied (random weights are all that matters for timing)."""
    import keras

    import kbnn

    config = model.get_config()
    for layer in config["layers"]:
        cfg = layer["config"]
        if layer["class_name"].startswith("Quant"):
            for key in ("input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer"):
                if key in cfg:
                    cfg[key] = None
            if "kernel_constraint" in cfg:
                cfg["kernel_constraint"] = None
    twin = model.__class__.from_config(config, custom_objects=kbnn.layers.__dict__)
    twin.set_weights(model.get_weights())
    del keras
    return twin


def tflite_float(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def representative_inputs(model, seed: int = 0, count: int = 16) -> list:
    """The calibration data of both int8 variants: ``count`` random batch-1 inputs."""
    shape = [1] + list(model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype("float32") for _ in range(count)]


def kbnn_int8(model, seed: int = 0, int8_layers: str = "all") -> bytes:
    """The kbnn model with int8 non-binary layers (``int8_layers``; float input/output)."""
    import warnings

    import kbnn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, report = kbnn.convert(
            model,
            progress=False,
            return_report=True,
            representative_dataset=representative_inputs(model, seed),
            int8_layers=int8_layers,
        )
    label = "kbnn-int8" + ("" if int8_layers == "all" else int8_layers)
    print(
        f"{label}: int8 layers:",
        ", ".join(r.name for r in report.int8_layers) or "none",
        "| float32 layers:",
        ", ".join(r.name for r in report.layers if r.precision == "float32") or "none",
    )
    return data


def tflite_int8(model, seed: int = 0) -> bytes:
    import tensorflow as tf

    inputs = representative_inputs(model, seed)

    def representative():
        for x in inputs:
            yield [x]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def _stock_interpreter(content: bytes, threads: int):
    from kbnn.interpreter import _runtime

    interp = _runtime().Interpreter(model_content=content, num_threads=threads)
    interp.allocate_tensors()
    return interp


def _timed(interp, x, runs: int) -> list:
    d = interp.get_input_details()[0]
    interp.set_tensor(d["index"], x.astype(d["dtype"]))
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        interp.invoke()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def measure(variants: dict, x, threads: int, rounds: int, runs: int, warmup: int) -> dict:
    """Interleaved medians (ms) of each variant's interpreter."""
    import kbnn

    interps = {}
    for name, content in variants.items():
        interps[name] = (
            kbnn.Interpreter(content, num_threads=threads).interpreter
            if name.startswith("kbnn")
            else _stock_interpreter(content, threads)
        )
        _timed(interps[name], x, warmup)
    samples = {name: [] for name in variants}
    for _ in range(rounds):
        for name, interp in interps.items():
            samples[name] += _timed(interp, x, runs)
    return (
        {name: statistics.median(s) for name, s in samples.items()},
        {name: float(np.percentile(s, 10)) for name, s in samples.items()},
    )


def machine() -> str:
    """CPU model, logical CPUs, OS, and the kbnn kernel ISA (what kernel=auto runs here)."""
    from kbnn.demo import cpu_model
    from kbnn.interpreter import kernel_isa

    return (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}; "
        f"kbnn kernel ISA: {kernel_isa()}"
    )


MODELS = ("cnn32", "bireal18")


def build(name: str):
    """(binary model, float twin) of ``name`` ("cnn32" or "bireal18"), random weights with fixed seeds
    and non-trivial BN statistics; benchmarks/arm_insn.py builds the same ones."""
    import keras

    import kbnn

    if name == "cnn32":
        model = cnn32(binary=True)
        twin = cnn32(binary=False)
        randomize_bn(model)
        twin.set_weights(model.get_weights())
    elif name == "bireal18":
        keras.utils.set_random_seed(0)
        model = kbnn.models.BiRealNet18(input_shape=(224, 224, 3), num_classes=1000)
        randomize_bn(model)
        twin = float_twin(model)
    else:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    return model, twin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=MODELS, default="cnn32")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default: 10)")
    parser.add_argument("--runs", type=int, default=10, help="invokes per variant per round (default: 10)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--no-int8", action="store_true", help="skip the int8 variants (int8 twin, kbnn-int8, kbnn-int8stem)"
    )
    parser.add_argument(
        "--unfused",
        action="store_true",
        help="also time kbnn converted with fuse_residual=False (separate ADD + KbnnQuantize "
        "ops instead of KbnnBconv2dResidual)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown rows")
    parser.add_argument("--profile-runs", type=int, default=30, help="runs of the kbnn per-op profile")
    args = parser.parse_args(argv)

    import kbnn
    from kbnn.benchmark import benchmark

    model, twin = build(args.model)
    s = kbnn.summary(model, print_fn=None)
    print(
        f"model: {model.name}  input {tuple(model.inputs[0].shape[1:])}  binary MACs: {s.binary_macs:,} "
        f"({s.binary_macs / 1e9:.3f} G)  other MACs: {s.other_macs:,}"
    )
    print(
        f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    t0 = time.time()
    variants = {"kbnn": kbnn.convert(model, progress=False)}
    if args.unfused:
        variants["kbnn-unfused"] = kbnn.convert(model, progress=False, fuse_residual=False)
    if not args.no_int8:
        variants["kbnn-int8"] = kbnn_int8(model)
        variants["kbnn-int8stem"] = kbnn_int8(model, int8_layers="stem")
    variants["float"] = tflite_float(twin)
    if not args.no_int8:
        variants["int8"] = tflite_int8(twin)
    sizes = {k: len(v) for k, v in variants.items()}
    print(
        f"converted in {time.time() - t0:.1f} s; file sizes: "
        + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sizes.items())
    )

    x = np.random.default_rng(1).standard_normal([1] + list(model.inputs[0].shape[1:])).astype("float32")
    medians, p10s = {}, {}
    for threads in args.threads:
        medians[threads], p10s[threads] = measure(variants, x, threads, args.rounds, args.runs, args.warmup)
    table(medians, "median")
    table(p10s, "p10 (least disturbed runs)")
    print(
        "(",
        args.rounds * args.runs,
        "interleaved invokes per cell; ratios > 1: kbnn is faster; "
        f"load average after: {os.getloadavg()[0]:.2f})",
    )
    if args.markdown:
        markdown(medians, p10s)

    for threads in args.threads:
        print()
        prof = benchmark(variants["kbnn"], num_threads=threads, runs=args.profile_runs, warmup=args.warmup)
        print(prof.to_text())
    return 0


def _cells(r: dict) -> list:
    """kbnn, kbnn-int8, kbnn-int8stem, float, int8 (ms) and float/kbnn, int8/kbnn, int8/kbnn-int8,
    int8/kbnn-int8stem ratios."""
    k, k8, ks, f, i8 = r["kbnn"], r.get("kbnn-int8"), r.get("kbnn-int8stem"), r["float"], r.get("int8")
    ms = [f"{v:.3f}" if v else "n/a" for v in (k, k8, ks, f, i8)]
    ratios = [f"{f / k:.2f}x"] + [f"{i8 / v:.2f}x" if i8 and v else "n/a" for v in (k, k8, ks)]
    return ms + ratios


_HEAD = (
    "kbnn ms",
    "kbnn-int8 ms",
    "kbnn-int8stem ms",
    "float ms",
    "int8 ms",
    "float/kbnn",
    "int8/kbnn",
    "int8/kbnn-int8",
    "int8/kbnn-int8stem",
)


def table(results: dict, stat: str):
    widths = [max(len(h), 8) for h in _HEAD]
    head = f"{'threads':>7}  " + "  ".join(h.rjust(w) for h, w in zip(_HEAD, widths))
    print()
    print(f"{stat}:")
    print(head)
    print("-" * len(head))
    for threads, r in results.items():
        print(f"{threads:>7}  " + "  ".join(c.rjust(w) for c, w in zip(_cells(r), widths)))
    for threads, r in results.items():
        if "kbnn-unfused" in r:
            u, k = r["kbnn-unfused"], r["kbnn"]
            print(
                f"{threads:>7}  kbnn-unfused {u:.3f} ms (fused kbnn {k:.3f} ms: {u / k:.2f}x faster; "
                f"int8/kbnn-unfused {r['int8'] / u:.2f}x)"
                if r.get("int8")
                else f"{threads:>7}  kbnn-unfused {u:.3f} ms (fused kbnn {k:.3f} ms: {u / k:.2f}x faster)"
            )


def markdown(medians: dict, p10s: dict):
    """The results as Markdown table rows (benchmarks/README.md)."""
    print()
    print("| stat | threads | " + " | ".join(_HEAD) + " |")
    print("|------|--------:|" + "--:|" * len(_HEAD))
    for stat, results in (("median", medians), ("p10", p10s)):
        for threads, r in results.items():
            print(f"| {stat} | {threads} | " + " | ".join(c.replace("x", "×") for c in _cells(r)) + " |")


if __name__ == "__main__":
    sys.exit(main())
