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

import keras
import numpy as np

from kbnn import quantizers as qz
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
        return dict(mode="bitplane", bits=bits, betas=[-(2.0 ** (n - 2)) for n in range(1, bits + 1)],
                    c0=((1 << bits) - 1) / 2.0), ""
    if isinstance(q, qz.MultiBaseSign):
        if q.mode == "weights":
            return None, ("input quantizer MultiBaseSign(mode='weights') uses data-dependent per-channel "
                          "statistics; use mode='shift' or 'residual' for activations")
        th, betas = q.activation_parameters()
        return dict(mode=q.mode, thresholds=th, betas=[float(b) for b in betas], c0=0.0), ""
    from kbnn.convert.lowering import binary_input_reason

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
            return None, None, "MultiBaseSign weight bases do not reproduce the quantized kernel"  # pragma: no cover
        return signs, alphas, None
    from kbnn.convert.lowering import binary_kernel

    signs, alpha, reason = binary_kernel(layer)
    if reason:
        return None, None, reason
    return signs[None], alpha[None], None


def is_multi(graph, node) -> bool:
    """Whether ``node`` is a layer this module lowers (rather than the single-op path)."""
    layer = node.layer
    if not isinstance(layer, (QuantConv2D, QuantDense)):
        return False
    if isinstance(layer.input_quantizer, qz.MultiBaseSign) or isinstance(layer.kernel_quantizer, qz.MultiBaseSign):
        return True
    prod = _producer(graph, node) if layer.input_quantizer is None else None
    return prod is not None and isinstance(prod.layer, BitPlaneInput)


