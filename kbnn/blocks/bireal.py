"""Bi-Real block: one binary 3×3 convolution with a real-valued shortcut around it.

Reference: Zechun Liu, Baoyuan Wu, Wenhan Luo, Xin Yang, Wei Liu, Kwang-Ting Cheng,
"Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved Representational
Capability and Advanced Training Algorithm", ECCV 2018 (arXiv:1808.00278).

Facts from the paper this module follows:

* "1-layer-per-block": every binary convolution gets its own identity shortcut that
  carries the *real-valued* activation (the output of the previous batch norm, before
  the sign) around the sign → binary conv → batch norm chain, so the real activations
  propagate through the network: ``y = BN(BConv(sign(x), sign_w(W))) + x``.
* Training tricks: the ApproxSign surrogate gradient for the activations (piecewise
  quadratic, ``approx_sign``), and the magnitude-aware gradient for the weights (forward
  ``mean(|W|) · sign(W)`` per output channel, ``magnitude_aware_sign``).
* Downsampling shortcut (stride 2 and/or a change of channel count): 2×2 average pooling
  followed by a real-valued 1×1 convolution and batch norm.
"""

from __future__ import annotations

import keras

__all__ = ["bireal_block", "downsample_shortcut"]


def _part(name: str | None, part: str) -> str | None:
    return None if name is None else f"{name}_{part}"


def _check_input(x, fn: str) -> int:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4 or shape[-1] is None:
        raise ValueError(
            f"`{fn}` expects a rank-4 channels-last tensor (batch, height, width, channels) "
            f"with a known channel count. Received: x.shape={shape}"
        )
    return int(shape[-1])


def _check_positive_int(value, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")
    return value


def _normalize_filters(filters, in_channels: int) -> int:
    if filters is None:
        return in_channels
    return _check_positive_int(filters, "filters")


def downsample_shortcut(
    x,
    filters: int,
    *,
    strides: int = 2,
    momentum: float = 0.9,
    kernel_initializer="glorot_normal",
    name: str | None = None,
):
    """Real-valued downsampling shortcut: average pooling → 1×1 conv → batch norm.

    Used by the Bi-Real and Real-to-Binary blocks wherever the block changes resolution or
    channel count (Liu et al., ECCV 2018, section 3.1 / Fig. 3; the same shortcut is used by
    Martinez et al., ICLR 2020). The pooling (``strides``×``strides``, stride ``strides``,
    ``"same"`` padding so that it matches a ``"same"`` strided convolution) is skipped when
    ``strides == 1`` (a pure channel change).

    Layers created: ``{name}_shortcut_pool`` (only if ``strides > 1``),
    ``{name}_shortcut_conv`` (``keras.layers.Conv2D``, no bias), ``{name}_shortcut_bn``.

    Args:
        x: Rank-4 channels-last tensor.
        filters: Output channels.
        strides: Spatial downsampling factor.
        momentum: Batch-norm momentum.
        kernel_initializer: Initializer of the 1×1 convolution.
        name: Prefix of the layer names (``None``: Keras picks names).

    Returns:
        The shortcut tensor, shape ``(batch, ceil(h/strides), ceil(w/strides), filters)``.
    """
    _check_input(x, "downsample_shortcut")
    filters = _check_positive_int(filters, "filters")
    strides = _check_positive_int(strides, "strides")
    if strides > 1:
        x = keras.layers.AveragePooling2D(
            pool_size=strides, strides=strides, padding="same", name=_part(name, "shortcut_pool")
        )(x)
    x = keras.layers.Conv2D(
        filters,
        1,
        use_bias=False,
        kernel_initializer=kernel_initializer,
        name=_part(name, "shortcut_conv"),
    )(x)
    return keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "shortcut_bn"))(x)


def bireal_block(
    x,
    filters: int | None = None,
    *,
    strides: int = 1,
    kernel_size: int = 3,
    input_quantizer="approx_sign",
    kernel_quantizer="magnitude_aware_sign",
    kernel_constraint=None,
    kernel_initializer="glorot_normal",
    pad_values: float = 0.0,
    momentum: float = 0.9,
    name: str | None = None,
):
    """Bi-Real block (Liu et al., ECCV 2018): ``BN(BConv(sign(x))) + shortcut(x)``.

    One binary convolution per block, as in the paper's "1-layer-per-block" design::

        x ──► QuantConv2D(input_quantizer, kernel_quantizer, no bias) ──► BatchNorm ──► (+) ──►
        │                                                                            ▲
        └──────────── identity, or AvgPool 2×2 → Conv 1×1 → BatchNorm ───────────────┘

    The convolution and its batch norm are adjacent in the graph, which is the
    ``QuantConv2D`` + ``BatchNormalization`` pair the converter folds into a bitpacked
    convolution with a per-channel output transform.

    Layers created: ``{name}_conv`` (:class:`kbnn.layers.QuantConv2D`), ``{name}_bn``,
    ``{name}_add`` and, when downsampling, the :func:`downsample_shortcut` layers.

    Args:
        x: Rank-4 channels-last tensor of real-valued activations.
        filters: Output channels; ``None`` keeps the input channel count.
        strides: Stride of the binary convolution (2 to downsample).
        kernel_size: Kernel size of the binary convolution (3 in the paper).
        input_quantizer: Activation quantizer (default ``"approx_sign"``, the paper's
            ApproxSign gradient). ``None`` gives real-valued activations.
        kernel_quantizer: Weight quantizer (default ``"magnitude_aware_sign"``, the paper's
            magnitude-aware weights). ``None`` gives real-valued weights.
        kernel_constraint: Constraint of the latent weights (e.g.
            ``kbnn.constraints.WeightClip(1.0)``).
        kernel_initializer: Initializer of the binary convolution's latent weights.
        pad_values: ``0.0`` (zero padding, as in the paper) or ``1.0`` (pad the binarized
            input with +1, which the bitpacked kernels get for free).
        momentum: Batch-norm momentum.
        name: Prefix of the layer names (``None``: Keras picks names).

    Returns:
        Output tensor of shape ``(batch, ceil(h/strides), ceil(w/strides), filters)``.

    Raises:
        ValueError: for a non rank-4 input or invalid ``filters``/``strides``/``kernel_size``.
    """
    from kbnn.layers import QuantConv2D

    in_channels = _check_input(x, "bireal_block")
    filters = _normalize_filters(filters, in_channels)
    strides = _check_positive_int(strides, "strides")
    kernel_size = _check_positive_int(kernel_size, "kernel_size")

    if strides == 1 and filters == in_channels:
        shortcut = x
    else:
        shortcut = downsample_shortcut(x, filters, strides=strides, momentum=momentum, name=name)

    y = QuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        pad_values=pad_values,
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        kernel_constraint=kernel_constraint,
        kernel_initializer=kernel_initializer,
        use_bias=False,
        name=_part(name, "conv"),
    )(x)
    y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn"))(y)
    return keras.layers.Add(name=_part(name, "add"))([y, shortcut])
