"""Stage 4 of the converter: the lowered model -> ``.tflite`` flatbuffer bytes.

The TF function over kbnn ops is traced, its Keras variables frozen into constants, and TF's
``TFLiteConverter`` (custom ops allowed) turns it into a flatbuffer whose kbnn ops are CUSTOM
ops. What TF's native code prints meanwhile is captured phase by phase into a :class:`NativeLog`
(``verbose`` echoes it).
"""

from __future__ import annotations

import contextlib
import sys
import warnings

from kbnn.convert._capture import captured_fds
from kbnn.convert.errors import ConversionError, first_lines


class NativeLog:
    """What native code printed during a conversion, phase by phase."""

    def __init__(self):
        self.parts = []

    @property
    def text(self) -> str:
        return "".join(
            f"--- {phase} ---\n{text}" + ("" if text.endswith("\n") else "\n")
            for phase, text in self.parts
            if text.strip()
        )


@contextlib.contextmanager
def native_output(log: NativeLog, verbose: bool, phase: str):
    """Captures fd 1 / fd 2 around a phase into ``log`` (also when it raises); ``verbose`` also
    echoes the text to stderr once the phase is over."""
    cap = None
    try:
        with captured_fds() as cap:
            yield
    finally:
        text = cap.text if cap is not None else ""
        log.parts.append((phase, text))
        if verbose and text.strip():
            sys.stderr.write(text)
            sys.stderr.flush()


def trace(lowered, log: NativeLog, verbose: bool):
    """The concrete TF function of ``lowered`` (a :class:`kbnn.convert.lowered.LoweredModel`)."""
    fn = lowered.tf_function()
    with native_output(log, verbose, "trace"):
        return fn.get_concrete_function()


def to_flatbuffer(concrete, model, log: NativeLog, verbose: bool) -> bytes:
    """Freezes ``concrete`` (every captured Keras variable becomes a constant: no READ_VARIABLE ops
    in the file) and converts it with TF's TFLite converter; its failure is a ConversionError."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with native_output(log, verbose, "freeze"):
        frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
    converter.allow_custom_ops = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with native_output(log, verbose, "TFLite converter"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return converter.convert()
        except Exception as e:
            raise ConversionError(
                f"TF's TFLite converter failed on model {model.name!r}: {first_lines(str(e))}\n"
                "(its full output: the exception's converter_log; kbnn.convert(..., verbose=True) or "
                "`kbnn convert --verbose` prints it)"
            ) from e
