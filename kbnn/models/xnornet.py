"""XNOR-Net (Rastegari, Ordonez, Redmon, Farhadi, ECCV 2016), AlexNet layout.

Reference: "XNOR-Net: ImageNet Classification Using Binary Convolutional Neural
Networks", ECCV 2016 (arXiv:1603.05279). XNOR-Net AlexNet: 44.2 % top-1 on ImageNet.

Facts followed: AlexNet layers (96×11×11/4, 256×5×5, 384×3×3, 384×3×3, 256×3×3 with 3×3/2
max pooling after the 1st, 2nd and 5th convolution, then 4096, 4096 and the classifier);
the first and last layers stay real-valued; each binary layer is ordered
``BatchNorm → binary activation → binary convolution → pooling`` (section 3.3, Fig. 3); the
binary weights carry a per-filter scale α = mean(|W|) (``magnitude_aware_sign``). The
activation scaling matrix ``K`` of the paper is not modelled (its effect is small and it
does not change the binary MAC count); no dropout.
"""

from __future__ import annotations

import keras

from kbnn.models._common import DEFAULT, check_input_shape, check_num_classes, kernel_constraint_for


def XNORNet(
    input_shape=(224, 224, 3),
    num_classes: int = 1000,
    *,
    input_quantizer="ste_sign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=DEFAULT,
    momentum: float = 0.9,
    name: str = "xnornet",
) -> keras.Model:
    """XNOR-Net AlexNet (Rastegari et al., ECCV 2016).

    Layers: ``conv_1`` (real, 96×11×11 stride 4, "same") → ``bn_1`` → ``relu_1`` →
    ``pool_1``; for i = 2..5: ``bn_i`` → ``conv_i`` (binary in/out: 256×5×5, 384×3×3,
    384×3×3, 256×3×3, "same") with ``pool_2``/``pool_5`` after conv 2 and 5; ``flatten``;
    ``bn_6`` → ``dense_6`` (binary, 4096) → ``bn_7`` → ``dense_7`` (binary, 4096); ``bn_8``
    → ``relu_8`` → ``dense_8`` (real classifier) → ``softmax``. Pools are 3×3 stride 2
    "valid", so a 224×224 input gives AlexNet's 56 → 27 → 13 → 6 feature maps.

    MACs at 224×224×3: binary 27²·256·5²·96 + 13²·9·(256·384 + 384·384 + 384·256) +
    9216·4096 + 4096·4096 ≈ 1.026 G; real: 56²·96·11²·3 ≈ 109.3 M (conv 1) + 4.1 M (classifier).

    Args:
        input_shape: ``(height, width, channels)``; at least 64×64.
        num_classes: Output classes.
        input_quantizer: Activation quantizer of the binary layers.
        kernel_quantizer: Weight quantizer of the binary layers (XNOR's scaled sign).
        kernel_constraint: ``"default"`` = ``WeightClip(1.0)`` on quantized kernels.
        momentum: Batch-norm momentum.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.
    """
    from kbnn.layers import QuantConv2D, QuantDense

    input_shape = check_input_shape(input_shape, "XNORNet")
    if input_shape[0] < 64 or input_shape[1] < 64:
        raise ValueError(
            "`XNORNet` downsamples by 4 and pools three times: height and width must be >= 64. "
            f"Received: input_shape={input_shape!r}"
        )
    num_classes = check_num_classes(num_classes)
    constraint = kernel_constraint_for(kernel_quantizer, kernel_constraint)
    binary = dict(
        input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer, kernel_constraint=constraint
    )

    def bn(i):
        return keras.layers.BatchNormalization(momentum=momentum, name=f"bn_{i}")

    inputs = keras.Input(input_shape, name="input")
    x = keras.layers.Conv2D(96, 11, strides=4, padding="same", name="conv_1")(inputs)
    x = bn(1)(x)
    x = keras.layers.ReLU(name="relu_1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool_1")(x)
    for i, (filters, k) in enumerate(((256, 5), (384, 3), (384, 3), (256, 3)), start=2):
        x = bn(i)(x)
        x = QuantConv2D(filters, k, padding="same", use_bias=False, name=f"conv_{i}", **binary)(x)
        if i in (2, 5):
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = bn(i)(x)
        x = QuantDense(4096, use_bias=False, name=f"dense_{i}", **binary)(x)
    x = bn(8)(x)
    x = keras.layers.ReLU(name="relu_8")(x)
    x = keras.layers.Dense(num_classes, name="dense_8")(x)
    outputs = keras.layers.Activation("softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)
