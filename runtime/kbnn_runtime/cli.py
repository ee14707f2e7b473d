"""``kbnn-run``: run or time a kbnn .tflite model with the stock TFLite runtime (no TensorFlow).

    kbnn-run m.tflite                                  inputs, outputs and the runtime
    kbnn-run m.tflite --input x.npy [--output y.npy]   predict (one --input per model input;
                                                       an .npz gives them by name)
    kbnn-run m.tflite --benchmark [--runs R] [--warmup W] [--json]
                                                       invoke time and per kbnn op
Common options: --threads N, --kernel auto|reference|scalar|avx2|neon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile

import numpy as np

from kbnn_runtime import interpreter as kint
from kbnn_runtime.benchmark import benchmark

# What the runtime raises for bad models or options (reported in one line, exit code 1).
RUN_ERRORS = (ValueError, RuntimeError, TypeError, kint.ModelError, kint.DelegateNotFoundError, ImportError)


class UsageError(Exception):
    """A bad --input / --output argument: reported in one line, exit code 2."""


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def add_common_arguments(p: argparse.ArgumentParser, default_threads: int | None):
    default = default_threads or "automatic; 1 with --benchmark"
    p.add_argument(
        "--threads",
        type=int,
        default=default_threads,
        help=f"threads of the kbnn ops and the interpreter (default: {default})",
    )
    p.add_argument("--kernel", default=None, choices=kint.KERNELS, help="kbnn kernel (default: auto)")


def add_benchmark_arguments(p: argparse.ArgumentParser):
    p.add_argument("--runs", type=int, default=50, help="timed runs (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up runs (default: 5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_benchmark(args: argparse.Namespace, prog: str, inputs=None) -> int:
    """Times ``args.model`` (``kbnn-run --benchmark`` and ``kbnn benchmark``); returns the exit code."""
    if not os.path.isfile(args.model):
        print(f"{prog}: no such file: {args.model!r}", file=sys.stderr)
        return 2
    try:
        result = benchmark(
            args.model,
            num_threads=args.threads if args.threads is not None else 1,
            runs=args.runs,
            warmup=args.warmup,
            kernel=args.kernel,
            inputs=inputs,
        )
    except UsageError as e:
        print(f"{prog}: {_one_line(e)}", file=sys.stderr)
        return 2
    except RUN_ERRORS as e:
        print(f"{prog}: {_one_line(e)}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), indent=1) if args.json else result.to_text())
    return 0


def _load_array_file(path: str):
    try:
        return np.load(path, allow_pickle=False)
    except (EOFError, ValueError, OSError, zipfile.BadZipFile) as e:
        kind = "empty" if os.path.getsize(path) == 0 else "not a NumPy .npy/.npz file (or corrupted)"
        raise UsageError(f"cannot read --input {path}: {kind} ({_one_line(e)})") from None


def _load_inputs(paths: list[str], details: list[dict]):
    """Arrays for ``Interpreter.predict`` from .npy files (one per input, in order) or one .npz,
    checked against the model's inputs (shape but the batch, dtype, non-empty batch)."""
    names = [d["name"] for d in details]
    if len(paths) == 1 and paths[0].endswith(".npz"):
        z = _load_array_file(paths[0])
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise UsageError(f"--input {paths[0]} is not an .npz archive")
        with z:
            try:
                arrays = {k: z[k] for k in z.files}
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise UsageError(f"cannot read --input {paths[0]}: {_one_line(e)}") from None
        if set(names) <= set(arrays):
            loaded = [arrays[n] for n in names]
        elif len(arrays) != len(details):
            raise UsageError(
                f"{paths[0]} holds {len(arrays)} arrays ({', '.join(arrays)}) but the model has "
                f"{len(details)} inputs ({', '.join(names)}): name them after the inputs."
            )
        else:
            loaded = list(arrays.values())
    else:
        if len(paths) != len(details):
            raise UsageError(
                f"The model has {len(details)} inputs ({', '.join(names)}), received "
                f"{len(paths)} --input files: give one .npy per input, or one .npz."
            )
        loaded = []
        for p in paths:
            a = _load_array_file(p)
            if not isinstance(a, np.ndarray):
                raise UsageError(
                    f"--input {p} is an .npz archive: give it alone, with arrays named after the model inputs"
                )
            loaded.append(a)
    checked = []
    for a, d in zip(loaded, details):
        try:
            checked.append(kint.check_input(a, d))
        except ValueError as e:
            raise UsageError(_one_line(e)) from None
    return checked


