"""The converter's warning and error classes (re-exported by ``kbnn.convert``)."""

from __future__ import annotations


class ConversionWarning(UserWarning):
    """A quantized layer was exported as float (its quantized values), not as a binary op."""


class ConversionError(ValueError):
    """The model cannot be converted to a file that runs: ``strict=True`` and some quantized
    layers could not be lowered to binary ops; a quantizer misuse (``kbnn.checks``); TF's
    converter failed; or the written file does not run in ``kbnn.Interpreter`` on a zero input
    (or gives an empty output)."""


def first_lines(text: str, n: int = 12) -> str:
    """The first ``n`` non-blank lines of ``text`` (and how many more there are)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:n]) + (f"\n... ({len(lines) - n} more lines)" if len(lines) > n else "")
