"""Importers for models trained with other toolkits.

* :func:`load_larq_model` — a Larq model saved by tf-keras (``.h5``) as a Keras 3 model of kbnn
  layers (see docs/migrating-from-larq.md).
"""

from kbnn.compat.larq import LarqImportError, load_larq_model, map_larq_config

__all__ = ["LarqImportError", "load_larq_model", "map_larq_config"]
