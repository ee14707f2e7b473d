"""The ``kbnn`` command line.

kbnn demo [--epochs N] [--seed S] [--out DIR] [--quiet]
                                              distil, convert and run a binary CNN on digits
kbnn summary model.keras [--custom-objects M]  bit-aware summary of a saved model
kbnn convert model.keras m.tflite [--strict] [--representative-data x.npy [--int8-io] [--int8-layers stem]]
             [--custom-objects MODULE[:ATTR]] convert to TFLite with bitpacked kbnn ops
kbnn benchmark m.tflite [--threads N] [--runs R] [--warmup W] [--kernel K]
                                              median/p10/p90 invoke time and per kbnn op
"""

from __future__ import annotations

import argparse
import os
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from kbnn import demo

    result = demo.run(epochs=args.epochs, seed=args.seed, out=args.out, verbose=0 if args.quiet else 1)
    # The demo's contract: the .tflite file predicts exactly what the Keras model predicts.
    return 0 if result.test_accuracy > 0 and result.agreement == 1.0 else 1


class _CliError(Exception):
    """A bad command-line argument: printed as one line, exit status 2."""


def load_custom_objects(specs) -> dict:
    """The objects named by ``--custom-objects`` arguments, for ``keras.saving.load_model``.

    Each spec is ``module.path`` or ``module.path:attr``:

    * ``module.path``: the module is imported. Classes and functions it registers with
      ``@keras.saving.register_keras_serializable`` (the usual way to make a custom quantizer or
      layer loadable) are then found by Keras on their own; nothing else is added.
    * ``module.path:attr``: ``attr`` of that module is added: a dict ``{name: object}`` (Keras'
      ``custom_objects``), or a single class / function, added under its ``__name__``.

    The current directory is importable (as with ``python -m``), so ``my_quantizers.py`` next to
    the model is ``--custom-objects my_quantizers``.

    Raises:
        _CliError: a module that cannot be imported, a missing attribute, or one of another type.
    """
    import importlib

    objects: dict = {}
    if not specs:
        return objects
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or (":" in spec and not attr):
            raise _CliError(
                f"--custom-objects {spec!r}: expected MODULE or MODULE:ATTR (e.g. "
                "my_pkg.quantizers or my_pkg.quantizers:CUSTOM_OBJECTS)"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as e:
            raise _CliError(
                f"--custom-objects {spec!r}: could not import {module_name!r}: {type(e).__name__}: {e}"
            ) from e
        if not attr:
            continue
        if not hasattr(module, attr):
            raise _CliError(f"--custom-objects {spec!r}: module {module_name!r} has no attribute {attr!r}")
        value = getattr(module, attr)
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise _CliError(
                    f"--custom-objects {spec!r}: the dict's keys must be names (str). Received: {bad!r}"
                )
            objects.update(value)
        elif callable(value) and hasattr(value, "__name__"):
            objects[value.__name__] = value
        else:
            raise _CliError(
                f"--custom-objects {spec!r}: {attr!r} must be a dict {{name: class or "
                f"function}}, a class or a function. Received: {type(value).__name__}"
            )
    return objects


def _load_model(command: str, path: str, specs, **kwargs):
    """``keras.saving.load_model`` with the ``--custom-objects``; a clear _CliError on failure."""
    import keras

    import kbnn  # noqa: F401  (registers kbnn's serializable objects)

    if not os.path.isfile(path):
        raise _CliError(f"no such file: {path!r}")
    custom = load_custom_objects(specs)
    try:
        return keras.saving.load_model(path, custom_objects=custom or None, **kwargs)
    except Exception as e:
        hint = (
            ""
            if specs
            else " (a model with user-defined quantizers or layers needs "
            "--custom-objects MODULE[:ATTR], see `kbnn " + command + " --help`)"
        )
        raise _CliError(f"could not load {path!r} as a Keras model: {e}{hint}") from e


def _check_output_path(path: str) -> None:
    """Fails before a conversion whose result could not be written."""
    if os.path.isdir(path):
        raise _CliError(
            f"the output {path!r} is a directory: give a file name, e.g. "
            f"{os.path.join(path, 'model.tflite')!r}"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise _CliError(
            f"the output's directory {os.path.dirname(path) or parent!r} does not exist: "
            "create it first (mkdir -p)"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _CliError(f"the output's directory {os.path.dirname(path) or parent!r} is not writable")


def _cmd_summary(args: argparse.Namespace) -> int:
    from kbnn.summary import summary

    try:
        model = _load_model("summary", args.model, args.custom_objects)
    except _CliError as e:
        print(f"kbnn summary: {e}", file=sys.stderr)
        return 2
    summary(model)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    import warnings

    import kbnn

    try:
        _check_output_path(args.output)
        model = _load_model("convert", args.model, args.custom_objects, compile=False)
    except _CliError as e:
        print(f"kbnn convert: {e}", file=sys.stderr)
        return 2
    int8 = {}
    if args.representative_data is not None:
        import numpy as np

        try:
            data = np.load(args.representative_data, allow_pickle=False)
        except (OSError, ValueError) as e:
            print(
                f"kbnn convert: could not read {args.representative_data!r} as a .npy array of model "
                f"inputs [N, ...]: {e}",
                file=sys.stderr,
            )
            return 2
        batches = [data[i : i + 64] for i in range(0, len(data), 64)] if data.ndim > 0 else []
        layers = (
            args.int8_layers
            if args.int8_layers in ("all", "stem")
            else [n.strip() for n in args.int8_layers.split(",") if n.strip()]
        )
        int8 = dict(
            representative_dataset=batches,
            inference_input_type="int8" if args.int8_io else "float32",
            inference_output_type="int8" if args.int8_io else "float32",
            int8_layers=layers,
        )
    elif args.int8_io or args.int8_layers != "all":
        flag = "--int8-io" if args.int8_io else "--int8-layers"
        print(f"kbnn convert: {flag} needs --representative-data", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", kbnn.convert.ConversionWarning)
        try:
            _, report = kbnn.convert(
                model,
                args.output,
                strict=args.strict,
                progress=not args.quiet,
                return_report=True,
                fuse_residual=not args.no_fuse_residual,
                verbose=args.verbose,
                **int8,
            )
        except kbnn.convert.ConversionError as e:
            print(f"kbnn convert: {e}", file=sys.stderr)
            return 1
        except kbnn.convert.RepresentativeDatasetError as e:
            print(f"kbnn convert: --representative-data: {e}", file=sys.stderr)
            return 2
        except ValueError as e:
            if "int8_layers" not in str(e):
                raise
            print(f"kbnn convert: --int8-layers: {e}", file=sys.stderr)
            return 2
    for w in caught:
        if issubclass(w.category, kbnn.convert.ConversionWarning):
            print(f"warning: {w.message}", file=sys.stderr)
    if not args.quiet and not args.verbose:  # verbose: kbnn.convert printed it
        print(report.to_text())
    print(f"wrote {args.output} ({report.file_bytes} bytes)")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from kbnn_runtime.cli import run_benchmark

    return run_benchmark(args, "kbnn benchmark")


def _add_custom_objects_argument(p) -> None:
    p.add_argument(
        "--custom-objects",
        action="append",
        metavar="MODULE[:ATTR]",
        default=[],
        help="for models with user-defined quantizers/layers (repeatable): MODULE is imported "
        "(objects it registers with @keras.saving.register_keras_serializable load by "
        "themselves); MODULE:ATTR also passes ATTR, a dict {name: object} or one class / "
        "function, as Keras' custom_objects. The current directory is importable",
    )


def build_parser() -> argparse.ArgumentParser:
    # kbnn_runtime is importable once the kbnn package is (kbnn/_runtime_link.py).
    from kbnn_runtime.cli import add_benchmark_arguments, add_common_arguments

    parser = argparse.ArgumentParser(prog="kbnn", description=__doc__.split("\n")[0].strip())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "demo",
        help="distil a binary CNN on scikit-learn's digits, convert it and run it with TFLite",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=30,
        help="distillation epochs of the binary student; the float teacher gets half (default: 30)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--out", default=".", help="directory for m.tflite and the chart (default: current directory)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("summary", help="bit-aware summary of a saved .keras model")
    p.add_argument("model", help="path to a .keras file")
    _add_custom_objects_argument(p)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("convert", help="convert a saved .keras model to .tflite with kbnn ops")
    p.add_argument("model", help="path to a .keras file")
    p.add_argument("output", help="path of the .tflite file to write")
    p.add_argument("--strict", action="store_true", help="fail if a quantized layer cannot be lowered")
    p.add_argument("--quiet", action="store_true", help="no progress bar or report")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also print what TensorFlow's converter writes (kept off the terminal by default)",
    )
    p.add_argument(
        "--representative-data",
        metavar="X.npy",
        help="int8 non-binary layers, calibrated on these inputs (a .npy array [N, ...])",
    )
    p.add_argument(
        "--int8-io", action="store_true", help="with --representative-data: int8 model input/output"
    )
    p.add_argument(
        "--int8-layers",
        default="all",
        metavar="all|stem|NAME,...",
        help="with --representative-data: which non-binary layers become int8: all (default), stem "
        "(the float layers before the first binary layer; the rest stays float, residual adds "
        "stay fused) or comma-separated layer names",
    )
    p.add_argument(
        "--no-fuse-residual",
        action="store_true",
        help="keep residual adds as ADD + KbnnQuantize ops (no KbnnBconv2dResidual), e.g. for "
        "a delegate built before that op existed",
    )
    _add_custom_objects_argument(p)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser(
        "benchmark",
        help="time a .tflite model: whole-model invoke and per kbnn op "
        "(also `kbnn-run m.tflite --benchmark`, without TensorFlow)",
    )
    p.add_argument("model", help="path to a .tflite file")
    add_common_arguments(p, default_threads=1)
    add_benchmark_arguments(p)
    p.set_defaults(func=_cmd_benchmark)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    if getattr(args, "epochs", 1) < 1:
        print(f"kbnn: --epochs must be at least 1. Received: --epochs={args.epochs}", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
