"""Stage 2 of the converter: the model :class:`~kbnn.convert.graph.Graph` -> the plan, one typed
:class:`~kbnn.convert.plan.Step` per node (kbnn ops, folded layers and kept Keras layers).

The graph comes from :mod:`kbnn.convert.graph`, which uses only public Keras API:

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

import keras
import numpy as np

from kbnn.convert import multibase
from kbnn.convert import stem as stem_lowering
from kbnn.convert.binary import (  # noqa: F401 - binary_input_reason/binary_kernel: kbnn.convert.lowering API
    binary_input_reason,
    binary_kernel,
    bn_transform,
    fusable_activation,
    single_op_params,
)
from kbnn.convert.graph import Graph, Node, TensorKey, called_more_than_once, extract_graph  # noqa: F401
from kbnn.convert.plan import (
    BConv2DStep,
    BFCStep,
    BFlattenStep,
    BinaryOpStep,
    BMaxPoolStep,
    BMultiStep,
    FoldedStep,
    KerasStep,
    Step,
    StepKind,
)
from kbnn.layers.base import QuantLayerMixin

_STEP_CLASSES = {StepKind.BCONV2D: BConv2DStep, StepKind.BFC: BFCStep, StepKind.BMULTI: BMultiStep}


def build_plan(
    graph: Graph, *, output_types: str = "auto", pack=None, fuse_residual: bool = True, stem: str = "float"
) -> list[Step]:
    """Run the lowering passes; returns one :class:`Step` per graph node (topological order).

    ``fuse_residual``: fold ``Add(binary conv output, residual)`` into the conv (one
    KbnnBconv2dResidual, see :func:`_fuse_residual_adds`). ``stem``: "int8" / "auto" lower the
    float stem chain to KbnnStemConv2d (:mod:`kbnn.convert.stem`), "float" keeps it.
    """
    if pack is None:
        from kbnn.convert import reference_ops as pack
    steps = {n.key: KerasStep(node=n) for n in graph.nodes}
    candidates = _analyse(graph, steps)
    for key, params in candidates.items():
        steps[key] = _fold(graph, steps, steps[key].node, params, pack)
    if stem != "float":
        stem_lowering.lower_stems(graph, steps, stem)
    _choose_output_types(graph, steps, output_types)
    if fuse_residual:
        _fuse_residual_adds(graph, steps)
    return [steps[n.key] for n in graph.nodes]


def _analyse(graph: Graph, steps: dict) -> dict:
    """Pass 1: the binary-op parameters of every lowerable layer (``{node key: OpParams}``); the
    other quantized layers (and nested models holding some) get their reasons in ``steps``."""
    candidates = {}
    for node in graph.nodes:
        if isinstance(node.layer, QuantLayerMixin):
            if multibase.is_multi(graph, node):
                params, reason = multibase.candidate(graph, node)
            else:
                params, reason = single_op_params(node)
            if params is None:
                steps[node.key].reason = reason if _is_quantized(node.layer) else ""
            else:
                candidates[node.key] = params
        elif isinstance(node.layer, keras.Model):
            inner = [lyr.name for lyr in _all_layers(node.layer) if _is_quantized(lyr)]
            if inner:
                steps[node.key].reason = (
                    f"nested model: its quantized layers {inner} are not lowered (build the model "
                    "without nesting to lower them)"
                )
    return candidates


def _sole_consumer(graph: Graph, key):
    cons = graph.consumers.get(key, [])
    if key in graph.outputs or len(cons) != 1:
        return None
    return cons[0]


def _fold(graph: Graph, steps: dict, node: Node, p, pack) -> Step:
    """Pass 2: a directly following batch norm (only consumer) and then ReLU/ReLU6 fold into the
    op's per-channel multiplier / bias / activation; returns the op's step (the folded nodes'
    steps become :class:`FoldedStep`)."""
    mult, bias = p.alpha.astype(np.float64), p.bias.astype(np.float64)
    out, act, folded = node.out(), p.activation, []
    if act == "NONE" and p.post_activation is None:
        nxt = _sole_consumer(graph, out)
        bn = bn_transform(nxt.layer) if nxt is not None and len(nxt.inputs) == 1 else None
        if bn is not None:
            s, b = (np.asarray(v, np.float64) for v in bn)
            mult, bias = mult * s, bias * s + b
            steps[nxt.key] = FoldedStep(node=nxt, folded_into=node.name)
            folded.append(nxt)
            out = nxt.out()
        nxt = _sole_consumer(graph, out)
        fused = fusable_activation(nxt.layer) if nxt is not None and len(nxt.inputs) == 1 else None
        if fused:
            act = fused
            steps[nxt.key] = FoldedStep(node=nxt, folded_into=node.name)
            folded.append(nxt)
            out = nxt.out()
    fields = dict(
        node=node,
        output_key=out,
        folded=folded,
        attrs=dict(p.attrs, activation=act),
        multiplier=mult.astype(np.float32),
        bias=bias.astype(np.float32),
        post_activation=p.post_activation,
        channels_out=int(p.alpha.shape[0]),
    )
    if p.kind == StepKind.BMULTI:
        bases = p.bases.fold(mult, bias, pack)
        fields.update(
            bases=bases,
            bias=bases.bias,
            multiplier=np.concatenate(bases.scales),
            weights=np.concatenate([w.ravel() for w in bases.weight_sets]),
        )
    else:
        signs = p.weights_signs
        fields["weights"] = np.asarray(
            pack.pack_filters(signs) if p.kind == StepKind.BCONV2D else pack.pack_dense(signs)
        )
    return _STEP_CLASSES[p.kind](**fields)


def _binary_consumer_test(graph: Graph, steps: dict):
    """``(node) -> bool``: whether ``node`` consumes binary data — a lowered binary op reading it
    as its data input, or a pool / flatten whose own consumers all do (recursively)."""
    memo: dict = {}

    def binary_consumer(node: Node) -> bool:
        if node.key in memo:
            return memo[node.key]
        memo[node.key] = False
        ok = False
        if isinstance(steps[node.key], BinaryOpStep):
            ok = node.inputs[0] == node.inputs[-1]  # the data input only
        elif _poolable(node.layer) or _flattenable(node.layer):
            cons = graph.consumers.get(node.out(), [])
            ok = node.out() not in graph.outputs and bool(cons) and all(binary_consumer(c) for c in cons)
        memo[node.key] = ok
        return ok

    return binary_consumer


def _choose_output_types(graph: Graph, steps: dict, output_types: str) -> None:
    """Pass 3: a binary op emits bitpacked words when every consumer of its output takes binary
    data; max-pooling / flatten on bitpacked data become bitpacked ops."""
    binary_consumer = _binary_consumer_test(graph, steps)
    bitpacked: set = set()
    for node in graph.nodes:
        st = steps[node.key]
        if isinstance(st, BinaryOpStep):
            st.input_bitpacked = node.inputs[0] in bitpacked
            cons = graph.consumers.get(st.output_key, [])
            if (
                output_types == "auto"
                and st.post_activation is None
                and st.output_key not in graph.outputs
                and cons
                and all(binary_consumer(c) for c in cons)
            ):
                st.output_type = "bitpacked"
                bitpacked.add(st.output_key)
        elif not isinstance(st, KerasStep):
            continue
        elif node.inputs and node.inputs[0] in bitpacked and binary_consumer(node):
            steps[node.key] = _bitpacked_step(node)
            bitpacked.add(node.out())
        elif any(k in bitpacked for k in node.inputs):  # pragma: no cover
            raise AssertionError(f"bitpacked tensor reached float node {node.key}")


def _bitpacked_step(node: Node) -> Step:
    layer = node.layer
    if not _poolable(layer):
        return BFlattenStep(node=node)
    return BMaxPoolStep(
        node=node,
        attrs=dict(
            filter_height=int(layer.pool_size[0]),
            filter_width=int(layer.pool_size[1]),
            stride_height=int(layer.strides[0]),
            stride_width=int(layer.strides[1]),
            padding=layer.padding.upper(),
        ),
    )


def _residual_add(graph: Graph, steps: dict, st: Step):
    """``(add node, other input)`` of a residual ``Add`` that the conv step ``st`` can absorb, or None."""
    if not isinstance(st, BConv2DStep) or st.output_type != "float32" or st.post_activation is not None:
        return None
    add = _sole_consumer(graph, st.output_key)
    if add is None or type(add.layer) is not keras.layers.Add or len(add.inputs) != 2:
        return None
    if add.inputs[0] == add.inputs[1] or not isinstance(steps[add.key], KerasStep):
        return None
    other = add.inputs[1] if add.inputs[0] == st.output_key else add.inputs[0]
    if called_more_than_once(add.layer):
        return None  # a shared Add layer: its per-call input shapes are not at hand
    shapes = [tuple(t.shape) for t in add.layer.input] if isinstance(add.layer.input, list) else []
    if len(shapes) != 2 or shapes[0] != shapes[1] or None in shapes[0][1:]:
        return None  # broadcasting adds stay builtins
    if any(getattr(t, "dtype", "float32") != "float32" for t in add.layer.input):
        return None
    return add, other


def _fuse_residual_adds(graph: Graph, steps: dict) -> None:
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
        found = _residual_add(graph, steps, st)
        if found is None:
            continue
        add, st.residual_key = found
        st.folded.append(add)
        st.output_key = add.out()
        steps[add.key] = FoldedStep(node=add, folded_into=node.name, runs=st)
        fused_outputs.add(add.out())
    for node in graph.nodes:
        st = steps[node.key]
        if isinstance(st, BinaryOpStep) and not st.input_bitpacked and node.inputs[0] in fused_outputs:
            st.input_bits = True


def _poolable(layer) -> bool:
    return type(layer) is keras.layers.MaxPooling2D and layer.data_format == "channels_last"


def _flattenable(layer) -> bool:
    if type(layer) is not keras.layers.Flatten or called_more_than_once(layer):
        return False
    shape = layer.input.shape
    return (
        len(shape) == 4
        and getattr(layer, "data_format", "channels_last") == "channels_last"
        and shape[-1] is not None
        and shape[-1] % 32 == 0
        and None not in shape[1:]
    )


def _is_quantized(layer) -> bool:
    return isinstance(layer, QuantLayerMixin) and (
        layer.input_quantizer is not None
        or any(getattr(layer, a) is not None for a in layer._weight_quantizers)
    )


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
