"""setuptools glue that builds kbnn's native libraries with CMake (kernels/).

One copy, used by both distributions of the repository:

* runtime/setup.py (``kbnn-runtime``) builds ``libkbnn_delegate.so`` only: no TensorFlow;
* the top-level setup.py (``kbnn``) builds the TensorFlow op library ``_kbnn_tf_ops.so`` (and, for
  ``python setup.py build_ext --inplace``, the delegate into ``runtime/kbnn_runtime/_lib`` too).

Environment knobs: ``KBNN_CMAKE_BUILD_DIR`` (the CMake tree; default ``build/<name>`` of the
checkout), ``KBNN_CMAKE_ARGS`` (extra ``-D`` options, e.g. a cross toolchain file),
``CMAKE_BUILD_PARALLEL_LEVEL`` (default 2), ``KBNN_WHEEL_PLAT`` (the wheel's platform tag; default
``linux_<arch>`` of the built library, read from its ELF header, so cross builds are tagged right;
scripts/build_wheels.sh then retags the wheels ``manylinux_*`` with auditwheel).

Where things are written: ``build_ext --inplace`` and editable installs (development) keep the CMake
tree in ``<checkout>/build/<name>`` (git-ignored; rebuilds are incremental). Every other build
(``pip install ./runtime``, ``pip wheel``, building from an sdist) writes setuptools' ``build/``,
the ``*.egg-info`` and the CMake tree into a temporary directory, never into the source tree
(``python setup.py sdist`` still writes its egg-info there: setuptools lists the sdist from it).

The sources: ``kernels/`` beside this file (an sdist of kbnn-runtime carries it there, see
runtime/setup.py) or beside its directory (a checkout, or an sdist of kbnn).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from setuptools import Extension
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext
from setuptools.command.egg_info import egg_info

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - older setuptools: the wheel package's command
    from wheel.bdist_wheel import bdist_wheel

HERE = pathlib.Path(__file__).resolve().parent
# The CMake project kernels/: beside this file in kbnn-runtime's sdist, else in the checkout root
# (runtime/ sits beside kernels/; kbnn's sdist keeps that layout).
ROOT = HERE if (HERE / "kernels" / "CMakeLists.txt").is_file() else HERE.parent
KERNELS = ROOT / "kernels"
VERSION_FILE = pathlib.Path("kbnn_runtime") / "_version.py"
# ELF e_machine -> the platform tag's architecture.
_ELF_MACHINES = {62: "x86_64", 183: "aarch64", 40: "armv7l", 3: "i686"}
_built_machines: set = set()


class CMakeLibrary(Extension):
    """A shared library built by the CMake target ``target`` (output file ``filename``)."""

    def __init__(self, name, target, filename):
        super().__init__(name, sources=[])
        self.target = target
        self.filename = filename


def read_version(runtime_dir) -> str:
    """The version written in ``<runtime_dir>/kbnn_runtime/_version.py`` (read as text: the package
    is not imported at build time)."""
    path = pathlib.Path(runtime_dir) / VERSION_FILE
    match = re.search(r'^__version__ = "([^"]+)"$', path.read_text(encoding="utf-8"), re.M)
    if not match:
        raise RuntimeError(f'{path} must hold one line __version__ = "X.Y.Z"')
    return match.group(1)


def _scratch(kind: str) -> str:
    """A temporary directory for one build's intermediate files, removed when the build exits."""
    path = tempfile.mkdtemp(prefix=f"kbnn-{kind}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _sdist_run() -> bool:
    return "sdist" in sys.argv[1:]


class OutOfTreeBuild(build):
    """setuptools' ``build/`` in a temporary directory unless ``--build-base`` says where: a
    ``pip install ./runtime`` writes nothing into the source tree. (Editable installs set their own
    temporary directories.)"""

    def initialize_options(self):
        super().initialize_options()
        self.build_base = _scratch("build")


class OutOfTreeEggInfo(egg_info):
    """The ``*.egg-info`` of wheel builds in a temporary directory (``--egg-base`` overrides). An sdist
    keeps it in the tree: setuptools makes the sdist's file list and PKG-INFO from it."""

    def initialize_options(self):
        super().initialize_options()
        if not _sdist_run():
            self.egg_base = _scratch("egg-info")


# Command classes every kbnn setup.py uses (plus its own build_ext / bdist_wheel).
OUT_OF_TREE_COMMANDS = {"build": OutOfTreeBuild, "egg_info": OutOfTreeEggInfo}


def delegate_wired() -> bool:
    """kernels/ can build the delegate: its sources (kernels/tflite, with their CMakeLists.txt) are
    present. A checkout and the kbnn-runtime sdist have them; the kbnn sdist does not (there
    kernels/CMakeLists.txt's KBNN_BUILD_DELEGATE must stay OFF)."""
    return (KERNELS / "tflite" / "CMakeLists.txt").is_file()


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

    build_dir_name = "kbnn-python"  # in-place/editable CMake tree: <checkout>/build/<build_dir_name>
    cmake_options: tuple = ()

    def _in_place(self) -> bool:
        """A development build (``build_ext --inplace``, editable install); asked before run()."""
        if hasattr(self, "_was_in_place"):
            return self._was_in_place
        return bool(self.inplace or getattr(self, "editable_mode", False))

    def _cmake_options(self) -> list:
        """``cmake_options`` (subclasses may depend on the kind of build)."""
        return list(self.cmake_options)

    def _prefix_maps(self) -> list:
        """``-ffile-prefix-map`` options: source paths that end up in the library (``__FILE__`` in
        assertion messages, TensorFlow's CHECK macros) are written relative, so no path of the
        build machine is in a built artifact."""
        maps = [f"-ffile-prefix-map={KERNELS}=kernels"]
        spec = importlib.util.find_spec("tensorflow")
        if spec is not None and spec.submodule_search_locations:
            site = pathlib.Path(next(iter(spec.submodule_search_locations))).resolve().parent
            maps.append(f"-ffile-prefix-map={site}=site-packages")
        return maps

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
        self._was_in_place = self._in_place()
        super().run()
        for target, filename, dest in self._extras:
            self._copy(self._cmake(), target, filename, pathlib.Path(dest))

    def _cmake(self):
        if getattr(self, "_cmake_built", False):
            return self._build_dir
        if not (KERNELS / "CMakeLists.txt").is_file():
            raise RuntimeError(
                f"{KERNELS} not found: kbnn's native libraries are built from a kbnn "
                "checkout (runtime/ must sit beside kernels/)."
            )
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("kbnn needs CMake >= 3.16 to build its native libraries (pip install cmake).")
        if os.environ.get("KBNN_CMAKE_BUILD_DIR"):
            build_dir = pathlib.Path(os.environ["KBNN_CMAKE_BUILD_DIR"])
        elif self._in_place():
            build_dir = ROOT / "build" / self.build_dir_name
        else:  # pip install / pip wheel: in setuptools' temporary build directory
            build_dir = pathlib.Path(self.build_temp) / "cmake"
        build_dir = build_dir.resolve()
        build_dir.mkdir(parents=True, exist_ok=True)
        # CMake takes CFLAGS/CXXFLAGS/LDFLAGS from the environment only when these are not given.
        maps = " ".join(shlex.quote(f) for f in self._prefix_maps())
        cflags, cxxflags = (f"{os.environ.get(var, '')} {maps}".strip() for var in ("CFLAGS", "CXXFLAGS"))
        ldflags = os.environ.get("LDFLAGS", "")
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
            f"-DCMAKE_C_FLAGS={cflags}",
            f"-DCMAKE_CXX_FLAGS={cxxflags}",
            f"-DCMAKE_SHARED_LINKER_FLAGS={ldflags}",
            *self._cmake_options(),
            *shlex.split(os.environ.get("KBNN_CMAKE_ARGS", "")),
        ]
        subprocess.run(args, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
        names = [ext.target for ext in self.extensions if isinstance(ext, CMakeLibrary)]
        targets = [
            arg
            for name in names + [t for t, _, _ in getattr(self, "_extras", [])]
            for arg in ("--target", name)
        ]
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
