"""Packaging of kbnn and kbnn-runtime: one version, publishable metadata, sdists that carry what
they build from, and builds that write nothing into the source tree.

The wheels themselves (auditwheel, twine, the install without a compiler, aarch64 under QEMU) are
checked by scripts/build_wheels.sh, scripts/test_wheel_install.sh (scripts/test.sh runs both) and
tests/test_aarch64_runtime_wheel.py.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "runtime" / "kbnn_runtime" / "_version.py"


def _check_dist():
    spec = importlib.util.spec_from_file_location("check_dist", ROOT / "scripts" / "check_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _version() -> str:
    return re.search(r'^__version__ = "([^"]+)"$', VERSION_FILE.read_text(), re.M).group(1)


def _copy_checkout(dest: Path) -> Path:
    """The checkout's tracked and untracked-but-not-ignored files (what a fresh clone holds)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _tree(path: Path) -> set:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


def _build_sdist(project: Path, out: Path) -> Path:
    """setuptools' PEP 517 build_sdist hook, run in ``project`` (what `python -m build --sdist` calls)."""
    code = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / proc.stdout.strip().splitlines()[-1]


def test_one_version_for_both_distributions():
    version = _version()
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z]+\d+)?", version), version
    # Nowhere else is a version written: both build files read the version file.
    pyproject = (ROOT / "runtime" / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "kbnn_runtime._version.__version__" }' in pyproject
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)
    setup_py = (ROOT / "setup.py").read_text()
    assert "version=VERSION" in setup_py and 'f"kbnn-runtime=={VERSION}"' in setup_py
    for path in (
        ROOT / "setup.py",
        ROOT / "pyproject.toml",
        ROOT / "kbnn" / "__init__.py",
        ROOT / "runtime" / "kbnn_runtime" / "__init__.py",
    ):
        assert version not in path.read_text(), f"{path} writes the version {version} itself"
    import kbnn
    import kbnn_runtime

    assert kbnn.__version__ == kbnn_runtime.__version__ == version


