"""Lowering passes: the Keras graph → a plan of kbnn ops and kept Keras layers → a TF function.

Graph extraction uses only public Keras API:

* Functional models: ``model.get_config()`` — each entry of ``config["layers"]`` names the
  layer and lists its ``inbound_nodes`` whose arguments hold serialized Keras tensors with
  ``keras_history = [layer_name, node_index, tensor_index]``; ``input_layers`` /
  ``output_layers`` name the model's ends; the layer objects come from
  ``model.get_layer(name)``. The serialized form is the stable, documented contract of model
  saving (it is what ``.keras`` files contain), so it is robust across Keras releases, and it
  also covers shared layers (one graph node per inbound node).
* Sequential models: ``model.layers`` in order (a chain).

Passes (in order):

1. *Binary layer analysis*: a ``QuantConv2D``/``QuantDense`` lowers when its input quantizer
   is on the allowlist of quantizers whose inference forward is exactly ``sign`` with
   ``sign(0) = +1`` (and a numerical spot check agrees), and its kernel quantizer, *evaluated
   on the kernel*, gives per-output-channel ``{-alpha_c, +alpha_c}`` with ``alpha_c > 0``.
   Nothing is inferred from float patterns: the layer declares its quantizers.
2. *Folding*: a directly following ``BatchNormalization`` (only consumer; also any layer with
   ``folded_multiplier_and_bias()``, e.g. ``ShiftBatchNormalization``) and then a ReLU/ReLU6
   (``Activation`` or ``ReLU`` layer, only consumer) fold into the op's per-channel
   ``multiplier``/``bias``/``activation``.
3. *Output types*: a binary op emits bitpacked words when every consumer of its (folded)
   output consumes binary data — a lowered binary layer, or a ``MaxPooling2D``/``Flatten``
   whose own consumers all do (recursively) — and float otherwise.
4. *Bitpacked pooling/flatten*: ``MaxPooling2D`` on bitpacked input with binary consumers
   becomes ``KbnnBMaxPool2d`` (``sign(max x) = max sign(x)``, valid because the pool follows
   the folded BN/activation, i.e. the sign the op computes); ``Flatten`` of bitpacked NHWC
   data is a plain reshape of the words when the channel count is a multiple of 32 (the
   packing of the flattened vector is then identical), and stays float otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from kbnn import quantizers as qz
from kbnn.convert import multibase
from kbnn.layers.base import QuantLayerMixin
from kbnn.layers.convolutional import QuantConv2D
from kbnn.layers.core import QuantDense

TensorKey = tuple  # (layer_name, node_index, tensor_index)


# ----------------------------------------------------------------------------------------
# Graph extraction
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Node:
    """One call of a layer in the model graph."""

    key: tuple  # (layer_name, node_index)
    layer: Any
    args: Any  # call arguments with TensorKey placeholders
    kwargs: dict
    inputs: list  # TensorKeys in argument order

    @property
    def name(self) -> str:
        return self.key[0]

    def out(self, index: int = 0) -> TensorKey:
        return (self.key[0], self.key[1], index)


class _Ref:
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


def _as_triples(value):
    if value and not isinstance(value[0], (list, tuple)):
        return [value]
    return [list(v) for v in value]


def _replace_tensors(obj, inputs):
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            key = tuple(obj["config"]["keras_history"])
            inputs.append(key)
            return _Ref(key)
        return {k: _replace_tensors(v, inputs) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_replace_tensors(v, inputs) for v in obj]
    return obj


def extract_graph(model: keras.Model) -> Graph:
    """The model's call graph (see the module docstring for the public API used)."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if not model.built or not getattr(model, "inputs", None):
        raise ValueError(
            "kbnn.convert needs a Functional or Sequential model with a known input (give it a "
            f"keras.Input). Received: model={model.name!r}"
        )
    model_inputs = list(model.inputs)
    if isinstance(model, keras.Sequential):
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        in_key = ("__input__", 0, 0)
        nodes, prev = [], in_key
        for layer in layers:
            node = Node((layer.name, 0), layer, [_Ref(prev)], {}, [prev])
            nodes.append(node)
            prev = node.out()
        inputs = [(in_key, tuple(model_inputs[0].shape), model_inputs[0].dtype)]
        outputs = [prev]
    else:
        config = model.get_config()
        if "layers" not in config or "input_layers" not in config:
            raise ValueError(
                "kbnn.convert supports Functional and Sequential models (subclassed models have no "
                f"static graph). Received: {type(model).__name__}"
            )
        in_triples = _as_triples(config["input_layers"])
        out_triples = _as_triples(config["output_layers"])
        pending = []
        input_names = set()
        for entry in config["layers"]:
            layer = model.get_layer(entry["name"])
            if isinstance(layer, keras.layers.InputLayer):
                input_names.add(entry["name"])
                continue
            for i, inbound in enumerate(entry.get("inbound_nodes", [])):
                ins: list = []
                args = _replace_tensors(inbound.get("args", []), ins)
                kwargs = _replace_tensors(inbound.get("kwargs", {}), ins)
                pending.append(Node((entry["name"], i), layer, args, kwargs, ins))
        inputs = []
        for (name, ni, ti), kt in zip(in_triples, model_inputs):
            inputs.append(((name, ni, ti), tuple(kt.shape), kt.dtype))
        outputs = [tuple(t) for t in out_triples]
        # Topological order (the config is already ordered; this also guards shared layers).
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
    consumers: dict = {}
    for node in nodes:
        for k in node.inputs:
            consumers.setdefault(k, [])
            if node not in consumers[k]:
                consumers[k].append(node)
    return Graph(nodes, inputs, outputs, consumers)


