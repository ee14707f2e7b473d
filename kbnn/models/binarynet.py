"""BinaryNet (Courbariaux, Hubara, Soudry, El-Yaniv, Bengio, 2016): MNIST MLP, CIFAR-10 CNN.

Reference: "Binarized Neural Networks: Training Deep Neural Networks with Weights and
Activations Constrained to +1 or -1", arXiv:1602.02830 (NIPS 2016 version: "Binarized
Neural Networks"). Sections 2.1–2.2 describe the architectures; Table 1 reports the test
errors (CIFAR-10: 11.40 % with Theano, 10.15 % with Torch7; MNIST: 0.96 % with Theano).

Conventions of the paper kept here: every layer (first and last included) has binary
weights; every layer but the first reads binarized activations (the first layer reads the
real-valued pixels); a batch norm follows every layer (also the output layer, which the
paper trains with a square hinge / L2-SVM loss — here a softmax follows it, use
``softmax=False`` to get the batch-normalised scores); max pooling follows the
convolution, before the batch norm.
"""

from __future__ import annotations

import keras

from kbnn.models._common import DEFAULT, check_input_shape, check_num_classes, kernel_constraint_for


def _head(x, num_classes, softmax, q, momentum, epsilon):
    from kbnn.layers import QuantDense

    x = QuantDense(num_classes, use_bias=False, name="dense_out", **q)(x)
    x = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name="bn_out")(x)
    if softmax:
        x = keras.layers.Activation("softmax", name="softmax")(x)
    return x


def BinaryNetMLP(
    input_shape=(28, 28, 1),
    num_classes: int = 10,
    *,
    hidden_units=(4096, 4096, 4096),
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint=DEFAULT,
    momentum: float = 0.9,
    epsilon: float = 1e-4,
    softmax: bool = True,
    name: str = "binarynet_mlp",
) -> keras.Model:
    """BinaryNet MNIST multi-layer perceptron (Courbariaux et al. 2016, section 2.1).

    Published architecture (Theano, permutation-invariant MNIST): 784 inputs → 3 hidden
    layers of 4096 binary units → 10-unit output layer (L2-SVM), batch norm after every
    layer; 0.96 % test error (Table 1).

    Layers: ``flatten``; ``dense_1`` (binary weights, real pixels in) → ``bn_1``;
    ``dense_i`` (binary weights and activations) → ``bn_i``; ``dense_out`` (binary) →
    ``bn_out`` → ``softmax``.

    Args:
        input_shape: Shape of one sample (flattened by the model).
        num_classes: Output classes.
        hidden_units: Units of the hidden layers.
        input_quantizer: Activation quantizer of every layer but the first.
        kernel_quantizer: Weight quantizer of every layer.
        kernel_constraint: ``"default"`` = ``WeightClip(1.0)`` on quantized kernels (paper).
        momentum: Batch-norm momentum.
        epsilon: Batch-norm epsilon.
        softmax: Whether to end with a softmax.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.
    """
    from kbnn.layers import QuantDense

    input_shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
    if (
        not isinstance(input_shape, tuple)
        or not input_shape
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)
    ):
        raise ValueError(
            f"`input_shape` must be a tuple of positive ints. Received: input_shape={input_shape!r}"
        )
    num_classes = check_num_classes(num_classes)
    hidden_units = tuple(hidden_units)
    if not hidden_units or any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in hidden_units):
        raise ValueError(f"`hidden_units` must be positive ints. Received: hidden_units={hidden_units!r}")
    constraint = kernel_constraint_for(kernel_quantizer, kernel_constraint)
    first = dict(kernel_quantizer=kernel_quantizer, kernel_constraint=constraint)
    rest = dict(input_quantizer=input_quantizer, **first)

    inputs = keras.Input(input_shape, name="input")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units, start=1):
        x = QuantDense(units, use_bias=False, name=f"dense_{i}", **(first if i == 1 else rest))(x)
        x = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=f"bn_{i}")(x)
    outputs = _head(x, num_classes, softmax, rest, momentum, epsilon)
    return keras.Model(inputs, outputs, name=name)


def BinaryNetCNN(
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    *,
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint=DEFAULT,
    momentum: float = 0.9,
    epsilon: float = 1e-4,
    softmax: bool = True,
    name: str = "binarynet_cnn",
) -> keras.Model:
    """BinaryNet CIFAR-10 ConvNet (Courbariaux et al. 2016, section 2.2; VGG-like).

    Published architecture: ``2×128C3 – MP2 – 2×256C3 – MP2 – 2×512C3 – MP2 – 2×1024FC –
    10SVM`` with "same" 3×3 convolutions and batch norm after every layer; test error
    11.40 % (Theano) / 10.15 % (Torch7) on CIFAR-10 (Table 1).

    Layers: ``conv_1`` (binary weights, real pixels in) → ``bn_1``; ``conv_2`` →
    ``pool_2`` → ``bn_2``; ``conv_3`` → ``bn_3``; ``conv_4`` → ``pool_4`` → ``bn_4``;
    ``conv_5`` → ``bn_5``; ``conv_6`` → ``pool_6`` → ``bn_6``; ``flatten``; ``dense_1`` →
    ``bn_7``; ``dense_2`` → ``bn_8``; ``dense_out`` → ``bn_out`` → ``softmax``. Every layer
    after the first binarizes its input.

    MACs at 32×32×3 (per image): binary = 32²·128·128·9 + 16²·(128·256 + 256·256)·9 +
    8²·(256·512 + 512·512)·9 + 8192·1024 + 1024·1024 + 1024·10 ≈ 0.617 G; the first
    convolution (32²·3·128·9 ≈ 3.5 M) reads real pixels and is the only non-binary MAC.

    Args:
        input_shape: ``(height, width, channels)``; height and width divisible by 8.
        num_classes: Output classes.
        input_quantizer: Activation quantizer of every layer but the first.
        kernel_quantizer: Weight quantizer of every layer.
        kernel_constraint: ``"default"`` = ``WeightClip(1.0)`` on quantized kernels (paper).
        momentum: Batch-norm momentum.
        epsilon: Batch-norm epsilon.
        softmax: Whether to end with a softmax.
        name: Model name.

    Returns:
        An uncompiled ``keras.Model``.
    """
    from kbnn.layers import QuantConv2D, QuantDense

    input_shape = check_input_shape(input_shape, "BinaryNetCNN")
    if input_shape[0] < 8 or input_shape[1] < 8:
        raise ValueError(
            "`BinaryNetCNN` pools three times by 2: height and width must be >= 8. Received: "
            f"input_shape={input_shape!r}"
        )
    num_classes = check_num_classes(num_classes)
    constraint = kernel_constraint_for(kernel_quantizer, kernel_constraint)
    first = dict(kernel_quantizer=kernel_quantizer, kernel_constraint=constraint)
    rest = dict(input_quantizer=input_quantizer, **first)

    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for i, filters in enumerate((128, 128, 256, 256, 512, 512), start=1):
        x = QuantConv2D(
            filters, 3, padding="same", use_bias=False, name=f"conv_{i}", **(first if i == 1 else rest)
        )(x)
        if i % 2 == 0:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
        x = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=f"bn_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = QuantDense(1024, use_bias=False, name=f"dense_{i}", **rest)(x)
        x = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=f"bn_{6 + i}")(x)
    outputs = _head(x, num_classes, softmax, rest, momentum, epsilon)
    return keras.Model(inputs, outputs, name=name)
