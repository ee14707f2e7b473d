"""The test suite's own rules (issue 21, items 5 and 6; docs/architecture.md, "Tests").

* Skips are only for what a user's machine can really lack (an ISA, QEMU, a toolchain), never for
  work that is "not yet" done: such a skip turns a regression into a silent pass. Every module
  under tests/ is read with ``ast`` and the reasons given to ``pytest.skip``,
  ``pytest.mark.skipif``/``skip``, ``pytest.importorskip`` and ``pytest.xfail`` are checked (plain
  strings and the literal parts of f-strings).
* Helpers live in tests/support/; tests/ itself holds only test modules and conftest.py.
* Markers are strict (pyproject.toml: strict_markers = true): a misspelt ``integration`` fails.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FORBIDDEN = re.compile(r"\byet\b|not part of this checkout|not in this checkout", re.IGNORECASE)
SKIP_CALLS = {"skip", "skipif", "importorskip", "xfail"}


def _is_skip_call(node: ast.Call) -> bool:
    """pytest.skip(...), pytest.mark.skipif(...), pytest.importorskip(...), pytest.xfail(...),
    pytest.mark.xfail(...) (the attribute chain starts at the name ``pytest``)."""
    func = node.func
    if not isinstance(func, ast.Attribute) or func.attr not in SKIP_CALLS:
        return False
    base = func.value
    while isinstance(base, ast.Attribute):
        base = base.value
    return isinstance(base, ast.Name) and base.id == "pytest"


def _texts(node: ast.AST) -> list[str]:
    """The string literals in a call's arguments (f-strings: their literal parts)."""
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def skip_reasons(source: str, filename: str = "<test>") -> list[tuple[int, str]]:
    """(line, text) of every string literal passed to a pytest skip/xfail call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _is_skip_call(node):
            args = [*node.args, *(k.value for k in node.keywords)]
            found += [(node.lineno, text) for arg in args for text in _texts(arg)]
    return found


def test_the_scan_finds_forbidden_reasons():
    """The scanner itself: it must see reasons in each call form, or the real check below could
    never fail."""
    source = """
import pytest
pytestmark = pytest.mark.skipif(True, reason="the op is not yet ported")
@pytest.mark.skip(reason=f"{x} is not part of this checkout")
def test_a():
    pytest.skip("waiting: not available yet")
    pytest.importorskip("foo", reason="QEMU is missing")
"""
    bad = [(line, text) for line, text in skip_reasons(source) if FORBIDDEN.search(text)]
    assert [line for line, _ in bad] == [3, 4, 6]
    assert any("QEMU" in text for _, text in skip_reasons(source))


@pytest.mark.parametrize("path", sorted(TESTS.rglob("*.py")), ids=lambda p: str(p.relative_to(TESTS)))
def test_no_skip_for_work_not_done(path):
    bad = [
        f"{path.relative_to(TESTS.parent)}:{line}: {text!r}"
        for line, text in skip_reasons(path.read_text(encoding="utf-8"), str(path))
        if FORBIDDEN.search(text)
    ]
    assert not bad, (
        "skip reasons must name a condition a user's machine can lack (an ISA, QEMU, "
        "a toolchain), not unfinished work:\n" + "\n".join(bad)
    )


def test_helpers_live_in_support():
    stray = [p.name for p in TESTS.glob("*.py") if p.name != "conftest.py" and not p.name.startswith("test_")]
    assert not stray, f"non-test modules belong in tests/support/: {stray}"
    assert (TESTS / "support" / "__init__.py").is_file()
    assert not list((TESTS / "support").glob("test_*.py")), "tests/support/ holds helpers, no tests"


def _collect(tmp_path: Path, marker: str) -> subprocess.CompletedProcess:
    test = tmp_path / "test_marker.py"
    test.write_text(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x():\n    pass\n")
    config = TESTS.parent / "pyproject.toml"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(config),
            "--rootdir",
            str(tmp_path),
            str(test),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_integration_marker_is_registered_and_strict(tmp_path):
    ok = _collect(tmp_path, "integration")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    typo = _collect(tmp_path, "integraton")
    assert typo.returncode != 0 and "integraton" in typo.stdout + typo.stderr, typo.stdout + typo.stderr
