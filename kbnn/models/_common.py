"""Argument checks and defaults shared by the zoo builders."""

from __future__ import annotations

import keras

DEFAULT = "default"


def pooled_softmax_head(x, num_classes: int):
    """The ResNet-style classifier: global average pooling, a float Dense and a softmax."""
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dense(num_classes, name="head_logits")(x)
    return keras.layers.Activation("softmax", name="head_softmax")(x)


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
