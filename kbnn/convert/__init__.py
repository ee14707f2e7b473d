"""Conversion of kbnn Keras models to TFLite files with bitpacked custom ops."""

from kbnn.convert import schema  # noqa: F401
