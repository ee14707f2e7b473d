"""Generator of .tflite files that crash the stock TFLite runtime (ai-edge-litert 2.3.0) while
holding no kbnn op: each carries a value the runtime does not validate (issue 22). kbnn's model
check (kbnn_runtime.model_check) must turn every one of them into a clear Python exception.

    python tests/support/crash_models.py OUT_DIR      # writes OUT_DIR/<name>.tflite for every case

``CASES`` maps a name to (builder, words the error message must contain). Built with
tests/support/tflite_builder.py (TensorFlow's flatbuffer schema; only the tests need it).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script: tests/ (the folder of the support package) on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support import tflite_builder as tb
from support.tflite_builder import FLOAT32, INT8, INT32, fb


def mean_wrong_output_shape() -> bytes:
    """MEAN over H, W of [1, 4, 4, 8] declared as [1, 2] (it is [1, 8]); a batch resize then
    overflows the heap inside XNNPACK."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 4, 4, 8), FLOAT32, name="x")
    axes = mb.tensor((2,), INT32, [1, 2], name="axes")
    y = mb.tensor((1, 2), FLOAT32, name="mean_out")
    opts = fb.ReducerOptionsT()
    opts.keepDims = False
    mb.builtin(fb.BuiltinOperator.MEAN, [x, axes], [y], fb.BuiltinOptions.ReducerOptions, opts)
    return mb.build([x], [y])


def reshape_float_to_int8() -> bytes:
    """RESHAPE of a float32 [1, 64] into an int8 [1, 8, 8] tensor: the copy overflows."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 64), FLOAT32, name="x")
    shape = mb.tensor((3,), INT32, [1, 8, 8], name="new_shape")
    y = mb.tensor((1, 8, 8), INT8, name="reshape_out")
    mb.quantize(y, [0.1], [0])
    opts = fb.ReshapeOptionsT()
    opts.newShape = [1, 8, 8]
    mb.builtin(fb.BuiltinOperator.RESHAPE, [x, shape], [y], fb.BuiltinOptions.ReshapeOptions, opts)
    return mb.build([x], [y])


def _quantize(scale: float, zero_point: int) -> bytes:
    """float32 [1, 8, 8, 4] -> QUANTIZE -> int8 (scale, zero_point) -> DEQUANTIZE -> float32."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 8, 8, 4), FLOAT32, name="x")
    q = mb.tensor((1, 8, 8, 4), INT8, name="quantize_out")
    mb.quantize(q, [scale], [zero_point])
    y = mb.tensor((1, 8, 8, 4), FLOAT32, name="y")
    mb.builtin(fb.BuiltinOperator.QUANTIZE, [x], [q])
    mb.builtin(fb.BuiltinOperator.DEQUANTIZE, [q], [y])
    return mb.build([x], [y])


def quantize_missing_input() -> bytes:
    """A QUANTIZE whose input is tensor -1 ("optional"): the runtime reports it, and segfaults
    within a few repeated load attempts in one process."""
    mb = tb.ModelBuilder()
    x = mb.tensor((1, 4), FLOAT32, name="x")
    q = mb.tensor((1, 4), INT8, name="quantize_out")
    mb.quantize(q, [0.1], [0])
    y = mb.tensor((1, 4), FLOAT32, name="y")
    mb.builtin(fb.BuiltinOperator.QUANTIZE, [-1], [q])
    mb.builtin(fb.BuiltinOperator.DEQUANTIZE, [q], [y])
    return mb.build([x], [y])


CASES = {
    "mean_wrong_output_shape": (mean_wrong_output_shape, ("operator 0 (MEAN)", "mean_out", "[1, 8]")),
    "reshape_float32_to_int8": (reshape_float_to_int8, ("operator 0 (RESHAPE)", "reshape_out", "int8")),
    "quantize_scale_0": (lambda: _quantize(0.0, 0), ("quantize_out", "scale 0.0")),
    "quantize_scale_negative": (lambda: _quantize(-1.0, 0), ("quantize_out", "scale -1.0")),
    "quantize_scale_nan": (lambda: _quantize(float("nan"), 0), ("quantize_out", "scale nan")),
    "quantize_zero_point_out_of_range": (lambda: _quantize(0.05, 300), ("quantize_out", "zero point 300")),
    "quantize_missing_input": (quantize_missing_input, ("operator 0 (QUANTIZE) has no input 0",)),
}


def write_all(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (build, _) in CASES.items():
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(build())
    return paths


if __name__ == "__main__":
    for name, path in write_all(Path(sys.argv[1])).items():
        print(name, path)
