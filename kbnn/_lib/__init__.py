"""Native libraries built by setup.py (CMake on kernels/): _kbnn_tf_ops.so, libkbnn_delegate.so."""
