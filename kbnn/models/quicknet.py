"""QuickNet, QuickNetSmall and QuickNetLarge: the binary ImageNet networks of Larq Zoo that
Larq Compute Engine users deploy most.

Reference: Bannink, Hillier, Geiger, de Bruin, Overweel, Neeven, Helwegen, "Larq Compute Engine:
Design, Benchmark, and Deploy State-of-the-Art Binarized Neural Networks", MLSys 2021
(arXiv:2011.09398), section 5 (QuickNet). The transition blocks use anti-aliased ("blur")
pooling: Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019
(arXiv:1904.11486).

The layer order and weight shapes are those of Larq Zoo 2.4 (``larq_zoo.sota.QuickNet*``), so
Larq Zoo's weight files load into these models: ``QuickNet(weights="quicknet_weights.h5")``
(or :func:`kbnn.compat.load_larq_zoo_weights`), giving Larq Zoo's outputs.
"""

from __future__ import annotations

import keras

from kbnn.compat.larq_zoo import load_larq_zoo_weights
from kbnn.constraints import WeightClip
from kbnn.initializers import BlurPool
from kbnn.layers import QuantConv2D, QuantDense, QuantDepthwiseConv2D
from kbnn.models._common import check_input_shape, check_num_classes
from kbnn.quantizers import SteSign

# BlurPool lives in kbnn.initializers (the Larq importer maps to it too); re-exported here.
__all__ = ["BlurPool", "QuickNet", "QuickNetSmall", "QuickNetLarge"]


def _quicknet(
    name, section_blocks, section_filters, input_shape, num_classes, include_top, weights, clip_value=1.25
):
    input_shape = check_input_shape(input_shape, name)
    if include_top:
        num_classes = check_num_classes(num_classes)
    q = dict(
        input_quantizer=SteSign(clip_value=clip_value),
        kernel_quantizer=SteSign(clip_value=clip_value),
        kernel_constraint=WeightClip(clip_value),
    )
    inputs = keras.Input(input_shape)
    f0 = section_filters[0]
    # Stem: real 3x3/2 conv, real depthwise 3x3/2, real 1x1 conv.
    x = QuantConv2D(
        f0 // 4,
        3,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv",
    )(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    x = QuantDepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="stem_dwconv")(x)
    x = keras.layers.BatchNormalization(scale=False, center=False, name="stem_dwbn")(x)
    x = QuantConv2D(f0, 1, use_bias=False, kernel_initializer="he_normal", name="stem_pwconv")(x)
    x = keras.layers.BatchNormalization(name="stem_pwbn")(x)
    for s, (blocks, filters) in enumerate(zip(section_blocks, section_filters)):
        for b in range(blocks):
            p = f"section{s}_block{b}"
            if filters != x.shape[-1]:
                # Transition: ReLU, 2x2/1 max pool, blur pool /2, real 1x1 conv.
                x = keras.layers.Activation("relu", name=f"{p}_transition_relu")(x)
                x = keras.layers.MaxPooling2D(2, strides=1, name=f"{p}_transition_maxpool")(x)
                x = keras.layers.DepthwiseConv2D(
                    3,
                    strides=2,
                    padding="same",
                    use_bias=False,
                    depthwise_initializer=BlurPool(),
                    trainable=False,
                    name=f"{p}_transition_blurpool",
                )(x)
                x = QuantConv2D(
                    filters,
                    1,
                    use_bias=False,
                    kernel_initializer="glorot_normal",
                    name=f"{p}_transition_conv",
                )(x)
                x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{p}_transition_bn")(x)
            # Residual block: binary 3x3 conv (same-one padding) with ReLU, BN, add.
            y = QuantConv2D(
                filters,
                3,
                padding="same",
                pad_values=1.0,
                activation="relu",
                use_bias=False,
                kernel_initializer="glorot_normal",
                name=f"{p}_conv",
                **q,
            )(x)
            y = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{p}_bn")(y)
            x = keras.layers.Add(name=f"{p}_add")([y, x])
    if include_top:
        x = keras.layers.Activation("relu", name="head_relu")(x)
        if x.shape[1] is not None and x.shape[2] is not None:
            x = keras.layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]), name="head_pool")(x)
            x = keras.layers.Flatten(name="head_flatten")(x)
        else:
            x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        x = QuantDense(num_classes, kernel_initializer="glorot_normal", name="head_logits")(x)
        x = keras.layers.Activation("softmax", dtype="float32", name="head_softmax")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_larq_zoo_weights(model, weights)
    return model


def QuickNet(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    include_top: bool = True,
    weights=None,
    name: str = "quicknet",
) -> keras.Model:
    """QuickNet (Bannink et al., MLSys 2021): 4 sections of 4 binary residual blocks
    (64, 128, 256, 512 filters). 63.3 % top-1 on ImageNet with Larq Zoo's weights.

    Args:
      input_shape: (height, width, channels).
      num_classes: classifier size (``include_top``).
      include_top: add ReLU, global average pool, real dense layer and softmax.
      weights: ``None`` (random), or the path of a Larq Zoo weight file
        (``quicknet_weights.h5``; ``quicknet_weights_notop.h5`` with ``include_top=False``).
    """
    return _quicknet(name, (4, 4, 4, 4), (64, 128, 256, 512), input_shape, num_classes, include_top, weights)


def QuickNetSmall(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    include_top: bool = True,
    weights=None,
    name: str = "quicknet_small",
) -> keras.Model:
    """QuickNetSmall: QuickNet with (32, 64, 256, 512) section filters (59.4 % top-1).
    Arguments as :func:`QuickNet` (weights: ``quicknet_small_weights.h5``)."""
    return _quicknet(name, (4, 4, 4, 4), (32, 64, 256, 512), input_shape, num_classes, include_top, weights)


def QuickNetLarge(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    include_top: bool = True,
    weights=None,
    name: str = "quicknet_large",
) -> keras.Model:
    """QuickNetLarge: QuickNet with (6, 8, 12, 6) blocks per section (66.9 % top-1).
    Arguments as :func:`QuickNet` (weights: ``quicknet_large_weights.h5``)."""
    return _quicknet(name, (6, 8, 12, 6), (64, 128, 256, 512), input_shape, num_classes, include_top, weights)
