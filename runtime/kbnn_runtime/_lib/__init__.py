"""libkbnn_delegate.so, built by runtime/setup.py (CMake on kernels/) or by the top-level
``setup.py build_ext --inplace``."""
