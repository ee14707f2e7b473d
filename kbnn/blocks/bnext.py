"""BNext block: binary 3×3 "processor" + binary 1×1 feed-forward modules with mix-to-binary
squeeze-and-excitation.

Reference: Guo, Bethge, Meinel, Yang, "Join the High Accuracy Club on ImageNet with A Binary
Neural Network Ticket", arXiv:2211.12933, section 3 and Fig. 2 (BNext: an optimized MobileNet
backbone; every binary convolution is followed by BN and PReLU, then a channel-wise
mix-to-binary attention — squeeze-and-excitation on a learnable mix of the module's real input
and the binary branch — then BN and the real-valued shortcut; the 3×3 module alternates between
an "element attention" form, which multiplies by the PReLU'd shortcut, and a plain shortcut
form). Layer order as in the paper's public reference code (read for facts only).
"""

from __future__ import annotations

import keras

from kbnn.blocks.bireal import _check_input, _check_positive_int, _part
from kbnn.blocks.reactnet import _bconv

__all__ = ["bnext_block"]

_MODES = ("scale", "bias")


def _squeeze_excite(mix, channels, ratio, name):
    """GAP → 1×1 conv (C→C/ratio, bias) → ReLU → 1×1 conv (→C, bias) → sigmoid, shape (1, 1, C)."""
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=_part(name, "se_pool"))(mix)
    s = keras.layers.Conv2D(max(channels // ratio, 1), 1, name=_part(name, "se_reduce"))(s)
    s = keras.layers.ReLU(name=_part(name, "se_relu"))(s)
    s = keras.layers.Conv2D(channels, 1, name=_part(name, "se_expand"))(s)
    return keras.layers.Activation("sigmoid", name=_part(name, "se_sigmoid"))(s)


def _module(x, kernel_size, strides, element_attention, qargs, momentum, ratio, name):
    from kbnn.layers import ChannelMix

    c = int(x.shape[-1])
    pooled = x
    if strides == 2:
        pooled = keras.layers.AveragePooling2D(2, strides=2, padding="same", name=_part(name, "pool"))(x)
    if element_attention:
        residual = keras.layers.PReLU(shared_axes=[1, 2], name=_part(name, "prelu_in"))(x)
        if strides == 2:
            residual = keras.layers.AveragePooling2D(
                2, strides=2, padding="same", name=_part(name, "prelu_pool")
            )(residual)
    else:
        residual = pooled
    y = _bconv(x, c, kernel_size, strides, *qargs, _part(name, "conv"))
    y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn1"))(y)
    y = keras.layers.PReLU(shared_axes=[1, 2], name=_part(name, "prelu"))(y)
    mix = ChannelMix(0.5, name=_part(name, "mix"))([pooled, y])
    y = keras.layers.Multiply(name=_part(name, "se_mul"))([y, _squeeze_excite(mix, c, ratio, name)])
    if element_attention:
        y = keras.layers.Multiply(name=_part(name, "attention_mul"))([y, residual])
    y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn2"))(y)
    return keras.layers.Add(name=_part(name, "add"))([y, residual])


def bnext_block(
    x,
    filters: int,
    *,
    strides: int = 1,
    mode: str = "bias",
    input_quantizer="default",
    kernel_quantizer="ste_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    se_ratio: int = 8,
    name: str | None = None,
):
    """BNext basic block (Guo et al., arXiv:2211.12933, Fig. 2): a 3×3 module (C→C, strides),
    then one 1×1 module (filters == C) or two concatenated (filters == 2C).

    Each module::

        r = x (mode "bias")  or  r = PReLU(x) (mode "scale", the element attention)
        y = PReLU(BN(BConv(RSign(x))))
        y = y · SE(mix(x, y))                    mix = s·x + (1 − s)·y, per channel (ChannelMix)
        y = y · r                                (mode "scale" only)
        out = BN(y) + r                          (x and r avg-pooled 2×2 when strides = 2)

    The 1×1 modules are always "bias" modules. SE: global average pool → 1×1 conv (C/8, bias)
    → ReLU → 1×1 conv (C, bias) → sigmoid.

    Layers: ``{name}_conv3x3_*`` and ``{name}_conv1x1_*`` (or ``_conv1x1_a_*``/``_b_*`` and
    ``{name}_concat``), each module with ``_conv``, ``_bn1``, ``_prelu``, ``_mix``, ``_se_*``,
    ``_bn2``, ``_add`` (+ ``_pool``, ``_prelu_in``, ``_attention_mul`` where they apply).

    Args:
        x: Rank-4 channels-last tensor with C channels.
        filters: C or 2C.
        strides: 1 or 2.
        mode: ``"scale"`` (element attention) or ``"bias"`` for the 3×3 module.
        input_quantizer: Activation quantizer; ``"default"`` is BNext's,
            ``RSign(gradient="ste", clip_value=1.5)`` (the reference's learnable shift + sign with
            a straight-through gradient on |v| ≤ 1.5); ``None`` gives real activations.
        kernel_quantizer: Weight quantizer (``"ste_sign"``: BNext's binary weights carry no scale).
        kernel_constraint: Constraint of the latent weights.
        pad_values: Padding of the binarized input of the 3×3 convolution.
        momentum: Batch-norm momentum.
        se_ratio: Squeeze-and-excitation reduction.
        name: Layer-name prefix.
    """
    c = _check_input(x, "bnext_block")
    filters = _check_positive_int(filters, "filters")
    strides = _check_positive_int(strides, "strides")
    se_ratio = _check_positive_int(se_ratio, "se_ratio")
    if filters not in (c, 2 * c):
        raise ValueError(
            f"`bnext_block` keeps (C) or doubles (2C) the {c} input channels. Received: filters={filters}"
        )
    if strides not in (1, 2):
        raise ValueError(f"`strides` must be 1 or 2. Received: strides={strides}")
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {list(_MODES)}. Received: mode={mode!r}")
    if isinstance(input_quantizer, str) and input_quantizer == "default":
        from kbnn.quantizers import RSign

        input_quantizer = RSign(gradient="ste", clip_value=1.5)
    qargs = (input_quantizer, kernel_quantizer, kernel_constraint, pad_values)
    h = _module(x, 3, strides, mode == "scale", qargs, momentum, se_ratio, _part(name, "conv3x3"))
    if filters == c:
        return _module(h, 1, 1, False, qargs, momentum, se_ratio, _part(name, "conv1x1"))
    halves = [
        _module(h, 1, 1, False, qargs, momentum, se_ratio, _part(name, f"conv1x1_{half}")) for half in "ab"
    ]
    return keras.layers.Concatenate(name=_part(name, "concat"))(halves)
