"""kbnn-runtime: run kbnn .tflite models with the stock TFLite runtime, without TensorFlow.

``pip install ./runtime`` (or ``pip wheel ./runtime``) from a kbnn checkout runs CMake on
``../kernels`` and puts ``libkbnn_delegate.so`` (every kernel ISA of the target, chosen at run
time) into ``kbnn_runtime/_lib/``. Needs g++, CMake (a build requirement, from PyPI) and Debian's
header-only flatbuffers (``apt-get install libflatbuffers-dev``); no TensorFlow. Nothing is written
into the source tree (kbnn_build.py: temporary build directories). Metadata: pyproject.toml (the
version: kbnn_runtime/_version.py); build knobs: kbnn_build.py (``KBNN_CMAKE_ARGS`` for a cross
toolchain ...).

The delegate links the system's libstdc++ dynamically; auditwheel tags its wheel with the
``manylinux_*`` policy that provides the glibc and libstdc++ symbol versions it uses
(scripts/build_wheels.sh; why not a static libstdc++: README "Wheels and releases").

The sdist (``python -m build --sdist runtime``) carries the part of ``../kernels`` the delegate is
built from (``kernels/`` inside the sdist), so it builds from itself.
"""

import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # kbnn_build beside this file

from setuptools import setup
from setuptools.command.sdist import sdist

from kbnn_build import KERNELS, OUT_OF_TREE_COMMANDS, CMakeBuild, CMakeLibrary, PlatformWheel

# What of kernels/ the delegate's CMake build reads (tests, benchmarks, the TF op library: not).
SDIST_KERNELS = ["CMakeLists.txt", "README.md", "cmake", "common", "include", "src", "tflite"]
SDIST_KERNELS_SKIP = shutil.ignore_patterns("*_test.cc", "__pycache__")


class DelegateBuild(CMakeBuild):
    build_dir_name = "kbnn-runtime"
    cmake_options = ("-DKBNN_BUILD_TF_OPS=OFF", "-DKBNN_BUILD_DELEGATE=ON")


class SdistWithKernels(sdist):
    """The sdist also holds ``kernels/`` (from the checkout's ``../kernels``, or from this sdist's own
    ``kernels/`` when an sdist is made from an unpacked sdist)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        if not (KERNELS / "CMakeLists.txt").is_file():
            raise RuntimeError(f"{KERNELS} not found: the kbnn-runtime sdist is made from a kbnn checkout")
        dest = pathlib.Path(base_dir) / "kernels"
        for name in SDIST_KERNELS:
            src = KERNELS / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=SDIST_KERNELS_SKIP, dirs_exist_ok=True)
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / name)


setup(
    ext_modules=[CMakeLibrary("kbnn_runtime._lib.libkbnn_delegate", "kbnn_delegate", "libkbnn_delegate.so")],
    cmdclass={
        "build_ext": DelegateBuild,
        "bdist_wheel": PlatformWheel,
        "sdist": SdistWithKernels,
        **OUT_OF_TREE_COMMANDS,
    },
)