@pytest.mark.integration
def test_sdists_carry_their_sources_and_publishable_metadata(tmp_path):
    src = _copy_checkout(tmp_path / "src")
    out = tmp_path / "dist"
    out.mkdir()
    version = _version()
    runtime_sdist = _build_sdist(src / "runtime", out)
    kbnn_sdist = _build_sdist(src, out)
    assert runtime_sdist.name == f"kbnn_runtime-{version}.tar.gz"
    assert kbnn_sdist.name == f"kbnn-{version}.tar.gz"
    check_dist = _check_dist()
    for sdist in (runtime_sdist, kbnn_sdist):
        problems, row = check_dist.check_artifact(sdist, [str(ROOT), str(tmp_path)], version)
        assert problems == [], problems
    with tarfile.open(runtime_sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        pkg_info = t.extractfile(f"kbnn_runtime-{version}/PKG-INFO").read().decode()
    # The runtime sdist builds from itself: the delegate's kernels/ is inside it.
    for name in (
        "kbnn_build.py",
        "LICENSE",
        "README.md",
        "kbnn_runtime/_version.py",
        "kernels/CMakeLists.txt",
        "kernels/tflite/delegate.cc",
        "kernels/tflite/exports.map",
        "kernels/tflite/ops/kbnn_bconv2d.cc",
        "kernels/common/bconv2d_options.h",
        "kernels/src/ops/bconv2d.cc",
        "kernels/include/kbnn/kbnn.h",
        "kernels/cmake/arm.cmake",
    ):
        assert name in names, f"{name} missing from {runtime_sdist.name}"
    assert not any(n.startswith(("kernels/tests/", "kernels/bench/", "kernels/tf/")) for n in names)
    assert "License-Expression: Apache-2.0" in pkg_info and "Classifier: " in pkg_info
    with tarfile.open(kbnn_sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
        pkg_info = t.extractfile(f"kbnn-{version}/PKG-INFO").read().decode()
    for name in (
        "setup.py",
        "LICENSE",
        "runtime/kbnn_build.py",
        "runtime/kbnn_runtime/_version.py",
        "kernels/tf/kbnn_tf_ops.cc",
        "kernels/common/bconv2d_options.h",
        "kernels/CMakeLists.txt",
        "kbnn/_lib/__init__.py",
    ):
        assert name in names, f"{name} missing from {kbnn_sdist.name}"
    assert not any(n.startswith("tests/") for n in names)
    assert f"Requires-Dist: kbnn-runtime=={version}\n" in pkg_info
    assert "License-Expression: Apache-2.0" in pkg_info


def test_check_dist_names_a_path_and_a_direct_reference(tmp_path):
    """The release check must fail on the metadata kbnn had before (a file:// direct reference)."""
    version = _version()
    wheel = tmp_path / f"kbnn-{version}-py3-none-linux_x86_64.whl"
    metadata = textwrap.dedent(f"""\
        Metadata-Version: 2.4
        Name: kbnn
        Version: {version}
        Requires-Dist: kbnn-runtime @ file://{ROOT}/runtime

        """)
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(f"kbnn-{version}.dist-info/METADATA", metadata)
        z.writestr("kbnn/_lib/_kbnn_tf_ops.so", b"\x7fELF..." + str(ROOT).encode() + b"/kernels/tf/x.cc")
    problems, _ = _check_dist().check_artifact(wheel, [str(ROOT)], version)
    text = "\n".join(problems)
    assert "kbnn must require kbnn-runtime==" in text
    assert "'file://'" in text and f"holds {str(ROOT)!r}" in text
    assert "kbnn/_lib/_kbnn_tf_ops.so" in text
    assert "not manylinux_*" in text and "no License-Expression" in text


@pytest.mark.integration
@pytest.mark.skipif(
    shutil.which("g++") is None or shutil.which("cmake") is None, reason="needs g++ and cmake"
)
def test_pip_install_runtime_writes_nothing_into_the_source_tree(tmp_path):
    """Issue 22: `pip install ./runtime` wrote runtime/build, runtime/*.egg-info and the checkout's
    build/ (the CMake tree). The real runtime/ with a one-file stand-in for kernels/ (the setuptools
    and CMake glue is what is tested; scripts/build_wheels.sh builds the real delegate)."""
    src = tmp_path / "checkout"
    shutil.copytree(
        ROOT / "runtime",
        src / "runtime",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", "build", "*.egg-info"),
    )
    kernels = src / "kernels"
    kernels.mkdir()
    (kernels / "CMakeLists.txt").write_text(
        textwrap.dedent("""\
        cmake_minimum_required(VERSION 3.16)
        project(stand_in LANGUAGES CXX)
        add_library(kbnn_delegate SHARED delegate.cc)
        """)
    )
    (kernels / "delegate.cc").write_text('extern "C" int kbnn_delegate_kernel_isa() { return 0; }\n')
    before = _tree(src)
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="1")
    env.pop("KBNN_CMAKE_BUILD_DIR", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(tmp_path / "site"),
            "./runtime",
        ],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "kbnn_runtime" / "_lib" / "libkbnn_delegate.so").is_file()
    assert _tree(src) - before == set(), f"written into the source tree: {sorted(_tree(src) - before)}"


def _kbnn_build():
    spec = importlib.util.spec_from_file_location("kbnn_build_under_test", ROOT / "runtime" / "kbnn_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_delegate_wired_asks_for_the_sources_not_for_cmake_text(tmp_path, monkeypatch):
    """`build_ext --inplace` builds the delegate when kernels/tflite is there, however
    kernels/CMakeLists.txt spells its add_subdirectory (it used to grep for one spelling), and not
    in a tree without it (the kbnn sdist)."""
    kbnn_build = _kbnn_build()
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    (kernels / "CMakeLists.txt").write_text(
        "if(KBNN_BUILD_DELEGATE)\n  add_subdirectory( tflite )\nendif()\n"
    )
    monkeypatch.setattr(kbnn_build, "KERNELS", kernels)
    assert not kbnn_build.delegate_wired()
    (kernels / "tflite").mkdir()
    (kernels / "tflite" / "CMakeLists.txt").write_text("add_library(kbnn_delegate SHARED delegate.cc)\n")
    assert kbnn_build.delegate_wired()
