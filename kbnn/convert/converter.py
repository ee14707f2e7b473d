"""``kbnn.convert``: Keras model → TF function with kbnn ops → ``.tflite`` bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import warnings

import keras
import numpy as np

from kbnn.checks import model_mistakes
from kbnn.convert import lowering, multibase
from kbnn.convert._capture import captured_fds
from kbnn.layers.bitplane import BitPlaneInput

_OP_NAMES = {"bconv2d": "KbnnBconv2d", "bfc": "KbnnBFullyConnected", "bmaxpool": "KbnnBMaxPool2d",
             "bflatten": "Reshape (bitpacked words)"}


class ConversionWarning(UserWarning):
    """A quantized layer was exported as float (its quantized values), not as a binary op."""


class ConversionError(ValueError):
    """The model cannot be converted to a file that runs: ``strict=True`` and some quantized
    layers could not be lowered to binary ops; a quantizer misuse (``kbnn.checks``); TF's
    converter failed; or the written file does not run in ``kbnn.Interpreter`` on a zero input
    (or gives an empty output)."""


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class LayerReport:
    name: str
    class_name: str
    status: str  # "lowered" | "folded" | "builtin" | "float (not lowered)" | "input"
    op: str  # custom op name, "folded into <layer>", or "builtin"
    output_type: str = ""  # float32 / bitpacked for lowered ops
    input: str = ""  # "quantize" / "bitpacked" for binary ops
    weight_bits: int | None = None  # bits of the exported weights (1 = bitpacked); None without weights
    weight_bytes: int = 0  # bytes of the exported weights/constants of this layer
    binary_macs: int = 0  # per sample: XNOR-popcount MACs of the binary ops emitted for this layer
    op_count: int = 1  # kbnn conv/FC ops emitted for this layer (a multi-base layer: one per weight base)
    reason: str = ""  # why a quantized layer was not lowered
    precision: str = ""  # int8 conversions: "int8" / "float32" (what the layer computes in), "1-bit"


@dataclasses.dataclass
class ConversionReport:
    """Every Keras layer and what it became in the exported file."""

    model_name: str
    layers: list
    file_bytes: int = 0
    int8: bool = False  # converted with representative_dataset (int8 for the non-binary layers)
    interface: str = "float32"  # int8 conversions: "<input>/<output>" types of the model
    int8_choice: str = ""  # int8 conversions: the int8_layers choice ("all", "stem" or "list")
    converter_log: str = ""  # what TF's converter / quantizer printed (kept off the terminal)
    checked: str = ""  # what ran on the written file (kbnn.Interpreter, zero input, output shapes), or why not

    @property
    def not_lowered(self) -> list:
        """Rows of quantized layers exported as float, with their reasons."""
        return [r for r in self.layers if r.reason]

    @property
    def lowered(self) -> list:
        return [r for r in self.layers if r.status == "lowered"]

    def row(self, name: str) -> LayerReport:
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def weight_bytes(self) -> int:
        return sum(r.weight_bytes for r in self.layers)

    @property
    def int8_layers(self) -> list:
        """Rows of the non-binary layers that compute in int8 (int8 conversions)."""
        return [r for r in self.layers if r.precision == "int8"]

    def to_text(self) -> str:
        head = ("layer", "class", "exported as", "out", "w bits", "w bytes") + (("dtype",) if self.int8 else ())
        rows = [head] + [
            (r.name, r.class_name, r.op + (f"  [{r.reason}]" if r.reason else ""), r.output_type,
             "-" if r.weight_bits is None else str(r.weight_bits), str(r.weight_bytes))
            + ((r.precision or "-",) if self.int8 else ())
            for r in self.layers
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = [f"kbnn conversion report: {self.model_name}"]
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"lowered: {len(self.lowered)} ops; not lowered: {len(self.not_lowered)}; "
                     f"weights: {self.weight_bytes} bytes; file: {self.file_bytes} bytes")
        if self.int8:
            floats = [r.name for r in self.layers if r.precision == "float32"]
            lines.append(f"int8 ({self.int8_choice or 'all'}): {len(self.int8_layers)} non-binary layers compute in "
                         f"int8 ({', '.join(r.name for r in self.int8_layers) or 'none'}); float32: "
                         f"{', '.join(floats) if floats else 'none'}; model input/output: {self.interface}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _float_weight_bytes(layer) -> int:
    return int(sum(int(np.prod(v.shape)) * 4 for v in layer.weights))


def _binary_macs(st) -> int:
    """Per-sample binary MACs of the kbnn conv/FC ops of one step (from the emitted op shapes)."""
    op = st.multi_op if st.kind == "bmulti" else st.kind
    terms = max(1, len(st.terms))
    if op == "bfc":
        return terms * st.channels_out * int(st.attrs["input_size"])
    a = st.attrs
    out = st.node.layer.output.shape if not lowering._multi_node(st.node.layer) else None
    if out is None or None in tuple(out[1:3]):
        return 0
    per_output = a["filter_height"] * a["filter_width"] * (a["channels_in"] // a["groups"])
    return terms * int(out[1]) * int(out[2]) * st.channels_out * per_output


def _producer(plan, key) -> str:
    """The conv whose KbnnBconv2dResidual output is the tensor ``key``."""
    for st in plan:
        if st.residual_key is not None and st.output_key == key:
            return st.node.name
    return "?"  # pragma: no cover


def _make_report(model, graph, plan) -> ConversionReport:
    by_layer: dict = {}
    for st in plan:
        by_layer.setdefault(st.node.name, []).append(st)
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        steps = by_layer.get(layer.name, [])
        st = steps[0] if steps else None
        row = LayerReport(layer.name, type(layer).__name__, "builtin", "builtin")
        if st is None:
            row.status, row.op = "unused", "-"
        elif st.kind in ("bconv2d", "bfc"):
            row.status, row.op = "lowered", _OP_NAMES[st.kind]
            if st.residual_key is not None:
                row.op = "KbnnBconv2dResidual"
            row.output_type = st.output_type
            row.input = ("bitpacked" if st.input_bitpacked else
                         f"bitpacked (sign output of {_producer(plan, st.node.inputs[0])})" if st.input_bits
                         else "quantize")
            row.weight_bits = 1
            row.weight_bytes = int(st.weights.nbytes + st.multiplier.nbytes + st.bias.nbytes)
            row.binary_macs = _binary_macs(st)
            if st.folded:
                row.op += " (+" + ", ".join(n.name for n in st.folded) + ")"
        elif st.kind == "bmulti":
            row.status, row.op, row.output_type = "lowered", multibase.describe(st), st.output_type
            row.input = "quantize (" + st.act_spec["mode"] + ")"
            row.weight_bits = 1
            row.op_count = len(st.weight_sets)
            row.binary_macs = _binary_macs(st)
            row.weight_bytes = int(st.weights.nbytes + st.multiplier.nbytes + st.bias.nbytes)
            if st.folded:
                row.op += " (+" + ", ".join(n.name for n in st.folded) + ")"
        elif st.kind in ("bmaxpool", "bflatten"):
            row.status, row.op, row.output_type, row.input = "lowered", _OP_NAMES[st.kind], "bitpacked", "bitpacked"
        elif st.kind == "folded":
            row.status, row.op = "folded", f"folded into {st.folded_into}"
        else:
            row.weight_bytes = _float_weight_bytes(layer)
            row.weight_bits = 32 if layer.weights else None
            if st.reason:
                row.status, row.op, row.reason = "float (not lowered)", "builtin (float, quantized values)", st.reason
            elif isinstance(layer, BitPlaneInput):
                users = [c.node.name for c in plan if c.kind == "bmulti" and c.node.inputs
                         and c.node.inputs[0][0] == layer.name]
                row.op = "builtin (integer input)" + (f" -> bit planes of {', '.join(users)}" if users else "")
        rows.append(row)
    return ConversionReport(model.name, rows)


# ----------------------------------------------------------------------------------------
# TF function
# ----------------------------------------------------------------------------------------


def _backend(name):
    if name == "reference":
        from kbnn.convert import reference_ops

        return reference_ops
    try:
        from kbnn import ops

        ops.load_library()
    except Exception as e:  # noqa: BLE001
        if name == "auto":
            from kbnn.convert import reference_ops

            return reference_ops
        raise RuntimeError(
            "The kbnn TF op library is not available (build it with `pip install -e ./runtime -e .`); it is needed "
            f"to write .tflite files with kbnn CUSTOM ops. Import error: {e}"
        ) from e
    return ops


def _fill(obj, values):
    if isinstance(obj, lowering._Ref):
        return values[obj.key]
    if isinstance(obj, dict):
        return {k: _fill(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, values) for v in obj]
    return obj


def _call_keras(node, values):
    args = _fill(node.args, values)
    kwargs = _fill(node.kwargs, values)
    kwargs.pop("training", None)
    kwargs.pop("mask", None)
    layer = node.layer
    if getattr(layer, "_call_has_training_arg", False):
        kwargs["training"] = False
    return layer(*args, **kwargs)


def run_plan(graph, plan, inputs, ops, scopes=None):
    """Evaluate the plan on TF tensors ``inputs`` (one per model input) with the op module ``ops``.

    ``scopes`` (a dict, filled while tracing a graph): the first name-scope component of every op
    each step creates -> the set of layer names that created ops under it. TF uniquifies re-entered
    scopes (a Keras layer ``conv`` may trace as ``conv_1``, which is also another layer's name), so
    the int8 report attributes the ops of the written file through this map, not by name guessing.
    """
    import tensorflow as tf

    values = {}
    bits = {}  # float tensor -> its bitpacked signs (the second output of KbnnBconv2dResidual)
    for (key, _, _), x in zip(graph.inputs, inputs):
        values[key] = x
    graph_ops = _graph_op_recorder(scopes)
    for st in plan:
        node = st.node
        if st.kind == "folded" and st.runs is None:
            continue
        if st.kind == "folded":  # an Add folded into a conv (KbnnBconv2dResidual) runs it here
            st, node = st.runs, st.runs.node
        elif st.residual_key is not None:
            continue  # runs at its Add's place
        with graph_ops(node.name):
            _run_step(st, node, values, bits, ops, tf)
    outs = [values[k] for k in graph.outputs]
    return outs[0] if len(outs) == 1 else outs


def _graph_op_recorder(scopes):
    """A context factory ``(layer name) -> context`` recording the scopes of the ops a step creates."""
    if scopes is None:
        return lambda name: contextlib.nullcontext()
    import tensorflow as tf

    @contextlib.contextmanager
    def record(name):
        g = tf.compat.v1.get_default_graph()
        before = len(g.get_operations())
        yield
        for op in g.get_operations()[before:]:
            if "/" in op.name:
                scopes.setdefault(op.name.split("/", 1)[0], set()).add(name)

    return record


def _run_step(st, node, values, bits, ops, tf):
    """One step of :func:`run_plan`: writes its outputs into ``values`` (and ``bits``)."""
    if st.kind in ("bconv2d", "bfc"):
        x = values[node.inputs[0]]
        if st.input_bits:
            x = bits[node.inputs[0]]
        elif not st.input_bitpacked:
            with tf.name_scope(node.name):
                x = ops.quantize(x)
        T = "int32" if st.output_type == "bitpacked" else "float"
        a = st.attrs
        common = dict(activation=a["activation"], T=T)
        w, m, b = (tf.constant(st.weights), tf.constant(st.multiplier), tf.constant(st.bias))
        # The layer's name scope names the op's tensors in the .tflite (the int8 report uses it).
        with tf.name_scope(node.name):
            if st.residual_key is not None:
                attrs = {k: v for k, v in a.items() if k != "activation"}
                y, bits[st.output_key] = ops.bconv2d_residual(
                    x, w, m, b, values[st.residual_key], activation=a["activation"], **attrs)
            elif st.kind == "bconv2d":
                attrs = {k: v for k, v in a.items() if k != "activation"}
                y = ops.bconv2d(x, w, m, b, **attrs, **common)
            else:
                y = ops.bfully_connected(x, w, m, b, input_size=a["input_size"], **common)
        if st.post_activation is not None:
            y = st.post_activation(y)
        values[st.output_key] = y
    elif st.kind == "bmulti":
        values[st.output_key] = multibase.run_step(st, values[node.inputs[0]], ops, tf)
    elif st.kind == "bmaxpool":
        x = values[node.inputs[0]]
        channels = int(node.layer.input.shape[-1])
        values[node.out()] = ops.bmaxpool2d(x, channels=channels, **st.attrs)
    elif st.kind == "bflatten":
        x = values[node.inputs[0]]
        values[node.out()] = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
    else:
        out = _call_keras(node, values)
        if isinstance(out, (list, tuple)):
            for i, t in enumerate(out):
                values[node.out(i)] = t
        elif isinstance(out, dict):  # pragma: no cover
            raise ValueError(f"layer {node.name} returns a dict; not supported")
        else:
            values[node.out()] = out


@dataclasses.dataclass
class LoweredModel:
    """The lowering of a Keras model: its graph, plan, report and a TF function over kbnn ops."""

    model: keras.Model
    graph: lowering.Graph
    plan: list
    report: ConversionReport
    ops: object
    batch_size: int | None = None
    scopes: dict = dataclasses.field(default_factory=dict)  # name scope -> layers (filled by tracing)

    def input_signature(self):
        import tensorflow as tf

        return [tf.TensorSpec((self.batch_size,) + tuple(shape[1:]), dtype or "float32")
                for _, shape, dtype in self.graph.inputs]

    def tf_function(self):
        import tensorflow as tf

        @tf.function(input_signature=self.input_signature(), autograph=False)
        def lowered(*inputs):
            return run_plan(self.graph, self.plan, inputs, self.ops, scopes=self.scopes)

        return lowered

    def __call__(self, *inputs):
        import tensorflow as tf

        return run_plan(self.graph, self.plan, [tf.convert_to_tensor(x) for x in inputs], self.ops)


def lower(model, *, output_types="auto", batch_size=None, backend="auto", fuse_residual=True) -> LoweredModel:
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
    """
    if output_types in (None, "auto"):
        output_types = "auto"
    elif output_types not in ("float", "float32"):
        raise ValueError(f"`output_types` must be 'auto' or 'float'. Received: output_types={output_types!r}")
    ops = _backend(backend)
    graph = lowering.extract_graph(model)
    plan = lowering.build_plan(graph, output_types=output_types, pack=ops, fuse_residual=fuse_residual)
    report = _make_report(model, graph, plan)
    return LoweredModel(model, graph, plan, report, ops, batch_size)


def _progress(enabled, total):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc="kbnn convert", unit="step", leave=False)


