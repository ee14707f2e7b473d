"""Capture what native code (TensorFlow's converter, MLIR, absl logging) writes to fd 1 / fd 2.

``TFLiteConverter.convert`` and TF's post-training quantizer print from C++ straight to the
process's standard output and error file descriptors: the "need TFLite custom op
implementation(s) ... See instructions" block for every kbnn CUSTOM op, ``fully_quantize: 0,
inference_type: 6 ...`` for int8 conversions, pages of MLIR diagnostics for an op it cannot
convert. Redirecting ``sys.stdout`` does not catch those, so :func:`captured_fds` points the two
descriptors at a temporary file for the duration of the block (``os.dup`` / ``os.dup2``, flushing
Python's and C's stdio buffers on both sides) and hands back the text.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)  # every C FILE* stream (printf / std::cout buffers)
    except (OSError, AttributeError):  # pragma: no cover - no C library symbol table
        pass


class CapturedText:
    """The text written to fd 1 / fd 2 inside :func:`captured_fds` (``text`` once it exits)."""

    def __init__(self):
        self.text = ""


@contextlib.contextmanager
def captured_fds(enabled: bool = True):
    """Redirect fd 1 and fd 2 to a temporary file inside the block; yields a :class:`CapturedText`.

    ``enabled=False`` yields an empty one and leaves the descriptors alone (``verbose=True``: the
    user sees TF's output as it comes).
    """
    captured = CapturedText()
    if not enabled:
        yield captured
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _flush_c_stdio()
    saved = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
        except OSError:  # pragma: no cover - no such descriptor (a daemon): run uncaptured
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            yield captured
            return
        try:
            yield captured
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            _flush_c_stdio()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
