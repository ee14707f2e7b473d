"""Multi-bit quantizers: ternary (``ste_tern``) and k-bit (``dorefa``, ``dsq``, ``pact``), each
as a function and as a layer class."""

from __future__ import annotations

import functools

import keras
from keras import ops

from kbnn.quantizers._base import (
    FunctionQuantizer,
    Quantizer,
    _c,
    _check_bool,
    _check_clip_value,
    _check_k_bit,
    _check_positive,
    _check_unit_open,
    _float_tensor,
    _is_number,
    _quantizer_class,
    _quantizer_function,
    _round_half_up,
    _round_ste,
    _sech2,
    _straight_through,
    _surrogate,
    _upstream,
    sign,
)

# --------------------------------------------------------------------------------------
# ste_tern
# --------------------------------------------------------------------------------------


def _check_threshold(threshold_value):
    if not (_is_number(threshold_value) and threshold_value >= 0):
        raise ValueError(
            f"`threshold_value` must be a non-negative number. Received: threshold_value={threshold_value!r}"
        )
    return float(threshold_value)


@_quantizer_function(precision=2)
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
    _check_bool("ternary_weight_networks", ternary_weight_networks)
    x = _float_tensor(x)
    if ternary_weight_networks:
        threshold = ops.stop_gradient(_c(0.7, x) * ops.mean(ops.abs(x)))
    else:
        threshold = _c(threshold_value, x)

    def forward(v):
        return ops.where(ops.greater(ops.abs(v), threshold), sign(v), ops.zeros_like(v))

    return _straight_through(x, forward, clip_value)


@_quantizer_class("ste_tern")
class SteTern(FunctionQuantizer):
    """Layer form of :func:`ste_tern`.

    Args:
        threshold_value: Fixed threshold, used when ``ternary_weight_networks`` is False.
        ternary_weight_networks: Use the TWN threshold ``0.7 * mean(|x|)``.
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 2
    function = staticmethod(ste_tern)
    arguments = {
        "threshold_value": _check_threshold,
        "ternary_weight_networks": functools.partial(_check_bool, "ternary_weight_networks"),
        "clip_value": _check_clip_value,
    }


# --------------------------------------------------------------------------------------
# dorefa
# --------------------------------------------------------------------------------------

_DOREFA_MODES = ("activations", "weights")


def _check_mode(mode):
    if mode not in _DOREFA_MODES:
        raise ValueError(f"`mode` must be one of {_DOREFA_MODES}. Received: mode={mode!r}")
    return mode


@_quantizer_function(precision=2)
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


@_quantizer_class("dorefa")
class DoReFa(FunctionQuantizer):
    """Layer form of :func:`dorefa`.

    Args:
        k_bit: Bits of the output (1 to 16); also the layer's ``precision``.
        mode: ``"activations"`` or ``"weights"``.
    """

    precision = 2
    function = staticmethod(dorefa)
    arguments = {"k_bit": _check_k_bit, "mode": _check_mode}
    precision_argument = "k_bit"


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


@_quantizer_function(precision=1)
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


@_quantizer_class("dsq")
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
# pact
# --------------------------------------------------------------------------------------


@_quantizer_function(precision=2)
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


@_quantizer_class("pact")
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
