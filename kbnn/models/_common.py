"""Argument checks and defaults shared by the zoo builders."""

from __future__ import annotations

import os

import keras

DEFAULT = "default"


def pooled_softmax_head(x, num_classes: int):
    """The ResNet-style classifier: global average pooling, a float Dense and a softmax."""
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dense(num_classes, name="head_logits")(x)
    return keras.layers.Activation("softmax", name="head_softmax")(x)


def conv_bn_stem(inputs, filters: int, kernel_size: int, momentum: float):
    """A real k×k/2 convolution without bias and its batch norm (``stem_conv``, ``stem_bn``)."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=2, padding="same", use_bias=False, name="stem_conv"
    )(inputs)
    return keras.layers.BatchNormalization(momentum=momentum, name="stem_bn")(x)


def scaled_widths(widths, width) -> list:
    """``widths`` scaled by the channel multiplier ``width`` (> 0), each rounded and at least 1."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"`width` must be a positive number. Received: width={width!r}")
    return [max(int(round(c * width)), 1) for c in widths]


def check_weights_arg(weights, builder: str):
    """``None`` or the path (str) of an existing ``*.weights.h5`` file; checked before building."""
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"`weights` of {builder} must be None or the path of a `.weights.h5` file saved with "
            f"`model.save_weights` from the same builder. Received: weights={weights!r}"
        )
    path = os.fspath(weights)
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"`weights` of {builder} must be a Keras weights file named `*.weights.h5` (written by "
            "`model.save_weights`); no pretrained weights are shipped or downloaded. "
            f"Received: weights={path!r}"
        )
    if not os.path.isfile(path):
        raise ValueError(f"`weights` file of {builder} does not exist. Received: weights={path!r}")
    return path


def load_weights_file(model: keras.Model, weights, builder: str) -> None:
    """Load ``weights`` (``None`` or a ``*.weights.h5`` path) into ``model``; clear errors otherwise."""
    path = check_weights_arg(weights, builder)
    if path is None:
        return
    try:
        model.load_weights(path)
    except Exception as e:  # a file of another architecture/arguments: say which
        raise ValueError(
            f"Could not load {path!r} into {builder}: the file must come from `save_weights` of a model "
            f"built by {builder} with the same input_shape channels, num_classes and widths ({e})"
        ) from e


def check_input_shape(input_shape, fn: str, rank: int = 3):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != rank
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
    ):
        raise ValueError(
            f"`{fn}` expects `input_shape` as {rank} positive ints "
            f"({'(height, width, channels)' if rank == 3 else 'dims'}). Received: input_shape={input_shape!r}"
        )
    return shape


def check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer. Received: num_classes={num_classes!r}")
    return num_classes


def kernel_constraint_for(kernel_quantizer, kernel_constraint):
    """``DEFAULT`` → ``WeightClip(1.0)`` for quantized kernels (BinaryNet's clipping), else None."""
    if kernel_constraint != DEFAULT:
        return kernel_constraint
    if kernel_quantizer is None:
        return None
    from kbnn.constraints import WeightClip

    return WeightClip(1.0)
