"""Optimizers for binarized networks: ``Bop``, ``CaseOptimizer`` and ``ShiftAdaMax``.

All three are ``keras.optimizers.Optimizer`` subclasses written against the Keras 3
optimizer contract (``build`` creates slots with ``add_variable_from_reference``,
``update_step`` updates one variable, ``assign`` writes through the backend) and are
registered with ``keras.saving`` under the ``"kbnn"`` package, so a model compiled with
them round-trips through ``model.save`` / ``keras.saving.load_model``.

A binarized network has two kinds of trainable variables: the binary (latent) kernels of
quantized layers, tagged with precision 1 by their layer at build time (see
:mod:`kbnn.variables`), and everything else (biases, batch-norm parameters, full-precision
layers). The usual recipe trains the binary kernels with :class:`Bop` and the rest with a
float optimizer, joined by :class:`CaseOptimizer`::

    optimizer = kbnn.optimizers.CaseOptimizer(
        (kbnn.variables.is_binary_variable, kbnn.optimizers.Bop()),
        default_optimizer=keras.optimizers.Adam(0.01),
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from kbnn import variables as kbnn_variables

__all__ = ["Bop", "CaseOptimizer", "ShiftAdaMax", "is_binary_variable"]

# The predicate most CaseOptimizers route on. Registered here (the optimizer is the only
# place that serializes predicates) so that ``CaseOptimizer.get_config`` can refer to it by
# the name "kbnn>is_binary_variable".
is_binary_variable = keras.saving.register_keras_serializable(package="kbnn", name="is_binary_variable")(
    kbnn_variables.is_binary_variable
)


def _no_learning_rate():
    """Learning rate reported by optimizers that do not have one (Bop, CaseOptimizer)."""
    return 0.0


def _is_schedule(value) -> bool:
    return isinstance(value, keras.optimizers.schedules.LearningRateSchedule) or callable(value)


def _serialize_hyperparameter(value):
    if isinstance(value, keras.Variable):
        return float(keras.ops.convert_to_numpy(value))
    if _is_schedule(value):
        return keras.saving.serialize_keras_object(value)
    return value


def _deserialize_hyperparameter(value, custom_objects=None):
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)
    return value


class _ScheduledHyperparameters:
    """Mixin: float hyperparameters stored as optimizer variables, or schedules.

    A float becomes a non-trainable scalar optimizer variable: it is saved with the
    optimizer, and assigning a new value (``opt.gamma = 1e-5``, or a
    :class:`kbnn.callbacks.HyperparameterScheduler`) changes it inside an already traced
    train step. A ``LearningRateSchedule`` is called with the optimizer's iteration
    count; any other callable is called without arguments, like Keras learning rates.
    """

    def _make_hyperparameter(self, value, name: str, check: Callable[[float], bool], rule: str):
        if _is_schedule(value):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not check(value):
            raise ValueError(
                f"`{name}` must be a float {rule}, a LearningRateSchedule or a callable. "
                f"Received: {name}={value!r}"
            )
        return self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(float(value)),
            dtype="float32",
            aggregation="only_first_replica",
            name=name,
        )

    def _current_hyperparameter(self, stored):
        if isinstance(stored, keras.optimizers.schedules.LearningRateSchedule):
            return stored(self.iterations)
        if isinstance(stored, keras.Variable):
            return stored
        return stored()

    def _set_hyperparameter(self, attr: str, name: str, value):
        stored = getattr(self, attr)
        if not isinstance(stored, keras.Variable):
            raise TypeError(
                f"{self.__class__.__name__} was created with a schedule for `{name}`, so "
                f"`{name}` cannot be assigned; create it with a float `{name}` to set it "
                f"during training. Received: {name}={value!r}"
            )
        stored.assign(value)


@keras.saving.register_keras_serializable(package="kbnn")
class Bop(_ScheduledHyperparameters, keras.optimizers.Optimizer):
    """Binary optimizer (Helwegen et al., "Latent Weights Do Not Exist: Rethinking
    Binarized Neural Network Optimization", NeurIPS 2019).

    Bop keeps no latent real-valued weights. Per binary weight ``w`` it keeps an
    exponential moving average of the gradient and flips the weight when that average is
    strong enough and points in the direction of the weight::

        m <- (1 - gamma) * m + gamma * g
        w <- -w   where |m| > threshold and sign(m) == sign(w)
        w <-  w   elsewhere

    Bop applies to binary variables only: every variable it is built with must carry the
    precision-1 tag that quantized layers put on their kernels
    (:func:`kbnn.variables.is_binary_variable`). Train the other variables of the model
    with a float optimizer through :class:`CaseOptimizer`.

    The variable holds exactly ``+1`` / ``-1`` after each step (``sign(0) = +1``): a kernel
    initialized with real values is projected onto its signs by the first update, which
    does not change the forward pass of a layer that binarizes it with ``sign``.

    ``threshold`` and ``gamma`` are schedulable: given as floats they are stored as
    optimizer variables that can be assigned during training (``opt.gamma = 1e-5``, e.g.
    from :class:`kbnn.callbacks.HyperparameterScheduler`); given as a
    ``keras.optimizers.schedules.LearningRateSchedule`` they follow the optimizer's
    iteration count. Bop has no learning rate (``learning_rate`` reads 0 and is unused).

    Args:
        threshold: Flip threshold ``tau >= 0`` on ``|m|``.
        gamma: Adaptivity rate ``0 <= gamma <= 1`` of the gradient moving average.
        name: Name of the optimizer (scopes its variables).
        **kwargs: Other ``keras.optimizers.Optimizer`` arguments (``clipnorm``,
            ``clipvalue``, ``global_clipnorm``, ``loss_scale_factor``,
            ``gradient_accumulation_steps``). ``weight_decay`` and ``use_ema`` are
            rejected: they would turn binary weights into real values.
    """

    def __init__(self, threshold=1e-8, gamma=1e-4, name="Bop", **kwargs):
        for unsupported in ("weight_decay", "use_ema"):
            if kwargs.get(unsupported):
                raise ValueError(
                    f"Bop keeps weights binary and does not support `{unsupported}`. "
                    f"Received: {unsupported}={kwargs[unsupported]!r}"
                )
        kwargs.pop("learning_rate", None)  # Bop has none; tolerate configs that carry one.
        super().__init__(learning_rate=_no_learning_rate, name=name, **kwargs)
        self._threshold = self._make_hyperparameter(
            threshold, "threshold", lambda x: x >= 0 and math.isfinite(x), ">= 0"
        )
        self._gamma = self._make_hyperparameter(gamma, "gamma", lambda x: 0 <= x <= 1, "in [0, 1]")

    @property
    def threshold(self):
        """Current flip threshold (a scalar variable, or the schedule's current value)."""
        return self._current_hyperparameter(self._threshold)

    @threshold.setter
    def threshold(self, value):
        self._set_hyperparameter("_threshold", "threshold", value)

    @property
    def gamma(self):
        """Current adaptivity rate (a scalar variable, or the schedule's current value)."""
        return self._current_hyperparameter(self._gamma)

    @gamma.setter
    def gamma(self, value):
        self._set_hyperparameter("_gamma", "gamma", value)

    def build(self, var_list):
        """Create one gradient moving average per binary variable.

        Raises:
            ValueError: if a variable is not tagged binary.
        """
        if self.built:
            return
        for variable in var_list:
            if not kbnn_variables.is_binary_variable(variable):
                raise ValueError(
                    "Bop only trains binary variables (tagged with precision 1 by a quantized "
                    "layer, or with `kbnn.variables.tag_precision(variable, 1)`); use "
                    "`kbnn.optimizers.CaseOptimizer` to train the other variables with a "
                    "float optimizer. Received: variable="
                    f"{getattr(variable, 'path', variable.name)!r} with precision "
                    f"{kbnn_variables.precision_of_variable(variable)!r}"
                )
        super().build(var_list)
        self._momentums = [
            self.add_variable_from_reference(variable, name="momentum") for variable in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        """Update the moving average of one variable and flip its weights that cross."""
        dtype = variable.dtype
        gamma = ops.cast(self.gamma, dtype)
        threshold = ops.cast(self.threshold, dtype)
        gradient = ops.cast(ops.convert_to_tensor(gradient), dtype)
        m = self._momentums[self._get_variable_index(variable)]

        m_new = ops.add(ops.multiply(ops.subtract(1.0, gamma), m), ops.multiply(gamma, gradient))
        self.assign(m, m_new)

        w_sign = ops.where(ops.greater_equal(variable, 0), 1.0, -1.0)
        w_sign = ops.cast(w_sign, dtype)
        # With w in {-1, +1} and threshold >= 0: |m| > tau and sign(m) == sign(w)
        # <=> m * sign(w) > tau.
        flip = ops.greater(ops.multiply(m_new, w_sign), threshold)
        self.assign(variable, ops.where(flip, ops.negative(w_sign), w_sign))

    def get_config(self):
        config = super().get_config()
        # Base keys that Bop does not take (it has no learning rate and rejects these).
        for key in ("learning_rate", "weight_decay", "use_ema", "ema_momentum", "ema_overwrite_frequency"):
            config.pop(key, None)
        config.update(
            {
                "threshold": _serialize_hyperparameter(self._threshold),
                "gamma": _serialize_hyperparameter(self._gamma),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("threshold", "gamma"):
            if key in config:
                config[key] = _deserialize_hyperparameter(config[key], custom_objects)
        return cls(**config)


def _ap2_exponent(x):
    """Exponent of the power-of-two approximation AP2(x) = sign(x) * 2**round(log2|x|)."""
    return ops.round(ops.log2(ops.abs(x)))


@keras.saving.register_keras_serializable(package="kbnn")
class ShiftAdaMax(keras.optimizers.Optimizer):
    """Shift-based AdaMax (BinaryNet, Courbariaux, Hubara et al. 2016, Algorithm 4).

    AdaMax whose multiplications by the step size and by the normalizer are bit shifts:
    each of them is replaced by its power-of-two approximation
    ``AP2(x) = sign(x) * 2**round(log2|x|)``. With ``t`` the 1-based step::

        m_t = beta_1 * m_{t-1} + (1 - beta_1) * g_t
        v_t = max(beta_2 * v_{t-1}, |g_t|)
        w_t = w_{t-1} - 2**e_t * m_t,
        e_t = round(log2 lr) - round(log2(1 - beta_1**t)) - round(log2 max(v_t, epsilon))

    so the effective per-element step size ``2**e_t`` (the factor applied to ``m_t``) is
    an exact power of two. With the default betas, ``1 - beta_1`` and ``1 - beta_2`` are
    powers of two as well, so the moment updates are shifts and subtractions too.

    Args:
        learning_rate: Float (or ``LearningRateSchedule`` / callable); it is rounded to a
            power of two when applied.
        beta_1: Decay of the first moment, in ``[0, 1)``.
        beta_2: Decay of the infinity norm, in ``[0, 1)``.
        epsilon: Floor of ``v_t`` in the normalizer (avoids ``log2(0)``).
        name: Name of the optimizer.
        **kwargs: Other ``keras.optimizers.Optimizer`` arguments.
    """

    def __init__(
        self,
        learning_rate=2.0**-10,
        beta_1=1.0 - 2.0**-3,
        beta_2=1.0 - 2.0**-10,
        epsilon=1e-7,
        name="ShiftAdaMax",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value < 1:
                raise ValueError(f"`{key}` must be in [0, 1). Received: {key}={value!r}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be positive. Received: epsilon={epsilon!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        """Create the first-moment and infinity-norm slots."""
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, name="momentum") for v in var_list]
        self._u = [self.add_variable_from_reference(v, name="norm") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        """One shift-based AdaMax step for one variable."""
        dtype = variable.dtype
        gradient = ops.cast(ops.convert_to_tensor(gradient), dtype)
        learning_rate = ops.cast(learning_rate, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, u = self._m[index], self._u[index]

        m_new = ops.add(ops.multiply(beta_1, m), ops.multiply(ops.subtract(1.0, beta_1), gradient))
        u_new = ops.maximum(ops.multiply(beta_2, u), ops.abs(gradient))
        self.assign(m, m_new)
        self.assign(u, u_new)

        exponent = (
            _ap2_exponent(learning_rate)
            - _ap2_exponent(ops.subtract(1.0, ops.power(beta_1, t)))
            - _ap2_exponent(ops.maximum(u_new, ops.cast(self.epsilon, dtype)))
        )
        step_size = ops.power(ops.cast(2.0, dtype), exponent)
        self.assign_sub(variable, ops.multiply(step_size, m_new))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


def _optimizer_name(optimizer) -> str:
    return f"{optimizer.__class__.__name__}(name={optimizer.name!r})"


@keras.saving.register_keras_serializable(package="kbnn")
class CaseOptimizer(keras.optimizers.Optimizer):
    """Route each trainable variable to the first optimizer whose predicate accepts it.

    ``CaseOptimizer((pred_1, opt_1), (pred_2, opt_2), default_optimizer=opt_0)`` trains a
    variable ``v`` with ``opt_1`` if ``pred_1(v)``, else with ``opt_2`` if ``pred_2(v)``,
    else with ``opt_0``. Routing is decided once, when the optimizer is built (``fit``
    builds it on ``model.trainable_variables``), from the Keras variables and their tags
    (:mod:`kbnn.variables`).

    How it wraps Keras 3 optimizers:

    * ``build(var_list)`` partitions the variables and builds every sub-optimizer on its
      own share only, so each keeps slots for its variables and nothing else. A
      sub-optimizer that receives no variable stays unbuilt.
    * ``apply(grads, variables)`` (also reached through ``apply_gradients`` and
      ``model.fit``) splits the gradients the same way and calls each sub-optimizer's
      ``apply``: clipping, loss-scale unscaling, gradient accumulation, EMA and constraints
      are those of the sub-optimizer. Each sub-optimizer counts its own ``iterations`` (one
      per step in which it received gradients); ``CaseOptimizer.iterations`` counts the
      steps of the whole.
    * ``learning_rate`` reads and sets the default optimizer's learning rate, so Keras
      learning-rate callbacks drive the float optimizer; set other sub-optimizers'
      hyperparameters through :attr:`optimizers` or
      :class:`kbnn.callbacks.HyperparameterScheduler`.
    * ``variables`` lists the own iteration counter followed by every sub-optimizer's
      variables. In ``.keras`` files the sub-optimizers are saved as children of the
      CaseOptimizer (``save_own_variables`` writes only the own counter), so their state
      survives ``keras.saving.load_model``.
    * ``get_config`` serializes the sub-optimizers and refers to predicates by their
      registered Keras name: register your own predicates with
      ``keras.saving.register_keras_serializable`` (``is_binary_variable`` is registered as
      ``"kbnn>is_binary_variable"``).

    Args:
        *predicate_optimizer_pairs: ``(predicate, optimizer)`` tuples; ``predicate`` takes a
            Keras variable and returns a bool, ``optimizer`` is a Keras optimizer instance
            (or identifier accepted by ``keras.optimizers.get``). The same optimizer
            instance may serve several predicates.
        default_optimizer: Optimizer for the variables no predicate accepts. If ``None``,
            such a variable is an error at build time.
        name: Name of the optimizer.

    Raises:
        ValueError: on malformed pairs, on nested loss-scaled optimizers, or (at build) on a
            variable that no predicate accepts when there is no default optimizer.
    """

    def __init__(self, *predicate_optimizer_pairs, default_optimizer=None, name="case_optimizer"):
        super().__init__(learning_rate=_no_learning_rate, name=name)
        if not predicate_optimizer_pairs and default_optimizer is None:
            raise ValueError(
                "CaseOptimizer needs at least one (predicate, optimizer) pair or a "
                "`default_optimizer`. Received: predicate_optimizer_pairs=(), "
                "default_optimizer=None"
            )
        predicates, case_optimizers = [], []
        for pair in predicate_optimizer_pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not callable(pair[0]):
                raise ValueError(
                    "Each positional argument of CaseOptimizer must be a (predicate, "
                    f"optimizer) pair with a callable predicate. Received: {pair!r}"
                )
            predicates.append(pair[0])
            case_optimizers.append(self._check_sub_optimizer(pair[1]))
        if default_optimizer is not None:
            default_optimizer = self._check_sub_optimizer(default_optimizer)

        unique = []
        for optimizer in case_optimizers + [default_optimizer]:
            if optimizer is not None and all(optimizer is not u for u in unique):
                unique.append(optimizer)
        self._predicates = predicates
        self._case_optimizers = case_optimizers
        self._default_optimizer = default_optimizer
        # The unique sub-optimizers, in routing order. Saving walks this attribute.
        self._optimizers = unique

    @staticmethod
    def _check_sub_optimizer(optimizer):
        optimizer = keras.optimizers.get(optimizer)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) or getattr(
            optimizer, "loss_scale_factor", None
        ):
            raise ValueError(
                "Sub-optimizers of CaseOptimizer cannot scale the loss (the model scales its "
                "loss with the outer optimizer); wrap the CaseOptimizer instead. Received: "
                f"optimizer={_optimizer_name(optimizer)}"
            )
        return optimizer

    @property
    def optimizers(self) -> list:
        """The distinct sub-optimizers, in routing order (default last)."""
        return list(self._optimizers)

    @property
    def default_optimizer(self):
        """The optimizer for variables that no predicate accepts (or ``None``)."""
        return self._default_optimizer

    @property
    def variables(self):
        variables = self._variables[:]
        for optimizer in self._optimizers:
            variables.extend(optimizer.variables)
        return variables

    @property
    def learning_rate(self):
        if self._default_optimizer is None:
            raise AttributeError(
                "This CaseOptimizer has no `default_optimizer`, so it has no learning rate; "
                "read it on a sub-optimizer (`case_optimizer.optimizers`)."
            )
        return self._default_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if self._default_optimizer is None:
            raise AttributeError(
                "This CaseOptimizer has no `default_optimizer`, so it has no learning rate; "
                f"set it on a sub-optimizer (`case_optimizer.optimizers`). Received: {value!r}"
            )
        self._default_optimizer.learning_rate = value

    def optimizer_for(self, variable):
        """The sub-optimizer that trains ``variable`` (first matching predicate, else default).

        Raises:
            ValueError: if no predicate accepts ``variable`` and there is no default.
        """
        for predicate, optimizer in zip(self._predicates, self._case_optimizers):
            if predicate(variable):
                return optimizer
        if self._default_optimizer is None:
            raise ValueError(
                "No predicate of the CaseOptimizer accepts this variable and no "
                "`default_optimizer` was given. Add a default optimizer or a predicate "
                "for it. Received: variable="
                f"{getattr(variable, 'path', variable.name)!r}, predicates="
                f"{[getattr(p, '__name__', repr(p)) for p in self._predicates]}"
            )
        return self._default_optimizer

    def _index_of(self, optimizer) -> int:
        for index, candidate in enumerate(self._optimizers):
            if candidate is optimizer:
                return index
        raise AssertionError("unreachable: sub-optimizer not registered")

    def build(self, var_list):
        """Route ``var_list`` and build each sub-optimizer on its own variables."""
        if self.built:
            return
        var_list = list(var_list)
        shares = [[] for _ in self._optimizers]
        routes = {}
        for variable in var_list:
            index = self._index_of(self.optimizer_for(variable))
            routes[self._var_key(variable)] = index
            shares[index].append(variable)
        for optimizer, share in zip(self._optimizers, shares):
            if share:
                if optimizer.built:
                    raise ValueError(
                        "Sub-optimizers of a CaseOptimizer must not be built already (they "
                        "are built on the variables routed to them). Received: "
                        f"optimizer={_optimizer_name(optimizer)}"
                    )
                optimizer.build(share)
        super().build(var_list)
        self._routes = routes

    def apply(self, grads, trainable_variables=None):
        """Split ``grads`` by route and let each sub-optimizer apply its share."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already "
                    "be built on a list of variables. Call `optimizer.build(variables)` first."
                )
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                with keras.name_scope(self.name, caller=self):
                    self.build(trainable_variables)
            self._check_variables_are_known(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                "`grads` and `trainable_variables` must have the same length. Received: "
                f"len(grads)={len(grads)}, len(trainable_variables)={len(trainable_variables)}"
            )
        if all(g is None for g in grads):
            raise ValueError("No gradients provided for any variable.")

        shares = [([], []) for _ in self._optimizers]
        for grad, variable in zip(grads, trainable_variables):
            share = shares[self._routes[self._var_key(variable)]]
            share[0].append(grad)
            share[1].append(variable)
        for optimizer, (share_grads, share_vars) in zip(self._optimizers, shares):
            if any(g is not None for g in share_grads):
                optimizer.apply(share_grads, share_vars)
            elif share_vars:
                warnings.warn(
                    f"Gradients do not exist for any variable of {_optimizer_name(optimizer)} "
                    f"in CaseOptimizer {self.name!r}: "
                    f"{[getattr(v, 'path', v.name) for v in share_vars]}",
                    stacklevel=2,
                )
        self._iterations.assign_add(1)

    def finalize_variable_values(self, var_list):
        """Let each sub-optimizer finalize its own variables (e.g. EMA overwrite)."""
        shares = [[] for _ in self._optimizers]
        for variable in var_list:
            index = getattr(self, "_routes", {}).get(self._var_key(variable))
            if index is not None:
                shares[index].append(variable)
        for optimizer, share in zip(self._optimizers, shares):
            if share:
                optimizer.finalize_variable_values(share)

    def set_weights(self, weights):
        """Set the own counter, then each sub-optimizer's variables, in ``variables`` order."""
        if not self.built:
            raise ValueError(
                "You are calling `set_weights()` on a CaseOptimizer that has not been built. "
                "Call `optimizer.build(trainable_variables)` first."
            )
        weights = list(weights)
        if len(weights) != len(self.variables):
            raise ValueError(
                f"CaseOptimizer {self.name!r} has {len(self.variables)} variables. "
                f"Received: {len(weights)} weights"
            )
        own = len(self._variables)
        for variable, value in zip(self._variables, weights[:own]):
            variable.assign(value)
        offset = own
        for optimizer in self._optimizers:
            count = len(optimizer.variables)
            for variable, value in zip(optimizer.variables, weights[offset : offset + count]):
                variable.assign(value)
            offset += count

    def save_own_variables(self, store):
        """Save the own iteration counter; sub-optimizers are saved as children."""
        for i, variable in enumerate(self._variables):
            store[str(i)] = keras.ops.convert_to_numpy(variable)

    def load_own_variables(self, store):
        """Load the own iteration counter; sub-optimizers are loaded as children."""
        if len(store.keys()) != len(self._variables):
            warnings.warn(
                f"Skipping variable loading for CaseOptimizer {self.name!r}: it has "
                f"{len(self._variables)} own variables, the saved one has {len(store.keys())}.",
                stacklevel=2,
            )
            return
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    @staticmethod
    def _serialize_predicate(predicate) -> Any:
        name = keras.saving.get_registered_name(predicate)
        if keras.saving.get_registered_object(name) is not predicate:
            raise ValueError(
                "CaseOptimizer predicates must be registered to be serialized: decorate "
                "them with `@keras.saving.register_keras_serializable(package=...)`. "
                f"Received: predicate={predicate!r}"
            )
        return keras.saving.serialize_keras_object(predicate)

    def get_config(self):
        # Not `super().get_config()`: the base config describes one optimizer's learning
        # rate, clipping and EMA, which belong to the sub-optimizers here. Sub-optimizers
        # are listed once and referred to by index, so shared instances stay shared.
        return {
            "name": self.name,
            "optimizers": [keras.saving.serialize_keras_object(o) for o in self._optimizers],
            "cases": [
                {
                    "predicate": self._serialize_predicate(predicate),
                    "optimizer": self._index_of(optimizer),
                }
                for predicate, optimizer in zip(self._predicates, self._case_optimizers)
            ],
            "default_optimizer": (
                None if self._default_optimizer is None else self._index_of(self._default_optimizer)
            ),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizers = [
            keras.saving.deserialize_keras_object(o, custom_objects=custom_objects)
            for o in config.pop("optimizers")
        ]
        pairs = [
            (
                keras.saving.deserialize_keras_object(case["predicate"], custom_objects=custom_objects),
                optimizers[case["optimizer"]],
            )
            for case in config.pop("cases")
        ]
        default = config.pop("default_optimizer", None)
        if default is not None:
            default = optimizers[default]
        return cls(*pairs, default_optimizer=default, **config)
