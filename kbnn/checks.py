"""Model-level checks for quantizer misuse that no single layer can see on its own.

:func:`model_mistakes` walks a Functional or Sequential model's graph (the converter's public-API
graph extraction, ``kbnn.convert.lowering.extract_graph``) and returns one message per mistake
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
layer is constructed).
"""

from __future__ import annotations

import keras

__all__ = ["ModelMistakeWarning", "model_mistakes", "bitplane_sign_message", "weights_mode_input_message"]


class ModelMistakeWarning(UserWarning):
    """A model is built in a way that makes it silently useless (see :mod:`kbnn.checks`)."""


# Layers that move or select values without changing their sign: a BitPlaneInput output stays a
# non-negative integer through them.
_PASS_THROUGH = tuple(
    getattr(keras.layers, name)
    for name in ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
                 "Cropping3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "UpSampling1D",
                 "UpSampling2D", "UpSampling3D", "Reshape", "Flatten", "Permute", "Dropout",
                 "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Identity", "ActivityRegularization")
    if hasattr(keras.layers, name)
)


def _describe(q) -> str:
    if isinstance(q, keras.layers.Layer):
        return type(q).__name__
    return getattr(q, "__name__", repr(q))


def binarizes(quantizer) -> bool:
    """Whether ``quantizer`` is a plain sign (``sign(x) = +1`` for every ``x >= 0``): the sign
    classes and functions of :mod:`kbnn.quantizers` (``IRNetEDE`` without ``libra_pb``)."""
    from kbnn import quantizers as qz

    classes = (qz.SteSign, qz.ApproxSign, qz.SwishSign, qz.StochasticSign, qz.MagnitudeAwareSign)
    functions = (qz.ste_sign, qz.approx_sign, qz.swish_sign, qz.ir_net_ede, qz.sign, qz.stochastic_sign,
                 qz.magnitude_aware_sign)
    if isinstance(quantizer, qz.IRNetEDE):
        return not quantizer.libra_pb
    return isinstance(quantizer, classes) or any(quantizer is f for f in functions)


def bitplane_sign_message(consumer, bitplane_name: str, bits: int, via=()) -> str:
    path = f" (through {', '.join(via)})" if via else ""
    return (f"layer {consumer.name!r} ({type(consumer).__name__}) binarizes its input with "
            f"input_quantizer={_describe(consumer.input_quantizer)}, but its input is the output of "
            f"BitPlaneInput {bitplane_name!r}{path}: the non-negative integers 0..{(1 << bits) - 1}, whose "
            "sign is always +1, so the layer's output is the same for every input and training stays at "
            f"chance. Fix: remove the input_quantizer of {consumer.name!r} (input_quantizer=None; keep its "
            "binary kernel_quantizer): BitPlaneInput feeds a binary-weight layer that computes "
            "sum_n 2^(n-1) (x^n . w^b), and kbnn.convert lowers the pair to one binary convolution per "
            "bit plane")


def weights_mode_input_message(layer_name: str, class_name: str) -> str:
    return (f"layer {layer_name!r} ({class_name}) uses MultiBaseSign(mode='weights') as its input_quantizer. "
            "mode='weights' (ABC-Net weight bases) is for kernels: it fits per-channel scales with a "
            "least-squares solve on every batch, which no kbnn op computes (TF's converter writes the TF "
            "op MatrixSolve, which no kbnn interpreter runs). Fix: input_quantizer=MultiBaseSign(bases, "
            "mode='shift') or mode='residual' (ABC-Net / HORQ activation bases), and MultiBaseSign(bases) "
            "as the kernel_quantizer")


def model_mistakes(model) -> list[str]:
    """One message per mistake found in ``model`` (an empty list for a sound or unwalkable model)."""
    from kbnn.convert import lowering
    from kbnn.layers.base import QuantLayerMixin
    from kbnn.layers.bitplane import BitPlaneInput
    from kbnn.quantizers import MultiBaseSign

    try:
        graph = lowering.extract_graph(model)
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
