"""Lowering of layers that are sums of several binary convolutions.

Two Keras forms lower here (both are ``QuantConv2D``/``QuantDense`` layers):

* **Bit-plane input** (BinaryNet, arXiv:1602.02830, section 2.6): a binary-weight layer with no
  input quantizer fed by :class:`kbnn.layers.BitPlaneInput` computes ``x . w^b`` with the
  integer ``x = sum_n 2^(n-1) x^n``, bit planes ``x^n in {0, 1}``.
* **Multi-base binarization** (ABC-Net, Lin et al., NIPS 2017; HORQ, Li et al., ICCV 2017): a
  ``kbnn.quantizers.MultiBaseSign`` kernel quantizer (``M`` weight bases ``alpha_m B_m``) and/or
  input quantizer (``N`` activation bases ``beta_n sign(z_n)``).

Both are written as ``A = c0 + sum_n beta_n v_n`` (activation bases ``v_n = sign(z_n)``, a
constant ``c0``) and ``W = sum_m alpha_m B_m`` (per-output-channel ``alpha``), so that

    y_c = sum_{n,m} (s_c beta_n alpha_{m,c}) dot(v_n, B_m) + s_c (c0 sum_m alpha_{m,c} S_{m,c} + bias_c) + b_c

with ``S_{m,c}`` the sum of ``B_m`` over one output's window and ``(s, b)`` a folded batch norm.
Each ``(n, m)`` is one binary convolution / fully connected product of ``KbnnBconv2d`` /
``KbnnBFullyConnected``: the ``N`` activation bases are stacked on the batch axis and quantized
once, and each weight base is one op over that stack (``M`` ops), emitting the exact integer dots;
the base weights, ``s alpha_m`` and the constant are applied after by ``Mul``/``Sum``/``Add``
builtins in a fixed order (then the ReLU/ReLU6), so TF ops and TFLite agree bit for bit.

For bit planes, ``x^n = (1 - v_n) / 2`` with ``v_n = +1`` for bit 0 (the kernels' convention:
packed bit 1 = negative), hence ``beta_n = -2^(n-2)`` and ``c0 = (2^N - 1) / 2``. The plane
inputs are ``z_n = 0.5 - ((floor(q / 2^(n-1))) mod 2)`` (exact float ops on integers), computed
for all planes at once on a ``[bits, size]`` view of the input.

Padding: Keras pads ``A`` with ``P`` (0, or 1.0 for ``pad_values=1.0``). The kernels pad every
``v_n`` with +1 (``pad_values=1``: ``A_pad = c0 + sum beta``) or with 0 (``pad_values=0``, exact
border correction: ``A_pad = 0``, only when ``c0 = 0``). Bit planes: ``c0 + sum beta = 0``, so
Keras' zero padding is the free +1 padding. Other combinations are reported as not lowerable.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from kbnn import quantizers as qz
from kbnn.convert.binary import OpParams, binary_input_reason, binary_kernel, single_op_params
from kbnn.convert.plan import StepKind
from kbnn.layers.bitplane import BitPlaneInput
from kbnn.layers.convolutional import QuantConv2D
from kbnn.layers.core import QuantDense


def _producer(graph, node):
    key = node.inputs[0][:2] if node.inputs else None
    try:
        return graph.node(key)
    except KeyError:
        return None


def activation_bases(graph, node):
    """``(spec, reason)``: ``spec = dict(mode, betas, c0, thresholds/bits)`` of the layer's input."""
    layer = node.layer
    q = layer.input_quantizer
    if q is None:
        prod = _producer(graph, node)
        if prod is None or not isinstance(prod.layer, BitPlaneInput):
            return None, "the input is not quantized (weights-only binarization)"
        bits = prod.layer.bits
        return dict(
            mode="bitplane",
            bits=bits,
            betas=[-(2.0 ** (n - 2)) for n in range(1, bits + 1)],
            c0=((1 << bits) - 1) / 2.0,
        ), ""
    if isinstance(q, qz.MultiBaseSign):
        if q.mode == "weights":
            return None, (
                "input quantizer MultiBaseSign(mode='weights') uses data-dependent per-channel "
                "statistics; use mode='shift' or 'residual' for activations"
            )
        th, betas = q.activation_parameters()
        return dict(mode=q.mode, thresholds=th, betas=[float(b) for b in betas], c0=0.0), ""
    reason = binary_input_reason(q)
    if reason:
        return None, reason
    return dict(mode="sign", betas=[1.0], c0=0.0), ""


def weight_bases(layer):
    """``(signs [M, *kernel.shape], alphas [M, Cout], reason)``."""
    kq = layer.kernel_quantizer
    if isinstance(kq, qz.MultiBaseSign):
        if kq.mode != "weights":
            return None, None, f"kernel quantizer MultiBaseSign(mode={kq.mode!r}) is an activation quantizer"
        signs, alphas = kq.weight_decomposition(keras.ops.convert_to_numpy(layer.kernel))
        wq = np.asarray(keras.ops.convert_to_numpy(layer.quantized_weight("kernel_quantizer")), np.float32)
        approx = np.einsum("m...c,mc->...c", signs, alphas)
        if not np.allclose(approx, wq, rtol=1e-5, atol=1e-6 * float(np.abs(wq).max() + 1e-30)):
            return (
                None,
                None,
                "MultiBaseSign weight bases do not reproduce the quantized kernel",
            )  # pragma: no cover
        return signs, alphas, None
    signs, alpha, reason = binary_kernel(layer)
    if reason:
        return None, None, reason
    return signs[None], alpha[None], None


