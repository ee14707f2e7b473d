"""Several scaled binary bases: :class:`MultiBaseSign` (ABC-Net weight and activation bases,
HORQ residuals) and :func:`binary_bases`, the number of +-1 bases of any quantizer."""

from __future__ import annotations

import keras
from keras import ops

from kbnn.quantizers._base import (
    Quantizer,
    _c,
    _channel_axes,
    _check_clip_value,
    _float_tensor,
    _quantizer_class,
    precision_of,
)
from kbnn.quantizers.binary import ste_sign

# --------------------------------------------------------------------------------------
# MultiBaseSign: M weight bases (ABC-Net) / N activation bases (ABC-Net shifts, HORQ residuals)
# --------------------------------------------------------------------------------------

_MULTI_BASE_MODES = ("weights", "shift", "residual")


def _check_bases(bases):
    if isinstance(bases, bool) or not isinstance(bases, int) or not 1 <= bases <= 8:
        raise ValueError(f"`bases` must be an int between 1 and 8. Received: bases={bases!r}")
    return bases


def abc_shifts(bases: int) -> list[float]:
    """ABC-Net's weight-base shifts ``u_m = -1 + 2 (m - 1) / (M - 1)`` (``[0]`` for ``M = 1``)."""
    if bases == 1:
        return [0.0]
    return [-1.0 + 2.0 * m / (bases - 1) for m in range(bases)]


