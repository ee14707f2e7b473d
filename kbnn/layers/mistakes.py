"""The messages and sign test behind kbnn's quantizer-misuse checks (see :mod:`kbnn.checks`).

The quantized layers raise / warn with these where a single layer can see the mistake;
:func:`kbnn.checks.model_mistakes` finds the same mistakes across a whole model. This module
depends on :mod:`kbnn.quantizers` only, so that the layers can import it and
:mod:`kbnn.checks` (which walks models built of those layers) can sit above both.
"""

from __future__ import annotations

import keras

__all__ = ["ModelMistakeWarning", "binarizes", "bitplane_sign_message", "weights_mode_input_message"]


class ModelMistakeWarning(UserWarning):
    """A model is built in a way that makes it silently useless (see :mod:`kbnn.checks`)."""


def _describe(q) -> str:
    if isinstance(q, keras.layers.Layer):
        return type(q).__name__
    return getattr(q, "__name__", repr(q))


def binarizes(quantizer) -> bool:
    """Whether ``quantizer`` is a plain sign (``sign(x) = +1`` for every ``x >= 0``): the sign
    classes and functions of :mod:`kbnn.quantizers` (``IRNetEDE`` without ``libra_pb``)."""
    from kbnn import quantizers as qz

    classes = (qz.SteSign, qz.ApproxSign, qz.SwishSign, qz.StochasticSign, qz.MagnitudeAwareSign)
    functions = (
        qz.ste_sign,
        qz.approx_sign,
        qz.swish_sign,
        qz.ir_net_ede,
        qz.sign,
        qz.stochastic_sign,
        qz.magnitude_aware_sign,
    )
    if isinstance(quantizer, qz.IRNetEDE):
        return not quantizer.libra_pb
    return isinstance(quantizer, classes) or any(quantizer is f for f in functions)


def bitplane_sign_message(consumer, bitplane_name: str, bits: int, via=()) -> str:
    path = f" (through {', '.join(via)})" if via else ""
    return (
        f"layer {consumer.name!r} ({type(consumer).__name__}) binarizes its input with "
        f"input_quantizer={_describe(consumer.input_quantizer)}, but its input is the output of "
        f"BitPlaneInput {bitplane_name!r}{path}: the non-negative integers 0..{(1 << bits) - 1}, whose "
        "sign is always +1, so the layer's output is the same for every input and training stays at "
        f"chance. Fix: remove the input_quantizer of {consumer.name!r} (input_quantizer=None; keep its "
        "binary kernel_quantizer): BitPlaneInput feeds a binary-weight layer that computes "
        "sum_n 2^(n-1) (x^n . w^b), and kbnn.convert lowers the pair to one binary convolution per "
        "bit plane"
    )


def weights_mode_input_message(layer_name: str, class_name: str) -> str:
    return (
        f"layer {layer_name!r} ({class_name}) uses MultiBaseSign(mode='weights') as its input_quantizer. "
        "mode='weights' (ABC-Net weight bases) is for kernels: it fits per-channel scales with a "
        "least-squares solve on every batch, which no kbnn op computes (TF's converter writes the TF "
        "op MatrixSolve, which no kbnn interpreter runs). Fix: input_quantizer=MultiBaseSign(bases, "
        "mode='shift') or mode='residual' (ABC-Net / HORQ activation bases), and MultiBaseSign(bases) "
        "as the kernel_quantizer"
    )
