"""Conversion of kbnn Keras models to TFLite files with bitpacked custom ops.

``kbnn.convert`` is this package and is callable: ``kbnn.convert(model, "m.tflite")`` is
:func:`kbnn.convert.converter.convert`, while ``kbnn.convert.schema``,
``kbnn.convert.lower`` and ``kbnn.convert.last_report`` stay reachable as attributes.
"""

import sys as _sys
import types as _types

from kbnn.convert import schema  # noqa: F401
from kbnn.convert.converter import (  # noqa: F401
    ConversionError,
    ConversionReport,
    ConversionWarning,
    LayerReport,
    LoweredModel,
    convert,
    lower,
)
from kbnn.convert.int8 import RepresentativeDatasetError  # noqa: F401

last_report = None
"""The :class:`ConversionReport` of the most recent :func:`convert` call."""


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return convert(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
