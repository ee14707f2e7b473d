"""Bit-aware model summary: parameters, packed memory and MACs per precision, per layer.

``kbnn.summary(model)`` prints a table and returns a :class:`ModelSummary` (one
:class:`LayerSummary` row per layer, plus totals) that tests, notebooks and the CLI can read.
All numbers are per sample (the batch dimension is excluded) and are computed from shapes
and weights alone, through the public Keras 3 API (``model.layers``, ``layer.weights``,
``layer.output.shape``). ``summary(model, latency=True)`` also converts the model
(``kbnn.convert``), times it in the interpreter with the kbnn delegate (``kbnn.benchmark``, per-op
profile) and adds a measured latency per layer (see ``summary``).

Precision sources, for any layer (not a closed list of classes):

* input precision: ``layer.input_precision`` (int bits, ``None`` = full precision); layers
  without the attribute are full precision at their input dtype;
* weight precision: ``layer.weight_precisions()`` (``{variable.path: bits or None}``) when
  the layer has it, else the variable's tag (:func:`kbnn.variables.precision_of_variable`);
  untagged weights (bias, BatchNormalization gamma/beta and moving statistics, any weight of
  an unknown layer) are full precision and count at their dtype's size.

Memory rule (how the converter packs quantized weights; one rule, used everywhere here):

* A ``k``-bit weight tensor is stored as ``k`` bit-planes; each bit-plane is packed along
  the kernel's input-channel axis ``C`` into 32-bit words, one row of ``ceil(C / 32)``
  words for every other index of the tensor (padding bits are 0). Hence
  ``bytes = k * 4 * (size / C) * ceil(C / 32)``.
* The input-channel axis is axis -2 of every Keras kernel layout (Dense ``(in, out)``, Conv
  ``(*k, in/groups, out)``, DepthwiseConv ``(*k, in, multiplier)``, SeparableConv's depthwise
  and pointwise kernels) except the transposed convolutions ``(*k, out, in)``: axis -1.
  Rank-1 quantized weights are packed as one row. For a Conv2D kernel this is
  ``Cout * kh * kw`` rows of ``ceil(Cin / groups / 32)`` words and for Dense ``out`` rows of
  ``ceil(in / 32)`` words: exactly the kernels' filter layouts (``PackFilters`` /
  ``PackedFilterWords`` in ``kernels/include/kbnn/bitpack.h``, ``bfully_connected.h``).
* Sizes are those of the Keras model's own weights (BatchNormalization parameters and
  moving statistics included, as float); the converter's folding of BN into a per-channel
  multiplier/bias is not modeled here.
* Full-precision weights take ``size * dtype bytes`` (float32: 4 bytes).

MAC rule: ``MACs = positions * kernel.size`` where ``kernel.size`` already carries the
``/groups`` and ``*depth_multiplier`` factors of the Keras kernel shapes:

* Dense (any input rank): positions = product of the output shape without batch and units;
* Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (depthwise and pointwise parts):
  positions = product of the output spatial dims (so strides, dilation and padding enter
  through the output shape), i.e. ``prod(out_spatial) * Cout * prod(k) * Cin / groups``;
* Conv1D/2D/3DTranspose: positions = product of the *input* spatial dims, i.e.
  ``prod(in_spatial) * prod(k) * Cin * Cout``.

A MAC is *binary* when both operands are 1-bit: the layer's input precision and the weight
precision of that part are 1. A layer that is a sum of binary convolutions — a
``kbnn.quantizers.MultiBaseSign`` input (N activation bases) and/or kernel (M weight bases), or a
binary-weight layer fed by ``kbnn.layers.BitPlaneInput`` (N = bits planes) — reports the MACs
of the ``N x M`` binary convolutions ``kbnn.convert`` emits for it: ``MACs = binary MACs =
N * M * positions * kernel.size``. For SeparableConv the depthwise part uses
(``input_precision``, ``depthwise_precision``); the pointwise part reads the depthwise output,
a multi-bit sum, so its MACs are never binary. Layers that do no multiply-accumulate
(normalization incl. ``ShiftBatchNormalization``, pooling, reshaping, activations, merging,
dropout, quantizers, ``RPReLU``, ``ChannelMix``) report 0 MACs;
element-wise work is not counted. Any other layer that is not a Dense/Conv kind (by
``isinstance``) reports ``macs=None`` ("n/a" in the table) and adds 0 to the totals.

Nested models (a Sequential inside a Functional model, or any ``keras.Model`` layer) are
walked recursively: their layers become rows named ``outer/inner``; weights a nested model
owns outside its layers get a row of their own. ``InputLayer`` rows are omitted. Each
variable is counted once even when layers share it; a layer called several times is
counted for its first call (``layer.output``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import keras

from kbnn.checks import ModelMistakeWarning, model_mistakes
from kbnn.layers import BitPlaneInput, ChannelMix, RPReLU, ShiftBatchNormalization
from kbnn.quantizers import MultiBaseSign, Quantizer, binary_bases
from kbnn.variables import precision_of_variable

__all__ = ["summary", "ModelSummary", "LayerSummary", "packed_weight_bytes"]

_WORD_BITS = 32

_NO_MAC_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in (
        "InputLayer",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "Normalization",
        "Rescaling",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "GaussianNoise",
        "AlphaDropout",
        "ActivityRegularization",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "Identity",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
    )
    if hasattr(keras.layers, name)
) + (Quantizer, ShiftBatchNormalization, BitPlaneInput, RPReLU, ChannelMix)

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_CONV_TRANSPOSE = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


@dataclasses.dataclass
class LayerSummary:
    """One row of the summary. All counts are per sample.

    Attributes:
        name: Layer name; ``outer/inner`` for layers of nested models.
        class_name: The layer's class name.
        output_shape: ``layer.output.shape`` (batch dim ``None``), a list of shapes for
            several outputs, or ``None`` when unknown.
        input_precision: Bits of the layer's (quantized) input, ``None`` = full precision.
        input_bits: Bits the input actually takes (``input_precision`` or the dtype's bits).
        input_dtype: dtype name of the input (full precision display, e.g. ``"float32"``).
        weight_precisions: Bits of the layer's kernel-like weights (quantized weights and
            weights named ``*kernel``), dtype bits where full precision; empty if none.
        params: ``{bits: count}`` over all weights of the row, trainable or not; full
            precision weights are keyed by their dtype's bits (float32 → 32).
        trainable_params: Count of trainable parameters.
        non_trainable_params: Count of non-trainable parameters (e.g. BN moving stats).
        memory_bytes: Bytes of the weights, quantized weights packed (module docstring).
        float32_bytes: Bytes if every parameter were float32.
        macs: Multiply-accumulates, or ``None`` when not computable ("n/a").
        binary_macs: MACs with both operands 1-bit.
        note: Free text (why MACs are n/a, own weights of a nested model...).
    """

    name: str
    class_name: str
    output_shape: Any
    input_precision: int | None
    input_bits: int
    input_dtype: str
    weight_precisions: list[int]
    params: dict[int, int]
    trainable_params: int
    non_trainable_params: int
    memory_bytes: int
    float32_bytes: int
    macs: int | None
    binary_macs: int
    note: str = ""
    latency_ms: float | None = None  # summary(latency=True): median ms of the kbnn ops of this layer
    latency_note: str = ""  # "folded into X", "builtin", ... when latency_ms is None

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def other_macs(self) -> int:
        """MACs where at least one operand is wider than 1 bit."""
        return (self.macs or 0) - self.binary_macs


@dataclasses.dataclass
class ModelSummary:
    """Summary of a whole model: rows plus totals (per sample)."""

    name: str
    layers: list[LayerSummary]
    benchmark: Any = None  # kbnn.benchmark.BenchmarkResult of summary(latency=True), else None
    mistakes: list = dataclasses.field(default_factory=list)  # kbnn.checks.model_mistakes messages

    @property
    def latency_ms(self) -> float | None:
        """Median whole-model invoke time (ms) when measured (``latency=True``), else None."""
        return None if self.benchmark is None else self.benchmark.median_ms

    @property
    def params(self) -> dict[int, int]:
        """``{bits: count}`` summed over all rows."""
        out: dict[int, int] = {}
        for row in self.layers:
            for bits, n in row.params.items():
                out[bits] = out.get(bits, 0) + n
        return dict(sorted(out.items()))

    @property
    def total_params(self) -> int:
        return sum(row.total_params for row in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable_params for row in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(row.non_trainable_params for row in self.layers)

    @property
    def memory_bytes(self) -> int:
        """Model size in bytes, quantized weights packed."""
        return sum(row.memory_bytes for row in self.layers)

    @property
    def float32_bytes(self) -> int:
        """Size of the same model with every parameter in float32."""
        return sum(row.float32_bytes for row in self.layers)

    @property
    def compression_ratio(self) -> float:
        """``float32_bytes / memory_bytes`` (1.0 for a model without weights)."""
        return self.float32_bytes / self.memory_bytes if self.memory_bytes else 1.0

    @property
    def macs(self) -> int:
        """Total MACs of the rows where they are computable."""
        return sum(row.macs or 0 for row in self.layers)

    @property
    def binary_macs(self) -> int:
        return sum(row.binary_macs for row in self.layers)

    @property
    def other_macs(self) -> int:
        return self.macs - self.binary_macs

    @property
    def binary_mac_fraction(self) -> float:
        """Fraction of the MACs that are binary (0.0 for a model without MACs)."""
        return self.binary_macs / self.macs if self.macs else 0.0

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serializable; ``params`` keys are bits)."""
        return {
            "name": self.name,
            "layers": [
                {**dataclasses.asdict(row), "total_params": row.total_params, "other_macs": row.other_macs}
                for row in self.layers
            ],
            "totals": {
                "params": self.params,
                "total_params": self.total_params,
                "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params,
                "memory_bytes": self.memory_bytes,
                "float32_bytes": self.float32_bytes,
                "compression_ratio": self.compression_ratio,
                "macs": self.macs,
                "binary_macs": self.binary_macs,
                "other_macs": self.other_macs,
                "binary_mac_fraction": self.binary_mac_fraction,
            },
        }

    def to_text(self) -> str:
        """The table ``summary`` prints (and a ``WARNING:`` line per mistake found)."""
        return _format(self) + "".join(f"\nWARNING: {m}" for m in self.mistakes)

    def __str__(self) -> str:
        return self.to_text()


