"""kbnn-runtime: run kbnn .tflite models on the stock TFLite runtime, without TensorFlow.

    import kbnn_runtime
    y = kbnn_runtime.Interpreter("m.tflite", num_threads=2).predict(x)
    print(kbnn_runtime.benchmark("m.tflite"))       # invoke time and per kbnn op

Holds ``libkbnn_delegate.so`` (the kbnn ops as a TFLite external delegate, every kernel ISA of the
platform chosen at run time), :class:`Interpreter`, :func:`load_delegate`, :func:`benchmark` and
the ``kbnn-run`` command. Needs numpy and ai_edge_litert (or tflite_runtime). The ``kbnn`` training
package builds on it: ``kbnn.Interpreter is kbnn_runtime.Interpreter``.
"""

from kbnn_runtime._version import __version__  # noqa: F401  (one version for both distributions)
from kbnn_runtime.benchmark import BenchmarkResult, OpTiming, benchmark  # noqa: F401
from kbnn_runtime.interpreter import (  # noqa: F401
    DelegateMissingError,
    DelegateNotFoundError,
    Interpreter,
    KbnnDelegateError,
    ModelCheckError,
    ModelError,
    RuntimeFailureError,
    delegate_path,
    explain_error,
    load_delegate,
    runtime_error,
    runtime_name,
    stock_interpreter,
    tensor_name,
)
from kbnn_runtime.model_check import check_model  # noqa: F401