def _mark_precisions(report: ConversionReport, graph, content: bytes, interface: str, scopes=None) -> None:
    """Fills ``precision`` (and int8 input/output of the binary ops) from the quantized model."""
    from kbnn.convert import int8 as q8

    report.int8, report.interface = True, interface
    ops = q8.op_types(content, [r.name for r in report.layers], [k[0] for k in graph.outputs], scopes)
    rows = {r.name: r for r in report.layers}
    for node in graph.nodes:
        row = rows.get(node.name)
        if row is None or row.status in ("unused", "folded"):
            continue
        entries = ops.get(node.name, [])
        if row.status == "lowered":
            row.precision = "1-bit"
            for op, in_type, out_type in entries:
                if op == "KbnnQuantize" and in_type == "int8":
                    row.input = "quantize (int8)"
                elif op in ("KbnnBconv2d", "KbnnBFullyConnected") and out_type == "int8":
                    row.output_type = "int8"
            continue
        kinds = {"float32" if "float32" in (i, o) else "int8" for _, i, o in entries
                 if {i, o} & {"int8", "float32"}}
        if kinds:
            row.precision = "float32" if "float32" in kinds else "int8"
        elif node.inputs and node.inputs[0][0] in rows:  # no op of its own: computed in its producer's op
            src = rows[node.inputs[0][0]]
            row.precision = src.precision if src.precision in ("int8", "float32") else (
                src.output_type if src.output_type in ("int8", "float32") else "")
        if row.precision == "int8" and row.weight_bits == 32:  # int8 weights (approximately: int32 biases)
            row.weight_bits, row.weight_bytes = 8, row.weight_bytes // 4


