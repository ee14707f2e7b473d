"""setuptools glue that builds kbnn's native libraries with CMake (kernels/).

One copy, used by both distributions of the repository:

* runtime/setup.py (``kbnn-runtime``) builds ``libkbnn_delegate.so`` only: no TensorFlow;
* the top-level setup.py (``kbnn``) builds the TensorFlow op library ``_kbnn_tf_ops.so`` (and, for
  ``python setup.py build_ext --inplace``, the delegate into ``runtime/kbnn_runtime/_lib`` too).

Environment knobs: ``KBNN_CMAKE_BUILD_DIR`` (the CMake tree; default ``build/<name>`` of the
checkout), ``KBNN_CMAKE_ARGS`` (extra ``-D`` options, e.g. a cross toolchain file),
``CMAKE_BUILD_PARALLEL_LEVEL`` (default 2), ``KBNN_WHEEL_PLAT`` (the wheel's platform tag; default
``linux_<arch>`` of the built library, read from its ELF header, so cross builds are tagged right).
"""

from __future__ import annotations

import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension
from setuptools.command.build_ext import build_ext

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - older setuptools: the wheel package's command
    from wheel.bdist_wheel import bdist_wheel

# The checkout root: runtime/ sits beside kernels/.
ROOT = pathlib.Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"
# ELF e_machine -> the platform tag's architecture.
_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "armv7l", 3: "i686"}
_built_machines: set = set()


class CMakeLibrary(Extension):
    """A shared library built by the CMake target ``target`` (output file ``filename``)."""

    def __init__(self, name, target, filename):
        super().__init__(name, sources=[])
        self.target = target
        self.filename = filename


def delegate_wired() -> bool:
    """kernels/ builds the delegate (kernels/tflite is present and added to the CMake project)."""
    return (KERNELS / "tflite" / "CMakeLists.txt").is_file() and "add_subdirectory(tflite)" in (
        KERNELS / "CMakeLists.txt").read_text()


def elf_arch(path) -> str | None:
    """The architecture of an ELF file (``x86_64``, ``aarch64`` ...), None when unknown."""
    with open(path, "rb") as f:
        header = f.read(20)
    if header[:4] != b"\x7fELF" or len(header) < 20:
        return None
    return _ELF_MACHINES.get(int.from_bytes(header[18:20], "little" if header[5] == 1 else "big"))


class CMakeBuild(build_ext):
    """Configures and builds kernels/ once (Release, no tests/bench) with ``cmake_options``, then
    places each library where setuptools expects the extension (build_lib, or the source tree for
    in-place/editable builds), and each of ``extra_outputs()`` at its path."""

    build_dir_name = "kbnn-python"  # default CMake tree: <checkout>/build/<build_dir_name>
    cmake_options: tuple = ()

    def get_ext_filename(self, fullname):
        # Plain library names (no Python ABI suffix). distutils asks with the last component
        # of the name (get_ext_fullpath), setuptools with the dotted name (editable installs).
        for ext in self.extensions:
            if not isinstance(ext, CMakeLibrary):
                continue
            if fullname == ext.name:
                return os.path.join(*ext.name.split(".")[:-1], ext.filename)
            if fullname == ext.name.rsplit(".", 1)[-1]:
                return ext.filename
        return super().get_ext_filename(fullname)

    def extra_outputs(self) -> list:
        """(CMake target, file name, destination path) of libraries built beside the extensions."""
        return []

    def run(self):
        self._cmake_built = False
        # Asked before building: setuptools' build_ext.run() clears self.inplace while it builds
        # (and copies to the source tree afterwards), which extra_outputs() may depend on.
        self._extras = list(self.extra_outputs())
        super().run()
        for target, filename, dest in self._extras:
            self._copy(self._cmake(), target, filename, pathlib.Path(dest))

    def _cmake(self):
        if getattr(self, "_cmake_built", False):
            return self._build_dir
        if not (KERNELS / "CMakeLists.txt").is_file():
            raise RuntimeError(f"{KERNELS} not found: kbnn's native libraries are built from a kbnn "
                               "checkout (runtime/ must sit beside kernels/).")
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("kbnn needs CMake >= 3.16 to build its native libraries (pip install cmake).")
        default_dir = ROOT / "build" / self.build_dir_name
        build_dir = pathlib.Path(os.environ.get("KBNN_CMAKE_BUILD_DIR", default_dir)).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        args = [
            cmake,
            "-S",
            str(KERNELS),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DKBNN_BUILD_TESTS=OFF",
            "-DKBNN_BUILD_BENCH=OFF",
            "-DKBNN_DELEGATE_REQUIRED=ON",
            f"-DPython3_EXECUTABLE={sys.executable}",
            *self.cmake_options,
            *shlex.split(os.environ.get("KBNN_CMAKE_ARGS", "")),
        ]
        subprocess.run(args, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        names = [ext.target for ext in self.extensions if isinstance(ext, CMakeLibrary)]
        targets = [arg for name in names + [t for t, _, _ in getattr(self, "_extras", [])] for arg in ("--target", name)]
        subprocess.run([cmake, "--build", str(build_dir), "--parallel", jobs, *targets], check=True)
        self._cmake_built, self._build_dir = True, build_dir
        return build_dir

    def build_extension(self, ext):
        if not isinstance(ext, CMakeLibrary):
            return super().build_extension(ext)
        self._copy(self._cmake(), ext.target, ext.filename, pathlib.Path(self.get_ext_fullpath(ext.name)))

    @staticmethod
    def _copy(build_dir, target, filename, dest):
        found = sorted(p for p in build_dir.rglob(filename) if "CMakeFiles" not in p.parts)
        if not found:
            raise RuntimeError(f"CMake target {target} did not produce {filename} under {build_dir}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], dest)
        os.chmod(dest, 0o755)
        arch = elf_arch(dest)
        if arch:
            _built_machines.add(arch)


class PlatformWheel(bdist_wheel):
    """A wheel that holds native libraries but no CPython extension: ``py3-none-linux_<arch>``.

    The architecture is the built library's (so a cross build is tagged for its target);
    ``KBNN_WHEEL_PLAT`` overrides the platform tag.
    """

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        plat = os.environ.get("KBNN_WHEEL_PLAT")
        if not plat:
            if len(_built_machines) > 1:
                raise RuntimeError(f"native libraries of several architectures: {sorted(_built_machines)}")
            plat = f"linux_{next(iter(_built_machines))}" if _built_machines else super().get_tag()[2]
        return "py3", "none", plat
