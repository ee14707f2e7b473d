"""Stage 1 of the converter: a Keras model -> its call :class:`Graph`.

Graph extraction uses only public Keras API:

* Functional models: ``model.get_config()`` — each entry of ``config["layers"]`` names the
  layer and lists its ``inbound_nodes`` whose arguments hold serialized Keras tensors with
  ``keras_history = [layer_name, node_index, tensor_index]``; ``input_layers`` /
  ``output_layers`` name the model's ends; the layer objects come from
  ``model.get_layer(name)``. The serialized form is the stable, documented contract of model
  saving (it is what ``.keras`` files contain), so it is robust across Keras releases, and it
  also covers shared layers (one graph node per inbound node).
* Sequential models: ``model.layers`` in order (a chain).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

TensorKey = tuple  # (layer_name, node_index, tensor_index)


@dataclasses.dataclass
class Node:
    """One call of a layer in the model graph."""

    key: tuple  # (layer_name, node_index)
    layer: Any
    args: Any  # call arguments with TensorRef placeholders
    kwargs: dict
    inputs: list  # TensorKeys in argument order

    @property
    def name(self) -> str:
        return self.key[0]

    def out(self, index: int = 0) -> TensorKey:
        return (self.key[0], self.key[1], index)


class TensorRef:
    """A placeholder for a graph tensor inside call arguments."""

    def __init__(self, key):
        self.key = tuple(key)


@dataclasses.dataclass
class Graph:
    nodes: list  # topological order, InputLayers excluded
    inputs: list  # [(TensorKey, shape, dtype)]
    outputs: list  # [TensorKey]
    consumers: dict  # TensorKey -> [Node]

    def node(self, key) -> Node:
        return self._by_key[key]

    def __post_init__(self):
        self._by_key = {n.key: n for n in self.nodes}


def fill_refs(obj, values):
    """``obj`` (call arguments) with every :class:`TensorRef` replaced by ``values[ref.key]``."""
    if isinstance(obj, TensorRef):
        return values[obj.key]
    if isinstance(obj, dict):
        return {k: fill_refs(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fill_refs(v, values) for v in obj]
    return obj


def called_more_than_once(layer) -> bool:
    """Whether ``layer`` has several call nodes (shared): ``layer.input`` / ``.output`` are then
    not defined and per-call shapes must come from elsewhere."""
    try:
        layer.output  # noqa: B018
        return False
    except (AttributeError, ValueError, RuntimeError):
        return True


def _as_triples(value):
    if value and not isinstance(value[0], (list, tuple)):
        return [value]
    return [list(v) for v in value]


def _replace_tensors(obj, inputs):
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            key = tuple(obj["config"]["keras_history"])
            inputs.append(key)
            return TensorRef(key)
        return {k: _replace_tensors(v, inputs) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_replace_tensors(v, inputs) for v in obj]
    return obj


def _check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            "kbnn.convert needs a Functional or Sequential model with a known input (give it a "
            f"keras.Input). Received: model={model.name!r}"
        )


def _sequential(model):
    """``(nodes, inputs, outputs)`` of a Sequential model: a chain."""
    model_inputs = list(model.inputs)
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    in_key = ("__input__", 0, 0)
    nodes, prev = [], in_key
    for layer in layers:
        node = Node((layer.name, 0), layer, [TensorRef(prev)], {}, [prev])
        nodes.append(node)
        prev = node.out()
    inputs = [(in_key, tuple(model_inputs[0].shape), model_inputs[0].dtype)]
    return nodes, inputs, [prev]


def _functional(model):
    """``(nodes, inputs, outputs)`` of a Functional model, from its serialized config."""
    config = model.get_config()
    if "layers" not in config or "input_layers" not in config:
        raise ValueError(
            "kbnn.convert supports Functional and Sequential models (subclassed models have no "
            f"static graph). Received: {type(model).__name__}"
        )
    in_triples = _as_triples(config["input_layers"])
    out_triples = _as_triples(config["output_layers"])
    pending = []
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for i, inbound in enumerate(entry.get("inbound_nodes", [])):
            ins: list = []
            args = _replace_tensors(inbound.get("args", []), ins)
            kwargs = _replace_tensors(inbound.get("kwargs", {}), ins)
            pending.append(Node((entry["name"], i), layer, args, kwargs, ins))
    inputs = []
    for (name, ni, ti), kt in zip(in_triples, list(model.inputs)):
        inputs.append(((name, ni, ti), tuple(kt.shape), kt.dtype))
    outputs = [tuple(t) for t in out_triples]
    return _topological(model, pending, inputs), inputs, outputs


def _topological(model, pending, inputs) -> list:
    """The nodes in topological order (the config is already ordered; this also guards shared layers)."""
    available = {k[:2] for k, _, _ in inputs}
    nodes = []
    while pending:
        ready = [n for n in pending if all(k[:2] in available for k in n.inputs)]
        if not ready:  # pragma: no cover - malformed config
            raise ValueError(f"Cannot order the graph of {model.name!r}: unresolved {pending[0].key}")
        for node in ready:
            nodes.append(node)
            pending.remove(node)
            available.add(node.key)
    return nodes


def extract_graph(model: keras.Model) -> Graph:
    """The model's call graph (see the module docstring for the public API used)."""
    _check_model(model)
    if isinstance(model, keras.Sequential):
        nodes, inputs, outputs = _sequential(model)
    else:
        nodes, inputs, outputs = _functional(model)
    consumers: dict = {}
    for node in nodes:
        for k in node.inputs:
            consumers.setdefault(k, [])
            if node not in consumers[k]:
                consumers[k].append(node)
    return Graph(nodes, inputs, outputs, consumers)
