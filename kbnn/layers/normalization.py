"""Shift-based batch normalization (BinaryNet, Algorithm 3)."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ShiftBatchNormalization", "ap2"]


def ap2(x):
    r"""Power-of-two approximation :math:`AP2(x) = \mathrm{sign}(x)\,2^{\mathrm{round}(\log_2|x|)}`.

    ``AP2(0) = 0``. ``round`` is round-half-to-even (as ``numpy.round``). The gradient is
    the straight-through identity: training sees the approximated value in the forward
    pass and the exact derivative of ``x`` in the backward pass.

    Args:
        x: Float tensor.

    Returns:
        A tensor of the dtype of ``x`` holding signed powers of two (or zero).
    """
    x = ops.convert_to_tensor(x)
    magnitude = ops.abs(x)
    nonzero = ops.greater(magnitude, 0)
    safe = ops.where(nonzero, magnitude, ops.ones_like(magnitude))
    power = ops.power(ops.cast(2.0, x.dtype), ops.round(ops.log2(safe)))
    approx = ops.where(nonzero, ops.sign(x) * power, ops.zeros_like(x))
    return x + ops.stop_gradient(approx - x)


def _replica_context():
    """The ``tf.distribute`` replica context when it has more than one replica, else None."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _all_reduce_sum(value):
    import tensorflow as tf

    context = _replica_context()
    return value if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, value)