def _multi_node(layer) -> bool:
    try:
        layer.output  # noqa: B018
        return False
    except (AttributeError, ValueError, RuntimeError):
        return True


# ----------------------------------------------------------------------------------------
# Binary layer analysis
# ----------------------------------------------------------------------------------------

_SIGN_CLASSES = (qz.SteSign, qz.ApproxSign, qz.SwishSign, qz.StochasticSign)
_SIGN_FUNCTIONS = (qz.ste_sign, qz.approx_sign, qz.swish_sign, qz.ir_net_ede, qz.sign)


def _describe(q) -> str:
    if q is None:
        return "None"
    return type(q).__name__ if isinstance(q, keras.layers.Layer) else getattr(q, "__name__", repr(q))


def binary_input_reason(quantizer) -> str | None:
    """``None`` when ``quantizer`` is an allowlisted sign (sign(0)=+1) at inference, else why not."""
    if quantizer is None:
        return "the input is not quantized (weights-only binarization)"
    ok = isinstance(quantizer, _SIGN_CLASSES) or quantizer in _SIGN_FUNCTIONS
    if isinstance(quantizer, qz.IRNetEDE):
        ok = not quantizer.libra_pb
        if not ok:
            return "input quantizer IRNetEDE(libra_pb=True) standardizes its input (not a plain sign)"
    if not ok:
        return (f"input quantizer {_describe(quantizer)} (precision {qz.precision_of(quantizer)}) is not "
                "a 1-bit sign the binary kernels implement")
    probe = np.array([[-2.0, -0.5, -1e-6, 0.0, 1e-6, 0.5, 2.0]], np.float32)
    got = np.asarray(keras.ops.convert_to_numpy(quantizer(keras.ops.convert_to_tensor(probe))))
    if not np.array_equal(got, np.where(probe >= 0, 1.0, -1.0)):  # pragma: no cover - a changed quantizer
        return f"input quantizer {_describe(quantizer)} does not evaluate to sign(x) with sign(0)=+1"
    return None


def binary_kernel(layer) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """``(signs, alpha, reason)``: the quantized kernel as +-1 signs and per-output-channel alpha.

    The kernel quantizer is evaluated on the layer's kernel; every output channel (last axis)
    must hold exactly ``{-alpha_c, +alpha_c}`` with ``alpha_c > 0``.
    """
    if layer.kernel_quantizer is None:
        return None, None, "the kernel is not quantized"
    wq = np.asarray(keras.ops.convert_to_numpy(layer.quantized_weight("kernel_quantizer")), np.float32)
    flat = wq.reshape(-1, wq.shape[-1])
    alpha = np.abs(flat).max(axis=0)
    if not np.all(alpha > 0) or not np.all(np.abs(flat) == alpha[None, :]):
        return None, None, (f"kernel quantizer {_describe(layer.kernel_quantizer)} does not give "
                            "per-output-channel {-alpha, +alpha} values")
    return np.where(wq >= 0, 1.0, -1.0).astype(np.float32), alpha.astype(np.float32), None


def _activation_name(fn) -> str | None:
    if fn is None:
        return "linear"
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return name if isinstance(name, str) else None


def _fusable_activation(layer) -> str | None:
    """"RELU"/"RELU6" if ``layer`` is an activation layer we can fuse, else None."""
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return None
        if layer.max_value is None:
            return "RELU"
        return "RELU6" if float(layer.max_value) == 6.0 else None
    if isinstance(layer, keras.layers.Activation):
        return {"relu": "RELU", "relu6": "RELU6"}.get(_activation_name(layer.activation))
    return None


