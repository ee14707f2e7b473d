"""kbnn's interpreter and benchmark are kbnn-runtime's (one copy, no TensorFlow in them).

Imports ``kbnn_runtime`` (installed by kbnn's dependency ``kbnn-runtime``; in a source checkout
used through ``PYTHONPATH`` only, the checkout's ``runtime/`` is taken) and registers its modules
as ``kbnn.interpreter`` and ``kbnn.benchmark``: the same module objects, so
``kbnn.Interpreter is kbnn_runtime.Interpreter`` and ``from kbnn.interpreter import ...`` keep working.
"""

import importlib
import sys
from pathlib import Path

try:
    import kbnn_runtime
except ModuleNotFoundError as e:
    if e.name != "kbnn_runtime":
        raise
    _checkout = Path(__file__).resolve().parents[1] / "runtime"
    if not (_checkout / "kbnn_runtime" / "__init__.py").is_file():
        raise ModuleNotFoundError(
            "kbnn needs kbnn-runtime (the interpreter, benchmark and delegate): `pip install ./runtime` "
            "in the kbnn source tree, or reinstall kbnn with `pip install -e ./runtime -e .`.",
            name="kbnn_runtime",
        ) from e
    sys.path.append(str(_checkout))
    import kbnn_runtime

for _name in ("interpreter", "benchmark"):
    _module = sys.modules.setdefault(f"kbnn.{_name}", importlib.import_module(f"kbnn_runtime.{_name}"))
    setattr(sys.modules["kbnn"], _name, _module)  # an import finding it in sys.modules does not

__all__ = ["kbnn_runtime"]
