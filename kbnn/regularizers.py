"""Weight regularizers for binarized networks.

Regularizers are ``keras.regularizers.Regularizer`` subclasses, registered for
serialization under the ``"kbnn"`` package and reachable through a snake_case alias, so
that ``kernel_regularizer="bipolar"`` works in kbnn layers (plain Keras layers only resolve
their own names: pass ``Bipolar()`` there).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["Bipolar", "get", "serialize", "deserialize"]


@keras.saving.register_keras_serializable(package="kbnn")
class Bipolar(keras.regularizers.Regularizer):
    r"""Bipolar regularizer :math:`\lambda \sum_i (1 - w_i^2)`: pulls latent weights towards ±1.

    L2 regularization pulls latent weights towards 0, where a sign quantizer is least
    stable; this term is smallest at the ends of the clipping interval instead, so the
    latent weights settle near the binary values they are quantized to. It is unbounded
    below for ``|w| > 1``: pair it with ``kbnn.constraints.WeightClip(1.0)``.

    Reference: an extension of BinaryNet (Courbariaux, Hubara et al., arXiv:1602.02830,
    2016) proposed by Tang, Hua and Wang, "How to Train a Compact Binary Neural Network
    with High Accuracy?", AAAI 2017 ("bipolar" regularization).

    Args:
        scale: The factor :math:`\lambda` (non-negative).
    """

    def __init__(self, scale: float = 1e-5):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale < 0:
            raise ValueError(f"`scale` must be a non-negative number. Received: scale={scale!r}")
        self.scale = float(scale)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        return self.scale * ops.sum(1.0 - ops.square(x))

    def get_config(self):
        return {"scale": self.scale}


def serialize(regularizer):
    """Serialize a regularizer (kbnn or Keras)."""
    return keras.regularizers.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """Inverse of :func:`serialize`."""
    return keras.regularizers.deserialize(config, custom_objects=custom_objects)


# snake_case aliases accepted by get() (and so by kbnn layers' constructor arguments).
_ALIASES: dict[str, type] = {"bipolar": Bipolar}


def get(identifier):
    """Resolve a regularizer: ``None``, a kbnn alias, a Keras identifier, a config or a callable."""
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    return keras.regularizers.get(identifier)
