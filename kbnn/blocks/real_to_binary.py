"""Real-to-Binary block: a binary convolution rescaled by a gate computed from real data.

Reference: Brais Martinez, Jing Yang, Adrian Bulat, Georgios Tzimiropoulos, "Training
Binary Neural Networks with Real-to-Binary Convolutions", ICLR 2020 (arXiv:2003.11535).

Facts from the paper this module follows:

* The block (Fig. 1, the "strong baseline" of section 4.1, a ResNet-style block with one
  shortcut per binary convolution as in Bi-Real Net): ``BatchNorm → sign → binary 3×3
  conv → channel rescaling → PReLU``, plus a real-valued shortcut (the Bi-Real
  downsampling shortcut where the shape changes).
* Data-driven channel re-scaling (section 4.3): instead of XNOR-Net's analytic or
  XNOR-Net++'s learned static scaling, the scale of each output channel is predicted from
  the real-valued activations that are about to be binarized, with a squeeze-and-excitation
  style gate ``G``: global average pooling → linear layer reducing the channels by a
  factor ``r`` → ReLU → linear layer to the output channels → sigmoid. The paper uses
  ``r = 8``; the extra cost is negligible next to the convolution.
* Attention matching between a real-valued teacher and the binary student (section 4.2)
  lives in :mod:`kbnn.distillation`.
"""

from __future__ import annotations

import keras

from kbnn.blocks.bireal import (
    _check_input,
    _check_positive_int,
    _normalize_filters,
    _part,
    downsample_shortcut,
)

__all__ = ["real_to_binary_block", "scaling_gate"]


