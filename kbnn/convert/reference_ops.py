"""Plain-TensorFlow reference implementations of the kbnn ops (the schema's semantics).

Same call signatures as :mod:`kbnn.ops` (the compiled TF op library). The converter uses
them as an oracle in tests and to check a lowering plan when the op library is not built;
a ``.tflite`` file is only ever written with the real ops (these would become TFLite
builtins, not CUSTOM ops).

Conventions (docs/architecture.md §3, ``kbnn/convert/schema.py``): bitpacked tensors are ``int32``
with ``ceil(C / 32)`` words on the last axis, bit ``i`` of word ``w`` is channel
``32 w + i``, bit 1 = negative, padding bits 0, ``sign(0) = +1``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_SHIFTS = tf.constant([1 << i if i < 31 else -(1 << 31) for i in range(32)], tf.int32)


def _words(c: int) -> int:
    return (int(c) + 31) // 32


def quantize(x):
    """Bitpack ``x`` along its last axis (bit = x < 0)."""
    x = tf.convert_to_tensor(x)
    c = x.shape[-1]
    w = _words(c)
    bits = tf.cast(x < 0, tf.int32)
    pad = [[0, 0]] * (len(x.shape) - 1) + [[0, w * 32 - c]]
    bits = tf.pad(bits, pad)
    bits = tf.reshape(bits, tf.concat([tf.shape(x)[:-1], [w, 32]], 0))
    # Disjoint bits: the sum is the OR (int32 wrap-around sets bit 31).
    return tf.reduce_sum(bits * _SHIFTS, axis=-1)


def dequantize(x, channels: int):
    """Unpack bitpacked words to +-1 floats with ``channels`` logical channels."""
    x = tf.convert_to_tensor(x, tf.int32)
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(x[..., None], tf.range(32, dtype=tf.int32)), 1)
    shape = tf.concat([tf.shape(x)[:-1], [x.shape[-1] * 32]], 0)
    bits = tf.reshape(bits, shape)[..., :channels]
    return 1.0 - 2.0 * tf.cast(bits, tf.float32)


def _np_pack(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    c = values.shape[-1]
    w = _words(c)
    bits = np.zeros(values.shape[:-1] + (w * 32,), np.uint32)
    bits[..., :c] = values < 0
    bits = bits.reshape(values.shape[:-1] + (w, 32))
    words = (bits << np.arange(32, dtype=np.uint32)).sum(axis=-1, dtype=np.uint64).astype(np.uint32)
    return words.view(np.int32)


def pack_filters(w_ohwi) -> np.ndarray:
    """Bitpack an OHWI filter along I: ``[O, H, W, ceil(I / 32)]`` int32."""
    return _np_pack(np.asarray(w_ohwi))


def pack_dense(w) -> np.ndarray:
    """Bitpack a ``[Cout, K]`` weight matrix along K: ``[Cout, ceil(K / 32)]`` int32."""
    return _np_pack(np.asarray(w))


def _output_transform(y, multiplier, bias, activation, clamp_min, clamp_max, T):
    y = y * multiplier + bias
    if activation == "RELU":
        y = tf.nn.relu(y)
    elif activation == "RELU6":
        y = tf.clip_by_value(y, 0.0, 6.0)
    elif activation == "CLAMP":
        y = tf.clip_by_value(y, clamp_min, clamp_max)
    if T in ("int32", tf.int32):
        return quantize(y)
    return y


def bconv2d(
    x,
    filter,  # noqa: A002  (the schema's input name)
    multiplier,
    bias,
    *,
    channels_in,
    filter_height,
    filter_width,
    stride_height=1,
    stride_width=1,
    dilation_height=1,
    dilation_width=1,
    padding="VALID",
    pad_values=1,
    groups=1,
    activation="NONE",
    clamp_min=float("-inf"),
    clamp_max=float("inf"),
    T="float",
    **_,
):
    """Binary conv: ``y = multiplier * dot(x, w) + bias`` with +-1 data, then activation/output type."""
    xf = dequantize(x, channels_in)
    cout = filter.shape[0]
    w = dequantize(filter, channels_in // groups)  # [O, H, W, I]
    w = tf.transpose(w, [1, 2, 3, 0])
    if padding == "SAME" and pad_values == 1:
        h, wd = xf.shape[1], xf.shape[2]
        pads = []
        for size, k, s, d in (
            (h, filter_height, stride_height, dilation_height),
            (wd, filter_width, stride_width, dilation_width),
        ):
            total = max((((size + s - 1) // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append([total // 2, total - total // 2])
        xf = tf.pad(xf, [[0, 0], pads[0], pads[1], [0, 0]], constant_values=1.0)
        padding = "VALID"
    y = tf.nn.convolution(
        xf,
        w,
        strides=(stride_height, stride_width),
        padding=padding,
        dilations=(dilation_height, dilation_width),
    )
    del cout
    return _output_transform(y, multiplier, bias, activation, clamp_min, clamp_max, T)


def bfully_connected(
    x,
    weights,
    multiplier,
    bias,
    *,
    input_size,
    activation="NONE",
    clamp_min=float("-inf"),
    clamp_max=float("inf"),
    T="float",
    **_,
):
    xf = dequantize(x, input_size)
    w = dequantize(weights, input_size)  # [Cout, K]
    y = tf.matmul(xf, w, transpose_b=True)
    return _output_transform(y, multiplier, bias, activation, clamp_min, clamp_max, T)


def bmaxpool2d(
    x, *, channels, filter_height, filter_width, stride_height=1, stride_width=1, padding="VALID", **_
):
    xf = dequantize(x, channels)
    y = tf.nn.max_pool2d(xf, (filter_height, filter_width), (stride_height, stride_width), padding)
    return quantize(y)


def bconv2d_residual(x, filter, multiplier, bias, residual, **attrs):  # noqa: A002  (the schema's name)
    """KbnnBconv2dResidual: ``out = bconv2d(x, ..., T=float) + residual`` and ``quantize(out)``.

    The residual is added after the activation (a Bi-Real block's shortcut add, Liu et al.,
    "Bi-Real Net", ECCV 2018); the second output is the sign of the sum, bitpacked.
    """
    attrs.pop("T", None)
    out = bconv2d(x, filter, multiplier, bias, T="float", **attrs) + residual
    return out, quantize(out)
