"""Quantizers: the functions and layers that turn latent float values into low-bit values.

Every quantizer exists in two forms, after the convention larq made familiar:

* a plain function (``ste_sign(x, clip_value=1.0)``) with a straight-through or surrogate
  gradient, written with ``keras.ops`` only;
* a serializable class (``SteSign(clip_value=1.0)``) registered with Keras under the
  ``"kbnn"`` package and reachable through a string alias (``"ste_sign"``).

Quantizer classes are ``keras.layers.Layer`` subclasses so that quantizers with state
(PACT's learnable clipping bound, DSQ's and IR-Net's annealed temperatures) are tracked,
trained and saved by the layer that owns them like any other sub-layer.

Bit convention shared with the converter and the C++ kernels: ``sign(0) = +1``. Every
quantizer that rounds uses "round half up" (``floor(v + 0.5)``) rather than round-half-to-even,
so that ties go the same way as ``sign(0) = +1`` (e.g. 1-bit DoReFa, 1-bit DSQ).

Each class declares ``precision``: the number of bits its output needs (1 for the sign
family, 2 for ternary, ``k`` for k-bit quantizers). ``None`` means "not a low-bit
quantizer" and is what ``precision_of`` reports for user callables that do not declare one.
Functions carry the same information as a ``precision`` attribute (for quantizers with a
``k_bit`` argument: the precision at the default ``k_bit``; use the class for other widths).

All constants are cast to the input's dtype, so the quantizers run on ``float16`` /
``bfloat16`` compute tensors (mixed precision). Stateful quantizers keep their variables in
the variable dtype (``float32`` under ``mixed_float16``) and cast them when they are read.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras
from keras import ops

__all__ = [
    "Quantizer",
    "get",
    "serialize",
    "deserialize",
    "precision_of",
    "register_alias",
    "sign",
    "ste_sign",
    "SteSign",
    "stochastic_sign",
    "StochasticSign",
    "approx_sign",
    "ApproxSign",
    "swish_sign",
    "SwishSign",
    "magnitude_aware_sign",
    "MagnitudeAwareSign",
    "ste_heaviside",
    "SteHeaviside",
    "ste_tern",
    "SteTern",
    "dorefa",
    "DoReFa",
    "dsq",
    "DSQ",
    "ir_net_ede",
    "IRNetEDE",
    "pact",
    "PACT",
    "MultiBaseSign",
    "binary_bases",
]

_ALIASES: dict[str, type] = {}


def register_alias(*names: str) -> Callable[[type], type]:
    """Class decorator: make ``get(name)`` build this quantizer class for each name."""

    def wrap(cls: type) -> type:
        for name in names:
            if name in _ALIASES and _ALIASES[name] is not cls:
                raise ValueError(
                    f"Quantizer alias {name!r} is already registered for "
                    f"{_ALIASES[name].__name__}; pick another alias. Received: cls={cls.__name__}"
                )
            _ALIASES[name] = cls
        return cls

    return wrap


_register = keras.saving.register_keras_serializable(package="kbnn")


# --------------------------------------------------------------------------------------
# Argument validation (shared by functions and classes; Python values only)
# --------------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_clip_value(clip_value):
    if clip_value is not None and not (_is_number(clip_value) and clip_value > 0):
        raise ValueError(
            f"`clip_value` must be a positive number or None. Received: clip_value={clip_value!r}"
        )
    return None if clip_value is None else float(clip_value)


def _check_positive(name: str, value):
    if not (_is_number(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def _check_k_bit(k_bit):
    if isinstance(k_bit, bool) or not isinstance(k_bit, int) or not 1 <= k_bit <= 16:
        raise ValueError(f"`k_bit` must be an int between 1 and 16. Received: k_bit={k_bit!r}")
    return k_bit


def _check_unit_open(name: str, value):
    """0 < value < 1 for Python numbers; tensors/variables are passed through unchecked."""
    if _is_number(value) or isinstance(value, bool):
        if isinstance(value, bool) or not 0 < value < 1:
            raise ValueError(f"`{name}` must be in the open interval (0, 1). Received: {name}={value!r}")
        return float(value)
    if value is None or isinstance(value, str):
        raise ValueError(f"`{name}` must be a number in (0, 1) or a scalar tensor. Received: {name}={value!r}")
    return value


def _check_fraction(name: str, value):
    if _is_number(value) or isinstance(value, bool):
        if isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={value!r}")
        return float(value)
    if value is None or isinstance(value, str):
        raise ValueError(f"`{name}` must be a number in [0, 1] or a scalar tensor. Received: {name}={value!r}")
    return value


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _as_tensor(x):
    """``x`` as a backend tensor; variables are read (custom gradients must not capture them)."""
    x = ops.convert_to_tensor(x)
    if hasattr(x, "assign"):  # a Keras or backend variable passed through unchanged
        x = ops.copy(x)
    return x


def _float_tensor(x):
    x = _as_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def _c(value, x):
    """A constant (Python number or tensor) in the dtype of ``x``."""
    return ops.cast(value, x.dtype)


def _upstream(args, upstream):
    if upstream is None:
        (upstream,) = args
    return upstream


def _surrogate(x, forward_fn, derivative_fn):
    """``forward_fn(x)`` in the forward pass, ``upstream * derivative_fn(x)`` backward."""

    @ops.custom_gradient
    def _fn(x):
        def grad(*args, upstream=None):
            upstream = _upstream(args, upstream)
            return upstream * ops.cast(derivative_fn(x), upstream.dtype)

        return forward_fn(x), grad

    return _fn(x)


def _clip_mask(x, clip_value):
    """1 where ``|x| <= clip_value`` (everywhere when ``clip_value`` is None), else 0."""
    if clip_value is None:
        return ops.ones_like(x)
    return ops.cast(ops.less_equal(ops.abs(x), _c(clip_value, x)), x.dtype)


def _round_half_up(v):
    return ops.floor(v + _c(0.5, v))


def _round_ste(v):
    """Round half up forward; identity gradient (straight-through estimator)."""
    return _surrogate(v, _round_half_up, ops.ones_like)


def _sech2(z):
    """1 - tanh(z)^2 = 4 sigmoid(2z) sigmoid(-2z), without the cancellation of 1 - tanh^2."""
    two_z = _c(2.0, z) * z
    return _c(4.0, z) * ops.sigmoid(two_z) * ops.sigmoid(-two_z)


def _channel_axes(x):
    """Axes reduced for per-output-channel statistics: all but the last (whole tensor if rank < 2)."""
    rank = len(x.shape)
    if rank >= 2:
        return tuple(range(rank - 1)), True
    return None, False


def sign(x):
    """Sign with ``sign(0) = +1`` (the kbnn bit convention). No gradient trick.

    Returns a tensor of the same dtype as ``x`` holding -1 and +1 only.
    """
    x = _as_tensor(x)
    one = ops.ones_like(x)
    return ops.where(ops.greater_equal(x, 0), one, -one)


# --------------------------------------------------------------------------------------
# Base class, serialization
# --------------------------------------------------------------------------------------


class Quantizer(keras.layers.Layer):
    """Base class of kbnn quantizers.

    Subclasses implement ``call(inputs)`` (``call(inputs, training=None)`` where training
    and inference differ) and declare ``precision`` (output bits, or ``None``). They must
    round-trip through ``get_config`` / ``from_config``. Quantizers never change the shape
    of their input.
    """

    precision: int | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Quantizers are elementwise; they work on any dtype policy the owner uses.
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return input_shape


# --------------------------------------------------------------------------------------
# ste_sign
# --------------------------------------------------------------------------------------


@_register
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
    clip_value = _check_clip_value(clip_value)
    x = _float_tensor(x)
    return _surrogate(x, sign, lambda v: _clip_mask(v, clip_value))


ste_sign.precision = 1


@_register
@register_alias("ste_sign")
class SteSign(Quantizer):
    """Layer form of :func:`ste_sign` (sign forward, straight-through gradient).

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip_value = _check_clip_value(clip_value)

    def call(self, inputs):
        return ste_sign(inputs, clip_value=self.clip_value)

    def get_config(self):
        config = super().get_config()
        config.update({"clip_value": self.clip_value})
        return config


