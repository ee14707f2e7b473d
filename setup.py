"""kbnn: train binarized neural networks in Keras 3 and run them on bitpacked kernels.

Building (``pip install -e .`` or ``pip install .``) also runs CMake on ``kernels/`` and copies
``_kbnn_tf_ops.so``, the TensorFlow op library (``kernels/tf``, compiled against the TensorFlow
that the build's Python imports), into ``kbnn/_lib/``.

The interpreter, the benchmark and ``libkbnn_delegate.so`` (``kernels/tflite``) are the
``kbnn-runtime`` distribution in ``runtime/`` (import ``kbnn_runtime``, no TensorFlow): kbnn
depends on it by a direct reference to this checkout's ``runtime/``, so ``pip install -e .``
installs both. ``python setup.py build_ext --inplace`` builds the delegate into
``runtime/kbnn_runtime/_lib`` too (the checkout then runs with ``PYTHONPATH`` alone).

Environment knobs: ``KBNN_CMAKE_BUILD_DIR`` (default ``build/kbnn-python``),
``KBNN_CMAKE_ARGS`` (extra ``-D`` options), ``CMAKE_BUILD_PARALLEL_LEVEL`` (default 2).
"""

import pathlib
import sys

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).resolve().parent

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
    # kbnn.Interpreter / kbnn.benchmark / the delegate: this checkout's runtime/ (not on PyPI).
    f"kbnn-runtime @ {(ROOT / 'runtime').as_uri()}",
    # kbnn.compat.load_larq_model reads tf-keras .h5 files (Keras' own h5 loader needs it too).
    "h5py>=3.10,<4",
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest>=8,<10",
        "scikit-learn>=1.5,<2",
        "matplotlib>=3.8,<4",
        # tests/tflite_builder.py writes .tflite files and flexbuffer options by hand.
        "flatbuffers>=24.3.25,<26",
    ],
    "demo": [
        "scikit-learn>=1.5,<2",
        "matplotlib>=3.8,<4",
    ],
}


# The CMake glue is kbnn-runtime's (runtime/kbnn_build.py): one copy for both distributions.
sys.path.insert(0, str(ROOT / "runtime"))
from kbnn_build import CMakeBuild, CMakeLibrary, delegate_wired  # noqa: E402

# kbnn/_lib holds the TF op library. The delegate belongs to kbnn-runtime (runtime/, a dependency
# installed from this checkout); `python setup.py build_ext --inplace` builds it into the
# checkout's runtime/kbnn_runtime/_lib as well, from the same CMake tree.
NATIVE_LIBS = [CMakeLibrary("kbnn._lib._kbnn_tf_ops", "kbnn_tf_ops", "_kbnn_tf_ops.so")]
DELEGATE_IN_CHECKOUT = ROOT / "runtime" / "kbnn_runtime" / "_lib" / "libkbnn_delegate.so"


class KbnnBuild(CMakeBuild):
    """The TF op library; in place (build_ext --inplace, editable installs) also the checkout's
    kbnn_runtime delegate, from the same CMake tree."""

    build_dir_name = "kbnn-python"
    cmake_options = ("-DKBNN_BUILD_TF_OPS=ON", "-DKBNN_BUILD_DELEGATE=ON")

    def extra_outputs(self):
        if (self.inplace or getattr(self, "editable_mode", False)) and delegate_wired():
            return [("kbnn_delegate", "libkbnn_delegate.so", DELEGATE_IN_CHECKOUT)]
        return []


setup(
    name="kbnn",
    version="0.1.0",
    description="Binarized neural networks for Keras 3 with bitpacked TFLite kernels",
    long_description=open(ROOT / "README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kbnn", "kbnn.*"]),
    ext_modules=NATIVE_LIBS,
    cmdclass={"build_ext": KbnnBuild},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["kbnn=kbnn.cli:main"]},
    license="Apache-2.0",
    zip_safe=False,
)