def is_multi(graph, node) -> bool:
    """Whether ``node`` is a layer this module lowers (rather than the single-op path)."""
    layer = node.layer
    if not isinstance(layer, (QuantConv2D, QuantDense)):
        return False
    if isinstance(layer.input_quantizer, qz.MultiBaseSign) or isinstance(
        layer.kernel_quantizer, qz.MultiBaseSign
    ):
        return True
    prod = _producer(graph, node) if layer.input_quantizer is None else None
    return prod is not None and isinstance(prod.layer, BitPlaneInput)


def _pad_values(layer, attrs, act):
    """The kernels' ``pad_values`` (1 or 0) that reproduce Keras' padding of ``A``, or a reason."""
    if attrs["padding"] != "SAME":
        return 1, ""
    pad = float(layer.pad_values or 0.0)
    if pad == act["c0"] + sum(act["betas"]):
        return 1, ""
    if pad == 0.0 and act["c0"] == 0.0:
        return 0, ""
    return None, (
        f"padding with {pad} is not expressible by padding every binary base "
        "with +1 or 0 (use pad_values=0.0)"
    )


def candidate(graph, node) -> tuple[OpParams | None, str]:
    """Parameters of a ``StepKind.BMULTI`` step (``bases``: a :class:`Decomposition`), or
    ``(None, reason)``. The op attributes (strides, padding, ...) come from the single-op analysis
    (:func:`kbnn.convert.binary.single_op_params`); the bases come from this module.
    """
    layer = node.layer
    if layer.compute_dtype != "float32":
        return None, f"compute dtype {layer.compute_dtype} (only float32 models lower)"
    act, reason = activation_bases(graph, node)
    if act is None:
        return None, reason
    signs, alphas, reason = weight_bases(layer)
    if signs is None:
        return None, reason
    params, reason = single_op_params(node, skip_quantizers=True)
    if params is None:
        return None, reason
    attrs = dict(params.attrs)
    if params.kind == StepKind.BCONV2D:
        attrs["pad_values"], reason = _pad_values(layer, attrs, act)
        if reason:
            return None, reason
        ohwi = [np.transpose(s, (3, 0, 1, 2)) for s in signs]
        window_sums = np.stack([s.reshape(-1, s.shape[-1]).sum(axis=0) for s in signs])  # [M, Cout]
    else:
        ohwi = [np.transpose(s) for s in signs]
        window_sums = np.stack([s.sum(axis=0) for s in signs])
    bases = Decomposition(act, params.kind, ohwi, alphas.astype(np.float64), window_sums.astype(np.float64))
    return dataclasses.replace(
        params,
        kind=StepKind.BMULTI,
        attrs=attrs,
        weights_signs=None,
        alpha=np.ones(alphas.shape[1], np.float32),
        bases=bases,
    ), ""


@dataclasses.dataclass
class Decomposition:
    """A layer as activation bases (``act``: mode, betas, c0, ...) times weight bases (signs in the
    op's layout, per-channel alphas, window sums), before the output transform is folded in."""

    act: dict
    op: StepKind  # BCONV2D or BFC: the binary op of each product
    weight_signs: list
    weight_alphas: np.ndarray  # [M, Cout]
    window_sums: np.ndarray  # [M, Cout]

    def fold(self, mult, bias, pack) -> Bases:
        """The :class:`Bases` with the folded ``(mult, bias)`` (batch norm scale and shift of the
        layer's output, the layer's own bias included), per output channel; weights packed."""
        alphas = self.weight_alphas
        weight_sets = [
            np.asarray(pack.pack_filters(w) if self.op == StepKind.BCONV2D else pack.pack_dense(w))
            for w in self.weight_signs
        ]
        scales = [(mult * alphas[m]).astype(np.float32) for m in range(len(weight_sets))]
        const = np.asarray(mult * self.act["c0"] * (alphas * self.window_sums).sum(axis=0) + bias, np.float32)
        terms = [(n, m) for n in range(len(self.act["betas"])) for m in range(len(weight_sets))]
        return Bases(self.act, self.op, weight_sets, scales, const, terms)


