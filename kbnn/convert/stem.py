"""The int8 stem: the real-valued first convolution of a binary network as one ``KbnnStemConv2d``.

Pattern (the stem of kbnn's ResNet-style models, ``kbnn/models/resnets.py`` ``_stem``, unchanged
Keras layers): a float ``Conv2D`` (with or without bias; no activation, groups 1, dilation 1,
channels-last, at most 16 input channels) reading a model input -> ``BatchNormalization`` (only
consumer) -> optionally ``ReLU`` / ``Activation("relu")`` or ``PReLU`` with ``shared_axes=[1, 2]``
(only consumer) -> optionally ``MaxPooling2D`` (only consumer). The whole chain becomes one op on
the float input; the next layers read its float32 output as they read the pool's today.

Arithmetic (``kernels/include/kbnn/stem_conv2d.h``): the weights are per-output-channel symmetric
int8, ``s_w = max|w_c| / 127``, ``q_w = clip(rint(w / s_w), -127, 127)`` (a zero channel: scale 0);
the input is quantized per invoke and batch item without calibration data (``s_x = max|x| /
127``); ``y = float(acc) * (s_x * s_w) * multiplier + bias`` with the batch norm folded into
``multiplier = gamma / sqrt(var + eps)`` and ``bias = multiplier * conv_bias + beta - mean *
multiplier``. The outputs differ from the float model's by the int8 rounding only.

``kbnn.convert(..., stem=...)``: ``"float"`` keeps the Keras layers as TFLite builtins,
``"int8"`` lowers the pattern (an error when the model has none), ``"auto"`` lowers it where it
matches and no ``representative_dataset`` was given (with one, the int8 conversion quantizes the
stem as before).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import keras
import numpy as np

from kbnn.convert.binary import bn_transform, fusable_activation
from kbnn.convert.graph import Graph, Node, TensorKey
from kbnn.convert.plan import FoldedStep, Step, StepKind
from kbnn.layers.base import QuantLayerMixin

STEM_CHOICES = ("float", "int8", "auto")
MAX_CHANNELS_IN = 16  # kbnn::kStemMaxChannelsIn
MAX_PATCH = 4096  # kbnn::kStemMaxPatch


def check_choice(stem, representative_dataset) -> str:
    """The validated ``stem`` option: "float", "int8" or "auto" (``ValueError`` otherwise)."""
    if stem not in STEM_CHOICES:
        raise ValueError(f"`stem` must be one of {list(STEM_CHOICES)}. Received: stem={stem!r}")
    if stem == "int8" and representative_dataset is not None:
        raise ValueError(
            "stem='int8' (the calibration-free KbnnStemConv2d) cannot be combined with "
            "`representative_dataset`: the int8 conversion quantizes the stem itself (int8_layers). "
            "Pass stem='auto' or stem='float' with a representative dataset."
        )
    return stem


@dataclasses.dataclass(eq=False)
class StemStep(Step):
    """KbnnStemConv2d: conv + folded batch norm + activation + max pool; its result stands for
    ``output_key`` (the last folded layer's output)."""

    kind: ClassVar[StepKind] = StepKind.STEM
    op_name: ClassVar[str] = "KbnnStemConv2d"
    output_key: TensorKey | None = None
    folded: list = dataclasses.field(default_factory=list)
    attrs: dict = dataclasses.field(default_factory=dict)
    weights: np.ndarray | None = None  # int8 OHWI
    scales: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    bias: np.ndarray | None = None
    slope: np.ndarray | None = None

    def emit(self, values, bits, ops, tf):
        if not hasattr(ops, "stem_conv2d"):
            raise ValueError(
                f"{self.node.name}: the int8 stem (KbnnStemConv2d) needs the kbnn TF op library "
                "(backend='kbnn'); lower with stem='float' for the reference backend"
            )
        x = values[self.node.inputs[0]]
        with tf.name_scope(self.node.name):
            values[self.output_key] = ops.stem_conv2d(
                x, self.weights, self.scales, self.multiplier, self.bias, self.slope, **self.attrs
            )

    def report_row(self, row, plan):
        row.status, row.op, row.output_type = "lowered", self.op_name, "float32"
        row.input = "float32 (int8 per invoke, no calibration)"
        row.weight_bits = 8
        row.op_count = 1
        row.weight_bytes = int(
            self.weights.nbytes + self.scales.nbytes + self.multiplier.nbytes + self.bias.nbytes
        )
        if self.folded:
            row.op += " (+" + ", ".join(n.name for n in self.folded) + ")"


def quantize_weights(kernel) -> tuple[np.ndarray, np.ndarray]:
    """Keras ``Conv2D`` kernel [KH, KW, Cin, Cout] -> (int8 OHWI weights, float32 scales [Cout])."""
    w = np.transpose(np.asarray(kernel, np.float32), (3, 0, 1, 2))
    m = np.max(np.abs(w.reshape(w.shape[0], -1)), axis=1).astype(np.float32)
    scales = (m / np.float32(127)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1))[:, None, None, None]
    q = np.clip(np.rint(w / safe), -127, 127).astype(np.int8)
    return q, scales