INT8_LAYER_CHOICES = ("all", "stem")


def _check_int8_layers(int8_layers, representative_dataset):
    """``"all"``, ``"stem"`` or a tuple of layer names, validated for type (names: see
    :func:`_int8_selection`)."""
    if isinstance(int8_layers, str):
        if int8_layers not in INT8_LAYER_CHOICES:
            raise ValueError(f"`int8_layers` must be 'all', 'stem' or a list of layer names. "
                             f"Received: int8_layers={int8_layers!r}")
        names = int8_layers
    elif isinstance(int8_layers, (list, tuple, set, frozenset)) and all(isinstance(n, str) for n in int8_layers):
        if not int8_layers:
            raise ValueError("`int8_layers` is an empty list: name at least one non-binary layer, or pass "
                             "'all' / 'stem' (or no representative_dataset for a float model)")
        names = tuple(int8_layers)
    else:
        raise ValueError(f"`int8_layers` must be 'all', 'stem' or a list of layer names (strings). "
                         f"Received: int8_layers={int8_layers!r}")
    if names != "all" and representative_dataset is None:
        raise ValueError(f"`int8_layers={int8_layers!r}` needs the int8 conversion: pass `representative_dataset` "
                         "too (it sets the int8 ranges)")
    return names


# Report statuses of layers the file computes with float builtins (int8-able): plain non-binary
# layers and quantized layers exported with their quantized values (e.g. weights-only binary).
_FLOAT_BUILTIN = ("builtin", "float (not lowered)")