@_quantizer_class("multi_base_sign")
class MultiBaseSign(Quantizer):
    r"""Several scaled binary bases: ``q(x) = sum_i scale_i * sign(base_i(x))``.

    Three modes (``mode``):

    * ``"weights"`` — ABC-Net weight bases (Lin, Zhao, Pan, "Towards Accurate Binary
      Convolutional Neural Network", NIPS 2017, section 3.1), per output channel ``c`` (the
      last axis): ``B_m = sign(W - mean_c(W) + u_m std_c(W))`` with the shifts
      ``u_m = -1 + 2(m-1)/(M-1)`` (``u = 0`` for ``M = 1``), and the scales ``alpha_{m,c}``
      the least-squares fit of ``W`` by the bases (the paper's linear regression), with a tiny
      ridge so that coinciding bases stay solvable. Backward (the paper's STE): the scales, mean
      and std are constants, each sign passes its gradient where ``|W - mean + u_m std| <=
      clip_value``: ``dq/dW = sum_m alpha_m 1[...]``. No trainable parameters.
    * ``"shift"`` — ABC-Net activation bases (section 3.2): ``A = sum_n beta_n sign(x - theta_n)``
      with trainable thresholds ``theta`` (the paper's shift parameters ``v = -theta``; initial
      values spread over (-1, 1): ``theta_n = (2n - N - 1) / (N + 1)``) and trainable scales
      ``beta`` (initial ``1/N``). Straight-through gradient for each sign (clipped at
      ``clip_value``); ``theta`` and ``beta`` get their exact gradients.
    * ``"residual"`` — HORQ-style recursive residual quantization of activations (Li, Ni, Zhang,
      Yang, Gao, "Performance Guaranteed Network Acceleration via High-Order Residual
      Quantization", ICCV 2017): ``r_0 = x``, ``b_n = sign(r_{n-1})``,
      ``r_n = r_{n-1} - beta_n b_n``, ``A = sum_n beta_n b_n``. HORQ computes each ``beta_n``
      from the data (``mean |r_{n-1}|``); here the ``beta`` are trainable parameters (initial
      ``0.8 * 0.5^(n-1)``, about ``mean |x|`` for normalized inputs), so inference needs no
      reductions and the bases of a converted model are fixed functions of the input.

    ``precision`` is ``bases``: the value is stored as that many packed bit planes (plus scales),
    and a layer with M weight bases and N activation bases is ``M x N`` binary convolutions
    (``kbnn.convert`` emits exactly those; ``kbnn.summary`` counts their binary MACs).

    Args:
        bases: Number of binary bases (1 to 8).
        mode: ``"weights"``, ``"shift"`` or ``"residual"`` (see above).
        clip_value: Straight-through gradient of each sign is zeroed where its argument's
            magnitude exceeds ``clip_value``; ``None`` disables clipping.
    """

    def __init__(self, bases: int = 2, mode: str = "weights", clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.bases = _check_bases(bases)
        if mode not in _MULTI_BASE_MODES:
            raise ValueError(f"`mode` must be one of {list(_MULTI_BASE_MODES)}. Received: mode={mode!r}")
        self.mode = mode
        self.clip_value = _check_clip_value(clip_value)
        self.precision = self.bases
        n = self.bases
        if mode == "shift":
            self.thresholds = self.add_weight(
                shape=(n,),
                name="thresholds",
                trainable=True,
                initializer=keras.initializers.Constant([(2 * i - n + 1) / (n + 1) for i in range(n)]),
            )
            self.scales = self.add_weight(
                shape=(n,),
                name="scales",
                trainable=True,
                initializer=keras.initializers.Constant([1.0 / n] * n),
            )
        elif mode == "residual":
            initial = [0.8 * 0.5**i for i in range(n)]
            self.scales = self.add_weight(
                shape=(n,), name="scales", trainable=True, initializer=keras.initializers.Constant(initial)
            )

    # ------------------------------------------------------------------ forward

    def _weight_bases(self, w):
        """``(signs, alphas)``: the ``M`` sign tensors (STE) and their ``[M, Cout]`` scales."""
        axes, keepdims = _channel_axes(w)
        flat_last = w.shape[-1] if keepdims else 1
        mean = ops.stop_gradient(ops.mean(w, axis=axes, keepdims=keepdims))
        std = ops.stop_gradient(ops.std(w, axis=axes, keepdims=keepdims))
        centered = w - mean
        signs = [
            ste_sign(centered + _c(u, w) * std, clip_value=self.clip_value) for u in abc_shifts(self.bases)
        ]
        # Least squares per output channel: (B^T B + eps I) alpha = B^T w.
        # [M, K, C]
        b = ops.stop_gradient(ops.stack([ops.reshape(s, (-1, flat_last)) for s in signs], axis=0))
        wf = ops.stop_gradient(ops.reshape(w, (-1, flat_last)))  # [K, C]
        k = ops.cast(ops.shape(wf)[0], w.dtype)
        gram = ops.einsum("mkc,nkc->cmn", b, b) + _c(1e-6, w) * k * ops.eye(self.bases, dtype=w.dtype)
        rhs = ops.einsum("mkc,kc->cm", b, wf)[..., None]
        alphas = ops.transpose(ops.squeeze(ops.solve(gram, rhs), -1))  # [M, C]
        return signs, ops.stop_gradient(alphas)

    def call(self, inputs):
        x = _float_tensor(inputs)
        if self.mode == "weights":
            signs, alphas = self._weight_bases(x)
            shape = (alphas.shape[1],) if len(x.shape) >= 2 else ()
            out = ops.zeros_like(x)
            for m, s in enumerate(signs):
                out = out + ops.reshape(alphas[m], shape) * s
            return out
        scales = ops.cast(self.scales, x.dtype)
        out = ops.zeros_like(x)
        if self.mode == "shift":
            thresholds = ops.cast(self.thresholds, x.dtype)
            for n in range(self.bases):
                out = out + scales[n] * ste_sign(x - thresholds[n], clip_value=self.clip_value)
            return out
        residual = x
        for n in range(self.bases):
            b = ste_sign(residual, clip_value=self.clip_value)
            out = out + scales[n] * b
            residual = residual - scales[n] * b
        return out

    # ------------------------------------------------------------------ converter interface

    def weight_decomposition(self, w):
        """NumPy ``(signs [M, *w.shape] of +-1, alphas [M, Cout])`` of the kernel ``w`` (mode "weights")."""
        import numpy as np

        if self.mode != "weights":
            raise ValueError(f"weight_decomposition needs mode='weights'. Received: mode={self.mode!r}")
        signs, alphas = self._weight_bases(ops.convert_to_tensor(np.asarray(w, "float32")))
        return (
            np.stack([np.asarray(ops.convert_to_numpy(s), "float32") for s in signs]),
            np.asarray(ops.convert_to_numpy(alphas), "float32"),
        )

    def activation_parameters(self):
        """NumPy ``(thresholds or None, scales)`` of an activation mode ("shift"/"residual")."""
        import numpy as np

        if self.mode == "weights":
            raise ValueError(
                "activation_parameters needs mode='shift' or 'residual'. Received: mode='weights'"
            )
        th = np.asarray(self.thresholds.numpy(), "float32") if self.mode == "shift" else None
        return th, np.asarray(self.scales.numpy(), "float32")

    def get_config(self):
        config = super().get_config()
        config.update({"bases": self.bases, "mode": self.mode, "clip_value": self.clip_value})
        return config


def binary_bases(quantizer) -> int | None:
    """How many +-1 bases a quantizer's output is made of: ``bases`` of :class:`MultiBaseSign`,
    1 for other 1-bit quantizers, ``None`` otherwise (not a sum of binary bases)."""
    if isinstance(quantizer, MultiBaseSign):
        return quantizer.bases
    return 1 if precision_of(quantizer) == 1 else None
