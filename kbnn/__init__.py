"""kbnn — binarized neural networks for Keras 3, bitpacked kernels for the stock TFLite runtimes."""

import os as _os

# kbnn is built on the TensorFlow backend of Keras 3 (conversion goes through TFLite).
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kbnn import quantizers, variables  # noqa: E402,F401  (quantizers first: layers use them)
from kbnn import constraints, layers, regularizers  # noqa: E402,F401
from kbnn import callbacks, optimizers  # noqa: E402,F401
from kbnn import analysis, checks  # noqa: E402,F401
from kbnn import blocks, distillation, models  # noqa: E402,F401
from kbnn.summary import LayerSummary, ModelSummary, summary  # noqa: E402,F401
from kbnn.calibration import recalibrate_batchnorm  # noqa: E402,F401

from kbnn import convert  # noqa: E402,F401  (callable: kbnn.convert(model, path); kbnn.convert.schema)
from kbnn import _runtime_link  # noqa: E402,F401  (kbnn.interpreter, kbnn.benchmark = kbnn_runtime's)
from kbnn_runtime._version import __version__  # noqa: E402,F401  (kbnn-runtime's: one version for both)
from kbnn.interpreter import Interpreter, load_delegate  # noqa: E402,F401
from kbnn.benchmark import benchmark  # noqa: E402,F401
from kbnn import compat  # noqa: E402,F401  (load_larq_model, Larq Zoo weights)
