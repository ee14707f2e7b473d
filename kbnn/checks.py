"""Model-level checks for quantizer misuse that no single layer can see on its own.

:func:`model_mistakes` walks a Functional or Sequential model's graph (the converter's public-API
graph extraction, ``kbnn.convert.graph.extract_graph``) and returns one message per mistake
that makes a model silently useless:

* a ``BitPlaneInput`` feeding (directly, or through shape-only layers such as ``ZeroPadding2D``
  or ``MaxPooling2D``) a layer whose ``input_quantizer`` binarizes: ``BitPlaneInput`` outputs the
  non-negative integers ``0 .. 2^bits - 1``, whose sign is always +1, so the layer's output is the
  same for every input and training stays at chance;
* ``MultiBaseSign(mode="weights")`` used as an ``input_quantizer``: the ABC-Net weight bases fit
  per-channel scales with a least-squares solve on every batch; no kbnn op computes that, and TF's
  converter writes the TF op ``MatrixSolve`` that no kbnn interpreter runs.

``kbnn.summary`` warns with these messages (:class:`ModelMistakeWarning`), ``kbnn.convert``
raises ``ConversionError``. The quantized layers also raise / warn on their own where they can
see the mistake (a direct ``BitPlaneInput`` input when the model is built; the quantizer when the
layer is constructed). The messages and the sign test live in :mod:`kbnn.layers.mistakes`, which
the layers import; this module is above the layers and the converter's graph extraction.
"""

from __future__ import annotations

import keras

from kbnn.layers.mistakes import (
    ModelMistakeWarning,
    binarizes,
    bitplane_sign_message,
    weights_mode_input_message,
)

__all__ = [
    "ModelMistakeWarning",
    "model_mistakes",
    "binarizes",
    "bitplane_sign_message",
    "weights_mode_input_message",
]

# Layers that move or select values without changing their sign: a BitPlaneInput output stays a
# non-negative integer through them.
_PASS_THROUGH = tuple(
    getattr(keras.layers, name)
    for name in (
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Reshape",
        "Flatten",
        "Permute",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "Identity",
        "ActivityRegularization",
    )
    if hasattr(keras.layers, name)
)


def model_mistakes(model) -> list[str]:
    """One message per mistake found in ``model`` (an empty list for a sound or unwalkable model)."""
    from kbnn.convert.graph import extract_graph
    from kbnn.layers.base import QuantLayerMixin
    from kbnn.layers.bitplane import BitPlaneInput
    from kbnn.quantizers import MultiBaseSign

    try:
        graph = extract_graph(model)
    except Exception:  # noqa: BLE001 - no static graph (subclassed models, layers without get_config):
        return []  # the layers' own checks are all there is
    found = []
    for node in graph.nodes:
        layer = node.layer
        if not isinstance(layer, QuantLayerMixin):
            continue
        q = layer.input_quantizer
        if isinstance(q, MultiBaseSign) and q.mode == "weights":
            found.append(weights_mode_input_message(layer.name, type(layer).__name__))
            continue
        if not binarizes(q) or not node.inputs:
            continue
        key, via = node.inputs[0], []
        while True:
            try:
                producer = graph.node(key[:2])
            except KeyError:
                break
            if isinstance(producer.layer, BitPlaneInput):
                found.append(bitplane_sign_message(layer, producer.name, producer.layer.bits, via[::-1]))
                break
            if not isinstance(producer.layer, _PASS_THROUGH) or not producer.inputs:
                break
            via.append(producer.name)
            key = producer.inputs[0]
    return list(dict.fromkeys(found))
