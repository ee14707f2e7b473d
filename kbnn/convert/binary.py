"""Binary layer analysis (used by the plan stage, :mod:`kbnn.convert.lowering`, and by
:mod:`kbnn.convert.multibase`).

A ``QuantConv2D``/``QuantDense`` lowers when its input quantizer is on the allowlist of
quantizers whose inference forward is exactly ``sign`` with ``sign(0) = +1`` (and a numerical
spot check agrees), and its kernel quantizer, *evaluated on the kernel*, gives
per-output-channel ``{-alpha_c, +alpha_c}`` with ``alpha_c > 0``. Nothing is inferred from
float patterns: the layer declares its quantizers. Also here: what folds into a binary op (an
inference-mode normalization, a ReLU/ReLU6).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from kbnn import quantizers as qz
from kbnn.convert.graph import Node, called_more_than_once
from kbnn.convert.plan import StepKind
from kbnn.layers.convolutional import QuantConv2D
from kbnn.layers.core import QuantDense

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
        return (
            f"input quantizer {_describe(quantizer)} (precision {qz.precision_of(quantizer)}) is not "
            "a 1-bit sign the binary kernels implement"
        )
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
        return (
            None,
            None,
            (
                f"kernel quantizer {_describe(layer.kernel_quantizer)} does not give "
                "per-output-channel {-alpha, +alpha} values"
            ),
        )
    return np.where(wq >= 0, 1.0, -1.0).astype(np.float32), alpha.astype(np.float32), None


def activation_name(fn) -> str | None:
    """The serialized name of a Keras activation (``"linear"`` for None), or None."""
    if fn is None:
        return "linear"
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return name if isinstance(name, str) else None


def fusable_activation(layer) -> str | None:
    """ "RELU"/"RELU6" if ``layer`` is an activation layer we can fuse, else None."""
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            return None
        if layer.max_value is None:
            return "RELU"
        return "RELU6" if float(layer.max_value) == 6.0 else None
    if isinstance(layer, keras.layers.Activation):
        return {"relu": "RELU", "relu6": "RELU6"}.get(activation_name(layer.activation))
    return None


def bn_transform(layer) -> tuple[np.ndarray, np.ndarray] | None:
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


@dataclasses.dataclass
class OpParams:
    """What the analysis of one binary layer found: the op kind and its attributes, the signs of
    the (single-base) kernel, per-channel ``alpha`` and ``bias``, the activation to fuse
    (``"NONE"``/``"RELU"``/``"RELU6"``) or a float one to apply after (``post_activation``).
    A multi-base layer (:mod:`kbnn.convert.multibase`) also carries its ``bases``."""

    kind: StepKind
    attrs: dict
    weights_signs: np.ndarray
    alpha: np.ndarray
    bias: np.ndarray
    activation: str = "NONE"
    post_activation: object = None
    bases: object = None  # multibase.Bases of a StepKind.BMULTI layer


def _signs_and_alpha(layer, skip_quantizers):
    if skip_quantizers:
        signs = np.ones(tuple(layer.kernel.shape), np.float32)
        return signs, np.ones(signs.shape[-1], np.float32), ""
    reason = binary_input_reason(layer.input_quantizer)
    if reason:
        return None, None, reason
    return binary_kernel(layer)


def _conv_attrs(layer, signs) -> dict:
    if called_more_than_once(layer):
        cin = int(signs.shape[2] * layer.groups)
    else:
        cin = int(layer.input.shape[-1])
    kh, kw = layer.kernel_size
    return dict(
        channels_in=cin,
        filter_height=int(kh),
        filter_width=int(kw),
        stride_height=int(layer.strides[0]),
        stride_width=int(layer.strides[1]),
        dilation_height=int(layer.dilation_rate[0]),
        dilation_width=int(layer.dilation_rate[1]),
        padding=layer.padding.upper(),
        pad_values=int(layer.pad_values or 0) if layer.padding == "same" else 1,
        groups=int(layer.groups),
    )


def single_op_params(node: Node, skip_quantizers: bool = False) -> tuple[OpParams | None, str]:
    """Binary-op parameters for a QuantConv2D/QuantDense node, or (None, reason).

    ``skip_quantizers``: only the op attributes (multibase.py supplies the bases itself).
    """
    layer = node.layer
    if not isinstance(layer, (QuantConv2D, QuantDense)):
        return None, f"{type(layer).__name__} has no binary kbnn op"
    if layer.compute_dtype != "float32":
        return None, f"compute dtype {layer.compute_dtype} (only float32 models lower)"
    signs, alpha, reason = _signs_and_alpha(layer, skip_quantizers)
    if reason:
        return None, reason
    act = activation_name(layer.activation)
    bias = np.asarray(layer.bias.numpy(), np.float32) if layer.use_bias else np.zeros_like(alpha)
    activation, post = "NONE", None
    if act in ("relu", "relu6"):
        activation = act.upper()
    elif act != "linear":
        post = layer.activation
    if isinstance(layer, QuantConv2D):
        if layer.data_format != "channels_last":
            return None, "data_format channels_first (the kernels are NHWC)"
        ohwi = np.transpose(signs, (3, 0, 1, 2))
        return OpParams(StepKind.BCONV2D, _conv_attrs(layer, signs), ohwi, alpha, bias, activation, post), ""
    in_shape = layer.input.shape if not called_more_than_once(layer) else None
    if in_shape is None or len(in_shape) != 2:
        return None, "QuantDense on an input of rank != 2 (KbnnBFullyConnected takes [N, K])"
    return OpParams(
        StepKind.BFC,
        dict(input_size=int(in_shape[-1])),
        np.transpose(signs),  # [Cout, K]
        alpha,
        bias,
        activation,
        post,
    ), ""
