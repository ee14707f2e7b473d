"""``kbnn.convert``: Keras model -> ``.tflite`` bytes, as a pipeline of named stages.

=================  ==========================================  =================================
stage              input -> output                             module
=================  ==========================================  =================================
graph              ``keras.Model`` -> ``Graph``                :mod:`kbnn.convert.graph`
plan               ``Graph`` -> ``[Step]`` (typed, per kind)   :mod:`kbnn.convert.lowering`
report             ``[Step]`` -> ``ConversionReport``          :mod:`kbnn.convert.report`
lowered model      plan -> ``LoweredModel`` (TF function)      :mod:`kbnn.convert.lowered`
flatbuffer         ``LoweredModel`` -> ``bytes``               :mod:`kbnn.convert.tflite`
int8 (optional)    ``bytes`` -> int8 ``bytes`` (+ report)      :mod:`kbnn.convert.quantize`
file               ``bytes`` -> checked, atomically written    :mod:`kbnn.convert.output`
=================  ==========================================  =================================

:func:`lower` composes the first four, :func:`convert` all of them.
"""

from __future__ import annotations

import warnings

from kbnn.checks import model_mistakes
from kbnn.convert import int8 as q8
from kbnn.convert import int8_layers as layer_choice
from kbnn.convert import quantize, tflite
from kbnn.convert import stem as stem_lowering
from kbnn.convert.errors import ConversionError, ConversionWarning
from kbnn.convert.flatbuffer import io_in_keras_order
from kbnn.convert.graph import extract_graph
from kbnn.convert.lowered import LoweredModel, op_backend, run_plan  # noqa: F401 - kbnn.convert API
from kbnn.convert.lowering import build_plan
from kbnn.convert.output import check_file, write_atomic
from kbnn.convert.report import ConversionReport, LayerReport, make_report  # noqa: F401 - kbnn.convert API

INT8_LAYER_CHOICES = layer_choice.INT8_LAYER_CHOICES


def lower(
    model, *, output_types="auto", batch_size=None, backend="auto", fuse_residual=True, stem="float"
) -> LoweredModel:
    """Run the lowering passes on ``model`` (no TFLite conversion).

    Args:
        model: A built Functional or Sequential ``keras.Model``.
        output_types: ``"auto"`` (binary ops chain bitpacked activations where every consumer is
            binary) or ``"float"`` (every binary op emits float32; consumers re-quantize).
        batch_size: Static batch size of the exported function (``None``: dynamic).
        backend: ``"kbnn"`` (the compiled TF op library), ``"reference"`` (plain-TF oracle of the
            same semantics) or ``"auto"`` (the op library when built, else the reference).
        fuse_residual: fold a residual ``Add`` after a float-output binary conv into it, with the
            sum's signs as a second, bitpacked output (KbnnBconv2dResidual; Bi-Real blocks).
        stem: ``"float"`` (the float stem stays TFLite builtins), ``"int8"`` / ``"auto"`` (the
            stem chain becomes KbnnStemConv2d, see :mod:`kbnn.convert.stem`).
    """
    if output_types in (None, "auto"):
        output_types = "auto"
    elif output_types not in ("float", "float32"):
        raise ValueError(f"`output_types` must be 'auto' or 'float'. Received: output_types={output_types!r}")
    ops = op_backend(backend)
    graph = extract_graph(model)
    plan = build_plan(graph, output_types=output_types, pack=ops, fuse_residual=fuse_residual, stem=stem)
    return LoweredModel(model, graph, plan, make_report(model, plan), ops, batch_size)


