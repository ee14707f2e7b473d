"""ResNet-18 shaped binary networks: Bi-Real Net 18 and Real-to-Binary Net 18.

References:

* Liu, Wu, Luo, Yang, Liu, Cheng, "Bi-Real Net: Enhancing the Performance of 1-bit CNNs
  With Improved Representational Capability and Advanced Training Algorithm", ECCV 2018
  (arXiv:1808.00278). Bi-Real Net-18: 56.4 % top-1 on ImageNet.
* Martinez, Yang, Bulat, Tzimiropoulos, "Training Binary Neural Networks with
  Real-to-Binary Convolutions", ICLR 2020 (arXiv:2003.11535). Real-to-Binary Net (ResNet-18
  layout): 65.4 % top-1 on ImageNet. :func:`RealToBinaryNet` is Larq Zoo 2.4's build of it
  (``larq_zoo.literature.RealToBinaryNet``, 65.0 %), whose weight files it loads.

Both keep the ResNet-18 stem (real 7×7/2 convolution with 64 filters, batch norm, 3×3/2
max pooling) and the real-valued classifier (global average pooling, dense, softmax), and
binarize the 16 3×3 convolutions of the four stages (64, 128, 256, 512 filters; stride 2 at
the first convolution of stages 2–4), each with its own real-valued shortcut (see
:mod:`kbnn.blocks`).
"""

from __future__ import annotations

import keras

from kbnn.blocks import bireal_block, real_to_binary_block
from kbnn.compat.larq_zoo import load_larq_zoo_weights
from kbnn.constraints import WeightClip
from kbnn.layers import BitPlaneInput, QuantConv2D
from kbnn.models._common import (
    DEFAULT,
    check_input_shape,
    check_num_classes,
    kernel_constraint_for,
    pooled_softmax_head,
)

_STAGE_FILTERS = (64, 128, 256, 512)


_STEMS = ("float", "bitplane")


def _stem(inputs, momentum, relu, stem="float", filters=64, prelu=False):
    if stem not in _STEMS:
        raise ValueError(f"`stem` must be one of {list(_STEMS)}. Received: stem={stem!r}")
    if stem == "bitplane":  # BinaryNet's first layer: 8 bit planes of 0..255 pixels, binary 7×7 weights
        x = BitPlaneInput(bits=8, value_range=(0.0, 255.0), name="stem_planes")(inputs)
        x = QuantConv2D(
            filters,
            7,
            strides=2,
            padding="same",
            kernel_quantizer="magnitude_aware_sign",
            use_bias=False,
            name="stem_conv",
        )(x)
    else:
        x = keras.layers.Conv2D(filters, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(
            inputs
        )
    x = keras.layers.BatchNormalization(momentum=momentum, name="stem_bn")(x)
    if prelu:
        x = keras.layers.PReLU(shared_axes=[1, 2], name="stem_prelu")(x)
    elif relu:
        x = keras.layers.ReLU(name="stem_relu")(x)
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)