def _stem_layers(graph, report) -> list:
    """The non-binary layers before the first binary op: those that feed a binary layer (lowered to
    a kbnn op) and are not downstream of one (nor folded into one)."""
    rows = {r.name: r for r in report.layers}
    after, feeds = set(), set()
    for node in graph.nodes:
        row = rows.get(node.name)
        if row is not None and (row.status in ("lowered", "folded") or any(k[0] in after for k in node.inputs)):
            after.add(node.name)
    for node in reversed(graph.nodes):
        row = rows.get(node.name)
        if row is not None and (row.status == "lowered" or node.name in feeds):
            feeds.update(k[0] for k in node.inputs)
    return list(dict.fromkeys(n.name for n in graph.nodes if n.name in feeds and n.name not in after
                              and rows.get(n.name) is not None and rows[n.name].status in _FLOAT_BUILTIN))


def _int8_selection(names, graph, report) -> list:
    """The layer names of an ``int8_layers`` choice (``"stem"`` or a list), checked against the
    model: every name must be a non-binary layer that the conversion keeps as a builtin."""
    if names == "stem":
        stem = _stem_layers(graph, report)
        if not stem:
            raise ValueError(f"`int8_layers='stem'`: model {report.model_name!r} has no float layers before its "
                             "first binary layer (nothing to quantize); use 'all' or a list of layer names")
        return stem
    rows = {r.name: r for r in report.layers}
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise ValueError(f"`int8_layers`: no layer(s) {unknown} in model {report.model_name!r}. Its non-binary "
                         f"layers are {[r.name for r in report.layers if r.status in _FLOAT_BUILTIN]}")
    binary = [f"{n} ({rows[n].op})" for n in names if rows[n].status not in _FLOAT_BUILTIN]
    if binary:
        raise ValueError(f"`int8_layers`: {binary} are binary kbnn ops or folded into one, not float layers "
                         "that can become int8 builtins (binary ops read/write int8 next to int8 layers "
                         "on their own); name only non-binary layers")
    return list(dict.fromkeys(names))


