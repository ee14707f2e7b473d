"""Tags on Keras variables that record the precision their layer quantizes them to.

Quantized layers tag their latent kernels when they build (``tag_precision``); optimizers
(``Bop``, ``CaseOptimizer``), the bit-aware summary and the converter read the tag back
(``precision_of_variable``). The tag is a plain attribute on the variable object, so it
follows the variable wherever Keras passes it and is re-applied on every build (also after
``keras.saving.load_model``).
"""

from __future__ import annotations

_ATTR = "_kbnn_precision"


def tag_precision(variable, bits: int | None) -> None:
    """Record that ``variable`` is quantized to ``bits`` bits in the forward pass.

    Args:
        variable: A Keras variable (``layer.add_weight`` result).
        bits: Bits of the quantized value (1 for binary), or ``None`` for full precision.
    """
    if bits is not None and (not isinstance(bits, int) or bits < 1):
        raise ValueError(f"`bits` must be a positive int or None. Received: bits={bits!r}")
    setattr(variable, _ATTR, bits)


def precision_of_variable(variable) -> int | None:
    """Bits the variable is quantized to in the forward pass; ``None`` if full precision."""
    return getattr(variable, _ATTR, None)


def is_binary_variable(variable) -> bool:
    """True for latent weights that their layer binarizes (precision 1)."""
    return precision_of_variable(variable) == 1