def candidate(graph, node, single_op_params):
    """Parameters of a ``bmulti`` step, or ``(None, reason)``.

    ``single_op_params(node, skip_quantizers=True)`` is the single-op analysis of lowering.py,
    reused for the op attributes (strides, padding, ...); the bases come from this module.
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
    attrs = dict(params["attrs"])
    if params["kind"] == "bconv2d":
        if attrs["padding"] == "SAME":
            pad = float(layer.pad_values or 0.0)
            if pad == act["c0"] + sum(act["betas"]):
                attrs["pad_values"] = 1
            elif pad == 0.0 and act["c0"] == 0.0:
                attrs["pad_values"] = 0
            else:
                return None, (f"padding with {pad} is not expressible by padding every binary base "
                              "with +1 or 0 (use pad_values=0.0)")
        else:
            attrs["pad_values"] = 1
        ohwi = [np.transpose(s, (3, 0, 1, 2)) for s in signs]
        window_sums = np.stack([s.reshape(-1, s.shape[-1]).sum(axis=0) for s in signs])  # [M, Cout]
    else:
        ohwi = [np.transpose(s) for s in signs]
        window_sums = np.stack([s.sum(axis=0) for s in signs])
    params.update(kind="bmulti", op=params["kind"], attrs=attrs, act=act, weight_signs=ohwi,
                  weight_alphas=alphas.astype(np.float64), window_sums=window_sums.astype(np.float64),
                  alpha=np.ones(alphas.shape[1], np.float32))
    return params, ""


def finish_step(step, p, mult, bias, pack):
    """Fill a ``bmulti`` step from the folded ``(mult, bias)`` (batch norm scale and shift of the
    layer's output, the layer's own bias included), per output channel."""
    act, alphas = p["act"], p["weight_alphas"]
    step.act_spec = act
    step.multi_op = p["op"]
    step.weight_sets = [np.asarray(pack.pack_filters(w) if p["op"] == "bconv2d" else pack.pack_dense(w))
                        for w in p["weight_signs"]]
    step.scales = [(mult * alphas[m]).astype(np.float32) for m in range(len(step.weight_sets))]
    step.bias = np.asarray(mult * act["c0"] * (alphas * p["window_sums"]).sum(axis=0) + bias, np.float32)
    step.terms = [(n, m) for n in range(len(act["betas"])) for m in range(len(step.weight_sets))]
    step.weights = np.concatenate([w.ravel() for w in step.weight_sets])
    step.multiplier = np.concatenate(step.scales)


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
        powers = np.asarray([2.0 ** -n for n in range(spec["bits"])], np.float32)[:, None]
        z = tf.constant(0.5, x.dtype) - tf.math.floormod(tf.floor(flat * tf.constant(powers)),
                                                          tf.constant(2.0, x.dtype))
    return tf.reshape(z, [-1] + list(x.shape[1:]))


def run_step(step, x, ops, tf):
    """The TF graph of a ``bmulti`` step on the float input ``x``.

    The ``N`` activation bases are stacked along the batch axis and quantized once; each weight
    base is one binary op over that stack with multiplier 1 and bias 0, so its float output is
    the exact integer ``dot``. The base weights are applied after: bit planes (``beta_n = -2^(n-2)``)
    by a multiply and a sum over the stack, exact on integers (any summation order gives the same
    floats); other bases by a multiply per base and an ``Add`` chain in a fixed order. Then the
    per-channel scale ``s * alpha_m``, the sum over weight bases (fixed order), the constant, the
    activation: the same float ops in TF and TFLite, hence bit-exact between them.
    """
    betas = [float(b) for b in step.act_spec["betas"]]
    n_bases = len(betas)
    packed = ops.quantize(stacked_bases(step.act_spec, x, tf))
    a = step.attrs
    total = None
    for w, scale in zip(step.weight_sets, step.scales):
        ones, zeros = tf.ones([w.shape[0]], tf.float32), tf.zeros([w.shape[0]], tf.float32)
        if step.multi_op == "bconv2d":
            attrs = {k: v for k, v in a.items() if k != "activation"}
            dot = ops.bconv2d(packed, tf.constant(w), ones, zeros, **attrs, activation="NONE", T="float")
        else:
            dot = ops.bfully_connected(packed, tf.constant(w), ones, zeros, input_size=a["input_size"],
                                       activation="NONE", T="float")
        if n_bases == 1:
            t = dot if betas[0] == 1.0 else dot * tf.constant(betas[0], tf.float32)
        else:
            per_base = tf.reshape(dot, [n_bases, -1])
            if step.act_spec["mode"] == "bitplane":  # integers times powers of two: exact in any order
                t = tf.reduce_sum(per_base * tf.constant(np.asarray(betas, np.float32)[:, None]), axis=0)
            else:
                parts = tf.unstack(per_base, axis=0)
                t = parts[0] * tf.constant(betas[0], tf.float32)
                for part, beta in zip(parts[1:], betas[1:]):
                    t = t + part * tf.constant(beta, tf.float32)
            t = tf.reshape(t, [-1] + list(dot.shape[1:]))
        t = t * tf.constant(scale)
        total = t if total is None else total + t
    y = total + tf.constant(step.bias)
    if a["activation"] == "RELU":
        y = tf.nn.relu(y)
    elif a["activation"] == "RELU6":
        y = tf.nn.relu6(y)
    if step.post_activation is not None:
        y = step.post_activation(y)
    return y


def describe(step) -> str:
    """The report's op text, e.g. ``KbnnBconv2d x1 over 8 stacked bit planes = 8 binary convolutions``."""
    name = "KbnnBconv2d" if step.multi_op == "bconv2d" else "KbnnBFullyConnected"
    kind = "convolutions" if step.multi_op == "bconv2d" else "products"
    spec = step.act_spec
    n = len(spec["betas"])
    if spec["mode"] == "bitplane":
        acts = f"{n} stacked bit planes"
    elif n == 1:
        acts = f"1 activation base ({spec['mode']})"
    else:
        acts = f"{n} stacked activation bases ({spec['mode']})"
    return f"{name} x{len(step.weight_sets)} over {acts} = {len(step.terms)} binary {kind} + Mul/Add"