def BiRealNet18(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    input_quantizer="approx_sign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    stem: str = "float",
    name: str = "bireal_net18",
    weights=None,
) -> keras.Model:
    """Bi-Real Net-18 (Liu et al., ECCV 2018).

    Published architecture: real 7×7/2 conv (64) → BN → 3×3/2 max pool; four stages of
    four Bi-Real blocks (one binary 3×3 conv → BN per block, identity shortcut of the
    real-valued block input; the downsampling blocks' shortcut is 2×2 average pool → real
    1×1 conv → BN); global average pool → real fully connected layer. Activations are
    binarized with the ApproxSign gradient, weights with the magnitude-aware sign.

    Layer names: ``stem_conv``, ``stem_bn``, ``stem_pool``; ``stage{s}_block{b}_conv`` /
    ``_bn`` / ``_add`` (s, b in 1..4) plus ``_shortcut_pool`` / ``_shortcut_conv`` /
    ``_shortcut_bn`` for ``block1`` of stages 2–4; ``head_pool``, ``head_logits``,
    ``head_softmax``.

    MACs at 224×224×3: 1.676 G binary (the 16 binary convolutions), 137.8 M real (stem
    118.0 M, three 1×1 shortcut convolutions 19.3 M, classifier 0.5 M): 92.4 % binary.

    Args:
        input_shape: ``(height, width, channels)``; 32×32 and up works (small inputs only
            make sense for tests).
        num_classes: Output classes.
        input_quantizer: Activation quantizer of the binary convolutions.
        kernel_quantizer: Weight quantizer of the binary convolutions.
        kernel_constraint: Constraint of the binary convolutions' latent weights (the paper
            uses none; ``"default"`` = ``WeightClip(1.0)``).
        pad_values: Padding of the binary convolutions (0.0 paper, 1.0 cheaper on kernels).
        momentum: Batch-norm momentum.
        stem: ``"float"`` (the paper's real 7×7 convolution) or ``"bitplane"``
            (:class:`kbnn.layers.BitPlaneInput` on 0..255 pixels + a binary-weight 7×7
            convolution: 8 binary convolutions, no float stem MACs; BinaryNet's first layer).
        name: Model name.
        weights: ``None``, or the path of a Larq Zoo ``BiRealNet`` weight file
            (``birealnet_weights.h5``): the layer order and weight shapes are Larq Zoo 2.4's,
            see :func:`kbnn.compat.load_larq_zoo_weights` (Larq Zoo trained with
            ``pad_values=0.0`` and ``WeightClip``, the defaults here apart from the clip).

    Returns:
        An uncompiled ``keras.Model``.
    """
    input_shape = check_input_shape(input_shape, "BiRealNet18")
    num_classes = check_num_classes(num_classes)
    constraint = kernel_constraint_for(kernel_quantizer, kernel_constraint)
    inputs = keras.Input(input_shape, name="input")
    x = _stem(inputs, momentum, relu=False, stem=stem)
    for s, filters in enumerate(_STAGE_FILTERS, start=1):
        for b in range(1, 5):
            x = bireal_block(
                x,
                filters,
                strides=2 if (s > 1 and b == 1) else 1,
                input_quantizer=input_quantizer,
                kernel_quantizer=kernel_quantizer,
                kernel_constraint=constraint,
                pad_values=pad_values,
                momentum=momentum,
                name=f"stage{s}_block{b}",
            )
    model = keras.Model(inputs, pooled_softmax_head(x, num_classes), name=name)
    if weights is not None:
        load_larq_zoo_weights(model, weights)
    return model


