"""ReActNet blocks: the MobileNetV1-layout block of ReActNet-A and the Bi-Real-layout block.

Reference: Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with
Generalized Activation Functions", ECCV 2020 (arXiv:2003.03488), section 3.1 and Fig. 2 (the
ReActNet-A block: every depthwise 3×3 / pointwise 1×1 pair of MobileNetV1 becomes a binary
3×3 convolution and a binary 1×1 convolution, each with its own real-valued shortcut; the
downsampling block duplicates the input with two 1×1 convolutions and concatenates them), and
section 3.2 (RSign before every binary convolution, RPReLU after every shortcut addition).
Layer order as in the paper's public reference code (read for facts only).
"""

from __future__ import annotations

import keras

from kbnn import quantizers as quantizers_lib
from kbnn.blocks.bireal import _check_input, _check_positive_int, _part, downsample_shortcut

__all__ = ["reactnet_block", "reactnet_bireal_block"]


def fresh_quantizer(identifier):
    """A new quantizer for each layer: stateful quantizers (RSign's thresholds) must not be shared
    between layers, so an instance given once to a block builder is cloned from its config."""
    q = quantizers_lib.get(identifier)
    if isinstance(q, keras.layers.Layer):
        return type(q).from_config(q.get_config() | {"name": None}) if q is identifier else q
    return q


def _bconv(x, filters, kernel_size, strides, input_quantizer, kernel_quantizer, constraint, pad_values, name):
    from kbnn.layers import QuantConv2D

    return QuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        pad_values=pad_values if kernel_size > 1 else 0.0,
        input_quantizer=fresh_quantizer(input_quantizer),
        kernel_quantizer=fresh_quantizer(kernel_quantizer),
        kernel_constraint=constraint,
        kernel_initializer="glorot_normal",
        use_bias=False,
        name=name,
    )(x)


def reactnet_block(
    x,
    filters: int,
    *,
    strides: int = 1,
    input_quantizer="rsign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    name: str | None = None,
):
    """ReActNet-A block (Liu et al., ECCV 2020, Fig. 2)::

        x ─► RSign ─► BConv 3×3 (C→C, strides) ─► BN ─► (+ x, avg-pooled 2×2 if strides=2)
          ─► RPReLU = h
        h ─► RSign ─► BConv 1×1 (C→C) ─► BN ─► (+ h) ─► RPReLU                 (filters == C)
        h ─► RSign ─► BConv 1×1 (C→C) ─► BN ─► (+ h) ─┐
        h ─► RSign ─► BConv 1×1 (C→C) ─► BN ─► (+ h) ─┴► concat (2C) ─► RPReLU  (filters == 2C)

    Every shortcut is parameter-free (the paper's point): downsampling uses 2×2 average pooling
    on the shortcut and doubles the channels by concatenating two 1×1 convolutions of the same
    input. Each of the two 1×1 convolutions has its own RSign threshold (the reference code
    shares one shift between them; both start at 0).

    Layers: ``{name}_conv3x3``, ``_bn1``, ``_pool`` (strides 2), ``_add1``, ``_rprelu1``; then
    ``_conv1x1``, ``_bn2``, ``_add2`` or ``_conv1x1_a/_b``, ``_bn2_a/_b``, ``_add2_a/_b``,
    ``_concat``; ``_rprelu2``.

    Args:
        x: Rank-4 channels-last tensor with C channels.
        filters: C or 2C.
        strides: 1 or 2 (of the 3×3 convolution).
        input_quantizer: Activation quantizer of the binary convolutions (``"rsign"``; ``None``
            for real activations).
        kernel_quantizer: Weight quantizer (``"magnitude_aware_sign"``: sign times mean |W| per
            output channel, as ReActNet's reference code; ``None`` for real weights).
        kernel_constraint: Constraint of the latent weights.
        pad_values: Padding of the binarized input of the 3×3 convolutions (0.0 as the paper).
        momentum: Batch-norm momentum.
        name: Layer-name prefix.
    """
    from kbnn.layers import RPReLU

    c = _check_input(x, "reactnet_block")
    filters = _check_positive_int(filters, "filters")
    strides = _check_positive_int(strides, "strides")
    if filters not in (c, 2 * c):
        raise ValueError(
            f"`reactnet_block` keeps (C) or doubles (2C) the {c} input channels. Received: filters={filters}"
        )
    if strides not in (1, 2):
        raise ValueError(f"`strides` must be 1 or 2. Received: strides={strides}")
    args = (input_quantizer, kernel_quantizer, kernel_constraint, pad_values)
    y = _bconv(x, c, 3, strides, *args, _part(name, "conv3x3"))
    y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn1"))(y)
    shortcut = x
    if strides == 2:
        shortcut = keras.layers.AveragePooling2D(2, strides=2, padding="same", name=_part(name, "pool"))(x)
    y = keras.layers.Add(name=_part(name, "add1"))([y, shortcut])
    h = RPReLU(name=_part(name, "rprelu1"))(y)
    if filters == c:
        y = _bconv(h, c, 1, 1, *args, _part(name, "conv1x1"))
        y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn2"))(y)
        y = keras.layers.Add(name=_part(name, "add2"))([y, h])
    else:
        halves = []
        for half in ("a", "b"):
            z = _bconv(h, c, 1, 1, *args, _part(name, f"conv1x1_{half}"))
            z = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, f"bn2_{half}"))(z)
            halves.append(keras.layers.Add(name=_part(name, f"add2_{half}"))([z, h]))
        y = keras.layers.Concatenate(name=_part(name, "concat"))(halves)
    return RPReLU(name=_part(name, "rprelu2"))(y)


def reactnet_bireal_block(
    x,
    filters: int | None = None,
    *,
    strides: int = 1,
    input_quantizer="rsign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    name: str | None = None,
):
    """ReActNet on the Bi-Real block (Liu et al., ECCV 2020, section 4 / Table 4 "ReActNet on
    Bi-Real Net-18")::

        x ─► RSign ─► BConv 3×3 (strides) ─► BN ─► (+ shortcut(x)) ─► RPReLU

    The shortcut is the identity, or :func:`kbnn.blocks.downsample_shortcut` (2×2 average pool
    → real 1×1 conv → BN) when the block downsamples or changes the channel count.

    Layers: ``{name}_conv``, ``_bn``, ``_add``, ``_rprelu`` (and ``_shortcut_*``).
    """
    from kbnn.layers import RPReLU

    c = _check_input(x, "reactnet_bireal_block")
    filters = c if filters is None else _check_positive_int(filters, "filters")
    strides = _check_positive_int(strides, "strides")
    if strides == 1 and filters == c:
        shortcut = x
    else:
        shortcut = downsample_shortcut(x, filters, strides=strides, momentum=momentum, name=name)
    y = _bconv(
        x,
        filters,
        3,
        strides,
        input_quantizer,
        kernel_quantizer,
        kernel_constraint,
        pad_values,
        _part(name, "conv"),
    )
    y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn"))(y)
    y = keras.layers.Add(name=_part(name, "add"))([y, shortcut])
    return RPReLU(name=_part(name, "rprelu"))(y)