def _bn_transform(layer) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel ``(multiplier, bias)`` of an inference-mode normalization layer, or None."""
    if hasattr(layer, "folded_multiplier_and_bias"):
        m, b = layer.folded_multiplier_and_bias()
        return np.asarray(m, np.float32), np.asarray(b, np.float32)
    if type(layer) is not keras.layers.BatchNormalization:
        return None
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    if axis is None:
        return None
    if axis != -1:
        try:
            rank = len(layer.input.shape)
        except (AttributeError, ValueError, RuntimeError):  # a shared layer: several inputs
            return None
        if axis != rank - 1:
            return None
    mean = np.asarray(layer.moving_mean.numpy(), np.float64)
    var = np.asarray(layer.moving_variance.numpy(), np.float64)
    gamma = np.asarray(layer.gamma.numpy(), np.float64) if layer.scale else np.ones_like(mean)
    beta = np.asarray(layer.beta.numpy(), np.float64) if layer.center else np.zeros_like(mean)
    s = gamma / np.sqrt(var + layer.epsilon)
    return s.astype(np.float32), (beta - mean * s).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Plan
# ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Step:
    """What happens to one graph node."""

    node: Node
    kind: str  # "keras" | "bconv2d" | "bfc" | "bmulti" | "bmaxpool" | "bflatten" | "folded"
    reason: str = ""  # why a Quant layer was not lowered
    folded_into: str = ""
    folded: list = dataclasses.field(default_factory=list)  # nodes folded into this op
    output_key: TensorKey | None = None  # tensor the op's result stands for
    output_type: str = "float32"  # "float32" | "bitpacked"
    input_bitpacked: bool = False
    weights: np.ndarray | None = None  # packed int32
    multiplier: np.ndarray | None = None
    bias: np.ndarray | None = None
    attrs: dict = dataclasses.field(default_factory=dict)
    post_activation: Any = None  # float activation applied after the op (forces float output)
    channels_out: int = 0
    # "bmulti" (kbnn/convert/multibase.py): a sum of binary products over (activation, weight) bases.
    terms: list = dataclasses.field(default_factory=list)  # (activation base, weight base) pairs
    act_spec: dict | None = None
    multi_op: str = ""  # "bconv2d" | "bfc"
    weight_sets: list = dataclasses.field(default_factory=list)  # packed weights per weight base
    scales: list = dataclasses.field(default_factory=list)  # per weight base: folded s * alpha_m [Cout]
    # Residual fusion (KbnnBconv2dResidual): on the conv step, the other input of the Add folded
    # into it; on the Add step, the conv step that runs at the Add's place (its residual input is
    # only available there). input_bits: the conv reads the sign output of the fused op that
    # produced its float input instead of quantizing it.
    residual_key: TensorKey | None = None
    runs: Any = None
    input_bits: bool = False


def _lower_candidate(node: Node, skip_quantizers: bool = False) -> tuple[dict | None, str]:
    """Binary-op parameters for a QuantConv2D/QuantDense node, or (None, reason).

    ``skip_quantizers``: only the op attributes (multibase.py supplies the bases itself).
    """
    layer = node.layer
    if not isinstance(layer, (QuantConv2D, QuantDense)):
        return None, f"{type(layer).__name__} has no binary kbnn op"
    if layer.compute_dtype != "float32":
        return None, f"compute dtype {layer.compute_dtype} (only float32 models lower)"
    if skip_quantizers:
        signs = np.ones(tuple(layer.kernel.shape), np.float32)
        alpha = np.ones(signs.shape[-1], np.float32)
    else:
        reason = binary_input_reason(layer.input_quantizer)
        if reason:
            return None, reason
        signs, alpha, reason = binary_kernel(layer)
        if reason:
            return None, reason
    act = _activation_name(layer.activation)
    params: dict = {"alpha": alpha, "bias": (np.asarray(layer.bias.numpy(), np.float32) if layer.use_bias
                                             else np.zeros_like(alpha)),
                    "activation": "NONE", "post_activation": None}
    if act in ("relu", "relu6"):
        params["activation"] = act.upper()
    elif act != "linear":
        params["post_activation"] = layer.activation
    if isinstance(layer, QuantConv2D):
        if layer.data_format != "channels_last":
            return None, "data_format channels_first (the kernels are NHWC)"
        cin = int(layer.input.shape[-1]) if not _multi_node(layer) else int(signs.shape[2] * layer.groups)
        kh, kw = layer.kernel_size
        params["weights_signs"] = np.transpose(signs, (3, 0, 1, 2))  # OHWI
        params["attrs"] = dict(
            channels_in=cin, filter_height=int(kh), filter_width=int(kw),
            stride_height=int(layer.strides[0]), stride_width=int(layer.strides[1]),
            dilation_height=int(layer.dilation_rate[0]), dilation_width=int(layer.dilation_rate[1]),
            padding=layer.padding.upper(), pad_values=int(layer.pad_values or 0) if layer.padding == "same" else 1,
            groups=int(layer.groups),
        )
        params["kind"] = "bconv2d"
    else:
        in_shape = layer.input.shape if not _multi_node(layer) else None
        if in_shape is None or len(in_shape) != 2:
            return None, "QuantDense on an input of rank != 2 (KbnnBFullyConnected takes [N, K])"
        params["weights_signs"] = np.transpose(signs)  # [Cout, K]
        params["attrs"] = dict(input_size=int(in_shape[-1]))
        params["kind"] = "bfc"
    return params, ""


def build_plan(graph: Graph, *, output_types: str = "auto", pack=None, fuse_residual: bool = True) -> list[Step]:
    """Run the lowering passes; returns one :class:`Step` per graph node (topological order).

    ``fuse_residual``: fold ``Add(binary conv output, residual)`` into the conv (one
    KbnnBconv2dResidual, see :func:`_fuse_residual_adds`).
    """
    if pack is None:
        from kbnn.convert import reference_ops as pack  # noqa: N813 - packing is pure NumPy
    outputs = set(graph.outputs)
    steps = {n.key: Step(node=n, kind="keras") for n in graph.nodes}
    candidates = {}
    for node in graph.nodes:
        if isinstance(node.layer, QuantLayerMixin):
            if multibase.is_multi(graph, node):
                params, reason = multibase.candidate(graph, node, _lower_candidate)
            else:
                params, reason = _lower_candidate(node)
            if params is None:
                quantized = node.layer.input_quantizer is not None or any(
                    getattr(node.layer, arg) is not None for arg in node.layer._weight_quantizers)
                steps[node.key].reason = reason if quantized else ""
            else:
                candidates[node.key] = params
        elif isinstance(node.layer, keras.Model):
            inner = [lyr.name for lyr in _all_layers(node.layer) if _is_quantized(lyr)]
            if inner:
                steps[node.key].reason = (
                    f"nested model: its quantized layers {inner} are not lowered (build the model "
                    "without nesting to lower them)")

    def sole_consumer(key):
        cons = graph.consumers.get(key, [])
        if key in outputs or len(cons) != 1:
            return None
        return cons[0]

    # Pass 2: folding.
    for key, p in candidates.items():
        step = steps[key]
        node = step.node
        mult, bias = p["alpha"].astype(np.float64), p["bias"].astype(np.float64)
        out = node.out()
        act = p["activation"]
        if act == "NONE" and p["post_activation"] is None:
            nxt = sole_consumer(out)
            bn = _bn_transform(nxt.layer) if nxt is not None and len(nxt.inputs) == 1 else None
            if bn is not None:
                s, b = (np.asarray(v, np.float64) for v in bn)
                mult, bias = mult * s, bias * s + b
                steps[nxt.key].kind, steps[nxt.key].folded_into = "folded", node.name
                step.folded.append(nxt)
                out = nxt.out()
            nxt = sole_consumer(out)
            fused = _fusable_activation(nxt.layer) if nxt is not None and len(nxt.inputs) == 1 else None
            if fused:
                act = fused
                steps[nxt.key].kind, steps[nxt.key].folded_into = "folded", node.name
                step.folded.append(nxt)
                out = nxt.out()
        step.kind = p["kind"]
        step.multiplier, step.bias = mult.astype(np.float32), bias.astype(np.float32)
        step.attrs = dict(p["attrs"], activation=act)
        step.post_activation = p["post_activation"]
        step.output_key = out
        step.channels_out = int(p["alpha"].shape[0])
        if step.kind == "bmulti":
            multibase.finish_step(step, p, mult, bias, pack)
            continue
        signs = p["weights_signs"]
        step.weights = np.asarray(pack.pack_filters(signs) if step.kind == "bconv2d" else pack.pack_dense(signs))

    # Pass 3: which consumers take binary data.
    memo: dict = {}

    def binary_consumer(node: Node) -> bool:
        if node.key in memo:
            return memo[node.key]
        memo[node.key] = False
        st = steps[node.key]
        ok = False
        if st.kind in ("bconv2d", "bfc"):
            ok = node.inputs[0] == node.inputs[-1]  # the data input only
        elif _poolable(node.layer) or _flattenable(node.layer):
            cons = graph.consumers.get(node.out(), [])
            ok = node.out() not in outputs and bool(cons) and all(binary_consumer(c) for c in cons)
        memo[node.key] = ok
        return ok

    bitpacked: set = set()
    for node in graph.nodes:
        st = steps[node.key]
        if st.kind in ("bconv2d", "bfc"):
            st.input_bitpacked = node.inputs[0] in bitpacked
            cons = graph.consumers.get(st.output_key, [])
            if (output_types == "auto" and st.post_activation is None and st.output_key not in outputs
                    and cons and all(binary_consumer(c) for c in cons)):
                st.output_type = "bitpacked"
                bitpacked.add(st.output_key)
        elif st.kind == "keras" and node.inputs and node.inputs[0] in bitpacked and binary_consumer(node):
            layer = node.layer
            if _poolable(layer):
                st.kind = "bmaxpool"
                st.attrs = dict(
                    filter_height=int(layer.pool_size[0]), filter_width=int(layer.pool_size[1]),
                    stride_height=int(layer.strides[0]), stride_width=int(layer.strides[1]),
                    padding=layer.padding.upper())
            else:
                st.kind = "bflatten"
            st.output_key, st.output_type, st.input_bitpacked = node.out(), "bitpacked", True
            bitpacked.add(node.out())
        elif st.kind == "keras" and any(k in bitpacked for k in node.inputs):  # pragma: no cover
            raise AssertionError(f"bitpacked tensor reached float node {node.key}")
    if fuse_residual:
        _fuse_residual_adds(graph, steps, sole_consumer)
    return [steps[n.key] for n in graph.nodes]


def _fuse_residual_adds(graph: Graph, steps: dict, sole_consumer) -> None:
    """Pass 4: a Bi-Real block's shortcut add and the re-binarization of its sum, fused.

    A binary conv step with float output whose sole consumer is a two-input ``keras.layers.Add``
    of same-shape float tensors becomes one KbnnBconv2dResidual: ``out = conv + residual`` (the
    same single float add, after the folded BN and activation, so the result is bit-exact) and
    ``bits = sign(out)`` bitpacked. Binary convs that read the sum then take ``bits`` instead of
    quantizing it (one KbnnQuantize less each). The fused op runs at the Add's place in the
    graph, where both of its inputs exist (Liu et al., "Bi-Real Net", ECCV 2018: the shortcut
    carries the real-valued activations around every binary conv).
    """
    fused_outputs = set()
    for node in graph.nodes:
        st = steps[node.key]
        if st.kind != "bconv2d" or st.output_type != "float32" or st.post_activation is not None:
            continue
        add = sole_consumer(st.output_key)
        if add is None or type(add.layer) is not keras.layers.Add or len(add.inputs) != 2:
            continue
        if add.inputs[0] == add.inputs[1] or steps[add.key].kind != "keras":
            continue
        other = add.inputs[1] if add.inputs[0] == st.output_key else add.inputs[0]
        if _multi_node(add.layer):
            continue  # a shared Add layer: its per-call input shapes are not at hand
        shapes = [tuple(t.shape) for t in add.layer.input] if isinstance(add.layer.input, list) else []
        if len(shapes) != 2 or shapes[0] != shapes[1] or None in shapes[0][1:]:
            continue  # broadcasting adds stay builtins
        if any(getattr(t, "dtype", "float32") != "float32" for t in add.layer.input):
            continue
        st.residual_key = other
        st.folded.append(add)
        st.output_key = add.out()
        add_step = steps[add.key]
        add_step.kind, add_step.folded_into, add_step.runs = "folded", node.name, st
        fused_outputs.add(add.out())
    for node in graph.nodes:
        st = steps[node.key]
        if st.kind in ("bconv2d", "bfc") and not st.input_bitpacked and node.inputs[0] in fused_outputs:
            st.input_bits = True


def _poolable(layer) -> bool:
    return (type(layer) is keras.layers.MaxPooling2D and layer.data_format == "channels_last")


def _flattenable(layer) -> bool:
    if type(layer) is not keras.layers.Flatten or _multi_node(layer):
        return False
    shape = layer.input.shape
    return (len(shape) == 4 and getattr(layer, "data_format", "channels_last") == "channels_last"
            and shape[-1] is not None and shape[-1] % 32 == 0 and None not in shape[1:])


def _is_quantized(layer) -> bool:
    return isinstance(layer, QuantLayerMixin) and (
        layer.input_quantizer is not None or any(getattr(layer, a) is not None for a in layer._weight_quantizers))


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