class _Progress:
    """A tqdm bar over the stages (nothing when disabled or without tqdm)."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover
                return
            self.bar = tqdm(total=total, desc="kbnn convert", unit="step", leave=False)

    def step(self, done: str | None = None) -> None:
        if self.bar is not None:
            if done:
                self.bar.set_postfix_str(done)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _int8_request(representative_dataset, int8_layers, inference_input_type, inference_output_type):
    """The validated int8 arguments: an :class:`~kbnn.convert.quantize.Int8Request`, or None for a
    float conversion."""
    in_type = q8.interface_type(inference_input_type, "inference_input_type")
    out_type = q8.interface_type(inference_output_type, "inference_output_type")
    if representative_dataset is None and (in_type, out_type) != ("float32", "float32"):
        raise ValueError(
            "An int8 model input/output needs the int8 conversion: pass `representative_dataset` "
            f"too. Received: inference_input_type={inference_input_type!r}, "
            f"inference_output_type={inference_output_type!r}, representative_dataset=None"
        )
    if isinstance(representative_dataset, (str, bytes)):
        raise q8.RepresentativeDatasetError(
            "`representative_dataset` must be an iterable of input batches or a callable returning one. "
            f"Received: {type(representative_dataset).__name__}"
        )
    choice = layer_choice.check_choice(int8_layers, representative_dataset)
    if representative_dataset is None:
        return None
    return quantize.Int8Request(representative_dataset, int8_layers, choice, None, in_type, out_type)


def _lower_for(model, request, *, output_types, batch_size, fuse_residual, stem="float") -> LoweredModel:
    """:func:`lower` for a conversion; with an int8 ``request``, also picks its layers
    (``request.chosen``). int8 adds stay int8 builtins (the fused op is float32 only): "all"
    turns the residual fusion off, and so does a listed ``Add`` that it would fold."""
    all_int8 = request is not None and request.choice == "all"
    lowered = lower(
        model,
        output_types=output_types,
        batch_size=batch_size,
        backend="auto",
        fuse_residual=fuse_residual and not all_int8,
        stem=stem,
    )
    if request is None or all_int8:
        return lowered
    rows = {r.name: r for r in lowered.report.layers}
    if not isinstance(request.choice, str) and any(
        n in rows and rows[n].status == "folded" and rows[n].class_name == "Add" for n in request.choice
    ):
        lowered = lower(
            model,
            output_types=output_types,
            batch_size=batch_size,
            backend="auto",
            fuse_residual=False,
            stem=stem,
        )
    request.chosen = layer_choice.select(request.choice, lowered.graph, lowered.report)
    return lowered


def _check_lowerable(model, report: ConversionReport, strict: bool) -> None:
    """Quantizer misuse raises; quantized layers that were not lowered raise (``strict``) or warn."""
    mistakes = model_mistakes(model)
    if mistakes:
        raise ConversionError(
            f"model {model.name!r} cannot be converted:\n" + "\n".join(f"  {m}" for m in mistakes)
        )
    bad = report.not_lowered
    if bad:
        lines = "\n".join(f"  {r.name} ({r.class_name}): {r.reason}" for r in bad)
        if strict:
            raise ConversionError(
                f"{len(bad)} quantized layer(s) of {model.name!r} cannot be lowered to binary ops:\n{lines}"
            )
        warnings.warn(
            f"{len(bad)} quantized layer(s) of {model.name!r} are exported as float with their quantized "
            f"values (not binary ops):\n{lines}",
            ConversionWarning,
            stacklevel=3,
        )


def convert(
    model,
    path=None,
    *,
    strict=False,
    output_types="auto",
    batch_size=None,
    representative_dataset=None,
    inference_input_type="float32",
    inference_output_type="float32",
    progress=True,
    return_report=False,
    verbose=False,
    fuse_residual=True,
    int8_layers="all",
    stem="float",
):
    """Convert a kbnn Keras model to a ``.tflite`` file with bitpacked kbnn CUSTOM ops.

    Args:
        model: A built Functional or Sequential ``keras.Model``.
        path: Where to write the file (optional).
        strict: Raise :class:`ConversionError` instead of warning when a quantized layer cannot be
            lowered to a binary op.
        output_types: ``"auto"`` or ``"float"`` (see :func:`lower`).
        batch_size: Static batch dimension (``None``: dynamic, resizable in the interpreter).
        representative_dataset: int8 for the non-binary layers (see ``kbnn.convert.int8`` and
            docs/convert.md): an iterable of input batches, or a callable returning one (like
            ``TFLiteConverter.representative_dataset``). A batch is an array (one input), a list
            of arrays (one per input) or a dict by input name, with the batch dimension. The
            float stem, shortcut convolutions, adds, pooling and classifier become int8 builtins
            with ranges calibrated on this data; the binary ops read and write int8 next to them.
            ``None`` (default): those layers stay float32. ``int8_layers`` narrows the choice.
        int8_layers: Which non-binary layers become int8 with ``representative_dataset``:
            ``"all"`` (default: every one that has an int8 builtin; the residual adds then stay
            int8 builtins, not fused), ``"stem"`` (only the float layers before the first binary
            layer, e.g. a 7×7 conv + BN + max-pool; everything after stays float and
            ``fuse_residual`` stays in effect) or a list of layer names (the others stay float; a
            listed ``Add`` that the residual fusion would fold turns the fusion off for the model).
            An int8 ``inference_input_type`` / ``inference_output_type`` needs the layers at the
            input / output among them (else ``ValueError``). The report's ``int8_layers`` / dtype
            column say what became int8.
        inference_input_type: ``"float32"`` (default) or ``"int8"``: the model input type of an
            int8 conversion (int8: quantize inputs with ``input_details()[0]["quantization"]``).
        inference_output_type: ``"float32"`` (default) or ``"int8"``, likewise for the outputs.
        progress: Show a tqdm progress bar.
        return_report: Return ``(bytes, ConversionReport)`` instead of bytes.
        verbose: Print what TF's converter and quantizer write to the terminal (stdout/stderr of
            their C++ code: the "need TFLite custom op implementation(s)" notes, MLIR messages,
            ``fully_quantize: ...``) as it is captured, and the conversion report. ``False``
            (default): that output is captured at the file-descriptor level and kept in
            ``report.converter_log`` (and ``ConversionError.converter_log``), off the terminal.
        fuse_residual: Fold the residual ``Add`` after a binary conv with float output into it
            (``KbnnBconv2dResidual``: conv + BN + add in one op, with the sum's signs as a second,
            bitpacked output that the next binary convs read instead of a ``KbnnQuantize``; the
            Bi-Real blocks). Bit-exact with the unfused ops. Float non-binary layers only: with
            ``representative_dataset`` and ``int8_layers="all"`` the adds stay int8 builtins.
        stem: The real-valued stem (a float ``Conv2D`` on the model input -> ``BatchNormalization``
            -> optional ReLU / ``PReLU(shared_axes=[1, 2])`` -> optional ``MaxPooling2D``, e.g.
            the zoo's ``stem_conv``/``stem_bn``/``stem_pool``): ``"float"`` (default) keeps it as
            float TFLite builtins; ``"int8"`` makes it one ``KbnnStemConv2d`` (int8 weights, the
            input quantized per invoke from its max |x|: no calibration data; ``ValueError`` when
            the model has no such stem or with ``representative_dataset``); ``"auto"``: int8 where
            the pattern matches and no ``representative_dataset`` was given, else float.
            See kbnn/convert/stem.py and docs/convert.md.

    Returns:
        The flatbuffer bytes (and the report when ``return_report``). ``kbnn.convert(...)`` also
        keeps the report of its last conversion as ``kbnn.convert.last_report``.

    The written file is checked before it is written: it runs once in ``kbnn.Interpreter`` on a
    zero input of the model's input shape(s) (``report.checked`` says what came out). Nothing is
    written at ``path`` when a check fails, and the write itself is atomic (a temporary file in
    the same directory, renamed).

    Raises:
        ConversionError: ``strict=True`` and some quantized layers were not lowered; the model
            misuses a quantizer (``kbnn.checks.model_mistakes``: a sign input quantizer after
            ``BitPlaneInput``, ``MultiBaseSign(mode="weights")`` as an input quantizer); TF's
            converter failed; or the file does not load / run on a zero input in
            ``kbnn.Interpreter`` / gives an empty or wrongly shaped output. Its
            ``converter_log`` attribute holds TF's captured output.
        ValueError: bad arguments, e.g. ``int8_layers="stem"`` on a model none of whose
            chosen layers becomes int8.
        RuntimeError: the kbnn TF op library is not built.
    """
    request = _int8_request(representative_dataset, int8_layers, inference_input_type, inference_output_type)
    stem = stem_lowering.check_choice(stem, representative_dataset)
    if stem == "auto" and representative_dataset is not None:
        stem = "float"  # the int8 conversion quantizes the stem (int8_layers)
    log = tflite.NativeLog()
    bar = _Progress(progress, 4 if request is None else 5)
    try:
        lowered = _lower_for(
            model,
            request,
            output_types=output_types,
            batch_size=batch_size,
            fuse_residual=fuse_residual,
            stem=stem,
        )
        report = lowered.report
        bar.step("lowered")
        _check_lowerable(model, report, strict)
        lowered.ops = op_backend("kbnn")  # raises when the op library is not built
        concrete = tflite.trace(lowered, log, verbose)
        bar.step("traced")
        data = tflite.to_flatbuffer(concrete, model, log, verbose)
        bar.step("converted")
        if request is not None:
            data = quantize.to_int8(data, lowered, request, log, verbose, stacklevel=2)
            bar.step("int8")
        data = io_in_keras_order(data)
        report.file_bytes = len(data)
        with tflite.native_output(log, verbose, "check on a zero input"):
            report.checked = check_file(data, model)
        if path is not None:
            write_atomic(path, data)
        bar.step()
    except ConversionError as e:
        e.converter_log = log.text
        raise
    finally:
        bar.close()
    report.converter_log = log.text
    if verbose:
        print(report.to_text())
    return (data, report) if return_report else data
