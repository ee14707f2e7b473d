"""The Larq Zoo weight reader: tf-keras ``.h5`` weight files into Keras 3 models of the same
layer order (kbnn's zoo models load Larq Zoo's weights with it: ``QuickNet(weights=path)``).

It depends on nothing else in kbnn, so the zoo (:mod:`kbnn.models`) and the importer
(:mod:`kbnn.compat.larq`) both use it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from kbnn.compat.errors import LarqImportError

__all__ = ["load_larq_zoo_weights"]


def load_larq_zoo_weights(model: keras.Model, path: str | os.PathLike) -> keras.Model:
    """Copies the weights of a Larq Zoo / tf-keras ``.h5`` weight file (``model.save_weights``
    or a full ``model.save`` file) into ``model``, layer by layer in order, as tf-keras'
    ``load_weights`` does: the i-th layer with weights in the file goes to the i-th layer with
    weights of ``model`` (kbnn's zoo models keep Larq Zoo's layer order). Every shape is
    checked; a mismatch names both layers. Returns ``model``."""
    import h5py
    import numpy as np

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise LarqImportError(f"Cannot read {path} as an HDF5 weight file: {e}") from e
    with f:
        group = f["model_weights"] if "model_weights" in f else f
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("layer_names", [])]
        if not names:
            raise LarqImportError(f"{path} is not a tf-keras weight file (no layer_names).")
        saved = []
        for n in names:
            g = group[n]
            wn = [w.decode() if isinstance(w, bytes) else str(w) for w in g.attrs.get("weight_names", [])]
            if wn:
                saved.append((n, [np.asarray(g[w]) for w in wn]))
    targets = [layer for layer in model.layers if layer.weights]
    if len(targets) != len(saved):
        raise LarqImportError(
            f"{path} has weights for {len(saved)} layers, the model {model.name!r} has "
            f"{len(targets)} layers with weights: the architectures differ (include_top, "
            "input channels or the model variant?)."
        )
    for layer, (saved_name, arrays) in zip(targets, saved):
        if len(layer.weights) != len(arrays) or any(
            tuple(w.shape) != a.shape for w, a in zip(layer.weights, arrays)
        ):
            raise LarqImportError(
                f"Layer {layer.name!r} weights {[tuple(w.shape) for w in layer.weights]} do not "
                f"match {saved_name!r} in {path}: {[a.shape for a in arrays]}."
            )
        for w, a in zip(layer.weights, arrays):
            w.assign(a)
    return model
