"""The 1-bit sign family: sign forward, a straight-through or surrogate gradient backward
(``ste_sign``, ``stochastic_sign``, ``approx_sign``, ``swish_sign``, ``magnitude_aware_sign``,
``ste_heaviside``, ``ir_net_ede``), each as a function and as a layer class. The stateless
classes are :class:`~kbnn.quantizers.FunctionQuantizer` subclasses."""

from __future__ import annotations

import functools
import math

import keras
from keras import ops

from kbnn.quantizers._base import (
    FunctionQuantizer,
    Quantizer,
    _c,
    _channel_axes,
    _check_bool,
    _check_clip_value,
    _check_fraction,
    _check_positive,
    _float_tensor,
    _quantizer_class,
    _quantizer_function,
    _sech2,
    _straight_through,
    _surrogate,
    sign,
)

# --------------------------------------------------------------------------------------
# ste_sign
# --------------------------------------------------------------------------------------


@_quantizer_function(precision=1)
def ste_sign(x, clip_value: float | None = 1.0):
    r"""Binarize with the sign function and the straight-through estimator.

    Forward: :math:`q(x) = +1` if :math:`x \ge 0` else :math:`-1`.

    Backward (the "hard tanh" straight-through estimator):
    :math:`\partial q / \partial x = 1_{|x| \le c}` with :math:`c` = ``clip_value``;
    ``clip_value=None`` passes every gradient through unchanged.

    Reference: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks:
    Training Deep Neural Networks with Weights and Activations Constrained to +1 or -1"
    (BinaryNet), arXiv:1602.02830, 2016, section 1.3.

    Args:
        x: Input tensor.
        clip_value: Gradient is zeroed where ``|x| > clip_value``.

    Returns:
        A tensor of -1 and +1 with the dtype of ``x``.
    """
    return _straight_through(x, sign, clip_value)


@_quantizer_class("ste_sign")
class SteSign(FunctionQuantizer):
    """Layer form of :func:`ste_sign` (sign forward, straight-through gradient).

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 1
    function = staticmethod(ste_sign)
    arguments = {"clip_value": _check_clip_value}


# --------------------------------------------------------------------------------------
# stochastic_sign
# --------------------------------------------------------------------------------------


def _hard_sigmoid(x):
    return ops.clip((x + _c(1.0, x)) / _c(2.0, x), _c(0.0, x), _c(1.0, x))


@_quantizer_function(precision=1)
def stochastic_sign(x, clip_value: float | None = 1.0, training: bool = True, seed=None):
    r"""Stochastic binarization (BinaryNet) with the straight-through estimator.

    Forward, training: :math:`q(x) = +1` with probability
    :math:`p = \sigma_h(x) = \mathrm{clip}((x + 1) / 2, 0, 1)`, else :math:`-1`
    (sampled as :math:`q = +1 \iff u < p`, :math:`u \sim U[0, 1)`).
    Forward, inference (``training=False``): deterministic :func:`sign`.

    Backward: :math:`\partial q / \partial x = 1_{|x| \le c}`, as :func:`ste_sign`.

    Reference: Courbariaux et al., "Binarized Neural Networks" (BinaryNet),
    arXiv:1602.02830, 2016, eq. (2) (stochastic binarization) and section 1.3.

    Args:
        x: Input tensor.
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
        training: Sample (``True``, the default of the function form) or take the sign.
        seed: ``None``, an int or a ``keras.random.SeedGenerator`` (pass a generator to get
            fresh samples on every call inside a compiled function).

    Returns:
        A tensor of -1 and +1 with the dtype of ``x``.
    """
    clip_value = _check_clip_value(clip_value)
    x = _float_tensor(x)
    if not training:
        return _straight_through(x, sign, clip_value)
    # Sample in float32: float16 uniforms are too coarse near p ~ 0 and 1.
    p = ops.cast(_hard_sigmoid(ops.cast(x, "float32")), "float32")
    u = keras.random.uniform(ops.shape(x), dtype="float32", seed=seed)
    one = ops.ones_like(x)
    value = ops.where(ops.less(u, p), one, -one)
    return _straight_through(x, lambda v: value, clip_value)


@_quantizer_class("stochastic_sign")
class StochasticSign(Quantizer):
    """Layer form of :func:`stochastic_sign`.

    Samples while training (``training=True`` passed explicitly or by the model's ``fit``),
    takes the deterministic sign otherwise (``training`` ``None`` or ``False``).

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
        seed: Optional int seed of the layer's ``keras.random.SeedGenerator``.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.clip_value = _check_clip_value(clip_value)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        return stochastic_sign(
            inputs, clip_value=self.clip_value, training=bool(training), seed=self.seed_generator
        )

    def get_config(self):
        config = super().get_config()
        config.update({"clip_value": self.clip_value, "seed": self.seed})
        return config