def _check_interface(content: bytes, in_type: str, out_type: str, graph) -> None:
    """An int8 model input / output that ``int8_layers`` left float raises (instead of a float
    interface the caller did not ask for)."""
    from kbnn.convert import int8 as q8

    g = q8._model_object(content).subgraphs[0]
    readers = sorted({n.name for k, _, _ in graph.inputs for n in graph.consumers.get(k, [])})
    for what, want, tensors, layers in (("input", in_type, g.inputs, readers),
                                        ("output", out_type, g.outputs, sorted({k[0] for k in graph.outputs}))):
        if want == "int8" and any(g.tensors[int(t)].type != q8._TENSOR_INT8 for t in tensors):
            raise ValueError(
                f"`inference_{what}_type='int8'` needs the model {what}s computed in int8, but `int8_layers` "
                f"leaves them float: add the layer(s) {layers} to `int8_layers`, use int8_layers='all', or "
                f"keep inference_{what}_type='float32'")


def _io_in_keras_order(data: bytes) -> bytes:
    """Puts the main subgraph's inputs and outputs in the Keras model's order.

    The TFLite converter may list a multi-output model's outputs in another order than the
    traced function returned them (e.g. ``PartitionedCall:1, :0, :2``), so an interpreter would
    return them permuted. The signature keeps the traced order (``output_0``, ``output_1`` ...):
    the subgraph's lists are rewritten to follow it. Files without a signature are left as they are.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    if not model.signatureDefs or not model.subgraphs:
        return data
    sig = model.signatureDefs[0]
    graph = model.subgraphs[sig.subgraphIndex or 0]
    changed = False
    for entries, attr in ((sig.inputs, "inputs"), (sig.outputs, "outputs")):
        current = [int(t) for t in getattr(graph, attr)]
        keyed = []
        for e in entries or []:
            name = e.name.decode() if isinstance(e.name, bytes) else str(e.name)
            suffix = name.rsplit("_", 1)[-1]
            if not suffix.isdigit():
                return data  # not the converter's generated names: leave the file alone
            keyed.append((int(suffix), int(e.tensorIndex)))
        wanted = [t for _, t in sorted(keyed)]
        if sorted(wanted) != sorted(current):
            return data
        if wanted != current:
            setattr(graph, attr, wanted)
            changed = True
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if changed else data


def convert(model, path=None, *, strict=False, output_types="auto", batch_size=None, representative_dataset=None,
            inference_input_type="float32", inference_output_type="float32", progress=True,
            return_report=False, verbose=False, fuse_residual=True, int8_layers="all"):
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

    Returns:
        The flatbuffer bytes (and the report when ``return_report``). The report of the last
        conversion is also ``kbnn.convert.last_report``.

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
    import tensorflow as tf

    import kbnn.convert as pkg
    from kbnn.convert import int8 as q8

    in_type = q8.interface_type(inference_input_type, "inference_input_type")
    out_type = q8.interface_type(inference_output_type, "inference_output_type")
    if representative_dataset is None and (in_type, out_type) != ("float32", "float32"):
        raise ValueError("An int8 model input/output needs the int8 conversion: pass `representative_dataset` "
                         f"too. Received: inference_input_type={inference_input_type!r}, "
                         f"inference_output_type={inference_output_type!r}, representative_dataset=None")
    if isinstance(representative_dataset, (str, bytes)):
        raise q8.RepresentativeDatasetError(
            "`representative_dataset` must be an iterable of input batches or a callable returning one. "
            f"Received: {type(representative_dataset).__name__}")
    int8_choice = _check_int8_layers(int8_layers, representative_dataset)
    log = _Log()
    bar = _progress(progress, 4 if representative_dataset is None else 5)
    try:
        # int8 adds stay int8 builtins (the fused op is float32 only): "all" turns the fusion off.
        all_int8 = representative_dataset is not None and int8_choice == "all"
        lowered = lower(model, output_types=output_types, batch_size=batch_size, backend="auto",
                        fuse_residual=fuse_residual and not all_int8)
        report = lowered.report
        chosen = None
        if representative_dataset is not None and not all_int8:
            rows = {r.name: r for r in report.layers}
            if not isinstance(int8_choice, str) and any(  # a listed Add folded into a binary conv
                    n in rows and rows[n].status == "folded" and rows[n].class_name == "Add" for n in int8_choice):
                lowered = lower(model, output_types=output_types, batch_size=batch_size, backend="auto",
                                fuse_residual=False)
                report = lowered.report
            chosen = _int8_selection(int8_choice, lowered.graph, report)
        if bar is not None:
            bar.set_postfix_str("lowered")
            bar.update(1)
        mistakes = model_mistakes(model)
        if mistakes:
            raise ConversionError(f"model {model.name!r} cannot be converted:\n"
                                  + "\n".join(f"  {m}" for m in mistakes))
        bad = report.not_lowered
        if bad:
            lines = "\n".join(f"  {r.name} ({r.class_name}): {r.reason}" for r in bad)
            if strict:
                raise ConversionError(
                    f"{len(bad)} quantized layer(s) of {model.name!r} cannot be lowered to binary ops:\n{lines}")
            warnings.warn(
                f"{len(bad)} quantized layer(s) of {model.name!r} are exported as float with their quantized "
                f"values (not binary ops):\n{lines}", ConversionWarning, stacklevel=2)
        lowered.ops = _backend("kbnn")  # raises when the op library is not built
        fn = lowered.tf_function()
        with _native_output(log, verbose, "trace"):
            concrete = fn.get_concrete_function()
        if bar is not None:
            bar.set_postfix_str("traced")
            bar.update(1)
        # Freeze: every captured Keras variable becomes a constant (no READ_VARIABLE ops in the file).
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        with _native_output(log, verbose, "freeze"):
            frozen = convert_variables_to_constants_v2(concrete)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
        converter.allow_custom_ops = True
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        with _native_output(log, verbose, "TFLite converter"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                data = converter.convert()
            except Exception as e:  # noqa: BLE001 - TF's ConverterError and friends: one clear error
                raise ConversionError(
                    f"TF's TFLite converter failed on model {model.name!r}: {_first_lines(str(e))}\n"
                    "(its full output: the exception's converter_log; kbnn.convert(..., verbose=True) or "
                    "`kbnn convert --verbose` prints it)"
                ) from e
        if bar is not None:
            bar.set_postfix_str("converted")
            bar.update(1)
        if representative_dataset is not None:
            names = [k[0] if k[0] != "__input__" else "input" for k, _, _ in lowered.graph.inputs]
            specs = [(n, shape, dtype) for n, (_, shape, dtype) in zip(names, lowered.graph.inputs)]
            with _native_output(log, verbose, "int8 calibration"):
                stats = q8.calibrate(data, q8.iter_batches(representative_dataset, specs))
            if chosen is not None:  # only the chosen layers' tensors get ranges: the rest stays float
                keep = q8.layer_tensors(data, [r.name for r in report.layers], [k[0] for k in lowered.graph.outputs],
                                        chosen, lowered.scopes)
                stats = {t: v for t, v in stats.items() if t in keep}
            with _native_output(log, verbose, "int8 quantizer"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = q8.quantize(data, stats, in_type, out_type)
            if chosen is not None:
                _check_interface(data, in_type, out_type, lowered.graph)
            _mark_precisions(report, lowered.graph, data, f"{in_type}/{out_type}", lowered.scopes)
            report.int8_choice = "all" if chosen is None else (int8_choice if isinstance(int8_choice, str) else "list")
            if chosen is not None and not any(r.precision == "int8" for r in report.layers
                                              if r.name in chosen):
                raise ValueError(
                    f"`int8_layers={int8_layers!r}`: none of the chosen layers of {model.name!r} "
                    f"({', '.join(chosen)}) computes in int8 in the converted file (no int8 builtin for "
                    "them, or TFLite folded them into a layer that was not chosen): nothing to quantize. "
                    "Use int8_layers='all', or name layers that have an int8 builtin (convolutions, dense, "
                    "pooling, adds)")
            still_float = [r.name for r in report.layers if r.precision == "float32"
                           and (chosen is None or r.name in chosen)]
            if still_float:
                warnings.warn(f"int8 conversion of {model.name!r}: these non-binary layers stay float32 (no "
                              f"int8 builtin for them): {still_float}", ConversionWarning, stacklevel=2)
            if bar is not None:
                bar.set_postfix_str("int8")
                bar.update(1)
        data = _io_in_keras_order(data)
        report.file_bytes = len(data)
        with _native_output(log, verbose, "check on a zero input"):
            report.checked = _check_file(data, model)
        if path is not None:
            _write_atomic(path, data)
        if bar is not None:
            bar.update(1)
    except ConversionError as e:
        e.converter_log = log.text
        raise
    finally:
        if bar is not None:
            bar.close()
    report.converter_log = log.text
    pkg.last_report = report
    if verbose:
        print(report.to_text())
    return (data, report) if return_report else data


class _Log:
    """What native code printed during a conversion, phase by phase."""

    def __init__(self):
        self.parts = []

    @property
    def text(self) -> str:
        return "".join(f"--- {phase} ---\n{text}" + ("" if text.endswith("\n") else "\n")
                       for phase, text in self.parts if text.strip())


@contextlib.contextmanager
def _native_output(log: _Log, verbose: bool, phase: str):
    """Captures fd 1 / fd 2 around a phase into ``log`` (also when it raises); ``verbose`` also
    echoes the text to stderr once the phase is over."""
    cap = None
    try:
        with captured_fds() as cap:
            yield
    finally:
        text = cap.text if cap is not None else ""
        log.parts.append((phase, text))
        if verbose and text.strip():
            sys.stderr.write(text)
            sys.stderr.flush()


def _first_lines(text: str, n: int = 12) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:n]) + (f"\n... ({len(lines) - n} more lines)" if len(lines) > n else "")


def _zero_inputs(details) -> list:
    return [np.zeros([max(1, int(s)) for s in d["shape"]], dtype=d["dtype"]) for d in details]


_FILE_HINT = ("Nothing was written. A layer that TF's converter cannot turn into TFLite builtins (e.g. "
              "a Lambda of an unsupported TF op) usually causes this: kbnn.convert(..., verbose=True) "
              "(`kbnn convert --verbose`) prints the converter's messages")


def _check_file(data: bytes, model) -> str:
    """Runs the written file once in ``kbnn.Interpreter`` on zero inputs of the model's input
    shapes; a failure, an empty output or an output whose shape disagrees with the Keras model's
    raises :class:`ConversionError`. Returns what was checked (or why it could not be)."""
    try:
        from kbnn_runtime.interpreter import DelegateNotFoundError, Interpreter
    except ImportError as e:  # pragma: no cover - kbnn depends on kbnn-runtime
        return f"not checked (kbnn_runtime is not importable: {e})"
    try:
        interpreter = Interpreter(data)
    except DelegateNotFoundError as e:
        warnings.warn(f"kbnn.convert could not check the written file: the kbnn delegate is not built "
                      f"({e})", ConversionWarning, stacklevel=3)
        return f"not checked (no kbnn delegate: {e})"
    except Exception as e:  # noqa: BLE001 - any load failure means the file is unusable
        raise ConversionError(
            f"the converted file of model {model.name!r} does not load in kbnn.Interpreter: "
            f"{type(e).__name__}: {_first_lines(str(e), 6)}\n{_FILE_HINT}") from e
    shapes = [tuple(int(v) for v in d["shape"]) for d in interpreter.input_details]
    try:
        outs = interpreter.predict(*_zero_inputs(interpreter.input_details))
    except Exception as e:  # noqa: BLE001
        raise ConversionError(
            f"the converted file of model {model.name!r} fails on a zero input of shape(s) {shapes} in "
            f"kbnn.Interpreter: {type(e).__name__}: {_first_lines(str(e), 6)}\n{_FILE_HINT}") from e
    outs = outs if isinstance(outs, list) else [outs]
    expected = [tuple(t.shape) for t in model.outputs] if getattr(model, "outputs", None) else []
    for i, out in enumerate(outs):
        want = expected[i][1:] if i < len(expected) and len(expected) == len(outs) else None
        wrong = want is not None and None not in want and tuple(out.shape[1:]) != tuple(want)
        if out.size == 0 or wrong:
            keras_shape = f" (the Keras model's: (batch,) + {tuple(want)})" if want is not None else ""
            raise ConversionError(
                f"the converted file of model {model.name!r} gives output {i} of shape {tuple(out.shape)} "
                f"on a zero input of shape(s) {shapes}{keras_shape}: the file is wrong. {_FILE_HINT}")
    return "kbnn.Interpreter on a zero input: output shape(s) " + ", ".join(str(tuple(o.shape)) for o in outs)


def _write_atomic(path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same directory (no partial file
    at ``path``, no stray temporary file on failure)."""
    d = os.path.dirname(os.path.abspath(path))
    f = tempfile.NamedTemporaryFile(dir=d, delete=False)
    try:
        with f:
            f.write(data)
        # The temporary file is private (0600): give the result the permissions an ordinary new
        # file gets under the user's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(f.name, 0o666 & ~umask)
        os.replace(f.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(f.name)
        raise
