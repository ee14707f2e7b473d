"""kbnn-runtime: run kbnn .tflite models with the stock TFLite runtime, without TensorFlow.

``pip install ./runtime`` (or ``pip wheel ./runtime``) from a kbnn checkout runs CMake on
``../kernels`` and puts ``libkbnn_delegate.so`` (every kernel ISA of the target, chosen at run
time) into ``kbnn_runtime/_lib/``. Needs g++, CMake (a build requirement, from PyPI) and Debian's
header-only flatbuffers (``apt-get install libflatbuffers-dev``); no TensorFlow. Metadata:
pyproject.toml; build knobs: kbnn_build.py (``KBNN_CMAKE_ARGS`` for a cross toolchain ...).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # kbnn_build beside this file

from setuptools import setup  # noqa: E402

from kbnn_build import CMakeBuild, CMakeLibrary, PlatformWheel  # noqa: E402


class DelegateBuild(CMakeBuild):
    build_dir_name = "kbnn-runtime"
    cmake_options = ("-DKBNN_BUILD_TF_OPS=OFF", "-DKBNN_BUILD_DELEGATE=ON")


setup(
    ext_modules=[CMakeLibrary("kbnn_runtime._lib.libkbnn_delegate", "kbnn_delegate", "libkbnn_delegate.so")],
    cmdclass={"build_ext": DelegateBuild, "bdist_wheel": PlatformWheel},
)
