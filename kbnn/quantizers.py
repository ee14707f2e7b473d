"""Quantizers: the functions and layers that turn latent float values into low-bit values.

Every quantizer exists in two forms, after the convention larq made familiar:

* a plain function (``ste_sign(x, clip_value=1.0)``) with a straight-through or surrogate
  gradient, written with ``keras.ops`` only;
* a serializable class (``SteSign(clip_value=1.0)``) registered with Keras under the
  ``"kbnn"`` package and reachable through a string alias (``"ste_sign"``).

Quantizer classes are ``keras.layers.Layer`` subclasses so that quantizers with state
(PACT's learnable clipping bound, DSQ's and IR-Net's annealed temperatures) are tracked,
trained and saved by the layer that owns them like any other sub-layer.

Bit convention shared with the converter and the C++ kernels: ``sign(0) = +1``.

Each class declares ``precision``: the number of bits its output needs (1 for the sign
family, 2 for ternary, ``k`` for k-bit quantizers). ``None`` means "not a low-bit
quantizer" and is what ``precision_of`` reports for user callables that do not declare one.
"""

from __future__ import annotations

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


def sign(x):
    """Sign with ``sign(0) = +1`` (the kbnn bit convention). No gradient trick.

    Returns a tensor of the same dtype as ``x`` holding -1 and +1 only.
    """
    x = ops.convert_to_tensor(x)
    one = ops.ones_like(x)
    return ops.where(ops.greater_equal(x, 0), one, -one)


def _ste_sign_impl(x, clip_value: float):
    @ops.custom_gradient
    def _fn(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            if clip_value is None:
                return upstream
            mask = ops.cast(ops.less_equal(ops.abs(x), clip_value), upstream.dtype)
            return upstream * mask

        return sign(x), grad

    return _fn(x)


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
    return _ste_sign_impl(ops.convert_to_tensor(x), clip_value)


ste_sign.precision = 1


class Quantizer(keras.layers.Layer):
    """Base class of kbnn quantizers.

    Subclasses implement ``call(inputs)`` and declare ``precision`` (output bits, or
    ``None``). They must round-trip through ``get_config`` / ``from_config``.
    Quantizers never change the shape of their input.
    """

    precision: int | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Quantizers are elementwise; they work on any dtype policy the owner uses.
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kbnn")
@register_alias("ste_sign")
class SteSign(Quantizer):
    """Layer form of :func:`ste_sign` (sign forward, straight-through gradient).

    Args:
        clip_value: Gradient is zeroed where ``|x| > clip_value``; ``None`` disables clipping.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        if clip_value is not None and not clip_value > 0:
            raise ValueError(
                "`clip_value` must be a positive number or None. " f"Received: clip_value={clip_value!r}"
            )
        self.clip_value = None if clip_value is None else float(clip_value)

    def call(self, inputs):
        return ste_sign(inputs, clip_value=self.clip_value)

    def get_config(self):
        return {**super().get_config(), "clip_value": self.clip_value}


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
