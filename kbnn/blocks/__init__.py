"""Building blocks of published binary network architectures, as functional builders.

Each block is a *function* that adds standard Keras layers and kbnn ``Quant*`` layers to a
Keras functional graph and returns the output tensor::

    x = keras.Input((32, 32, 64))
    y = kbnn.blocks.bireal_block(x, 64, name="stage1_conv1")
    y = kbnn.blocks.real_to_binary_block(y, 128, strides=2, name="stage2_conv1")

Why functions and not ``keras.layers.Layer`` subclasses with sub-layers: the converter
(``kbnn.convert``) walks the functional graph and lowers ``QuantConv2D`` +
``BatchNormalization`` pairs (folding the batch norm into the binary convolution's output
transform). With builders every binary convolution, batch norm, shortcut and gate is a
top-level entry of ``model.layers``, visible to the converter, to :func:`kbnn.summary.summary`
(per-layer binary MACs), to ``model.get_layer(name)`` (e.g. for attention matching in
:mod:`kbnn.distillation`) and to weight copying by layer name between training stages.
The models they build contain only registered layers, so ``.keras`` save/load needs no
custom objects beyond kbnn's own.

Every layer a block creates is named ``f"{name}_<part>"``; the parts are listed in each
builder's docstring.
"""

from kbnn.blocks.bireal import bireal_block, downsample_shortcut
from kbnn.blocks.bnext import bnext_block
from kbnn.blocks.reactnet import reactnet_bireal_block, reactnet_block
from kbnn.blocks.real_to_binary import real_to_binary_block, scaling_gate

__all__ = [
    "bireal_block",
    "downsample_shortcut",
    "real_to_binary_block",
    "scaling_gate",
    "reactnet_block",
    "reactnet_bireal_block",
    "bnext_block",
]
