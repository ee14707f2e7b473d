"""Stage 5 of the converter (with ``representative_dataset``): the float flatbuffer -> the int8
flatbuffer, and the report's int8 columns.

Calibration, TF's post-training quantizer and the kbnn int8 fusions are in
:mod:`kbnn.convert.int8`; which layers may become int8 is :mod:`kbnn.convert.int8_layers`.
"""

from __future__ import annotations

import dataclasses
import warnings

from kbnn.convert import int8 as q8
from kbnn.convert import int8_layers
from kbnn.convert.errors import ConversionWarning
from kbnn.convert.report import ConversionReport, mark_precisions
from kbnn.convert.tflite import NativeLog, native_output


@dataclasses.dataclass
class Int8Request:
    """What the caller asked for: the data, ``int8_layers`` as given (``argument``) and validated
    (``choice``: ``"all"``, ``"stem"`` or a tuple of names), ``chosen`` (the layer names it selects;
    None for all) and the model input / output types."""

    representative_dataset: object
    argument: object
    choice: object
    chosen: list | None
    input_type: str = "float32"
    output_type: str = "float32"


def _int8_bytes(data: bytes, lowered, request: Int8Request, log: NativeLog, verbose: bool) -> bytes:
    """Calibrates the float file on the representative data and quantizes it."""
    graph, report = lowered.graph, lowered.report
    names = [k[0] if k[0] != "__input__" else "input" for k, _, _ in graph.inputs]
    specs = [(n, shape, dtype) for n, (_, shape, dtype) in zip(names, graph.inputs)]
    with native_output(log, verbose, "int8 calibration"):
        stats = q8.calibrate(data, q8.iter_batches(request.representative_dataset, specs))
    if request.chosen is not None:  # only the chosen layers' tensors get ranges: the rest stays float
        keep = q8.layer_tensors(
            data,
            [r.name for r in report.layers],
            [k[0] for k in graph.outputs],
            request.chosen,
            lowered.scopes,
        )
        stats = {t: v for t, v in stats.items() if t in keep}
    with native_output(log, verbose, "int8 quantizer"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = q8.quantize(data, stats, request.input_type, request.output_type)
    if request.chosen is not None:
        int8_layers.check_interface(data, request.input_type, request.output_type, graph)
    return data


def _check_precisions(
    report: ConversionReport, model_name: str, request: Int8Request, stacklevel: int
) -> None:
    """A choice of which no layer became int8 raises; non-binary layers left float warn."""
    chosen = request.chosen
    if chosen is not None and not any(r.precision == "int8" for r in report.layers if r.name in chosen):
        raise ValueError(
            f"`int8_layers={request.argument!r}`: none of the chosen layers of {model_name!r} "
            f"({', '.join(chosen)}) computes in int8 in the converted file (no int8 builtin for "
            "them, or TFLite folded them into a layer that was not chosen): nothing to quantize. "
            "Use int8_layers='all', or name layers that have an int8 builtin (convolutions, dense, "
            "pooling, adds)"
        )
    still_float = [
        r.name for r in report.layers if r.precision == "float32" and (chosen is None or r.name in chosen)
    ]
    if still_float:
        warnings.warn(
            f"int8 conversion of {model_name!r}: these non-binary layers stay float32 (no "
            f"int8 builtin for them): {still_float}",
            ConversionWarning,
            stacklevel=stacklevel + 1,
        )


def to_int8(
    data: bytes, lowered, request: Int8Request, log: NativeLog, verbose: bool, stacklevel: int = 1
) -> bytes:
    """The int8 file of the float file ``data``; fills ``lowered.report``'s int8 columns."""
    data = _int8_bytes(data, lowered, request, log, verbose)
    report = lowered.report
    interface = f"{request.input_type}/{request.output_type}"
    mark_precisions(report, lowered.graph, data, interface, lowered.scopes)
    report.int8_choice = (
        "all" if request.chosen is None else (request.choice if isinstance(request.choice, str) else "list")
    )
    _check_precisions(report, lowered.model.name, request, stacklevel + 1)
    return data
