"""ReActNet's RSign: sign after a learnable per-channel threshold.

Reference: Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Network with
Generalized Activation Functions", ECCV 2020 (arXiv:2003.03488), section 3.2, eq. (3)-(4).
"""

from __future__ import annotations

from keras import ops

from kbnn.quantizers._base import (
    Quantizer,
    _check_clip_value,
    _clip_mask,
    _float_tensor,
    _quantizer_class,
    _surrogate,
    sign,
)
from kbnn.quantizers.binary import _approx_sign_derivative

_GRADIENTS = ("approx_sign", "ste")


@_quantizer_class("rsign")
class RSign(Quantizer):
    r"""ReActNet's RSign: ``sign(x - alpha_c)`` with a trainable threshold per channel.

    Forward (ReActNet, eq. (3)): :math:`q(x_c) = +1` if :math:`x_c \ge \alpha_c` else
    :math:`-1` (kbnn's convention ``sign(0) = +1``: an input equal to the threshold gives +1).
    ``alpha`` has one entry per channel of the last axis (``threshold``, initial 0, so a fresh
    RSign is the plain sign).

    Backward, with :math:`v = x - \alpha`:

    * ``gradient="approx_sign"`` (default; what ReActNet's reference code trains with, Bi-Real
      Net's ApproxSign): :math:`\partial q / \partial v = \max(2 - 2|v|, 0)`;
    * ``gradient="ste"``: the clipped straight-through estimator :math:`1_{|v| \le c}` (BNext's
      activations use ``clip_value=1.5``).

    :math:`\partial q / \partial x = \partial q / \partial v` and
    :math:`\partial q / \partial \alpha = -\partial q / \partial v` summed over every axis but
    the channel axis (ReActNet eq. (4)).

    Why a quantizer and not a ``LearnableBias`` layer followed by a sign (the reference code's
    split): the threshold belongs to the binarization. As an ``input_quantizer`` it lives inside
    the ``QuantConv2D`` that consumes it (one argument, ``input_quantizer="rsign"``), saves with
    it, and an exporter can fold it into the bitpacking of that input (a per-channel threshold
    compare) instead of a float add in front of it.

    Args:
        gradient: ``"approx_sign"`` or ``"ste"``.
        clip_value: For ``gradient="ste"``: gradient zeroed where ``|x - alpha| > clip_value``
            (``None``: never). Ignored by ``"approx_sign"`` (its support is ``|v| < 1``).
    """

    precision = 1

    def __init__(self, gradient: str = "approx_sign", clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        if gradient not in _GRADIENTS:
            raise ValueError(f"`gradient` must be one of {list(_GRADIENTS)}. Received: gradient={gradient!r}")
        self.gradient = gradient
        self.clip_value = _check_clip_value(clip_value)

    def build(self, input_shape):
        channels = input_shape[-1] if input_shape else None
        if channels is None:
            raise ValueError(
                "RSign needs a known channel count (last axis) to create its per-channel threshold. "
                f"Received: input_shape={input_shape}"
            )
        self.threshold = self.add_weight(
            shape=(int(channels),), name="threshold", initializer="zeros", trainable=True
        )
        self.built = True

    def call(self, inputs):
        x = _float_tensor(inputs)
        v = x - ops.cast(self.threshold, x.dtype)
        if self.gradient == "approx_sign":
            return _surrogate(v, sign, _approx_sign_derivative)
        clip_value = self.clip_value
        return _surrogate(v, sign, lambda t: _clip_mask(t, clip_value))

    def get_config(self):
        config = super().get_config()
        config.update({"gradient": self.gradient, "clip_value": self.clip_value})
        return config