def dtype_bits(dtype) -> int:
    """Bits of one element of ``dtype`` (``"float32"`` → 32, ``"bool"`` → 8)."""
    name = keras.backend.standardize_dtype(dtype)
    m = re.search(r"\d+", name)
    return int(m.group()) if m else 8


def packed_weight_bytes(shape, bits: int, channel_axis: int = -2) -> int:
    """Bytes of a ``bits``-bit weight tensor packed as the converter packs it.

    ``bits`` bit-planes, each packed along ``channel_axis`` into 32-bit words: one row of
    ``ceil(C / 32)`` words per index of the other axes. Rank-0/1 tensors are one row.

    Args:
        shape: The weight's shape.
        bits: Bits per weight (1 for binary).
        channel_axis: The axis packed into words (the kernel's input-channel axis).
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        channels, rows = (shape[0] if shape else 1), 1
    else:
        channels = shape[channel_axis]
        rows = math.prod(shape) // channels if channels else 0
    return bits * rows * math.ceil(channels / _WORD_BITS) * (_WORD_BITS // 8)


def summary(
    model: keras.Model,
    print_fn: Callable[[str], Any] | None = print,
    *,
    latency: bool = False,
    num_threads: int = 1,
    runs: int = 30,
    warmup: int = 3,
) -> ModelSummary:
    """Bit-aware summary of a built Keras model.

    Args:
        model: A built ``keras.Model`` (Functional, Sequential with an input, or subclassed
            and called once).
        print_fn: Called once with the whole table; ``None`` prints nothing.
        latency: Also convert the model (``kbnn.convert``, batch 1) and measure it with
            ``kbnn.benchmark`` (``runs`` timed invokes after ``warmup``, ``num_threads``): each
            row gets ``latency_ms``, the median time of the kbnn ops lowered from that layer
            (layers folded into an op, e.g. BatchNormalization, show "in <layer>"; ops are
            mapped to layers through the conversion report). Builtin (float) ops run in the
            interpreter/XNNPACK between the kbnn ops and are timed per group, i.e. per gap
            between two kbnn ops (``kbnn.benchmark``'s ``groups``): their rows show "group k"
            (or "n/a" when no group's tensors are named after the layer), and the groups are
            listed below the table with their time, the interpreter's overhead included.

    Returns:
        A :class:`ModelSummary`.

    Raises:
        ValueError: if the model is not built.

    Warns:
        kbnn.checks.ModelMistakeWarning: for each mistake :func:`kbnn.checks.model_mistakes`
        finds (e.g. a sign ``input_quantizer`` on ``BitPlaneInput``'s output); the table ends
        with a ``WARNING:`` line for each, and ``ModelSummary.mistakes`` lists them.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if not model.built:
        raise ValueError(
            "The model is not built: call it on data or give it an Input before summarizing. "
            f"Received: model={model.name!r}"
        )
    rows: list[LayerSummary] = []
    _walk(model, "", rows, set(), _bitplane_fed(model))
    result = ModelSummary(name=model.name, layers=rows, mistakes=model_mistakes(model))
    for message in result.mistakes:
        warnings.warn(message, ModelMistakeWarning, stacklevel=2)
    if latency:
        _measure_latency(model, result, num_threads=num_threads, runs=runs, warmup=warmup)
    if print_fn is not None:
        print_fn(result.to_text())
    return result


def _measure_latency(model, result: ModelSummary, num_threads: int, runs: int, warmup: int) -> None:
    from kbnn import convert as kconvert
    from kbnn_runtime.benchmark import attribute_ops, benchmark  # = kbnn.benchmark

    data, report = kconvert(model, progress=False, return_report=True, batch_size=1)
    bench = benchmark(data, num_threads=num_threads, runs=runs, warmup=warmup)
    per_layer = attribute_ops(bench, report)
    status = {r.name: r for r in report.layers}
    for row in result.layers:
        rep = status.get(row.name)
        if row.name in per_layer:
            row.latency_ms = per_layer[row.name]
        elif rep is not None and rep.status == "folded":
            row.latency_note = "in " + rep.op[len("folded into ") :]
        elif rep is not None and rep.status in ("builtin", "float (not lowered)"):
            k = _builtin_group_of(row.name, bench.groups)
            row.latency_note = "n/a" if k is None else f"group {k}"
        else:
            row.latency_note = "-"
    result.benchmark = bench


def _builtin_group_of(layer: str, groups: list) -> int | None:
    """Index (among the groups that hold builtin ops) of the benchmark group whose ops' output tensors
    are named after ``layer`` (TFLite names them ``<layer>[_N]/...``), or None."""
    pattern = re.compile(rf"(^|/|;){re.escape(layer)}(_\d+)?(/|;|$)")
    for k, g in enumerate(g for g in groups if g.ops):
        if any(pattern.search(name) for _, _, name in g.ops):
            return k
    return None


def _bitplane_fed(model) -> dict:
    """``{layer name: bits}`` of the layers whose input is a ``BitPlaneInput`` output (the model's
    call graph, as ``kbnn.convert`` reads it; empty for models without a static graph)."""
    try:
        from kbnn.convert.graph import extract_graph

        graph = extract_graph(model)
    except Exception:  # noqa: BLE001 - subclassed models: no graph, no bit-plane inputs to find
        return {}
    fed = {}
    for node in graph.nodes:
        for key in node.inputs[:1]:
            try:
                producer = graph.node(key[:2]).layer
            except KeyError:
                continue
            if isinstance(producer, BitPlaneInput):
                fed[node.name] = producer.bits
    return fed


def _walk(model, prefix: str, rows: list[LayerSummary], seen: set[int], fed: dict | None = None) -> None:
    covered: set[int] = set()
    for layer in model.layers:
        covered.update(id(v) for v in layer.weights)
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            _walk(layer, f"{prefix}{layer.name}/", rows, seen)
        else:
            rows.append(_layer_row(layer, prefix, layer.weights, seen, (fed or {}).get(layer.name)))
    own = [v for v in model.weights if id(v) not in covered and id(v) not in seen]
    if own and prefix:
        row = _layer_row(model, prefix[: -len(model.name) - 1], own, seen)
        row.note = "weights of the nested model outside its layers"
        rows.append(row)


def _output_shape(layer):
    try:
        out = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(out, (list, tuple)):
        return [tuple(t.shape) for t in out]
    return tuple(out.shape)


def _input_shape(layer):
    try:
        inp = layer.input
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(inp, (list, tuple)):
        return None
    return tuple(inp.shape)


def _input_dtype(layer) -> str:
    try:
        inp = layer.input
        if not isinstance(inp, (list, tuple)):
            return keras.backend.standardize_dtype(inp.dtype)
    except (AttributeError, ValueError, RuntimeError):
        pass
    return keras.backend.standardize_dtype(getattr(layer, "compute_dtype", None) or "float32")


def _weight_bits(layer, variable) -> int | None:
    table = getattr(layer, "weight_precisions", None)
    if callable(table):
        bits = table().get(variable.path)
        if bits is not None:
            return bits
    return precision_of_variable(variable)


def _short_name(variable) -> str:
    return variable.path.rsplit("/", 1)[-1]


def _layer_row(layer, prefix: str, weights, seen: set[int], plane_bits: int | None = None) -> LayerSummary:
    params: dict[int, int] = {}
    trainable = non_trainable = memory = 0
    kernel_bits: list[int] = []
    transpose = isinstance(layer, _CONV_TRANSPOSE)
    for v in weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        n = math.prod(int(d) for d in v.shape)
        full = dtype_bits(v.dtype)
        q = _weight_bits(layer, v)
        if q is not None and q < full:
            key = q
            memory += packed_weight_bytes(v.shape, q, channel_axis=-1 if transpose else -2)
        else:
            key = full
            memory += n * full // 8
        params[key] = params.get(key, 0) + n
        if v.trainable:
            trainable += n
        else:
            non_trainable += n
        if q is not None or _short_name(v).endswith("kernel"):
            kernel_bits.append(key)
    out_shape = _output_shape(layer)
    in_dtype = _input_dtype(layer)
    in_prec = getattr(layer, "input_precision", None)
    if in_prec is None and plane_bits and getattr(layer, "input_quantizer", None) is None:
        in_prec = plane_bits  # the BitPlaneInput integers: `plane_bits` binary planes
    macs, binary, note = _macs(layer, out_shape, in_prec, _bases(layer, plane_bits))
    return LayerSummary(
        name=prefix + layer.name,
        class_name=type(layer).__name__,
        output_shape=out_shape,
        input_precision=in_prec,
        input_bits=in_prec if in_prec is not None else dtype_bits(in_dtype),
        input_dtype=in_dtype,
        weight_precisions=sorted(set(kernel_bits)),
        params=dict(sorted(params.items())),
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        memory_bytes=memory,
        float32_bytes=4 * (trainable + non_trainable),
        macs=macs,
        binary_macs=binary,
        note=note,
    )


def _find_weight(layer, name: str):
    for v in layer.weights:
        if _short_name(v) == name:
            return v
    return None


def _spatial(shape, layer) -> tuple[int, ...] | None:
    if shape is None or not isinstance(shape, tuple) or any(d is None for d in shape[1:]):
        return None
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return tuple(shape[2:])
    return tuple(shape[1:-1])


def _part_precision(layer, attr: str, variable) -> int | None:
    """Weight precision of one part: the layer's ``attr`` (or ``kernel_precision``) if it
    declares one, else the variable's precision tag."""
    for name in (attr, "kernel_precision"):
        if hasattr(layer, name):
            return getattr(layer, name)
    return precision_of_variable(variable)


def _bases(layer, plane_bits: int | None) -> tuple[int, int] | None:
    """``(activation bases, weight bases)`` of a layer that is a sum of binary convolutions."""
    iq, kq = getattr(layer, "input_quantizer", None), getattr(layer, "kernel_quantizer", None)
    fed = plane_bits if iq is None else None
    if not (isinstance(iq, MultiBaseSign) or isinstance(kq, MultiBaseSign) or fed):
        return None
    a, w = (fed or binary_bases(iq)), binary_bases(kq)
    return None if a is None or w is None else (a, w)


def _macs(layer, out_shape, in_prec, bases=None) -> tuple[int | None, int, str]:
    """(MACs or None, binary MACs, note) for one layer; rules in the module docstring."""

    def is_binary(weight_prec) -> bool:
        return in_prec == 1 and weight_prec == 1

    if isinstance(layer, _SEPARABLE):
        dw, pw, sp = (
            _find_weight(layer, "depthwise_kernel"),
            _find_weight(layer, "pointwise_kernel"),
            _spatial(out_shape, layer),
        )
        if dw is None or pw is None or sp is None:
            return None, 0, "MACs n/a: unbuilt or unknown output shape"
        positions = math.prod(sp)
        dw_macs = positions * math.prod(dw.shape)
        pw_macs = positions * math.prod(pw.shape)
        dw_prec = _part_precision(layer, "depthwise_precision", dw)
        return dw_macs + pw_macs, dw_macs if is_binary(dw_prec) else 0, ""
    if isinstance(layer, _DEPTHWISE + _CONV + _CONV_TRANSPOSE + (keras.layers.Dense,)):
        # Keras names DepthwiseConv's kernel "kernel"; accept "depthwise_kernel" as well.
        kernel = _find_weight(layer, "kernel")
        if kernel is None:
            kernel = _find_weight(layer, "depthwise_kernel")
        if isinstance(layer, keras.layers.Dense):
            shape = out_shape if isinstance(out_shape, tuple) else None
            sp = None if shape is None or any(d is None for d in shape[1:]) else tuple(shape[1:-1])
        elif isinstance(layer, _CONV_TRANSPOSE):
            sp = _spatial(_input_shape(layer), layer)
        else:
            sp = _spatial(out_shape, layer)
        if kernel is None or sp is None:
            return None, 0, "MACs n/a: unbuilt or unknown shape"
        macs = math.prod(sp) * math.prod(kernel.shape)
        if bases is not None:
            a, w = bases
            return (
                a * w * macs,
                a * w * macs,
                f"{a * w} binary convolutions ({a} activation x {w} weight bases)",
            )
        prec = _part_precision(
            layer, "depthwise_precision" if isinstance(layer, _DEPTHWISE) else "kernel_precision", kernel
        )
        return macs, macs if is_binary(prec) else 0, ""
    if isinstance(layer, _NO_MAC_LAYERS):
        return 0, 0, ""
    return None, 0, "MACs n/a: layer kind not counted"


def _fmt_params(params: dict[int, int]) -> str:
    return " ".join(f"{bits}b:{n:,}" for bits, n in params.items()) or "0"


def _fmt_shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _format(s: ModelSummary) -> str:
    header = [
        "Layer (type)",
        "Output shape",
        "In bits",
        "W bits",
        "Params (bits:count)",
        "Memory (B)",
        "MACs",
        "Binary MACs",
    ]
    timed = s.benchmark is not None
    if timed:
        header = header + ["Latency (ms)"]
    table = [header]
    for r in s.layers:
        in_txt = r.input_dtype if r.input_precision is None else f"{r.input_precision}-bit"
        w_txt = "/".join(str(b) for b in r.weight_precisions) or (
            "-" if not r.params else "/".join(str(b) for b in r.params)
        )
        table.append(
            [
                f"{r.name} ({r.class_name})",
                _fmt_shape(r.output_shape),
                in_txt,
                w_txt,
                _fmt_params(r.params),
                f"{r.memory_bytes:,}",
                "n/a" if r.macs is None else f"{r.macs:,}",
                f"{r.binary_macs:,}",
            ]
            + ([f"{r.latency_ms:.3f}" if r.latency_ms is not None else r.latency_note] if timed else [])
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def line(cells):
        return "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [f'Model: "{s.name}"', rule, line(header), rule]
    out += [line(row) for row in table[1:]]
    out.append(rule)
    by_bits = ", ".join(f"{bits}-bit: {n:,}" for bits, n in s.params.items())
    out.append(f"Total params: {s.total_params:,} ({by_bits or 'none'})")
    out.append(f"Trainable params: {s.trainable_params:,}  Non-trainable params: {s.non_trainable_params:,}")
    out.append(f"Model size: {s.memory_bytes:,} bytes ({s.memory_bytes / 1024:.2f} KiB), packed")
    out.append(f"Float-32 equivalent: {s.float32_bytes:,} bytes ({s.float32_bytes / 1024:.2f} KiB)")
    out.append(f"Compression ratio: {s.compression_ratio:.2f}x")
    out.append(
        f"MACs: {s.macs:,}  binary: {s.binary_macs:,}  higher precision: {s.other_macs:,}  "
        f"binarized: {100 * s.binary_mac_fraction:.2f}%"
    )
    na = [r.name for r in s.layers if r.macs is None]
    if na:
        out.append("MACs n/a (not counted): " + ", ".join(na))
    notes = [f"{r.name}: {r.note}" for r in s.layers if r.note and r.macs is not None]
    out += notes
    if timed:
        b = s.benchmark
        out.append(
            f"Latency ({b.num_threads} thread{'s' if b.num_threads > 1 else ''}, median of {b.runs}): "
            f"{b.median_ms:.3f} ms total (p10 {b.p10_ms:.3f}, p90 {b.p90_ms:.3f}); kbnn ops {b.kbnn_ms:.3f} "
            "ms, "
            f"builtin ops + interpreter {b.other_ms:.3f} ms"
        )
        for k, g in enumerate(g for g in b.groups if g.ops):  # the rows' "group k"
            where = "at the start" if g.after is None else f"after kbnn node {g.after}"
            out.append(f"  builtin group {k} ({where}): {g.median_ms:.3f} ms ({g.label[len('builtin: ') :]})")
    out.append(rule)
    return "\n".join(out)
