"""Quantized Keras layers: ``Quant*`` mirrors of the Keras layers, and shift-based batch norm.

See :mod:`kbnn.layers.base` for the design (what the Keras layer keeps doing, what the
mixin adds, and why it owns the forward pass).
"""

from kbnn.layers.base import QuantLayerMixin
from kbnn.layers.bitplane import BitPlaneInput
from kbnn.layers.convolutional import (
    QuantConv1D,
    QuantConv2D,
    QuantConv2DTranspose,
    QuantConv3D,
    QuantDepthwiseConv2D,
    QuantSeparableConv2D,
)
from kbnn.layers.core import QuantDense
from kbnn.layers.normalization import ShiftBatchNormalization
from kbnn.layers.reactnet import ChannelMix, RPReLU

__all__ = [
    "QuantLayerMixin",
    "QuantDense",
    "QuantConv1D",
    "QuantConv2D",
    "QuantConv3D",
    "QuantDepthwiseConv2D",
    "QuantSeparableConv2D",
    "QuantConv2DTranspose",
    "ShiftBatchNormalization",
    "BitPlaneInput",
    "RPReLU",
    "ChannelMix",
]