def scaling_gate(
    gate_input,
    filters: int,
    *,
    reduction: int = 8,
    use_bias: bool = True,
    pool: str = "global",
    name: str | None = None,
):
    """Squeeze-and-excitation style channel gate of Martinez et al. (ICLR 2020, section 4.3).

    ``gate = sigmoid(W2 · relu(W1 · GAP(gate_input) + b1) + b2)``, reshaped to
    ``(batch, 1, 1, filters)`` so that it broadcasts over a feature map.

    Layers created: ``{name}_gate_pool`` (GlobalAveragePooling2D; with ``pool="static"``
    AveragePooling2D over the whole map + ``{name}_gate_flatten``), ``{name}_gate_reduce``
    (Dense, ``max(1, in_channels // reduction)`` units, ReLU), ``{name}_gate_expand``
    (Dense, ``filters`` units, sigmoid), ``{name}_gate_reshape``.

    Args:
        gate_input: Rank-4 channels-last real-valued tensor the scales are computed from.
        filters: Number of channels to scale (the binary convolution's output channels).
        reduction: Bottleneck reduction factor ``r`` (8 in the paper).
        use_bias: Whether the two dense layers have biases.
        pool: ``"global"`` (GlobalAveragePooling2D) or ``"static"`` (AveragePooling2D with the
            static height × width as pool size, then Flatten: the same mean, as Larq Zoo
            builds it; falls back to ``"global"`` for dynamic sizes).
        name: Prefix of the layer names.

    Returns:
        Tensor of shape ``(batch, 1, 1, filters)`` with values in (0, 1).
    """
    in_channels = _check_input(gate_input, "scaling_gate")
    filters = _check_positive_int(filters, "filters")
    reduction = _check_positive_int(reduction, "reduction")
    if pool not in ("global", "static"):
        raise ValueError(f"`pool` must be 'global' or 'static'. Received: pool={pool!r}")
    h, w = gate_input.shape[1], gate_input.shape[2]
    if pool == "static" and h is not None and w is not None:
        g = keras.layers.AveragePooling2D(pool_size=(h, w), name=_part(name, "gate_pool"))(gate_input)
        g = keras.layers.Flatten(name=_part(name, "gate_flatten"))(g)
    else:
        g = keras.layers.GlobalAveragePooling2D(name=_part(name, "gate_pool"))(gate_input)
    g = keras.layers.Dense(
        max(1, in_channels // reduction),
        activation="relu",
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=_part(name, "gate_reduce"),
    )(g)
    g = keras.layers.Dense(
        filters,
        activation="sigmoid",
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=_part(name, "gate_expand"),
    )(g)
    return keras.layers.Reshape((1, 1, filters), name=_part(name, "gate_reshape"))(g)


def real_to_binary_block(
    x,
    filters: int | None = None,
    *,
    strides: int = 1,
    kernel_size: int = 3,
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint=None,
    kernel_initializer="glorot_normal",
    reduction: int | None = 8,
    gate_use_bias: bool = True,
    gate_pool: str = "global",
    pad_values: float = 0.0,
    momentum: float = 0.9,
    layout: str = "paper",
    name: str | None = None,
):
    """Real-to-Binary block (Martinez et al., ICLR 2020) with data-driven channel scaling.

    ::

        x ─► BatchNorm ─┬─► QuantConv2D(sign, sign_w, no bias) ─► (×) ─► PReLU ─► (+) ─►
        │               └─► GAP → Dense(C/r, ReLU) → Dense(filters, sigmoid) ─┘          ▲
        └──────────── identity, or AvgPool 2×2 → Conv 1×1 → BatchNorm ───────────────────┘

    The gate reads the batch-normalized real-valued activations, i.e. exactly what the
    binary convolution's input quantizer binarizes (the paper's "real-valued activations
    before binarization"). Note for conversion: the batch norm here *precedes* the binary
    convolution (paper placement), so the convolution's output feeds the gate multiply
    rather than a batch norm; the converter keeps the batch norm, the multiply and the PReLU
    as float ops around the binary convolution.

    ``layout="fused"`` is the same block arranged so that it exports with no float op between
    the binary input and the gated binary output except the gate itself::

        x ─┬─► QuantConv2D(sign, sign_w, no bias) ─► BatchNorm ─► (×) ─► (+) ─► PReLU ─►
           ├─► GAP → Dense(C/r, ReLU) → Dense(filters, sigmoid) ──┘      ▲
           └──────────── identity, or AvgPool 2×2 → Conv 1×1 → BatchNorm ┘

    The batch norm follows the convolution (``kbnn.convert`` folds it into the op's
    multiplier/bias), the gate reads ``x``, the real activations the sign binarizes, and the
    PReLU acts on the real-valued residual stream after the addition (the kbnn kernels have
    no per-channel PReLU; ``PReLU(g * y) = g * PReLU(y)`` for the positive gate, but not once
    the shortcut is added). What stays float: the gate branch, its multiply, the residual add
    and the PReLU on the block output — the parts the architecture needs.

    Layers created: ``{name}_bn`` (before the convolution), ``{name}_conv``
    (:class:`kbnn.layers.QuantConv2D`), the :func:`scaling_gate` layers, ``{name}_scale``
    (Multiply), ``{name}_prelu`` (PReLU shared over height and width), ``{name}_add``
    and, when downsampling, the :func:`downsample_shortcut` layers.

    Args:
        x: Rank-4 channels-last tensor of real-valued activations.
        filters: Output channels; ``None`` keeps the input channel count.
        strides: Stride of the binary convolution (2 to downsample).
        kernel_size: Kernel size of the binary convolution (3 in the paper).
        input_quantizer: Activation quantizer (``"ste_sign"`` in the paper's binary stages;
            ``None`` for the real-valued stage-1 network).
        kernel_quantizer: Weight quantizer (``"ste_sign"``; ``None`` for real weights, as in
            stage 2 of the paper's multi-stage recipe).
        kernel_constraint: Constraint of the latent weights.
        kernel_initializer: Initializer of the binary convolution's latent weights.
        reduction: Gate bottleneck factor ``r`` (8 in the paper); ``None`` disables the gate
            (the paper's strong baseline without data-driven scaling).
        gate_use_bias: Whether the gate's dense layers have biases.
        gate_pool: Pooling of the gate, ``"global"`` or ``"static"`` (see :func:`scaling_gate`).
        pad_values: ``0.0`` (zero padding) or ``1.0`` (pad the binarized input with +1).
        momentum: Batch-norm momentum.
        layout: ``"paper"`` (batch norm before the sign, PReLU before the addition, as in the
            paper) or ``"fused"`` (batch norm after the convolution, PReLU after the addition;
            exports with only the gate multiply between the binary convolution and the add).
        name: Prefix of the layer names (``None``: Keras picks names).

    Returns:
        Output tensor of shape ``(batch, ceil(h/strides), ceil(w/strides), filters)``.

    Raises:
        ValueError: for a non rank-4 input or invalid ``filters``/``strides``/``reduction``/``layout``.
    """
    from kbnn.layers import QuantConv2D

    in_channels = _check_input(x, "real_to_binary_block")
    filters = _normalize_filters(filters, in_channels)
    strides = _check_positive_int(strides, "strides")
    kernel_size = _check_positive_int(kernel_size, "kernel_size")
    if reduction is not None:
        reduction = _check_positive_int(reduction, "reduction")
    if layout not in ("paper", "fused"):
        raise ValueError(f"`layout` must be 'paper' or 'fused'. Received: layout={layout!r}")

    if strides == 1 and filters == in_channels:
        shortcut = x
    else:
        shortcut = downsample_shortcut(x, filters, strides=strides, momentum=momentum, name=name)

    fused = layout == "fused"
    real_input = x if fused else keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn"))(x)
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
    )(real_input)
    if fused:
        y = keras.layers.BatchNormalization(momentum=momentum, name=_part(name, "bn"))(y)
    if reduction is not None:
        gate = scaling_gate(
            real_input, filters, reduction=reduction, use_bias=gate_use_bias, pool=gate_pool, name=name
        )
        y = keras.layers.Multiply(name=_part(name, "scale"))([y, gate])
    prelu = keras.layers.PReLU(shared_axes=[1, 2], name=_part(name, "prelu"))
    if fused:
        return prelu(keras.layers.Add(name=_part(name, "add"))([y, shortcut]))
    y = prelu(y)
    return keras.layers.Add(name=_part(name, "add"))([y, shortcut])
