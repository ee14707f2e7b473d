"""Bit-plane input: the first layer of a binary network without a float convolution.

Reference: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks: Training
Deep Neural Networks with Weights and Activations Constrained to +1 or -1" (BinaryNet),
arXiv:1602.02830, 2016, section 2.6 ("First layer"): an 8-bit input ``x`` is split into its
bit planes ``x^n`` and the first layer computes ``s = sum_n 2^(n-1) (x^n . w^b)``, so that every
multiply-accumulate of the first layer is a 1-bit one too.

Since ``sum_n 2^(n-1) x^n = x``, that sum *is* the convolution of the integer input with the
binary weights. :class:`BitPlaneInput` therefore produces the integer input (as floats) and a
binary-weight ``QuantConv2D``/``QuantDense`` without an input quantizer consumes it: training
sees exactly ``x . w^b``, and ``kbnn.convert`` lowers the pair to one binary convolution per bit
plane (see ``docs/convert.md``, "Bit-plane input").
"""

from __future__ import annotations

import numbers

import keras
from keras import ops

from kbnn.quantizers import _round_ste

__all__ = ["BitPlaneInput"]


@keras.saving.register_keras_serializable(package="kbnn")
class BitPlaneInput(keras.layers.Layer):
    r"""Maps an input to ``bits``-bit unsigned integers, the sum of its bit planes.

    Forward: ``q = clip(floor((x - lo) * (2^bits - 1) / (hi - lo) + 0.5), 0, 2^bits - 1)`` with
    ``(lo, hi) = value_range``; the output is ``q`` as float32 (integers ``0 .. 2^bits - 1``),
    ``q = sum_{n=1..bits} 2^(n-1) x^n`` with the bit planes ``x^n in {0, 1}`` (BinaryNet,
    arXiv:1602.02830, section 2.6). With the default ``value_range=(0, 255)`` and ``bits=8``,
    uint8 images (or floats 0..255) pass through unchanged.

    Backward: straight-through: the rounding passes the gradient unchanged (scaled by the
    linear map), the clipping zeroes it outside ``value_range``.

    Feed the output to a ``QuantConv2D``/``QuantDense`` with a binary ``kernel_quantizer`` and
    **no** ``input_quantizer`` (a sign input quantizer would binarize non-negative integers to a
    constant +1: the layer raises ``ValueError`` when the model is built, and ``kbnn.summary`` /
    ``kbnn.convert`` check the same through shape-only layers, see ``kbnn.checks``): its output
    is then exactly ``sum_n 2^(n-1) (x^n . w^b)``, and
    ``kbnn.convert`` lowers the pair to ``bits`` binary convolutions (one per plane, the plane
    weights ``2^(n-1)`` and the ``{0, 1} -> +-1`` correction folded into their multipliers and
    bias). Zero padding of the convolution (``padding="same"``, ``pad_values=0.0``) is the
    integer 0, i.e. all planes 0: the bitpacked kernels' free +1 padding in the ``+-1`` domain.

    Args:
        bits: Bits of the integer input (1 to 16; 8 for images).
        value_range: ``(lo, hi)``: the input values mapped to ``0`` and ``2^bits - 1``.
        **kwargs: Base layer keyword arguments (``name``, ...).
    """

    def __init__(self, bits: int = 8, value_range=(0.0, 255.0), **kwargs):
        super().__init__(**kwargs)
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
            raise ValueError(f"`bits` must be an int between 1 and 16. Received: bits={bits!r}")
        try:
            lo, hi = (float(v) for v in value_range)
            ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)
        except (TypeError, ValueError):
            ok = False
        if not ok or not lo < hi:
            raise ValueError(
                f"`value_range` must be two numbers lo < hi. Received: value_range={value_range!r}"
            )
        self.bits = bits
        self.value_range = (lo, hi)
        self.supports_masking = True

    @property
    def levels(self) -> int:
        """``2^bits - 1``, the largest integer."""
        return (1 << self.bits) - 1

    @property
    def scale(self) -> float:
        """The factor applied to ``x - lo`` before rounding."""
        lo, hi = self.value_range
        return self.levels / (hi - lo)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        lo = self.value_range[0]
        if lo != 0.0:
            x = x - ops.cast(lo, x.dtype)
        if self.scale != 1.0:
            x = x * ops.cast(self.scale, x.dtype)
        q = _round_ste(x)
        # Clip with a straight-through gradient inside the range (zero outside).
        return ops.clip(q, ops.cast(0.0, x.dtype), ops.cast(self.levels, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs):
        # Tag the symbolic output: a quantized layer that binarizes it (a sign of non-negative
        # integers, always +1) raises when the model is built (QuantLayerMixin.__call__).
        spec = super().compute_output_spec(inputs)
        try:
            spec._kbnn_bitplane = (self.name, self.bits)
        except AttributeError:  # pragma: no cover - a Keras tensor type without instance attributes
            pass
        return spec

    def get_config(self):
        config = super().get_config()
        config.update({"bits": self.bits, "value_range": list(self.value_range)})
        return config
