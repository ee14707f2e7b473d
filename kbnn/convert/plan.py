"""The plan: what happens to each node of the model graph, one typed step per node.

A step's class is its kind (:class:`StepKind`); each class holds only the fields its kind has
and is the one place where that kind's behaviour lives: :meth:`Step.emit` writes its TF ops
(stage "lowered model", :mod:`kbnn.convert.emit`) and :meth:`Step.report_row` fills its row of
the conversion report (:mod:`kbnn.convert.report`). :mod:`kbnn.convert.lowering` builds the
plan; a multi-base layer's bases are a value of :mod:`kbnn.convert.multibase` held by its step.

Every step answers the same four questions about its data flow, whether or not its kind has
the field: ``output_type`` (``"float32"`` or ``"bitpacked"``), ``input_bitpacked``,
``residual_key`` (the other input of a fused residual add) and ``input_bits`` (reads the sign
output of a fused op instead of quantizing its float input).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, ClassVar

import numpy as np

from kbnn.convert.graph import Node, TensorKey, called_more_than_once, fill_refs
from kbnn.layers.bitplane import BitPlaneInput


class StepKind(enum.StrEnum):
    """The kinds of plan steps (equal to their former string names, e.g. ``"bconv2d"``)."""

    KERAS = "keras"  # the Keras layer runs as it is (TFLite builtins)
    FOLDED = "folded"  # folded into a binary op (batch norm, activation, residual add)
    BCONV2D = "bconv2d"  # KbnnBconv2d (or KbnnBconv2dResidual)
    BFC = "bfc"  # KbnnBFullyConnected
    BMULTI = "bmulti"  # a sum of binary convolutions / products (kbnn/convert/multibase.py)
    BMAXPOOL = "bmaxpool"  # KbnnBMaxPool2d on bitpacked data
    BFLATTEN = "bflatten"  # a reshape of bitpacked words
    STEM = "stem"  # KbnnStemConv2d: the int8 stem (kbnn/convert/stem.py)


@dataclasses.dataclass(eq=False)
class Step:
    """What happens to one graph node (abstract: see the subclasses)."""

    node: Node
    kind: ClassVar[StepKind]
    output_type: ClassVar[str] = "float32"
    input_bitpacked: ClassVar[bool] = False
    residual_key: ClassVar[TensorKey | None] = None
    input_bits: ClassVar[bool] = False

    def scheduled(self) -> Step | None:
        """The step to run at this node's place in the graph (None: nothing runs here)."""
        return self

    def emit(self, values: dict, bits: dict, ops, tf) -> None:
        """Create this step's TF ops: read ``values`` (and ``bits``), write its outputs there."""
        raise NotImplementedError(type(self).__name__)

    def report_row(self, row, plan: list) -> None:
        """Fill ``row`` (a :class:`kbnn.convert.report.LayerReport`) for this step."""
        raise NotImplementedError(type(self).__name__)


@dataclasses.dataclass(eq=False)
class KerasStep(Step):
    """The Keras layer is called as it is; ``reason``: why a quantized layer was not lowered."""

    kind: ClassVar[StepKind] = StepKind.KERAS
    reason: str = ""

    def emit(self, values, bits, ops, tf):
        node = self.node
        args = fill_refs(node.args, values)
        kwargs = fill_refs(node.kwargs, values)
        kwargs.pop("training", None)
        kwargs.pop("mask", None)
        layer = node.layer
        if getattr(layer, "_call_has_training_arg", False):
            kwargs["training"] = False
        out = layer(*args, **kwargs)
        if isinstance(out, (list, tuple)):
            for i, t in enumerate(out):
                values[node.out(i)] = t
        elif isinstance(out, dict):  # pragma: no cover
            raise ValueError(f"layer {node.name} returns a dict; not supported")
        else:
            values[node.out()] = out

    def report_row(self, row, plan):
        layer = self.node.layer
        row.weight_bytes = int(sum(int(np.prod(v.shape)) * 4 for v in layer.weights))
        row.weight_bits = 32 if layer.weights else None
        if self.reason:
            row.status, row.reason = "float (not lowered)", self.reason
            row.op = "builtin (float, quantized values)"
        elif isinstance(layer, BitPlaneInput):
            users = [
                c.node.name
                for c in plan
                if c.kind == StepKind.BMULTI and c.node.inputs and c.node.inputs[0][0] == layer.name
            ]
            row.op = "builtin (integer input)" + (f" -> bit planes of {', '.join(users)}" if users else "")


