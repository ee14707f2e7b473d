"""The quantizer registry (string aliases, Keras registration), argument validation, the
``keras.ops`` helpers every quantizer is written with, the base classes (:class:`Quantizer`,
:class:`FunctionQuantizer`) and the identifier functions (``get``, ``serialize``, ...)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

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


def _quantizer_function(precision: int) -> Callable[[Callable], Callable]:
    """Function decorator: register a quantizer function with Keras (``"kbnn>name"``) and declare
    its output bits as its ``precision`` attribute."""

    def wrap(fn: Callable) -> Callable:
        fn = _register(fn)
        fn.precision = precision
        return fn

    return wrap


def _quantizer_class(*aliases: str) -> Callable[[type], type]:
    """Class decorator: register a quantizer class with Keras (``"kbnn>ClassName"``) and make
    ``get(alias)`` build it for each alias."""

    def wrap(cls: type) -> type:
        return _register(register_alias(*aliases)(cls))

    return wrap


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


def _check_bool(name: str, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return value


def _check_in_interval(name: str, value, interval: str, inside: Callable[[float], bool], words: str):
    """A Python number inside ``interval`` (returned as a float); a tensor or variable is passed
    through unchecked; anything else (None, a string, a number outside) raises ValueError."""
    if _is_number(value) or isinstance(value, bool):
        if isinstance(value, bool) or not inside(value):
            raise ValueError(f"`{name}` must be {words}. Received: {name}={value!r}")
        return float(value)
    if value is None or isinstance(value, str):
        raise ValueError(
            f"`{name}` must be a number in {interval} or a scalar tensor. Received: {name}={value!r}"
        )
    return value


def _check_unit_open(name: str, value):
    """0 < value < 1 for Python numbers; tensors/variables are passed through unchecked."""
    return _check_in_interval(name, value, "(0, 1)", lambda v: 0 < v < 1, "in the open interval (0, 1)")


def _check_fraction(name: str, value):
    """0 <= value <= 1 for Python numbers; tensors/variables are passed through unchecked."""
    return _check_in_interval(name, value, "[0, 1]", lambda v: 0 <= v <= 1, "in [0, 1]")


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


def _straight_through(x, forward_fn, clip_value):
    """``forward_fn(x)`` forward; backward the clipped straight-through estimator
    ``upstream * 1_{|x| <= clip_value}`` (everywhere when ``clip_value`` is None)."""
    clip_value = _check_clip_value(clip_value)
    x = _float_tensor(x)
    return _surrogate(x, forward_fn, lambda v: _clip_mask(v, clip_value))


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


class FunctionQuantizer(Quantizer):
    """The layer form of a stateless quantizer function: ``Cls(**arguments)(x)`` computes
    ``Cls.function(x, **arguments)``.

    One ``__init__``, ``call`` and ``get_config`` for every quantizer that is a function plus
    validated arguments (the sign family: :class:`SteSign`, :class:`ApproxSign`,
    :class:`SwishSign`, :class:`MagnitudeAwareSign`, :class:`SteHeaviside`; and
    :class:`SteTern`, :class:`DoReFa`). A subclass sets

    * ``function``: the function form, as ``staticmethod(fn)``; its signature gives the
      arguments' defaults;
    * ``arguments``: ``{name: validator}`` in the function's order; each validator returns the
      value to keep (e.g. ``float(v)``) or raises ``ValueError`` with a clear message;
    * ``precision_argument`` (optional): the argument that is the output's bit count
      (``"k_bit"``), which then sets the instance's ``precision``.

    The constructor takes the arguments by position or keyword (the rest go to
    ``keras.layers.Layer``), keeps each as an attribute of the same name and ``get_config``
    returns them, so the class round-trips through ``from_config``.
    """

    function: Callable
    arguments: dict[str, Callable[[Any], Any]] = {}
    precision_argument: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        parameters = inspect.signature(cls.function).parameters
        missing = [name for name in cls.arguments if name not in parameters]
        if missing:
            raise TypeError(
                f"{cls.__name__}.arguments names {missing}, which {cls.function.__name__}() does not take."
            )
        cls._defaults = {name: parameters[name].default for name in cls.arguments}
        # What help() and inspect.signature() show: the function's arguments, then the Layer's.
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        cls.__signature__ = inspect.Signature(
            [inspect.Parameter(name, keyword, default=default) for name, default in cls._defaults.items()]
            + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
        )

    def __init__(self, *args, **kwargs):
        names = list(self.arguments)
        if len(args) > len(names):
            raise TypeError(
                f"{type(self).__name__}() takes {len(names)} positional arguments "
                f"({', '.join(names) or 'none'}) but {len(args)} were given"
            )
        values = dict(self._defaults)
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            values[name] = value
        for name in names[len(args) :]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
        super().__init__(**kwargs)
        for name, check in self.arguments.items():
            setattr(self, name, check(values[name]))
        if self.precision_argument is not None:
            self.precision = getattr(self, self.precision_argument)

    def call(self, inputs):
        return self.function(inputs, **{name: getattr(self, name) for name in self.arguments})

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.arguments})
        return config


# --------------------------------------------------------------------------------------
# Identifiers: aliases, configs, instances
# --------------------------------------------------------------------------------------


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
