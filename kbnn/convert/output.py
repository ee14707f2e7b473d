"""The converter's last stage: the flatbuffer -> a checked file (:func:`check_file`), written
atomically (:func:`write_atomic`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings

import numpy as np

from kbnn.convert.errors import ConversionError, ConversionWarning, first_lines


def _zero_inputs(details) -> list:
    return [np.zeros([max(1, int(s)) for s in d["shape"]], dtype=d["dtype"]) for d in details]


_FILE_HINT = (
    "Nothing was written. A layer that TF's converter cannot turn into TFLite builtins (e.g. "
    "a Lambda of an unsupported TF op) usually causes this: kbnn.convert(..., verbose=True) "
    "(`kbnn convert --verbose`) prints the converter's messages"
)


def check_file(data: bytes, model) -> str:
    """Runs the written file once in ``kbnn.Interpreter`` on zero inputs of the model's input
    shapes; a failure, an empty output or an output whose shape disagrees with the Keras model's
    raises :class:`ConversionError`. Returns what was checked (or why it could not be)."""
    try:
        from kbnn_runtime.interpreter import DelegateNotFoundError, Interpreter
    except ImportError as e:  # pragma: no cover - kbnn depends on kbnn-runtime
        return f"not checked (kbnn_runtime is not importable: {e})"
    try:
        interpreter = Interpreter(data)
    except DelegateNotFoundError as e:
        warnings.warn(
            f"kbnn.convert could not check the written file: the kbnn delegate is not built ({e})",
            ConversionWarning,
            stacklevel=3,
        )
        return f"not checked (no kbnn delegate: {e})"
    except Exception as e:
        raise ConversionError(
            f"the converted file of model {model.name!r} does not load in kbnn.Interpreter: "
            f"{type(e).__name__}: {first_lines(str(e), 6)}\n{_FILE_HINT}"
        ) from e
    shapes = [tuple(int(v) for v in d["shape"]) for d in interpreter.input_details]
    try:
        outs = interpreter.predict(*_zero_inputs(interpreter.input_details))
    except Exception as e:
        raise ConversionError(
            f"the converted file of model {model.name!r} fails on a zero input of shape(s) {shapes} in "
            f"kbnn.Interpreter: {type(e).__name__}: {first_lines(str(e), 6)}\n{_FILE_HINT}"
        ) from e
    outs = outs if isinstance(outs, list) else [outs]
    expected = [tuple(t.shape) for t in model.outputs] if getattr(model, "outputs", None) else []
    for i, out in enumerate(outs):
        want = expected[i][1:] if i < len(expected) and len(expected) == len(outs) else None
        wrong = want is not None and None not in want and tuple(out.shape[1:]) != tuple(want)
        if out.size == 0 or wrong:
            keras_shape = f" (the Keras model's: (batch,) + {tuple(want)})" if want is not None else ""
            raise ConversionError(
                f"the converted file of model {model.name!r} gives output {i} of shape {tuple(out.shape)} "
                f"on a zero input of shape(s) {shapes}{keras_shape}: the file is wrong. {_FILE_HINT}"
            )
    return "kbnn.Interpreter on a zero input: output shape(s) " + ", ".join(str(tuple(o.shape)) for o in outs)


def write_atomic(path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same directory (no partial file
    at ``path``, no stray temporary file on failure)."""
    d = os.path.dirname(os.path.abspath(path))
    f = tempfile.NamedTemporaryFile(dir=d, delete=False)
    try:
        with f:
            f.write(data)
        # The temporary file is private (0600): give the result the permissions an ordinary new
        # file gets under the user's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(f.name, 0o666 & ~umask)
        os.replace(f.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(f.name)
        raise
