"""BNext (Guo, Bethge, Meinel, Yang, "Join the High Accuracy Club on ImageNet with A Binary
Neural Network Ticket", arXiv:2211.12933).

ImageNet top-1 reported by the paper: BNext-T 72.4 %, BNext-S 76.1 %, BNext-M 78.3 %, BNext-L
80.6 %. The four sizes share one layout (an optimized MobileNet backbone, the stem and the
blocks of :func:`kbnn.blocks.bnext_block`) and differ in widths and block counts (the paper's
reference code):

======  =============================================================================
size    stem, then each block's output channels
======  =============================================================================
tiny    32 | 64, 128×2, 256×2, 512×6, 1024×2       (ReActNet-A's widths)
small   48 | 96, 192×2, 384×2, 768×6, 1536×2
middle  48 | 96, 192×4, 384×4, 768×8, 1536×4
large   48 | 96, 192×4, 384×4, 768×16, 1536×4
======  =============================================================================

Counting convention as :mod:`kbnn.models.reactnet` (BOPs = binary MACs, FLOPs = other conv/dense
MACs, OPs = BOPs/64 + FLOPs). BNext-T at 224×224×3: 4,816,896,000 BOPs = 4.82×10^9 (its binary
convolutions are ReActNet-A's) and 13,344,512 FLOPs = 0.13×10^8 (stem 10.84 M, classifier
1.02 M, the squeeze-and-excitation 1×1 convolutions 1.48 M; test ``test_bnext_t_counts``);
OPs 0.89×10^8. The element-wise products of the attention (mix,
SE and element-attention multiplies) are not counted, as in the papers.

What stays real-valued in a BNext besides the stem and classifier (and so is float in an export):
the squeeze-and-excitation branch of every module (global pool, two 1×1 convs, ReLU, sigmoid,
multiply), the learnable mix (``ChannelMix``), the element-attention multiply and the PReLUs.

``weights=``: ``None`` or a ``*.weights.h5`` file saved by ``save_weights`` from the same builder
with the same arguments (see :func:`kbnn.models._common.load_weights_file`).

Not reproduced: BNext's training schedule (progressive weight/activation temperature, the
multi-teacher "knowledge complementary" distillation); train with
:func:`kbnn.distillation.two_step` or the :class:`kbnn.distillation.Distiller`.
"""

from __future__ import annotations

import keras

from kbnn.blocks.bnext import bnext_block
from kbnn.models._common import (
    check_input_shape,
    check_num_classes,
    check_weights_arg,
    conv_bn_stem,
    load_weights_file,
    pooled_softmax_head,
    scaled_widths,
)

__all__ = ["BNext", "BNextT", "BNextS", "BNextM", "BNextL"]

_SIZES = {
    "tiny": (32, 64, *(128,) * 2, *(256,) * 2, *(512,) * 6, *(1024,) * 2),
    "small": (48, 96, *(192,) * 2, *(384,) * 2, *(768,) * 6, *(1536,) * 2),
    "middle": (48, 96, *(192,) * 4, *(384,) * 4, *(768,) * 8, *(1536,) * 4),
    "large": (48, 96, *(192,) * 4, *(384,) * 4, *(768,) * 16, *(1536,) * 4),
}


def BNext(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    size: str = "tiny",
    input_quantizer="default",
    kernel_quantizer="ste_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    width: float = 1.0,
    name: str | None = None,
    weights=None,
) -> keras.Model:
    """BNext of the given ``size`` (``"tiny"``, ``"small"``, ``"middle"``, ``"large"``).

    Layout: real 3×3/2 conv → BN; one :func:`kbnn.blocks.bnext_block` per entry of the widths
    table (module docstring): the first block keeps stride 1 (stem → first width), a block that
    changes the width has stride 2 and concatenates two 1×1 modules; the 3×3 module of block
    ``i`` is an element-attention ("scale") module for even ``i`` and a plain ("bias") module for
    odd ``i``; then PReLU → global average pool → real dense → softmax.

    Layer names: ``stem_conv``, ``stem_bn``, ``block{i}_*``, ``head_prelu``, ``head_pool``,
    ``head_logits``, ``head_softmax``.

    Args:
        input_shape: ``(height, width, channels)``; 32×32 and up.
        num_classes: Output classes.
        size: Model size.
        input_quantizer: ``"default"`` (``RSign(gradient="ste", clip_value=1.5)`` per layer),
            another activation quantizer, or ``None`` (real activations).
        kernel_quantizer: Weight quantizer (``"ste_sign"``: unscaled signs as BNext; ``None``:
            real weights).
        kernel_constraint: Constraint of the latent weights (the reference clips them to ±1.5:
            ``kbnn.constraints.WeightClip(1.5)``).
        pad_values: Padding of the binarized 3×3 inputs.
        momentum: Batch-norm momentum.
        width: Channel multiplier (1.0 = the paper).
        name: Model name (default ``bnext_<size>``).
        weights: ``None`` or a ``*.weights.h5`` file.

    Returns:
        An uncompiled ``keras.Model``.
    """
    if size not in _SIZES:
        raise ValueError(f"`size` must be one of {list(_SIZES)}. Received: size={size!r}")
    check_weights_arg(weights, "BNext")
    input_shape = check_input_shape(input_shape, "BNext")
    num_classes = check_num_classes(num_classes)
    channels = scaled_widths(_SIZES[size], width)
    inputs = keras.Input(input_shape, name="input")
    x = conv_bn_stem(inputs, channels[0], 3, momentum)
    for i in range(1, len(channels)):
        x = bnext_block(
            x,
            channels[i],
            strides=2 if (channels[i] != channels[i - 1] and i > 1) else 1,
            mode="bias" if i == 1 or i % 2 else "scale",
            input_quantizer=input_quantizer,
            kernel_quantizer=kernel_quantizer,
            kernel_constraint=kernel_constraint,
            pad_values=pad_values,
            momentum=momentum,
            name=f"block{i}",
        )
    x = keras.layers.PReLU(shared_axes=[1, 2], name="head_prelu")(x)
    model = keras.Model(inputs, pooled_softmax_head(x, num_classes), name=name or f"bnext_{size}")
    load_weights_file(model, weights, "BNext")
    return model


def BNextT(input_shape=(224, 224, 3), num_classes: int = 1000, **kwargs) -> keras.Model:
    """BNext-T (72.4 % ImageNet top-1 in the paper): :func:`BNext` with ``size="tiny"``."""
    return BNext(input_shape, num_classes, size="tiny", **kwargs)


def BNextS(input_shape=(224, 224, 3), num_classes: int = 1000, **kwargs) -> keras.Model:
    """BNext-S (76.1 %): :func:`BNext` with ``size="small"``."""
    return BNext(input_shape, num_classes, size="small", **kwargs)


def BNextM(input_shape=(224, 224, 3), num_classes: int = 1000, **kwargs) -> keras.Model:
    """BNext-M (78.3 %): :func:`BNext` with ``size="middle"``."""
    return BNext(input_shape, num_classes, size="middle", **kwargs)


def BNextL(input_shape=(224, 224, 3), num_classes: int = 1000, **kwargs) -> keras.Model:
    """BNext-L (80.6 %): :func:`BNext` with ``size="large"``."""
    return BNext(input_shape, num_classes, size="large", **kwargs)