# --------------------------------------------------------------------------------------
# approx_sign
# --------------------------------------------------------------------------------------


def _approx_sign_derivative(x):
    return ops.maximum(_c(2.0, x) - _c(2.0, x) * ops.abs(x), _c(0.0, x))


@_quantizer_function(precision=1)
def approx_sign(x):
    r"""Sign forward, Bi-Real Net's piecewise-polynomial ApproxSign gradient backward.

    Forward: :math:`q(x) = +1` if :math:`x \ge 0` else :math:`-1`.

    Backward: the derivative of the piecewise quadratic ApproxSign,
    :math:`\partial q / \partial x = 2 - 2|x|` for :math:`|x| < 1`, else 0.

    Reference: Liu, Wu, Luo, Yang, Liu, Cheng, "Bi-Real Net: Enhancing the Performance of
    1-bit CNNs with Improved Representational Capability and Advanced Training Algorithm",
    ECCV 2018, section 3.2, eq. (4)-(5).

    Args:
        x: Input tensor.

    Returns:
        A tensor of -1 and +1 with the dtype of ``x``.
    """
    x = _float_tensor(x)
    return _surrogate(x, sign, _approx_sign_derivative)


@_quantizer_class("approx_sign")
class ApproxSign(FunctionQuantizer):
    """Layer form of :func:`approx_sign` (sign forward, ``2 - 2|x|`` gradient on ``|x| < 1``)."""

    precision = 1
    function = staticmethod(approx_sign)
    arguments = {}


# --------------------------------------------------------------------------------------
# swish_sign
# --------------------------------------------------------------------------------------


def _swish_sign_derivative(x, beta):
    # d/dx [2 s (1 + b x (1 - s)) - 1] with s = sigmoid(b x):
    #   = 2 b s (1 - s) (2 + b x (1 - 2 s))
    #   = b (2 - b x tanh(b x / 2)) / (1 + cosh(b x))       (BNN+ closed form)
    # Evaluated as 2 b sigmoid(bx) sigmoid(-bx) (2 - bx tanh(bx / 2)): no cancellation in
    # 1 - s for large |bx| and no overflow of cosh in float16.
    bx = _c(beta, x) * x
    two = _c(2.0, x)
    return two * _c(beta, x) * ops.sigmoid(bx) * ops.sigmoid(-bx) * (two - bx * ops.tanh(bx / two))


@_quantizer_function(precision=1)
def swish_sign(x, beta: float = 5.0):
    r"""Sign forward, derivative of the SignSwish function backward (BNN+).

    Forward: :math:`q(x) = +1` if :math:`x \ge 0` else :math:`-1`.

    Backward: the derivative of
    :math:`SS_\beta(x) = 2\sigma(\beta x)\,(1 + \beta x\,(1 - \sigma(\beta x))) - 1`,

    .. math::
        SS'_\beta(x) = 2\beta\,\sigma(\beta x)(1-\sigma(\beta x))\,(2 + \beta x\,(1 - 2\sigma(\beta x)))
        = \frac{\beta\,(2 - \beta x \tanh(\beta x / 2))}{1 + \cosh(\beta x)}.

    Reference: Darabi, Belbahri, Courbariaux, Partovi Nia, "BNN+: Improved Binary Network
    Training", arXiv:1812.11800, 2018, section 3.1.

    Args:
        x: Input tensor.
        beta: Positive steepness of SignSwish (larger: closer to the sign function).

    Returns:
        A tensor of -1 and +1 with the dtype of ``x``.
    """
    beta = _check_positive("beta", beta)
    x = _float_tensor(x)
    return _surrogate(x, sign, lambda v: _swish_sign_derivative(v, beta))


@_quantizer_class("swish_sign")
class SwishSign(FunctionQuantizer):
    """Layer form of :func:`swish_sign`.

    Args:
        beta: Positive steepness of the SignSwish surrogate.
    """

    precision = 1
    function = staticmethod(swish_sign)
    arguments = {"beta": functools.partial(_check_positive, "beta")}


# --------------------------------------------------------------------------------------
# magnitude_aware_sign
# --------------------------------------------------------------------------------------