def _sole_consumer(graph: Graph, key) -> Node | None:
    cons = graph.consumers.get(key, [])
    if key in graph.outputs or len(cons) != 1 or len(cons[0].inputs) != 1:
        return None
    return cons[0]


def _conv_reason(graph: Graph, node: Node) -> str | None:
    """Why ``node`` is not a stem conv (None: it is)."""
    layer = node.layer
    if type(layer) is not keras.layers.Conv2D or isinstance(layer, QuantLayerMixin):
        return "not a float Conv2D"
    if not node.inputs or node.inputs[0] not in [k for k, _, _ in graph.inputs]:
        return "does not read a model input"
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("groups", 1) != 1:
        return "not channels_last with groups=1"
    if tuple(layer.dilation_rate) != (1, 1) or cfg.get("activation", "linear") != "linear":
        return "dilated or with a fused activation"
    kh, kw, cin, _ = layer.kernel.shape
    if cin > MAX_CHANNELS_IN or kh * kw * cin > MAX_PATCH:
        return f"{cin} input channels (the int8 stem takes <= {MAX_CHANNELS_IN})"
    return None


def _activation(layer):
    """("RELU" | "PRELU", slope or None) for a foldable activation layer, else None."""
    if fusable_activation(layer) == "RELU":
        return "RELU", None
    if isinstance(layer, keras.layers.PReLU) and sorted(layer.shared_axes or []) == [1, 2]:
        alpha = np.asarray(layer.alpha.numpy(), np.float32).reshape(-1)
        return "PRELU", alpha
    return None


def _pool_attrs(layer) -> dict | None:
    if type(layer) is not keras.layers.MaxPooling2D or layer.data_format != "channels_last":
        return None
    strides = layer.strides if layer.strides is not None else layer.pool_size
    return dict(
        pool_size=tuple(int(v) for v in layer.pool_size),
        pool_strides=tuple(int(v) for v in strides),
        pool_padding=layer.padding.upper(),
    )


def match(graph: Graph, node: Node) -> StemStep | None:
    """The stem step of conv ``node`` and the layers folded into it, or None."""
    if _conv_reason(graph, node) is not None:
        return None
    bn_node = _sole_consumer(graph, node.out())
    bn = bn_transform(bn_node.layer) if bn_node is not None else None
    if bn is None:
        return None
    layer = node.layer
    s, t = (np.asarray(v, np.float64) for v in bn)
    conv_bias = np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias else 0.0
    folded, out = [bn_node], bn_node.out()
    act, slope = "NONE", None
    nxt = _sole_consumer(graph, out)
    found = _activation(nxt.layer) if nxt is not None else None
    if found is not None:
        (act, slope), out = found, nxt.out()
        folded.append(nxt)
    pool = None
    nxt = _sole_consumer(graph, out)
    if nxt is not None and _pool_attrs(nxt.layer) is not None:
        pool, out = _pool_attrs(nxt.layer), nxt.out()
        folded.append(nxt)
    weights, scales = quantize_weights(layer.kernel.numpy())
    cout = weights.shape[0]
    attrs = dict(strides=tuple(int(v) for v in layer.strides), padding=layer.padding.upper(), activation=act)
    attrs.update(pool or {})
    return StemStep(
        node=node,
        output_key=out,
        folded=folded,
        attrs=attrs,
        weights=weights,
        scales=scales,
        multiplier=s.astype(np.float32),
        bias=(s * conv_bias + t).astype(np.float32),
        slope=np.zeros(cout, np.float32)
        if slope is None
        else np.broadcast_to(slope, (cout,)).astype(np.float32),
    )


def lower_stems(graph: Graph, steps: dict, stem: str) -> int:
    """Replaces every matching stem chain's steps (``stem`` "int8" or "auto"); returns how many.
    ``stem="int8"`` with no match is a ``ValueError`` naming what the first conv lacks."""
    found = 0
    for node in graph.nodes:
        if steps[node.key].kind != StepKind.KERAS:
            continue
        st = match(graph, node)
        if st is None:
            continue
        steps[node.key] = st
        for f in st.folded:
            steps[f.key] = FoldedStep(node=f, folded_into=node.name)
        found += 1
    if found == 0 and stem == "int8":
        convs = [n for n in graph.nodes if type(n.layer) is keras.layers.Conv2D]
        why = (
            f"{convs[0].name}: {_conv_reason(graph, convs[0]) or 'not followed by BatchNormalization'}"
            if convs
            else "the model has no float Conv2D"
        )
        raise ValueError(
            "stem='int8': no stem to lower (a float Conv2D on a model input, then BatchNormalization, "
            f"optionally ReLU/PReLU(shared_axes=[1, 2]) and MaxPooling2D); {why}. Use stem='float'."
        )
    return found
