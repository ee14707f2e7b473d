"""Importers for models trained with other toolkits.

* :func:`load_larq_model` — a Larq model saved by tf-keras (``.h5``) as a Keras 3 model of kbnn
  layers (see docs/migrating-from-larq.md).
* :func:`load_larq_zoo_weights` — Larq Zoo / tf-keras weight files into kbnn's zoo models
  (``kbnn.models.QuickNet(weights=path)``).
"""

from kbnn.compat.larq import LarqImportError, load_larq_model, load_larq_zoo_weights, map_larq_config

__all__ = ["LarqImportError", "load_larq_model", "load_larq_zoo_weights", "map_larq_config"]