@keras.saving.register_keras_serializable(package="kbnn")
class ShiftBatchNormalization(keras.layers.Layer):
    r"""Shift-based batch normalization of BinaryNet.

    Batch normalization in which every multiplication is by a power of two, i.e. a bit
    shift in fixed-point hardware (Courbariaux, Hubara, Soudry, El-Yaniv, Bengio,
    "Binarized Neural Networks", arXiv:1602.02830, 2016, Algorithm 3):

    .. math::
        C(x) = x - \mu_B,\quad
        \sigma_B^2 = \mathrm{mean}\big(C(x)\,AP2(C(x))\big),\quad
        \hat x = C(x)\,AP2\big((\sigma_B^2 + \epsilon)^{-1/2}\big),\quad
        y = AP2(\gamma)\,\hat x + \beta

    with :func:`ap2` the power-of-two approximation (straight-through gradient). In
    inference mode the moving mean and variance replace the batch statistics; they are
    updated like Keras' ``BatchNormalization``:
    ``moving = moving * momentum + batch * (1 - momentum)``.

    This is deliberately *not* a ``keras.layers.BatchNormalization`` subclass: code that
    folds ordinary batch norm (e.g. a converter) must not fold this layer with exact
    ``gamma / sqrt(var + eps)``; use :meth:`folded_multiplier_and_bias` instead.

    Args:
        axis: The feature axis (``-1`` for channels-last).
        momentum: Momentum of the moving statistics.
        epsilon: Added to the variance before the inverse square root.
        center: Add the learned offset ``beta``.
        scale: Multiply by ``AP2(gamma)``.
        shift_variance: Estimate the batch variance as ``mean(C * AP2(C))`` as in
            Algorithm 3 (``True``), or exactly as ``mean(C**2)`` (``False``).
        synchronized: Under a ``tf.distribute`` strategy with several replicas, compute
            the batch statistics over the global batch (sums all-reduced across replicas)
            instead of each replica's share, like ``keras.layers.BatchNormalization
            (synchronized=True)``. Training then matches single-device training on the
            same global batch; without it each replica normalizes with its own statistics
            and the moving statistics are updated from one replica's batch (the behaviour
            of Keras' unsynchronized batch norm). No effect outside a strategy.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint: as in ``keras.layers.BatchNormalization``.
        **kwargs: Base layer keyword arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        shift_variance=True,
        synchronized=False,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"`axis` must be an int. Received: axis={axis!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1]. Received: momentum={momentum!r}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.shift_variance = bool(shift_variance)
        if not isinstance(synchronized, bool):
            raise ValueError(f"`synchronized` must be a bool. Received: synchronized={synchronized!r}")
        self.synchronized = synchronized
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"`axis` is out of bounds for an input of rank {ndim}. "
                f"Received: axis={self.axis}, input_shape={input_shape}"
            )
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(
                f"The feature axis of the input must be known. Received: input_shape={input_shape}"
            )
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma",
                shape=shape,
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(
                name="beta",
                shape=shape,
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                autocast=False,
            )
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
        )
        self.input_spec = keras.layers.InputSpec(ndim=ndim, axes={self.axis: channels})

    def compute_output_shape(self, input_shape):
        return input_shape

    def _statistics(self, x, mask, reduction_axes):
        if self.synchronized and _replica_context() is not None:
            return self._synchronized_statistics(x, mask, reduction_axes)
        if mask is None:
            mean = ops.mean(x, axis=reduction_axes, keepdims=True)
            centered = x - mean
            second = centered * ap2(centered) if self.shift_variance else ops.square(centered)
            return mean, centered, ops.mean(second, axis=reduction_axes, keepdims=True)
        weights = ops.cast(ops.expand_dims(mask, axis=-1), x.dtype)
        weights = ops.broadcast_to(weights, ops.shape(x))
        count = ops.maximum(ops.sum(weights, axis=reduction_axes, keepdims=True), 1.0)
        mean = ops.sum(x * weights, axis=reduction_axes, keepdims=True) / count
        centered = x - mean
        second = centered * ap2(centered) if self.shift_variance else ops.square(centered)
        return mean, centered, ops.sum(second * weights, axis=reduction_axes, keepdims=True) / count

    def _synchronized_statistics(self, x, mask, reduction_axes):
        """Global-batch statistics: per-replica sums and counts, all-reduced (SUM)."""
        if mask is None:
            weights = ops.ones_like(x)
        else:
            weights = ops.broadcast_to(ops.cast(ops.expand_dims(mask, axis=-1), x.dtype), ops.shape(x))
        count = ops.maximum(_all_reduce_sum(ops.sum(weights, axis=reduction_axes, keepdims=True)), 1.0)
        mean = _all_reduce_sum(ops.sum(x * weights, axis=reduction_axes, keepdims=True)) / count
        centered = x - mean
        second = centered * ap2(centered) if self.shift_variance else ops.square(centered)
        variance = _all_reduce_sum(ops.sum(second * weights, axis=reduction_axes, keepdims=True)) / count
        return mean, centered, variance

    def call(self, inputs, training=None, mask=None):
        # Statistics in float32 at least, as Keras' BatchNormalization does under mixed precision.
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, dtype)
        ndim = len(x.shape)
        axis = self.axis % ndim
        reduction_axes = [i for i in range(ndim) if i != axis]
        param_shape = [1] * ndim
        param_shape[axis] = -1

        def param(v):
            return ops.reshape(ops.cast(v, dtype), param_shape)

        if training and self.trainable:
            mean, centered, variance = self._statistics(x, mask, reduction_axes)
            m = self.momentum
            self.moving_mean.assign(
                ops.cast(self.moving_mean, dtype) * m + ops.reshape(mean, (-1,)) * (1.0 - m)
            )
            self.moving_variance.assign(
                ops.cast(self.moving_variance, dtype) * m + ops.reshape(variance, (-1,)) * (1.0 - m)
            )
        else:
            centered = x - param(self.moving_mean)
            variance = param(self.moving_variance)
        outputs = centered * ap2(ops.rsqrt(variance + self.epsilon))
        if self.scale:
            outputs = outputs * ap2(param(self.gamma))
        if self.center:
            outputs = outputs + param(self.beta)
        return ops.cast(outputs, self.compute_dtype)

    def folded_multiplier_and_bias(self):
        """Inference-mode transform as ``y = multiplier * x + bias`` per channel (NumPy arrays).

        ``multiplier = AP2(gamma) * AP2(1 / sqrt(moving_variance + epsilon))`` and
        ``bias = beta - multiplier * moving_mean``: what a converter folds into the
        preceding layer's output transform.
        """
        variance = ops.convert_to_tensor(self.moving_variance)
        multiplier = ap2(ops.rsqrt(variance + self.epsilon))
        if self.scale:
            multiplier = multiplier * ap2(ops.convert_to_tensor(self.gamma))
        bias = -multiplier * ops.convert_to_tensor(self.moving_mean)
        if self.center:
            bias = bias + ops.convert_to_tensor(self.beta)
        return ops.convert_to_numpy(multiplier), ops.convert_to_numpy(bias)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "shift_variance": self.shift_variance,
                "synchronized": self.synchronized,
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": keras.initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": keras.initializers.serialize(self.moving_variance_initializer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": keras.constraints.serialize(self.beta_constraint),
                "gamma_constraint": keras.constraints.serialize(self.gamma_constraint),
            }
        )
        return config