@_quantizer_function(precision=1)
def magnitude_aware_sign(x, clip_value: float | None = 1.0):
    r"""Sign scaled by the per-output-channel mean magnitude (XNOR-Net / Bi-Real weights).

    Forward: :math:`q(w) = \alpha \cdot \mathrm{sign}(w)` with
    :math:`\alpha_c = \frac{1}{n}\sum |w_{\cdot, c}|`, the mean of ``|w|`` over every axis but
    the last (the output channel of Keras kernels); for a rank-0/1 input, over the whole
    tensor.

    Backward: :math:`q = \alpha(w) \cdot \mathrm{ste\_sign}(w)` differentiated as written:
    straight-through (clipped at ``clip_value``) for the sign, exact for the scale:
    :math:`\partial q_j / \partial w_i = \alpha\,1_{|w_i| \le c}\,[i=j]
    + \mathrm{sign}(w_j)\,\mathrm{sgn}(w_i)/n` (same channel).

    The result is a binary value times a per-channel scale: ``precision = 1``; the converter
    folds the scale into the layer's output multiplier.

    Reference: Rastegari, Ordonez, Redmon, Farhadi, "XNOR-Net: ImageNet Classification Using
    Binary Convolutional Neural Networks", ECCV 2016, section 3.1; Liu et al., "Bi-Real Net",
    ECCV 2018, section 3.3 (magnitude-aware gradient).

    Args:
        x: Input tensor (typically a kernel, output channels last).
        clip_value: Straight-through gradient of the sign is zeroed where ``|x| > clip_value``.

    Returns:
        A tensor of :math:`\pm\alpha_c` with the dtype of ``x``.
    """
    clip_value = _check_clip_value(clip_value)
    x = _float_tensor(x)
    axes, keepdims = _channel_axes(x)
    scale = ops.mean(ops.abs(x), axis=axes, keepdims=keepdims)
    return scale * ste_sign(x, clip_value=clip_value)


@_quantizer_class("magnitude_aware_sign")
class MagnitudeAwareSign(FunctionQuantizer):
    """Layer form of :func:`magnitude_aware_sign`.

    Args:
        clip_value: Straight-through gradient of the sign is zeroed where ``|x| > clip_value``.
    """

    precision = 1
    function = staticmethod(magnitude_aware_sign)
    arguments = {"clip_value": _check_clip_value}


# --------------------------------------------------------------------------------------
# ste_heaviside
# --------------------------------------------------------------------------------------


def _heaviside(x):
    return ops.where(ops.greater(x, 0), ops.ones_like(x), ops.zeros_like(x))


@_quantizer_function(precision=1)
def ste_heaviside(x, clip_value: float | None = 1.0):
    r"""Binarize to {0, 1} with the Heaviside step function and the straight-through estimator.

    Forward: :math:`q(x) = 1` if :math:`x > 0` else :math:`0`.

    Backward: :math:`\partial q / \partial x = 1_{|x| \le c}` (as :func:`ste_sign`).

    Reference: the straight-through estimator of Bengio, Léonard, Courville, "Estimating or
    Propagating Gradients Through Stochastic Neurons for Conditional Computation",
    arXiv:1308.3432, 2013; clipped as in BinaryNet (Courbariaux et al., 2016).

    Args:
        x: Input tensor.
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.

    Returns:
        A tensor of 0 and 1 with the dtype of ``x``.
    """
    return _straight_through(x, _heaviside, clip_value)


