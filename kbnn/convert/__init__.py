"""Conversion of kbnn Keras models to TFLite files with bitpacked custom ops.

``kbnn.convert`` is this package and is callable: ``kbnn.convert(model, "m.tflite")`` is
:func:`convert`, which runs :func:`kbnn.convert.converter.convert` (the pipeline of stages, see
there) and keeps its report as ``kbnn.convert.last_report``; ``kbnn.convert.schema``,
``kbnn.convert.lower`` and ``kbnn.convert.last_report`` stay reachable as attributes.
"""

import functools as _functools
import sys as _sys
import types as _types

from kbnn.convert import converter, schema  # noqa: F401
from kbnn.convert.converter import (  # noqa: F401
    ConversionError,
    ConversionReport,
    ConversionWarning,
    LayerReport,
    LoweredModel,
    lower,
)
from kbnn.convert.int8 import RepresentativeDatasetError  # noqa: F401

last_report = None
"""The :class:`ConversionReport` of the most recent :func:`convert` call."""


@_functools.wraps(converter.convert)
def convert(model, path=None, **kwargs):
    global last_report
    return_report = kwargs.pop("return_report", False)
    data, last_report = converter.convert(model, path, return_report=True, **kwargs)
    return (data, last_report) if return_report else data


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        return convert(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
