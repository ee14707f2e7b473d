"""Weight constraints for binarized networks.

Constraints are ``keras.constraints.Constraint`` subclasses, registered for serialization
under the ``"kbnn"`` package and reachable through a snake_case alias, so that
``kernel_constraint="weight_clip"`` works in kbnn layers (plain Keras layers only resolve
their own names: pass ``WeightClip()`` there).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["WeightClip", "get", "serialize", "deserialize"]


@keras.saving.register_keras_serializable(package="kbnn")
class WeightClip(keras.constraints.Constraint):
    """Clips latent weights to ``[-clip_value, clip_value]`` after every update.

    With a sign quantizer, latent weights beyond the straight-through window no longer
    receive gradients and could otherwise drift away for good (BinaryNet, Courbariaux,
    Hubara et al. 2016, section 1.3, clip the weights to [-1, 1]).

    Args:
        clip_value: Positive bound of the clipping interval.
    """

    def __init__(self, clip_value: float = 1.0):
        if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float)) or not clip_value > 0:
            raise ValueError(f"`clip_value` must be a positive number. Received: clip_value={clip_value!r}")
        self.clip_value = float(clip_value)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


def serialize(constraint):
    """Serialize a constraint (kbnn or Keras)."""
    return keras.constraints.serialize(constraint)


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize`."""
    return keras.constraints.deserialize(config, custom_objects=custom_objects)


# snake_case aliases accepted by get() (and so by kbnn layers' constructor arguments).
_ALIASES: dict[str, type] = {"weight_clip": WeightClip}


def get(identifier):
    """Resolve a constraint identifier: ``None``, a kbnn alias, a Keras identifier, a config or a callable."""
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    return keras.constraints.get(identifier)
