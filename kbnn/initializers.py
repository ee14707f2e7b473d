"""Initializers of kbnn's own, shared by the model zoo and the Larq importer.

* :class:`BlurPool` — the fixed depthwise kernel of anti-aliased ("blur") pooling: Zhang,
  "Making Convolutional Networks Shift-Invariant Again", ICML 2019 (arXiv:1904.11486). QuickNet's
  transition blocks use it (:mod:`kbnn.models.quicknet`), and :mod:`kbnn.compat.larq` maps Larq
  Zoo's ``blurpool_initializer`` to it.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["BlurPool"]


@keras.saving.register_keras_serializable(package="kbnn")
class BlurPool(keras.initializers.Initializer):
    """Depthwise blur kernel of anti-aliased pooling (Zhang, ICML 2019): the outer product of a
    binomial row ([1, 1], [1, 2, 1] or [1, 4, 6, 4, 1]) normalised to sum 1, for every channel.
    Shape: (k, k, channels, 1)."""

    _ROWS = {2: [1, 1], 3: [1, 2, 1], 5: [1, 4, 6, 4, 1]}

    def __call__(self, shape, dtype=None):
        k, channels = shape[0], shape[2]
        if k not in self._ROWS or shape[1] != k:
            raise ValueError(f"BlurPool supports square 2, 3 or 5 kernels. Received: shape={shape}")
        row = np.asarray(self._ROWS[k], dtype="float64")
        kernel = np.outer(row, row)
        kernel /= kernel.sum()
        kernel = np.repeat(kernel[:, :, None], channels, axis=-1).reshape(shape)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {}