@_quantizer_class("ste_heaviside")
class SteHeaviside(FunctionQuantizer):
    """Layer form of :func:`ste_heaviside`.

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 1
    function = staticmethod(ste_heaviside)
    arguments = {"clip_value": _check_clip_value}


# --------------------------------------------------------------------------------------
# ir_net_ede
# --------------------------------------------------------------------------------------


def _ede_temperature(progress, t_min, t_max, dtype):
    """t = T_min * 10^(progress * log10(T_max / T_min)), k = max(1/t, 1)."""
    p = ops.cast(progress, dtype)
    t = ops.cast(t_min, dtype) * ops.power(
        ops.cast(10.0, dtype), p * ops.cast(math.log10(t_max / t_min), dtype)
    )
    k = ops.maximum(ops.cast(1.0, dtype) / t, ops.cast(1.0, dtype))
    return t, k


def _check_t_range(t_min, t_max):
    t_min = _check_positive("t_min", t_min)
    t_max = _check_positive("t_max", t_max)
    if not t_max >= t_min:
        raise ValueError(f"`t_max` must be >= `t_min`. Received: t_max={t_max!r} (t_min={t_min!r})")
    return t_min, t_max


def _libra_standardize(x):
    """Libra-PB: per-output-channel (w - mean) / std and the power-of-two scale 2^s (no gradient)."""
    axes, keepdims = _channel_axes(x)
    w = ops.cast(x, "float32")
    centred = w - ops.mean(w, axis=axes, keepdims=keepdims)
    var = ops.mean(centred * centred, axis=axes, keepdims=keepdims)
    std = ops.sqrt(ops.maximum(var, 1e-12))
    standardized = centred / std
    mean_abs = ops.stop_gradient(ops.mean(ops.abs(standardized), axis=axes, keepdims=keepdims))
    shift = ops.round(ops.log2(ops.maximum(mean_abs, 1e-12)))
    scale = ops.power(2.0, shift)
    return ops.cast(standardized, x.dtype), ops.cast(scale, x.dtype)


@_quantizer_function(precision=1)
def ir_net_ede(x, progress=0.0, t_min: float = 0.1, t_max: float = 10.0, libra_pb: bool = False):
    r"""IR-Net binarization: sign forward, Error Decay Estimator (EDE) gradient backward.

    Forward: :math:`q(x) = \mathrm{sign}(x)` (``sign(0) = +1``).

    Backward: the derivative of :math:`g(x) = k \tanh(t x)`,
    :math:`\partial q / \partial x = k\,t\,(1 - \tanh^2(t x))`, with the schedule

    .. math::
        t = T_{min}\,10^{\frac{i}{N}\log_{10}\frac{T_{max}}{T_{min}}},\qquad k = \max(1/t, 1),

    :math:`T_{min} = 0.1`, :math:`T_{max} = 10`, and :math:`i/N` = ``progress`` (the fraction of
    training done). Early (:math:`t` small, :math:`k t = 1`) the gradient is close to the
    identity; late it approaches the sign's derivative (:math:`t = 10`, peak 10 at 0).

    ``libra_pb=True`` (weights): Libra Parameter Binarization. Per output channel (all axes
    but the last), :math:`\hat w = (w - \bar w) / \sigma(w)` (population standard deviation),
    then :math:`q = \mathrm{sign}(\hat w) \cdot 2^{s}` with the integer shift
    :math:`s = \mathrm{round}(\log_2(\lVert \hat w \rVert_1 / n))`. Gradients flow through the
    standardization (EDE for the sign); the power-of-two scale is piecewise constant and passes
    no gradient.

    Reference: Qin, Gong, Liu, Bai, Song, Yu, Yang, "Forward and Backward Information Retention
    for Accurate Binary Neural Networks" (IR-Net), CVPR 2020, section 3.1 eq. (8)-(11) (Libra-PB)
    and section 3.2 eq. (12)-(14) (EDE).

    Args:
        x: Input tensor.
        progress: Training progress :math:`i/N` in [0, 1] (number or scalar tensor/variable).
        t_min: :math:`T_{min}` (> 0).
        t_max: :math:`T_{max}` (>= ``t_min``).
        libra_pb: Standardize and scale per output channel (for weights).

    Returns:
        A tensor of -1 and +1 (times :math:`2^s` per channel with ``libra_pb``), dtype of ``x``.
    """
    progress = _check_fraction("progress", progress)
    t_min, t_max = _check_t_range(t_min, t_max)
    _check_bool("libra_pb", libra_pb)
    x = _float_tensor(x)
    t, k = _ede_temperature(ops.stop_gradient(progress), t_min, t_max, x.dtype)

    def derivative(v):
        return k * t * _sech2(t * v)

    if not libra_pb:
        return _surrogate(x, sign, derivative)
    standardized, scale = _libra_standardize(x)
    return _surrogate(standardized, sign, derivative) * scale


@_quantizer_class("ir_net_ede")
class IRNetEDE(Quantizer):
    """Layer form of :func:`ir_net_ede` with the EDE schedule's progress as state.

    ``progress`` (:math:`i/N`) is a non-trainable scalar variable saved with the model;
    a callback calls :meth:`set_progress` (e.g. with ``epoch / epochs``) to anneal the
    gradient from identity-like to sign-like.

    Args:
        t_min: :math:`T_{min}` of the schedule (paper: 0.1).
        t_max: :math:`T_{max}` of the schedule (paper: 10).
        libra_pb: Apply Libra Parameter Binarization (for weights).
    """

    precision = 1

    def __init__(self, t_min: float = 0.1, t_max: float = 10.0, libra_pb: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.t_min, self.t_max = _check_t_range(t_min, t_max)
        self.libra_pb = _check_bool("libra_pb", libra_pb)
        self.progress = self.add_weight(shape=(), initializer="zeros", trainable=False, name="progress")

    def set_progress(self, fraction) -> None:
        """Set the training progress :math:`i/N` (a number in [0, 1]) used by the schedule."""
        self.progress.assign(_check_fraction("fraction", fraction))

    @property
    def temperature(self):
        """Current :math:`t` of the schedule (a scalar tensor)."""
        return _ede_temperature(self.progress.value, self.t_min, self.t_max, "float32")[0]

    def call(self, inputs):
        return ir_net_ede(
            inputs, progress=self.progress.value, t_min=self.t_min, t_max=self.t_max, libra_pb=self.libra_pb
        )

    def get_config(self):
        config = super().get_config()
        config.update({"t_min": self.t_min, "t_max": self.t_max, "libra_pb": self.libra_pb})
        return config