def RealToBinaryNet18(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint=DEFAULT,
    reduction: int | None = 8,
    pad_values: float = 0.0,
    momentum: float = 0.9,
    block_layout: str = "paper",
    stem: str = "float",
    name: str = "real_to_binary_net18",
) -> keras.Model:
    """Real-to-Binary Net, ResNet-18 layout (Martinez et al., ICLR 2020).

    Published architecture: ResNet-18 stem (real 7×7/2 conv (64) → BN → ReLU → 3×3/2 max
    pool); eight ResNet blocks of two binary convolutions, each binary convolution with its
    own shortcut (BN → sign → binary 3×3 conv → data-driven channel scaling gate with
    ``r = 8`` → PReLU → + shortcut; the downsampling shortcut is 2×2 average pool → 1×1
    conv → BN); global average pool → real fully connected layer. The paper trains it in
    stages with attention matching to a real-valued twin
    (:func:`kbnn.distillation.real_to_binary_recipe`); ``input_quantizer=None`` /
    ``kernel_quantizer=None`` build the real-valued stages of that recipe.

    Layer names: ``stem_*``; ``block{k}{a|b}_bn`` / ``_conv`` / ``_gate_*`` / ``_scale`` /
    ``_prelu`` / ``_add`` for k in 1..8 (blocks 3, 5, 7 downsample in their ``a`` half and
    have ``block{k}a_shortcut_*``); ``head_*``. The attention-matched block outputs of the
    paper are ``block{k}b_add``.

    MACs at 224×224×3: 1.676 G binary; real: stem 118.0 M, shortcuts 19.3 M, classifier
    0.5 M, gates 0.17 M: 92.4 % binary.

    Args:
        input_shape: ``(height, width, channels)``; 32×32 and up works.
        num_classes: Output classes.
        input_quantizer: Activation quantizer of the binary convolutions.
        kernel_quantizer: Weight quantizer of the binary convolutions.
        kernel_constraint: ``"default"`` = ``WeightClip(1.0)`` on quantized kernels.
        reduction: Gate reduction ``r``; ``None`` removes the gates (the paper's baseline).
        pad_values: Padding of the binary convolutions.
        momentum: Batch-norm momentum.
        block_layout: ``"paper"`` or ``"fused"`` (see :func:`kbnn.blocks.real_to_binary_block`:
            batch norm after the binary convolution, PReLU after the addition, so that only
            the gate multiply is float between each binary convolution and its addition).
        stem: ``"float"`` (the paper's real 7×7 convolution) or ``"bitplane"``
            (:class:`kbnn.layers.BitPlaneInput` on 0..255 pixels + a binary-weight 7×7
            convolution: 8 binary convolutions, no float stem MACs; BinaryNet's first layer).
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.
    """
    input_shape = check_input_shape(input_shape, "RealToBinaryNet18")
    num_classes = check_num_classes(num_classes)
    constraint = kernel_constraint_for(kernel_quantizer, kernel_constraint)
    inputs = keras.Input(input_shape, name="input")
    x = _stem(inputs, momentum, relu=True, stem=stem)
    for k in range(1, 9):
        filters = _STAGE_FILTERS[(k - 1) // 2]
        for half in ("a", "b"):
            x = real_to_binary_block(
                x,
                filters,
                strides=2 if (k in (3, 5, 7) and half == "a") else 1,
                input_quantizer=input_quantizer,
                kernel_quantizer=kernel_quantizer,
                kernel_constraint=constraint,
                reduction=reduction,
                pad_values=pad_values,
                momentum=momentum,
                layout=block_layout,
                name=f"block{k}{half}",
            )
    return keras.Model(inputs, pooled_softmax_head(x, num_classes), name=name)


def _larq_zoo_r2b(name, input_shape, num_classes, include_top, weights, stem_filters=64, reduction=8):
    input_shape = check_input_shape(input_shape, "RealToBinaryNet")
    if include_top:
        num_classes = check_num_classes(num_classes)
    momentum = 0.99
    inputs = keras.Input(input_shape, name="input")
    x = _stem(inputs, momentum, relu=False, filters=stem_filters, prelu=True)
    for k in range(1, 9):
        for half in ("a", "b"):
            x = real_to_binary_block(
                x,
                stem_filters * 2 ** ((k - 1) // 2),
                strides=2 if (k in (3, 5, 7) and half == "a") else 1,
                input_quantizer="ste_sign",
                kernel_quantizer="ste_sign",
                kernel_constraint=WeightClip(1.0),
                reduction=reduction,
                gate_use_bias=False,
                gate_pool="static",
                momentum=momentum,
                name=f"block{k}{half}",
            )
        # Larq Zoo's identity Lambda naming the block output (attention matching).
        x = keras.layers.Identity(name=f"block{k}_out")(x)
    if include_top:
        if x.shape[1] is not None and x.shape[2] is not None:
            x = keras.layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]), name="head_pool")(x)
            x = keras.layers.Flatten(name="head_flatten")(x)
        else:
            x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        x = keras.layers.Dense(num_classes, name="head_logits")(x)
        x = keras.layers.Activation("softmax", dtype="float32", name="head_softmax")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_larq_zoo_weights(model, weights)
    return model


def RealToBinaryNet(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    include_top: bool = True,
    weights=None,
    name: str = "r2b_bnn",
) -> keras.Model:
    """Real-to-Binary Net (Martinez et al., ICLR 2020) as Larq Zoo 2.4 builds it
    (``larq_zoo.literature.RealToBinaryNet``, 65.0 % top-1 on ImageNet with its weights).

    Same layer order and weight shapes as Larq Zoo's model, so Larq Zoo's weight files load:
    ``RealToBinaryNet(weights="r2b_weights.h5")`` (``r2b_weights_notop.h5`` with
    ``include_top=False``; or :func:`kbnn.compat.load_larq_zoo_weights`), giving Larq Zoo's
    outputs. For training your own Real-to-Binary net use :func:`RealToBinaryNet18`, the
    configurable build (the two differ in Larq Zoo's choices below, so their weights do not
    interchange).

    Layout (Larq Zoo's): a PReLU instead of the ReLU in the stem (Larq Zoo's Real-to-Binary
    nets inherit the stem of its strong baseline), :func:`RealToBinaryNet18`'s ``"paper"``
    blocks with bias-free gate dense layers (``reduction=8``), the gate and the head averaging
    with a whole-map AveragePooling2D + Flatten, ``ste_sign`` activations and weights, ``WeightClip(1.0)``,
    zero padding, batch-norm momentum 0.99, and an identity layer ``block{k}_out`` after
    every block (Larq Zoo's ``*_out`` Lambda layers, the attention-matching points).

    Args:
        input_shape: ``(height, width, channels)``; 32×32 and up works.
        num_classes: Classifier size (``include_top``).
        include_top: Add the average pool, dense layer and softmax.
        weights: ``None`` (random), or the path of a Larq Zoo weight file.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.
    """
    return _larq_zoo_r2b(name, input_shape, num_classes, include_top, weights)
