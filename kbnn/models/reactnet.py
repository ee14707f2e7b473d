"""ReActNet (Liu, Shen, Savvides, Cheng, ECCV 2020, arXiv:2003.03488).

* :func:`ReActNetA` — ReActNet-A, the MobileNetV1 layout (paper section 3.1, Fig. 2,
  Table 4: 69.4 % ImageNet top-1 with the paper's two-step recipe, 4.82×10^9 BOPs and
  0.12×10^8 FLOPs, 0.87×10^8 OPs);
* :func:`ReActNetResNet18` — ReActNet on the Bi-Real Net-18 backbone (paper Table 4,
  "ReActNet (Bi-Real based)": 65.5 % top-1; 1.68×10^9 BOPs, the backbone's 1.38×10^8 FLOPs
  by the counting below).

Counting convention (the papers'): BOPs = binary MACs (both operands 1-bit), FLOPs = the other
MACs of convolutions and dense layers (element-wise work — BN, RPReLU, additions — is not
counted), OPs = BOPs / 64 + FLOPs. ``kbnn.summary(model)``'s ``binary_macs`` and ``other_macs``
are exactly these BOPs and FLOPs.

``weights=`` takes ``None`` (random initialization) or the path of a Keras weights file
(``*.weights.h5``) written by ``model.save_weights`` from a model built by the same builder with
the same arguments (kbnn's layout: every layer named as documented below, latent float weights
of the binary convolutions, RSign thresholds, RPReLU and BN parameters). No weights are shipped.
"""

from __future__ import annotations

import keras

from kbnn.blocks.reactnet import reactnet_bireal_block, reactnet_block
from kbnn.models._common import (
    check_input_shape,
    check_num_classes,
    check_weights_arg,
    conv_bn_stem,
    load_weights_file,
    pooled_softmax_head,
    scaled_widths,
)
from kbnn.models.resnets import _stem as resnet_stem

__all__ = ["ReActNetA", "ReActNetResNet18"]

# ReActNet-A's stage widths (the MobileNetV1 layout): stem, then the 13 blocks' output channels.
REACTNET_A_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


def ReActNetA(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    input_quantizer="rsign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    width: float = 1.0,
    name: str = "reactnet_a",
    weights=None,
) -> keras.Model:
    """ReActNet-A (Liu et al., ECCV 2020, section 3.1 / Fig. 2; counts from the paper's Table 4).

    Layout: real 3×3/2 conv (32) → BN; 13 :func:`kbnn.blocks.reactnet_block` with output
    channels 64, 128, 128, 256, 256, 512 ×6, 1024 ×2 (MobileNetV1's), stride 2 where the
    channels double except in the first block (32 → 64 at stride 1); global average pool → real
    dense → softmax. Every 3×3 and 1×1 convolution of the blocks is binary (RSign activations,
    sign × mean|W| weights).

    Counts at 224×224×3 (``kbnn.summary``; test ``test_reactnet_a_counts_equal_the_paper``):
    4,816,896,000 BOPs = 4.82×10^9 and 11,862,016 FLOPs (stem 10.84 M, classifier 1.02 M)
    = 0.12×10^8; OPs = BOPs/64 + FLOPs = 0.87×10^8 — the paper's Table 4 figures.

    Layer names: ``stem_conv``, ``stem_bn``, ``block{i}_*`` (i = 1..13, parts in
    :func:`kbnn.blocks.reactnet_block`), ``head_pool``, ``head_logits``, ``head_softmax``.

    Args:
        input_shape: ``(height, width, channels)``; 32×32 and up.
        num_classes: Output classes.
        input_quantizer: Activation quantizer of the binary convolutions (``"rsign"``;
            ``None`` for real activations, the real-valued teacher/twin).
        kernel_quantizer: Weight quantizer (``None``: real weights, step 1 of
            :func:`kbnn.distillation.two_step`).
        kernel_constraint: Constraint of the binary convolutions' latent weights.
        pad_values: Padding of the binarized 3×3 inputs (0.0 paper, 1.0 cheaper on kernels).
        momentum: Batch-norm momentum.
        width: Channel multiplier (1.0 = the paper; smaller for tests and small data).
        name: Model name.
        weights: ``None`` or a ``*.weights.h5`` file (module docstring).

    Returns:
        An uncompiled ``keras.Model``.
    """
    check_weights_arg(weights, "ReActNetA")
    input_shape = check_input_shape(input_shape, "ReActNetA")
    num_classes = check_num_classes(num_classes)
    channels = scaled_widths(REACTNET_A_CHANNELS, width)
    inputs = keras.Input(input_shape, name="input")
    x = conv_bn_stem(inputs, channels[0], 3, momentum)
    for i in range(1, len(channels)):
        x = reactnet_block(
            x,
            channels[i],
            strides=2 if (channels[i] != channels[i - 1] and i > 1) else 1,
            input_quantizer=input_quantizer,
            kernel_quantizer=kernel_quantizer,
            kernel_constraint=kernel_constraint,
            pad_values=pad_values,
            momentum=momentum,
            name=f"block{i}",
        )
    model = keras.Model(inputs, pooled_softmax_head(x, num_classes), name=name)
    load_weights_file(model, weights, "ReActNetA")
    return model


def ReActNetResNet18(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    input_quantizer="rsign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    width: float = 1.0,
    name: str = "reactnet_resnet18",
    weights=None,
) -> keras.Model:
    """ReActNet on the Bi-Real Net-18 backbone (Liu et al., ECCV 2020, Table 4, 65.5 % top-1).

    Layout: real 7×7/2 conv (64) → BN → 3×3/2 max pool; four stages of four
    :func:`kbnn.blocks.reactnet_bireal_block` (64, 128, 256, 512 channels, stride 2 in the first
    block of stages 2–4, whose shortcut is 2×2 average pool → real 1×1 conv → BN); global
    average pool → real dense → softmax. The Bi-Real block with RSign before and RPReLU after
    (the paper's reference code for this backbone).

    Counts at 224×224×3 (test ``test_reactnet_resnet18_counts``): 1,676,279,808 BOPs
    = 1.68×10^9 (Table 4) and 137,793,536 FLOPs = 1.38×10^8 (stem 118.0 M, shortcuts 19.3 M,
    classifier 0.5 M; element-wise RSign/RPReLU work is not counted, as in the papers).

    Layer names: ``stem_conv``, ``stem_bn``, ``stem_pool``, ``stage{s}_block{b}_*`` (s, b in
    1..4), ``head_*``. Arguments as :func:`ReActNetA`.
    """
    check_weights_arg(weights, "ReActNetResNet18")
    input_shape = check_input_shape(input_shape, "ReActNetResNet18")
    num_classes = check_num_classes(num_classes)
    stages = scaled_widths((64, 128, 256, 512), width)
    inputs = keras.Input(input_shape, name="input")
    x = resnet_stem(inputs, momentum, relu=False, filters=stages[0])  # 7×7/2 conv → BN → max pool
    for s, filters in enumerate(stages, start=1):
        for b in range(1, 5):
            x = reactnet_bireal_block(
                x,
                filters,
                strides=2 if (s > 1 and b == 1) else 1,
                input_quantizer=input_quantizer,
                kernel_quantizer=kernel_quantizer,
                kernel_constraint=kernel_constraint,
                pad_values=pad_values,
                momentum=momentum,
                name=f"stage{s}_block{b}",
            )
    model = keras.Model(inputs, pooled_softmax_head(x, num_classes), name=name)
    load_weights_file(model, weights, "ReActNetResNet18")
    return model
