"""Importers for models trained with other toolkits.

* :func:`load_larq_model` — a Larq model saved by tf-keras (``.h5``) as a Keras 3 model of kbnn
  layers (see docs/migrating-from-larq.md).
* :func:`load_larq_zoo_weights` — Larq Zoo / tf-keras weight files into kbnn's zoo models
  (``kbnn.models.QuickNet(weights=path)``).

Modules: ``larq`` (the model importer), ``larq_zoo`` (the weight reader, which the model zoo
imports too; it needs nothing else of kbnn) and ``errors`` (:class:`LarqImportError`).
"""

from kbnn.compat.errors import LarqImportError
from kbnn.compat.larq import load_larq_model, map_larq_config
from kbnn.compat.larq_zoo import load_larq_zoo_weights

__all__ = ["LarqImportError", "load_larq_model", "load_larq_zoo_weights", "map_larq_config"]