# --------------------------------------------------------------------------------------
# stochastic_sign
# --------------------------------------------------------------------------------------


def _hard_sigmoid(x):
    return ops.clip((x + _c(1.0, x)) / _c(2.0, x), _c(0.0, x), _c(1.0, x))


@_register
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
        return _surrogate(x, sign, lambda v: _clip_mask(v, clip_value))
    # Sample in float32: float16 uniforms are too coarse near p ~ 0 and 1.
    p = ops.cast(_hard_sigmoid(ops.cast(x, "float32")), "float32")
    u = keras.random.uniform(ops.shape(x), dtype="float32", seed=seed)
    one = ops.ones_like(x)
    value = ops.where(ops.less(u, p), one, -one)
    return _surrogate(x, lambda v: value, lambda v: _clip_mask(v, clip_value))


stochastic_sign.precision = 1


@_register
@register_alias("stochastic_sign")
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


@_register
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


approx_sign.precision = 1


@_register
@register_alias("approx_sign")
class ApproxSign(Quantizer):
    """Layer form of :func:`approx_sign` (sign forward, ``2 - 2|x|`` gradient on ``|x| < 1``)."""

    precision = 1

    def call(self, inputs):
        return approx_sign(inputs)


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


@_register
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


swish_sign.precision = 1


