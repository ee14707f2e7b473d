"""kbnn — binarized neural networks for Keras 3, bitpacked kernels for the stock TFLite runtimes."""

import os as _os

# kbnn is built on the TensorFlow backend of Keras 3 (conversion goes through TFLite).
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kbnn import (  # noqa: F401  (quantizers first: layers use them)  # noqa: E402,F401  # noqa: E402,F401  # noqa: E402,F401  # noqa: E402,F401
    _runtime_link,
    analysis,
    blocks,
    callbacks,
    checks,
    compat,
    constraints,
    convert,
    distillation,
    layers,
    models,
    optimizers,
    quantizers,
    regularizers,
    variables,
)
from kbnn.benchmark import benchmark  # noqa: F401
from kbnn.calibration import recalibrate_batchnorm  # noqa: F401
from kbnn.interpreter import Interpreter, load_delegate  # noqa: F401
from kbnn.summary import LayerSummary, ModelSummary, summary  # noqa: F401
from kbnn_runtime._version import __version__  # noqa: F401  (kbnn-runtime's: one version for both)