@dataclasses.dataclass
class Bases:
    """A lowered multi-base layer: ``y = act(sum_m scales[m] * sum_n beta_n dot(v_n, B_m) + bias)``."""

    act_spec: dict
    op: StepKind  # BCONV2D or BFC
    weight_sets: list  # packed weights per weight base
    scales: list  # per weight base: folded s * alpha_m [Cout]
    bias: np.ndarray  # the folded constant [Cout]
    terms: list  # (activation base, weight base) pairs

    def emit(self, x, attrs, post_activation, ops, tf):
        """The TF graph of the layer on its float input ``x`` (:func:`run_bases`)."""
        return run_bases(self, attrs, post_activation, x, ops, tf)

    def describe(self) -> str:
        """The report's op text, e.g. ``KbnnBconv2d x1 over 8 stacked bit planes = 8 binary convolutions``."""
        name = "KbnnBconv2d" if self.op == StepKind.BCONV2D else "KbnnBFullyConnected"
        kind = "convolutions" if self.op == StepKind.BCONV2D else "products"
        spec = self.act_spec
        n = len(spec["betas"])
        if spec["mode"] == "bitplane":
            acts = f"{n} stacked bit planes"
        elif n == 1:
            acts = f"1 activation base ({spec['mode']})"
        else:
            acts = f"{n} stacked activation bases ({spec['mode']})"
        return f"{name} x{len(self.weight_sets)} over {acts} = {len(self.terms)} binary {kind} + Mul/Add"


def stacked_bases(spec, x, tf):
    """The float tensor whose signs are the activation bases, stacked on the batch axis
    (``[N * batch, ...]``, base-major), computed with the same float ops as the Keras forward."""
    mode = spec["mode"]
    if mode == "sign":
        return x
    if mode == "residual":
        zs, r = [], x
        for beta in spec["betas"]:
            zs.append(r)
            b = tf.constant(float(beta), x.dtype)
            r = tf.where(r >= 0, r - b, r + b)
        return tf.concat(zs, axis=0)
    flat = tf.reshape(x, [1, -1])  # rank-2 broadcasting against one row per base
    if mode == "shift":
        z = flat - tf.constant(np.asarray(spec["thresholds"], np.float32)[:, None])
    else:  # bit planes of the integer input q (0 .. 2^bits - 1): z_n = 0.5 - bit_n(q); exact float ops
        powers = np.asarray([2.0**-n for n in range(spec["bits"])], np.float32)[:, None]
        z = tf.constant(0.5, x.dtype) - tf.math.floormod(
            tf.floor(flat * tf.constant(powers)), tf.constant(2.0, x.dtype)
        )
    return tf.reshape(z, [-1] + list(x.shape[1:]))


def _weighted_sum(bases, dot, betas, tf):
    """``sum_n beta_n dot_n`` of one weight base's products over the stacked activation bases."""
    n_bases = len(betas)
    if n_bases == 1:
        return dot if betas[0] == 1.0 else dot * tf.constant(betas[0], tf.float32)
    per_base = tf.reshape(dot, [n_bases, -1])
    if bases.act_spec["mode"] == "bitplane":  # integers times powers of two: exact in any order
        t = tf.reduce_sum(per_base * tf.constant(np.asarray(betas, np.float32)[:, None]), axis=0)
    else:
        parts = tf.unstack(per_base, axis=0)
        t = parts[0] * tf.constant(betas[0], tf.float32)
        for part, beta in zip(parts[1:], betas[1:]):
            t = t + part * tf.constant(beta, tf.float32)
    return tf.reshape(t, [-1] + list(dot.shape[1:]))


def run_bases(bases, a, post_activation, x, ops, tf):
    """The TF graph of a multi-base layer (:class:`Bases`, op attributes ``a``) on the float input ``x``.

    The ``N`` activation bases are stacked along the batch axis and quantized once; each weight
    base is one binary op over that stack with multiplier 1 and bias 0, so its float output is
    the exact integer ``dot``. The base weights are applied after: bit planes (``beta_n = -2^(n-2)``)
    by a multiply and a sum over the stack, exact on integers (any summation order gives the same
    floats); other bases by a multiply per base and an ``Add`` chain in a fixed order. Then the
    per-channel scale ``s * alpha_m``, the sum over weight bases (fixed order), the constant, the
    activation: the same float ops in TF and TFLite, hence bit-exact between them.
    """
    betas = [float(b) for b in bases.act_spec["betas"]]
    packed = ops.quantize(stacked_bases(bases.act_spec, x, tf))
    total = None
    for w, scale in zip(bases.weight_sets, bases.scales):
        ones, zeros = tf.ones([w.shape[0]], tf.float32), tf.zeros([w.shape[0]], tf.float32)
        if bases.op == StepKind.BCONV2D:
            attrs = {k: v for k, v in a.items() if k != "activation"}
            dot = ops.bconv2d(packed, tf.constant(w), ones, zeros, **attrs, activation="NONE", T="float")
        else:
            dot = ops.bfully_connected(
                packed, tf.constant(w), ones, zeros, input_size=a["input_size"], activation="NONE", T="float"
            )
        t = _weighted_sum(bases, dot, betas, tf) * tf.constant(scale)
        total = t if total is None else total + t
    y = total + tf.constant(bases.bias)
    if a["activation"] == "RELU":
        y = tf.nn.relu(y)
    elif a["activation"] == "RELU6":
        y = tf.nn.relu6(y)
    if post_activation is not None:
        y = post_activation(y)
    return y