@_register
@register_alias("swish_sign")
class SwishSign(Quantizer):
    """Layer form of :func:`swish_sign`.

    Args:
        beta: Positive steepness of the SignSwish surrogate.
    """

    precision = 1

    def __init__(self, beta: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = _check_positive("beta", beta)

    def call(self, inputs):
        return swish_sign(inputs, beta=self.beta)

    def get_config(self):
        config = super().get_config()
        config.update({"beta": self.beta})
        return config


# --------------------------------------------------------------------------------------
# magnitude_aware_sign
# --------------------------------------------------------------------------------------


@_register
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


magnitude_aware_sign.precision = 1


@_register
@register_alias("magnitude_aware_sign")
class MagnitudeAwareSign(Quantizer):
    """Layer form of :func:`magnitude_aware_sign`.

    Args:
        clip_value: Straight-through gradient of the sign is zeroed where ``|x| > clip_value``.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip_value = _check_clip_value(clip_value)

    def call(self, inputs):
        return magnitude_aware_sign(inputs, clip_value=self.clip_value)

    def get_config(self):
        config = super().get_config()
        config.update({"clip_value": self.clip_value})
        return config


# --------------------------------------------------------------------------------------
# ste_heaviside
# --------------------------------------------------------------------------------------


def _heaviside(x):
    return ops.where(ops.greater(x, 0), ops.ones_like(x), ops.zeros_like(x))


@_register
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
    clip_value = _check_clip_value(clip_value)
    x = _float_tensor(x)
    return _surrogate(x, _heaviside, lambda v: _clip_mask(v, clip_value))


ste_heaviside.precision = 1


@_register
@register_alias("ste_heaviside")
class SteHeaviside(Quantizer):
    """Layer form of :func:`ste_heaviside`.

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip_value = _check_clip_value(clip_value)

    def call(self, inputs):
        return ste_heaviside(inputs, clip_value=self.clip_value)

    def get_config(self):
        config = super().get_config()
        config.update({"clip_value": self.clip_value})
        return config


# --------------------------------------------------------------------------------------
# ste_tern
# --------------------------------------------------------------------------------------


def _check_threshold(threshold_value):
    if not (_is_number(threshold_value) and threshold_value >= 0):
        raise ValueError(
            "`threshold_value` must be a non-negative number. "
            f"Received: threshold_value={threshold_value!r}"
        )
    return float(threshold_value)


@_register
def ste_tern(
    x,
    threshold_value: float = 0.05,
    ternary_weight_networks: bool = False,
    clip_value: float | None = 1.0,
):
    r"""Ternarize to {-1, 0, +1} with the straight-through estimator.

    Forward: :math:`q(x) = \mathrm{sign}(x)` if :math:`|x| > \Delta` else 0, with
    :math:`\Delta` = ``threshold_value``, or with ``ternary_weight_networks=True`` the TWN
    threshold :math:`\Delta = 0.7\,\mathrm{mean}(|x|)` over the whole tensor (no gradient
    flows through :math:`\Delta`).

    Backward: :math:`\partial q / \partial x = 1_{|x| \le c}`.

    Reference: Li, Zhang, Liu, "Ternary Weight Networks", arXiv:1605.04711, 2016, eq. (6)
    (the approximation :math:`\Delta^* \approx 0.7\,E|W|`). The TWN scaling factor is not
    applied: the output is exactly -1/0/+1.

    Args:
        x: Input tensor.
        threshold_value: Fixed threshold, used when ``ternary_weight_networks`` is False.
        ternary_weight_networks: Use the TWN threshold ``0.7 * mean(|x|)``.
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.

    Returns:
        A tensor of -1, 0 and +1 with the dtype of ``x``.
    """
    threshold_value = _check_threshold(threshold_value)
    clip_value = _check_clip_value(clip_value)
    if not isinstance(ternary_weight_networks, bool):
        raise ValueError(
            "`ternary_weight_networks` must be a bool. "
            f"Received: ternary_weight_networks={ternary_weight_networks!r}"
        )
    x = _float_tensor(x)
    if ternary_weight_networks:
        threshold = ops.stop_gradient(_c(0.7, x) * ops.mean(ops.abs(x)))
    else:
        threshold = _c(threshold_value, x)

    def forward(v):
        return ops.where(ops.greater(ops.abs(v), threshold), sign(v), ops.zeros_like(v))

    return _surrogate(x, forward, lambda v: _clip_mask(v, clip_value))


ste_tern.precision = 2


@_register
@register_alias("ste_tern")
class SteTern(Quantizer):
    """Layer form of :func:`ste_tern`.

    Args:
        threshold_value: Fixed threshold, used when ``ternary_weight_networks`` is False.
        ternary_weight_networks: Use the TWN threshold ``0.7 * mean(|x|)``.
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 2

    def __init__(
        self,
        threshold_value: float = 0.05,
        ternary_weight_networks: bool = False,
        clip_value: float | None = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.threshold_value = _check_threshold(threshold_value)
        if not isinstance(ternary_weight_networks, bool):
            raise ValueError(
                "`ternary_weight_networks` must be a bool. "
                f"Received: ternary_weight_networks={ternary_weight_networks!r}"
            )
        self.ternary_weight_networks = ternary_weight_networks
        self.clip_value = _check_clip_value(clip_value)

    def call(self, inputs):
        return ste_tern(
            inputs,
            threshold_value=self.threshold_value,
            ternary_weight_networks=self.ternary_weight_networks,
            clip_value=self.clip_value,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "threshold_value": self.threshold_value,
                "ternary_weight_networks": self.ternary_weight_networks,
                "clip_value": self.clip_value,
            }
        )
        return config


# --------------------------------------------------------------------------------------
# dorefa
# --------------------------------------------------------------------------------------

_DOREFA_MODES = ("activations", "weights")


def _check_mode(mode):
    if mode not in _DOREFA_MODES:
        raise ValueError(f"`mode` must be one of {_DOREFA_MODES}. Received: mode={mode!r}")
    return mode


@_register
def dorefa(x, k_bit: int = 2, mode: str = "activations"):
    r"""DoReFa-Net k-bit quantizer for activations or weights.

    With :math:`\mathrm{quantize}_k(r) = \frac{1}{2^k - 1}\,\mathrm{round}((2^k - 1)\,r)`
    (round half up, so ties follow ``sign(0) = +1``):

    * ``mode="activations"`` — forward :math:`q = \mathrm{quantize}_k(\mathrm{clip}(x, 0, 1))`;
      backward :math:`\partial q / \partial x = 1_{0 \le x \le 1}` (straight through the
      round, zero where the clip saturates).
    * ``mode="weights"`` — forward
      :math:`q = 2\,\mathrm{quantize}_k\!\left(\frac{\tanh w}{2 \max|\tanh w|} + \frac12\right) - 1`
      (max over the whole tensor); backward: straight through the round only, i.e. the
      exact gradient of :math:`\tanh w / \max|\tanh w|` (through the max as well).

    For ``k_bit=1`` the weights formula gives ``sign(w)``; the paper's 1-bit weight variant
    ``E(|w|) * sign(w)`` is :func:`magnitude_aware_sign` (per channel).

    Reference: Zhou, Wu, Ni, Zhou, Wen, Zou, "DoReFa-Net: Training Low Bitwidth Convolutional
    Neural Networks with Low Bitwidth Gradients", arXiv:1606.06160, 2016, eq. (5), (9), (11).

    Args:
        x: Input tensor.
        k_bit: Bits of the output (1 to 16).
        mode: ``"activations"`` (output in [0, 1]) or ``"weights"`` (output in [-1, 1]).

    Returns:
        A tensor of :math:`2^k` levels with the dtype of ``x``.
    """
    k_bit = _check_k_bit(k_bit)
    mode = _check_mode(mode)
    x = _float_tensor(x)
    levels = float(2**k_bit - 1)

    if mode == "activations":

        def forward(v):
            r = ops.clip(v, _c(0.0, v), _c(1.0, v))
            return _round_half_up(r * _c(levels, v)) / _c(levels, v)

        def derivative(v):
            inside = ops.logical_and(ops.greater_equal(v, 0), ops.less_equal(v, 1))
            return ops.cast(inside, v.dtype)

        return _surrogate(x, forward, derivative)

    t = ops.tanh(x)
    max_t = ops.maximum(ops.max(ops.abs(t)), _c(1e-7, x))
    r = t / (_c(2.0, x) * max_t) + _c(0.5, x)
    q = _round_ste(r * _c(levels, x)) / _c(levels, x)
    return _c(2.0, x) * q - _c(1.0, x)


dorefa.precision = 2


@_register
@register_alias("dorefa")
class DoReFa(Quantizer):
    """Layer form of :func:`dorefa`.

    Args:
        k_bit: Bits of the output (1 to 16); also the layer's ``precision``.
        mode: ``"activations"`` or ``"weights"``.
    """

    precision = 2

    def __init__(self, k_bit: int = 2, mode: str = "activations", **kwargs):
        super().__init__(**kwargs)
        self.k_bit = _check_k_bit(k_bit)
        self.mode = _check_mode(mode)
        self.precision = self.k_bit

    def call(self, inputs):
        return dorefa(inputs, k_bit=self.k_bit, mode=self.mode)

    def get_config(self):
        config = super().get_config()
        config.update({"k_bit": self.k_bit, "mode": self.mode})
        return config


# --------------------------------------------------------------------------------------
# dsq
# --------------------------------------------------------------------------------------


def _check_range(lower, upper):
    if not _is_number(lower):
        raise ValueError(f"`lower` must be a finite number. Received: lower={lower!r}")
    if not _is_number(upper) or not upper > lower:
        raise ValueError(
            f"`upper` must be a finite number greater than `lower`. Received: upper={upper!r} "
            f"(lower={lower!r})"
        )
    return float(lower), float(upper)


@_register
def dsq(x, alpha=0.2, lower: float = -1.0, upper: float = 1.0, k_bit: int = 1):
    r"""Differentiable Soft Quantization (DSQ): hard k-bit value forward, soft gradient backward.

    The clipping range :math:`[l, u]` is split into :math:`2^b - 1` intervals of width
    :math:`\Delta = (u - l) / (2^b - 1)`; interval :math:`P_i = [l + i\Delta, l + (i+1)\Delta]`
    has centre :math:`m_i = l + (i + \frac12)\Delta`. On :math:`P_i` the soft function is

    .. math::
        \varphi(x) = s \tanh(k (x - m_i)),\quad
        k = \frac{1}{\Delta}\log\left(\frac{2}{\alpha} - 1\right),\quad
        s = \frac{1}{\tanh(k\Delta/2)} = \frac{1}{1 - \alpha},

    and :math:`Q_S(x) = l + \Delta\,(i + (\varphi(x) + 1)/2)` (:math:`l` below the range,
    :math:`u` above).

    Forward: the hard value :math:`Q(x) = l + \Delta\,\mathrm{round}((\mathrm{clip}(x, l, u) - l)/\Delta)`
    (= :math:`l + \Delta(i + (\mathrm{sign}(\varphi(x)) + 1)/2)`, ties rounded up so
    that 1-bit DSQ on [-1, 1] is ``sign`` with ``sign(0) = +1``).

    Backward: :math:`\partial Q_S / \partial x = \frac{\Delta}{2}\,s\,k\,(1 - \tanh^2(k(x - m_i)))`
    for :math:`l \le x \le u`, 0 outside. A smaller characteristic variable :math:`\alpha`
    (0 < α < 1) makes :math:`\varphi` closer to the staircase: larger gradient at the interval
    centres, smaller at their edges.

    Reference: Gong, Liu, Jiang, Li, Hu, Lin, Yu, Yan, "Differentiable Soft Quantization:
    Bridging Full-Precision and Low-Bit Neural Networks", ICCV 2019, section 3.2, eq. (4)-(7).
    The range :math:`[l, u]` is fixed here (the paper also learns it).

    Args:
        x: Input tensor.
        alpha: Characteristic variable in (0, 1) (a number or a scalar tensor/variable).
        lower: Lower clipping bound :math:`l`.
        upper: Upper clipping bound :math:`u > l`.
        k_bit: Bits :math:`b` of the output (1 to 16).

    Returns:
        A tensor of :math:`2^b` levels in :math:`[l, u]` with the dtype of ``x``.
    """
    alpha = _check_unit_open("alpha", alpha)
    lower, upper = _check_range(lower, upper)
    k_bit = _check_k_bit(k_bit)
    x = _float_tensor(x)
    n = float(2**k_bit - 1)
    delta = (upper - lower) / n
    alpha = ops.stop_gradient(_c(alpha, x))

    def forward(v):
        l, d = _c(lower, v), _c(delta, v)
        idx = _round_half_up((ops.clip(v, l, _c(upper, v)) - l) / d)
        return l + d * ops.clip(idx, _c(0.0, v), _c(n, v))

    def derivative(v):
        l, d = _c(lower, v), _c(delta, v)
        one, two = _c(1.0, v), _c(2.0, v)
        inside = ops.logical_and(ops.greater_equal(v, l), ops.less_equal(v, _c(upper, v)))
        i = ops.clip(ops.floor((v - l) / d), _c(0.0, v), _c(n - 1.0, v))
        m = l + (i + _c(0.5, v)) * d
        a = ops.cast(alpha, v.dtype)
        k = ops.log(two / a - one) / d
        s = one / (one - a)
        grad = d / two * s * k * _sech2(k * (v - m))
        return ops.where(inside, grad, ops.zeros_like(v))

    return _surrogate(x, forward, derivative)


dsq.precision = 1


@_register
@register_alias("dsq")
class DSQ(Quantizer):
    """Layer form of :func:`dsq` with an annealable characteristic variable.

    ``alpha`` is a non-trainable scalar variable: anneal it from a callback with
    ``quantizer.alpha.assign(value)`` or :meth:`set_alpha` (which validates the value).
    It is saved with the model's weights.

    Args:
        alpha: Initial characteristic variable in (0, 1) (default 0.2; anneal it towards 0
            to sharpen the soft function).
        lower: Lower clipping bound.
        upper: Upper clipping bound (> ``lower``).
        k_bit: Bits of the output (1 to 16); also the layer's ``precision``.
    """

    precision = 1

    def __init__(
        self,
        alpha: float = 0.2,
        lower: float = -1.0,
        upper: float = 1.0,
        k_bit: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not _is_number(alpha):
            raise ValueError(f"`alpha` must be a number in (0, 1). Received: alpha={alpha!r}")
        self.initial_alpha = _check_unit_open("alpha", alpha)
        self.lower, self.upper = _check_range(lower, upper)
        self.k_bit = _check_k_bit(k_bit)
        self.precision = self.k_bit
        self.alpha = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_alpha),
            trainable=False,
            name="alpha",
        )

    def set_alpha(self, value: float) -> None:
        """Assign the characteristic variable (0 < value < 1)."""
        self.alpha.assign(_check_unit_open("alpha", value))

    def call(self, inputs):
        return dsq(inputs, alpha=self.alpha.value, lower=self.lower, upper=self.upper, k_bit=self.k_bit)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"alpha": self.initial_alpha, "lower": self.lower, "upper": self.upper, "k_bit": self.k_bit}
        )
        return config


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


@_register
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
    if not isinstance(libra_pb, bool):
        raise ValueError(f"`libra_pb` must be a bool. Received: libra_pb={libra_pb!r}")
    x = _float_tensor(x)
    t, k = _ede_temperature(ops.stop_gradient(progress), t_min, t_max, x.dtype)

    def derivative(v):
        return k * t * _sech2(t * v)

    if not libra_pb:
        return _surrogate(x, sign, derivative)
    standardized, scale = _libra_standardize(x)
    return _surrogate(standardized, sign, derivative) * scale


ir_net_ede.precision = 1


@_register
@register_alias("ir_net_ede")
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
        if not isinstance(libra_pb, bool):
            raise ValueError(f"`libra_pb` must be a bool. Received: libra_pb={libra_pb!r}")
        self.libra_pb = libra_pb
        self.progress = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="progress"
        )

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


# --------------------------------------------------------------------------------------
# pact
# --------------------------------------------------------------------------------------


@_register
def pact(x, alpha=10.0, k_bit: int = 2):
    r"""PACT: clip to a learnable :math:`[0, \alpha]`, then quantize to k bits.

    Forward: :math:`y = \mathrm{clip}(x, 0, \alpha) = \frac12(|x| - |x - \alpha| + \alpha)`,
    :math:`y_q = \mathrm{round}(y \cdot \frac{2^k - 1}{\alpha}) \cdot \frac{\alpha}{2^k - 1}`
    (round half up).

    Backward (straight through the round, paper eq. (3)):
    :math:`\partial y_q / \partial x = 1_{0 \le x < \alpha}` and
    :math:`\partial y_q / \partial \alpha = 1_{x \ge \alpha}` (summed over the tensor for
    a scalar :math:`\alpha`).

    Reference: Choi, Wang, Venkataramani, Chuang, Srinivasan, Gopalakrishnan, "PACT:
    Parameterized Clipping Activation for Quantized Neural Networks", arXiv:1805.06085,
    2018, section 2, eq. (1)-(3).

    Args:
        x: Input tensor (activations).
        alpha: Clipping bound (a positive number, or a scalar tensor/variable to learn it).
        k_bit: Bits of the output (1 to 16).

    Returns:
        A tensor of :math:`2^k` levels in :math:`[0, \alpha]` with the dtype of ``x``.
    """
    if _is_number(alpha) or isinstance(alpha, bool) or alpha is None or isinstance(alpha, str):
        alpha = _check_positive("alpha", alpha)
    k_bit = _check_k_bit(k_bit)
    x = _float_tensor(x)
    levels = float(2**k_bit - 1)
    alpha = ops.cast(alpha, x.dtype)
    if len(alpha.shape) != 0:
        raise ValueError(f"`alpha` must be a scalar. Received: alpha with shape {alpha.shape}")

    @ops.custom_gradient
    def _fn(v, a):
        zero = _c(0.0, v)
        y = ops.clip(v, zero, a)
        scale = _c(levels, v) / a
        yq = _round_half_up(y * scale) / scale

        def grad(*args, upstream=None):
            upstream = _upstream(args, upstream)
            in_range = ops.logical_and(ops.greater_equal(v, zero), ops.less(v, a))
            dx = upstream * ops.cast(in_range, upstream.dtype)
            da = ops.sum(upstream * ops.cast(ops.greater_equal(v, a), upstream.dtype))
            return dx, ops.cast(da, a.dtype)

        return yq, grad

    return _fn(x, alpha)


pact.precision = 2


@_register
@register_alias("pact")
class PACT(Quantizer):
    """Layer form of :func:`pact` with a trainable clipping bound ``alpha``.

    Args:
        k_bit: Bits of the output (1 to 16); also the layer's ``precision``.
        alpha_initializer: Initial ``alpha`` (a positive number, default 10.0, the
            paper's large initial value, or a Keras initializer; 6.0 mimics ReLU6).
        alpha_regularizer: Optional regularizer of ``alpha`` (the paper uses L2 on
            :math:`\alpha`, e.g. ``keras.regularizers.L2(2e-4)``).
    """

    precision = 2

    def __init__(self, k_bit: int = 2, alpha_initializer=10.0, alpha_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.k_bit = _check_k_bit(k_bit)
        self.precision = self.k_bit
        if _is_number(alpha_initializer) or isinstance(alpha_initializer, bool):
            initializer = keras.initializers.Constant(_check_positive("alpha_initializer", alpha_initializer))
        else:
            try:
                initializer = keras.initializers.get(alpha_initializer)
            except (ValueError, TypeError) as e:
                raise ValueError(
                    "`alpha_initializer` must be a positive number or a Keras initializer. "
                    f"Received: alpha_initializer={alpha_initializer!r}"
                ) from e
        self.alpha_initializer = initializer
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha = self.add_weight(
            shape=(),
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            trainable=True,
            name="alpha",
        )

    def call(self, inputs):
        return pact(inputs, alpha=self.alpha, k_bit=self.k_bit)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "k_bit": self.k_bit,
                "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": keras.regularizers.serialize(self.alpha_regularizer),
            }
        )
        return config


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


@_register
@register_alias("multi_base_sign")
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
                shape=(n,), name="thresholds", trainable=True,
                initializer=keras.initializers.Constant([(2 * i - n + 1) / (n + 1) for i in range(n)]))
            self.scales = self.add_weight(shape=(n,), name="scales", trainable=True,
                                          initializer=keras.initializers.Constant([1.0 / n] * n))
        elif mode == "residual":
            self.scales = self.add_weight(shape=(n,), name="scales", trainable=True,
                                          initializer=keras.initializers.Constant([0.8 * 0.5 ** i for i in range(n)]))

    # ------------------------------------------------------------------ forward

    def _weight_bases(self, w):
        """``(signs, alphas)``: the ``M`` sign tensors (STE) and their ``[M, Cout]`` scales."""
        axes, keepdims = _channel_axes(w)
        flat_last = w.shape[-1] if keepdims else 1
        mean = ops.stop_gradient(ops.mean(w, axis=axes, keepdims=keepdims))
        std = ops.stop_gradient(ops.std(w, axis=axes, keepdims=keepdims))
        centered = w - mean
        signs = [ste_sign(centered + _c(u, w) * std, clip_value=self.clip_value) for u in abc_shifts(self.bases)]
        # Least squares per output channel: (B^T B + eps I) alpha = B^T w.
        b = ops.stop_gradient(ops.stack([ops.reshape(s, (-1, flat_last)) for s in signs], axis=0))  # [M, K, C]
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
        return (np.stack([np.asarray(ops.convert_to_numpy(s), "float32") for s in signs]),
                np.asarray(ops.convert_to_numpy(alphas), "float32"))

    def activation_parameters(self):
        """NumPy ``(thresholds or None, scales)`` of an activation mode ("shift"/"residual")."""
        import numpy as np

        if self.mode == "weights":
            raise ValueError("activation_parameters needs mode='shift' or 'residual'. Received: mode='weights'")
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


def serialize(quantizer) -> Any:
    """Serialize a quantizer (class instance, registered function, or ``None``)."""
    if quantizer is None:
        return None
    return keras.saving.serialize_keras_object(quantizer)


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize`."""
    if config is None:
        return None
    return keras.saving.deserialize_keras_object(config, custom_objects=custom_objects)


def get(identifier):
    """Resolve a quantizer identifier.

    Accepts ``None``, a string alias (``"ste_sign"``), a serialized config dict, a
    :class:`Quantizer` instance, or any callable (a user quantizer; register it with
    ``keras.saving.register_keras_serializable`` so models that use it can be saved).

    Raises:
        ValueError: for an unknown alias or an object that is not callable.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown quantizer {identifier!r}. Known aliases: {sorted(_ALIASES)}. "
                "Pass a Quantizer instance or a callable for a custom quantizer."
            )
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        "Could not interpret quantizer identifier: expected None, a string alias, a config "
        f"dict, a Quantizer or a callable. Received: identifier={identifier!r}"
    )


def precision_of(quantizer) -> int | None:
    """Number of bits a quantizer's output needs, or ``None`` for full precision/unknown."""
    if quantizer is None:
        return None
    return getattr(quantizer, "precision", None)
