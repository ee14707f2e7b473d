"""The version of both distributions, kbnn-runtime and kbnn (the only place it is written).

runtime/pyproject.toml reads it for kbnn-runtime, the top-level setup.py for kbnn (which requires
``kbnn-runtime==`` this version); ``kbnn.__version__`` and ``kbnn_runtime.__version__`` are it.
"""

__version__ = "0.1.0"
