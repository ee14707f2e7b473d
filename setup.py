"""kbnn: train binarized neural networks in Keras 3 and run them on bitpacked kernels.

Building (``pip install -e .`` or ``pip install .``) also runs CMake on ``kernels/`` and copies
the native libraries into ``kbnn/_lib/``:

* ``_kbnn_tf_ops.so`` — the TensorFlow op library (``kernels/tf``), compiled against the
  TensorFlow that the build's Python imports (its headers and ``libtensorflow_framework``);
* ``libkbnn_delegate.so`` — the TFLite external delegate (``kernels/tflite``).

Environment knobs: ``KBNN_CMAKE_BUILD_DIR`` (default ``build/kbnn-python``),
``KBNN_CMAKE_ARGS`` (extra ``-D`` options), ``CMAKE_BUILD_PARALLEL_LEVEL`` (default 2).
"""

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

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


class CMakeLibrary(Extension):
    """A shared library built by the CMake target ``target`` (output file ``filename``)."""

    def __init__(self, name, target, filename):
        super().__init__(name, sources=[])
        self.target = target
        self.filename = filename


# The native libraries shipped in kbnn/_lib. The delegate is built from kernels/tflite once that
# directory has its CMakeLists.txt; from then on it is required like the op library.
NATIVE_LIBS = [CMakeLibrary("kbnn._lib._kbnn_tf_ops", "kbnn_tf_ops", "_kbnn_tf_ops.so")]
if (ROOT / "kernels" / "tflite" / "CMakeLists.txt").is_file() and "add_subdirectory(tflite)" in (
    ROOT / "kernels" / "CMakeLists.txt"
).read_text():
    NATIVE_LIBS.append(CMakeLibrary("kbnn._lib.libkbnn_delegate", "kbnn_delegate", "libkbnn_delegate.so"))


class CMakeBuild(build_ext):
    """Configures and builds kernels/ once (Release, no tests/bench), then places each library
    where setuptools expects the extension (build_lib, or the source tree for editable installs)."""

    def get_ext_filename(self, fullname):
        # Plain library names (no Python ABI suffix). distutils asks with the last component
        # of the name (get_ext_fullpath), setuptools with the dotted name (editable installs).
        for ext in NATIVE_LIBS:
            if fullname == ext.name:
                return os.path.join(*ext.name.split(".")[:-1], ext.filename)
            if fullname == ext.name.rsplit(".", 1)[-1]:
                return ext.filename
        return super().get_ext_filename(fullname)

    def run(self):
        self._cmake_built = False
        super().run()

    def _cmake(self):
        if getattr(self, "_cmake_built", False):
            return self._build_dir
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("kbnn needs CMake >= 3.16 to build its native libraries (pip install cmake).")
        default_dir = ROOT / "build" / "kbnn-python"
        build_dir = pathlib.Path(os.environ.get("KBNN_CMAKE_BUILD_DIR", default_dir)).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        args = [
            cmake,
            "-S",
            str(ROOT / "kernels"),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DKBNN_BUILD_TESTS=OFF",
            "-DKBNN_BUILD_BENCH=OFF",
            "-DKBNN_BUILD_TF_OPS=ON",
            "-DKBNN_BUILD_DELEGATE=ON",
            "-DKBNN_DELEGATE_REQUIRED=ON",
            f"-DPython3_EXECUTABLE={sys.executable}",
            *shlex.split(os.environ.get("KBNN_CMAKE_ARGS", "")),
        ]
        subprocess.run(args, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        targets = [arg for ext in NATIVE_LIBS for arg in ("--target", ext.target)]
        subprocess.run([cmake, "--build", str(build_dir), "--parallel", jobs, *targets], check=True)
        self._cmake_built, self._build_dir = True, build_dir
        return build_dir

    def build_extension(self, ext):
        if not isinstance(ext, CMakeLibrary):
            return super().build_extension(ext)
        build_dir = self._cmake()
        found = sorted(build_dir.rglob(ext.filename))
        found = [p for p in found if "CMakeFiles" not in p.parts]
        if not found:
            raise RuntimeError(f"CMake target {ext.target} did not produce {ext.filename} under {build_dir}")
        dest = pathlib.Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], dest)
        os.chmod(dest, 0o755)


setup(
    name="kbnn",
    version="0.1.0",
    description="Binarized neural networks for Keras 3 with bitpacked TFLite kernels",
    long_description=open(ROOT / "README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["kbnn", "kbnn.*"]),
    ext_modules=NATIVE_LIBS,
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["kbnn=kbnn.cli:main"]},
    license="Apache-2.0",
    zip_safe=False,
)