@dataclasses.dataclass(eq=False)
class FoldedStep(Step):
    """Folded into the binary op of layer ``folded_into``; ``runs``: the fused conv step that runs
    at this place (a residual ``Add``: the conv's residual input exists only here)."""

    kind: ClassVar[StepKind] = StepKind.FOLDED
    folded_into: str = ""
    runs: Any = None

    def scheduled(self):
        return self.runs

    def report_row(self, row, plan):
        row.status, row.op = "folded", f"folded into {self.folded_into}"


def _binary_macs(step, op: StepKind, terms: int) -> int:
    """Per-sample binary MACs of the kbnn conv/FC ops of one step (from the emitted op shapes)."""
    if op == StepKind.BFC:
        return terms * step.channels_out * int(step.attrs["input_size"])
    a = step.attrs
    out = step.node.layer.output.shape if not called_more_than_once(step.node.layer) else None
    if out is None or None in tuple(out[1:3]):
        return 0
    per_output = a["filter_height"] * a["filter_width"] * (a["channels_in"] // a["groups"])
    return terms * int(out[1]) * int(out[2]) * step.channels_out * per_output


@dataclasses.dataclass(eq=False)
class _WeightedStep(Step):
    """A lowered layer with packed weights, per-channel ``multiplier``/``bias`` and the nodes
    ``folded`` into it; its result stands for the tensor ``output_key``."""

    output_key: TensorKey | None = None
    folded: list = dataclasses.field(default_factory=list)
    attrs: dict = dataclasses.field(default_factory=dict)
    weights: np.ndarray | None = None  # packed int32
    multiplier: np.ndarray | None = None
    bias: np.ndarray | None = None
    post_activation: Any = None  # float activation applied after the op (forces float output)
    channels_out: int = 0

    def _fill_weighted_row(self, row, op_count: int, terms: int, op: StepKind) -> None:
        row.weight_bits = 1
        row.op_count = op_count
        row.binary_macs = _binary_macs(self, op, terms)
        row.weight_bytes = int(self.weights.nbytes + self.multiplier.nbytes + self.bias.nbytes)
        if self.folded:
            row.op += " (+" + ", ".join(n.name for n in self.folded) + ")"


@dataclasses.dataclass(eq=False)
class BinaryOpStep(_WeightedStep):
    """One KbnnBconv2d / KbnnBFullyConnected (abstract: :class:`BConv2DStep`, :class:`BFCStep`)."""

    output_type: str = "float32"  # "float32" | "bitpacked"
    input_bitpacked: bool = False
    input_bits: bool = False

    def _input(self, values, bits, ops, tf):
        node = self.node
        x = values[node.inputs[0]]
        if self.input_bits:
            return bits[node.inputs[0]]
        if not self.input_bitpacked:
            with tf.name_scope(node.name):
                x = ops.quantize(x)
        return x

    def emit(self, values, bits, ops, tf):
        x = self._input(values, bits, ops, tf)
        w, m, b = (tf.constant(self.weights), tf.constant(self.multiplier), tf.constant(self.bias))
        # The layer's name scope names the op's tensors in the .tflite (the int8 report uses it).
        with tf.name_scope(self.node.name):
            y = self._op(x, w, m, b, values, bits, ops)
        if self.post_activation is not None:
            y = self.post_activation(y)
        values[self.output_key] = y

    def report_row(self, row, plan):
        row.status, row.op = "lowered", self.op_name
        row.output_type = self.output_type
        if self.input_bitpacked:
            row.input = "bitpacked"
        elif self.input_bits:
            row.input = f"bitpacked (sign output of {_residual_producer(plan, self.node.inputs[0])})"
        else:
            row.input = "quantize"
        self._fill_weighted_row(row, 1, 1, self.kind)


def _residual_producer(plan, key) -> str:
    """The conv whose KbnnBconv2dResidual output is the tensor ``key``."""
    for st in plan:
        if st.residual_key is not None and st.output_key == key:
            return st.node.name
    return "?"  # pragma: no cover


@dataclasses.dataclass(eq=False)
class BConv2DStep(BinaryOpStep):
    """KbnnBconv2d; with ``residual_key`` a KbnnBconv2dResidual that also adds that tensor (the
    folded ``Add``) and emits the sum's signs, bitpacked, as a second output."""

    kind: ClassVar[StepKind] = StepKind.BCONV2D
    residual_key: TensorKey | None = None

    def scheduled(self):
        return None if self.residual_key is not None else self  # runs at its Add's place

    @property
    def op_name(self) -> str:
        return "KbnnBconv2d" if self.residual_key is None else "KbnnBconv2dResidual"

    def _op(self, x, w, m, b, values, bits, ops):
        a = self.attrs
        attrs = {k: v for k, v in a.items() if k != "activation"}
        if self.residual_key is not None:
            y, bits[self.output_key] = ops.bconv2d_residual(
                x, w, m, b, values[self.residual_key], activation=a["activation"], **attrs
            )
            return y
        T = "int32" if self.output_type == "bitpacked" else "float"
        return ops.bconv2d(x, w, m, b, **attrs, activation=a["activation"], T=T)


@dataclasses.dataclass(eq=False)
class BFCStep(BinaryOpStep):
    """KbnnBFullyConnected."""

    kind: ClassVar[StepKind] = StepKind.BFC
    op_name: ClassVar[str] = "KbnnBFullyConnected"

    def _op(self, x, w, m, b, values, bits, ops):
        T = "int32" if self.output_type == "bitpacked" else "float"
        return ops.bfully_connected(
            x, w, m, b, input_size=self.attrs["input_size"], activation=self.attrs["activation"], T=T
        )


@dataclasses.dataclass(eq=False)
class BMultiStep(_WeightedStep):
    """A sum of binary products over (activation base, weight base) pairs: ``bases`` is a
    :class:`kbnn.convert.multibase.Bases` (it emits the ops); ``weights`` / ``multiplier`` are
    its packed weight sets and scales concatenated (for the report's byte count)."""

    kind: ClassVar[StepKind] = StepKind.BMULTI
    bases: Any = None

    @property
    def terms(self) -> list:
        return self.bases.terms

    def emit(self, values, bits, ops, tf):
        x = values[self.node.inputs[0]]
        values[self.output_key] = self.bases.emit(x, self.attrs, self.post_activation, ops, tf)

    def report_row(self, row, plan):
        row.status, row.op, row.output_type = "lowered", self.bases.describe(), self.output_type
        row.input = "quantize (" + self.bases.act_spec["mode"] + ")"
        self._fill_weighted_row(
            row, len(self.bases.weight_sets), max(1, len(self.bases.terms)), self.bases.op
        )


@dataclasses.dataclass(eq=False)
class _BitpackedStep(Step):
    """A layer on bitpacked data with bitpacked output (its result is ``node.out()``)."""

    output_type: ClassVar[str] = "bitpacked"
    input_bitpacked: ClassVar[bool] = True

    @property
    def output_key(self) -> TensorKey:
        return self.node.out()

    def report_row(self, row, plan):
        row.status, row.op, row.output_type, row.input = "lowered", self.op_name, "bitpacked", "bitpacked"


@dataclasses.dataclass(eq=False)
class BMaxPoolStep(_BitpackedStep):
    """KbnnBMaxPool2d (``sign(max x) = max sign(x)``)."""

    kind: ClassVar[StepKind] = StepKind.BMAXPOOL
    op_name: ClassVar[str] = "KbnnBMaxPool2d"
    attrs: dict = dataclasses.field(default_factory=dict)

    def emit(self, values, bits, ops, tf):
        node = self.node
        channels = int(node.layer.input.shape[-1])
        values[node.out()] = ops.bmaxpool2d(values[node.inputs[0]], channels=channels, **self.attrs)


@dataclasses.dataclass(eq=False)
class BFlattenStep(_BitpackedStep):
    """``Flatten`` of bitpacked NHWC data with a multiple of 32 channels: a reshape of the words."""

    kind: ClassVar[StepKind] = StepKind.BFLATTEN
    op_name: ClassVar[str] = "Reshape (bitpacked words)"

    def emit(self, values, bits, ops, tf):
        x = values[self.node.inputs[0]]
        values[self.node.out()] = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
