"""Which non-binary layers an int8 conversion makes int8 (``kbnn.convert(..., int8_layers=...)``).

:func:`check_choice` validates the argument before anything runs; :func:`select` turns
``"stem"`` or a list of names into the layer names, checked against the lowered model's report;
:func:`check_interface` refuses an int8 model input / output that the choice leaves float.
"""

from __future__ import annotations

from kbnn.convert import schema
from kbnn.convert.flatbuffer import read_model

INT8_LAYER_CHOICES = ("all", "stem")
_TENSOR_INT8 = schema.TFLITE_TENSOR_TYPES["int8"]


def check_choice(int8_layers, representative_dataset):
    """``"all"``, ``"stem"`` or a tuple of layer names, validated for type (names: see
    :func:`select`)."""
    if isinstance(int8_layers, str):
        if int8_layers not in INT8_LAYER_CHOICES:
            raise ValueError(
                f"`int8_layers` must be 'all', 'stem' or a list of layer names. "
                f"Received: int8_layers={int8_layers!r}"
            )
        names = int8_layers
    elif isinstance(int8_layers, (list, tuple, set, frozenset)) and all(
        isinstance(n, str) for n in int8_layers
    ):
        if not int8_layers:
            raise ValueError(
                "`int8_layers` is an empty list: name at least one non-binary layer, or pass "
                "'all' / 'stem' (or no representative_dataset for a float model)"
            )
        names = tuple(int8_layers)
    else:
        raise ValueError(
            f"`int8_layers` must be 'all', 'stem' or a list of layer names (strings). "
            f"Received: int8_layers={int8_layers!r}"
        )
    if names != "all" and representative_dataset is None:
        raise ValueError(
            f"`int8_layers={int8_layers!r}` needs the int8 conversion: pass `representative_dataset` "
            "too (it sets the int8 ranges)"
        )
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
        if row is not None and (
            row.status in ("lowered", "folded") or any(k[0] in after for k in node.inputs)
        ):
            after.add(node.name)
    for node in reversed(graph.nodes):
        row = rows.get(node.name)
        if row is not None and (row.status == "lowered" or node.name in feeds):
            feeds.update(k[0] for k in node.inputs)
    return list(
        dict.fromkeys(
            n.name
            for n in graph.nodes
            if n.name in feeds
            and n.name not in after
            and rows.get(n.name) is not None
            and rows[n.name].status in _FLOAT_BUILTIN
        )
    )


def select(names, graph, report) -> list:
    """The layer names of an ``int8_layers`` choice (``"stem"`` or a list), checked against the
    model: every name must be a non-binary layer that the conversion keeps as a builtin."""
    if names == "stem":
        stem = _stem_layers(graph, report)
        if not stem:
            raise ValueError(
                f"`int8_layers='stem'`: model {report.model_name!r} has no float layers before its "
                "first binary layer (nothing to quantize); use 'all' or a list of layer names"
            )
        return stem
    rows = {r.name: r for r in report.layers}
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise ValueError(
            f"`int8_layers`: no layer(s) {unknown} in model {report.model_name!r}. Its non-binary "
            f"layers are {[r.name for r in report.layers if r.status in _FLOAT_BUILTIN]}"
        )
    binary = [f"{n} ({rows[n].op})" for n in names if rows[n].status not in _FLOAT_BUILTIN]
    if binary:
        raise ValueError(
            f"`int8_layers`: {binary} are binary kbnn ops or folded into one, not float layers "
            "that can become int8 builtins (binary ops read/write int8 next to int8 layers "
            "on their own); name only non-binary layers"
        )
    return list(dict.fromkeys(names))


def check_interface(content: bytes, in_type: str, out_type: str, graph) -> None:
    """An int8 model input / output that ``int8_layers`` left float raises (instead of a float
    interface the caller did not ask for)."""
    g = read_model(content).subgraphs[0]
    readers = sorted({n.name for k, _, _ in graph.inputs for n in graph.consumers.get(k, [])})
    for what, want, tensors, layers in (
        ("input", in_type, g.inputs, readers),
        ("output", out_type, g.outputs, sorted({k[0] for k in graph.outputs})),
    ):
        if want == "int8" and any(g.tensors[int(t)].type != _TENSOR_INT8 for t in tensors):
            raise ValueError(
                f"`inference_{what}_type='int8'` needs the model {what}s computed in int8, but `int8_layers` "
                f"leaves them float: add the layer(s) {layers} to `int8_layers`, use int8_layers='all', or "
                f"keep inference_{what}_type='float32'"
            )