def _describe(details: list[dict]) -> str:
    return ", ".join(
        f"{d['name']} {list(int(s) for s in d['shape'])} {np.dtype(d['dtype']).name}" for d in details
    )


def _check_output_path(path: str, n_outputs: int):
    """--output is written exactly at ``path``: a file name ending in .npz (all outputs, by name)
    or any other name (one output, NumPy .npy format, no suffix added)."""
    if os.path.isdir(path):
        raise UsageError(
            f"--output {path} is a directory: give a file name, e.g. {os.path.join(path, 'y.npy')}"
        )
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"--output {path}: the directory {parent} does not exist")
    if n_outputs > 1 and not path.endswith(".npz"):
        raise UsageError(
            f"The model has {n_outputs} outputs: write them to an .npz file "
            f"(--output {os.path.splitext(path)[0]}.npz)."
        )


def _save_outputs(path: str, outputs: list, details: list[dict]):
    # Through a file object: numpy would otherwise append .npy / .npz to other names.
    with open(path, "wb") as f:
        if path.endswith(".npz"):
            np.savez(f, **{d["name"]: o for d, o in zip(details, outputs)})
        else:
            np.save(f, outputs[0])


def _cmd_predict(args: argparse.Namespace) -> int:
    prog = "kbnn-run"
    for path in args.input:
        if not os.path.isfile(path):
            print(f"{prog}: no such input file: {path!r}", file=sys.stderr)
            return 2
    try:
        interp = kint.Interpreter(args.model, num_threads=args.threads, kernel=args.kernel)
        arrays = _load_inputs(args.input, interp.input_details)
        if args.benchmark:
            return run_benchmark(args, prog, inputs=arrays)
        if args.output:
            _check_output_path(args.output, len(interp.output_details))
        out = interp.predict(*arrays)
        outputs = out if isinstance(out, list) else [out]
        details = interp.output_details
        if args.output:
            _save_outputs(args.output, outputs, details)
            print(f"wrote {args.output}: {_describe(details)}")
        else:
            for d, o in zip(details, outputs):
                print(f"{d['name']}: shape {list(o.shape)} {o.dtype.name}")
                print(np.array2string(o, threshold=200, precision=6))
                if o.ndim == 2 and o.dtype.kind == "f" and o.shape[1] > 1:
                    print(f"argmax: {np.array2string(o.argmax(axis=1), threshold=200)}")
    except UsageError as e:
        print(f"{prog}: {_one_line(e)}", file=sys.stderr)
        return 2
    except (OSError, *RUN_ERRORS) as e:
        print(f"{prog}: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    try:
        interp = kint.Interpreter(args.model, num_threads=args.threads, kernel=args.kernel)
    except RUN_ERRORS as e:
        print(f"kbnn-run: {_one_line(e)}", file=sys.stderr)
        return 1
    print(f"model: {args.model}")
    print(f"inputs: {_describe(interp.input_details)}")
    print(f"outputs: {_describe(interp.output_details)}")
    print(f"runtime: {interp.runtime}; delegate: {kint.delegate_path()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbnn-run",
        description="Run or time a kbnn .tflite model with the stock TFLite runtime (no TensorFlow).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:]),
    )
    parser.add_argument("model", help="path to a .tflite file written by kbnn.convert")
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="X.npy",
        help="input array (.npy, one per model input in order; or one .npz by input name)",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="Y.npy",
        help="write the prediction to exactly this file (NumPy .npy format, no suffix added; "
        "a name ending in .npz: every output by name) instead of printing it",
    )
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="time the model (with --input: on those inputs, else on seeded random data)",
    )
    add_common_arguments(parser, default_threads=None)
    add_benchmark_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.isfile(args.model):
        print(f"kbnn-run: no such file: {args.model!r}", file=sys.stderr)
        return 2
    if args.output and not args.input:
        print("kbnn-run: --output needs --input (the arrays to predict on)", file=sys.stderr)
        return 2
    if args.benchmark and args.output:
        print("kbnn-run: --benchmark writes no predictions: drop --output", file=sys.stderr)
        return 2
    if args.input:
        return _cmd_predict(args)
    if args.benchmark:
        return run_benchmark(args, "kbnn-run")
    return _cmd_info(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
