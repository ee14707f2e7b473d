"""The converter package's structure (issue 21): every function of kbnn/convert/ is at most
MAX_LINES lines of code long, no module of it imports a private name (``_x``) of another module, and
lowering / multibase / plan do not import each other in a circle. The checks run on the source
with ``ast``; the last tests feed them bad code to show that they can fail."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kbnn" / "convert"
MAX_LINES = 60


def _modules():
    return sorted(PACKAGE.glob("*.py"))


def _docstring_lines(node) -> int:
    first = node.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if is_doc and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def long_functions(source: str, max_lines: int = MAX_LINES) -> list:
    """``[(name, lines)]`` of the functions (methods, nested functions) longer than ``max_lines``,
    counted from the ``def`` (decorators excluded) to the last line of the body, without the
    docstring (``convert``'s documents a dozen arguments; the limit is on code)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
            if lines > max_lines:
                found.append((node.name, lines))
    return found


def private_imports(source: str, module: str) -> list:
    """Private names (``_x``, not dunders) that ``source`` imports from another module:
    ``from m import _x``, or ``m._x`` for a module ``m`` it imported by name."""
    tree = ast.parse(source)
    found, imported = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != module:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                else:
                    imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def _convert_imports(source: str) -> set:
    """The kbnn.convert modules that ``source`` imports (any form)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "kbnn.convert":
                names.update(a.name for a in node.names)
            elif node.module.startswith("kbnn.convert."):
                names.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[2] for a in node.names if a.name.startswith("kbnn.convert."))
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_functions_are_short(path):
    assert long_functions(path.read_text()) == [], f"{path.name}: functions over {MAX_LINES} lines"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_private_names_of_other_modules(path):
    module = "kbnn.convert." + path.stem
    assert private_imports(path.read_text(), module) == [], f"{path.name} imports private names"


def test_no_import_circle_in_the_converter():
    graph = {
        p.stem: _convert_imports(p.read_text()) & {q.stem for q in _modules()}
        for p in _modules()
        if p.stem != "__init__"
    }

    def reaches(start, goal, seen=()):
        nexts = graph.get(start, ())
        return any(n == goal or (n not in seen and reaches(n, goal, seen + (n,))) for n in nexts)

    circles = [m for m in graph if reaches(m, m)]
    assert circles == [], f"modules of kbnn/convert in an import circle: {circles}"


def test_the_checks_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions(f"def f():\n{body}\n") == [("f", MAX_LINES + 1)]
    assert long_functions(f"def f():\n{body}\n", max_lines=MAX_LINES + 1) == []
    assert long_functions(f'def f():\n    """doc\n\n    more"""\n{body}\n') == [("f", MAX_LINES + 1)]
    bad = (
        "from kbnn.convert.lowering import _Ref\nfrom kbnn.convert import int8\n"
        "import kbnn_runtime.interpreter as kint\nx = int8._TENSOR_INT8\ny = kint._wrap\n"
    )
    assert private_imports(bad, "kbnn.convert.converter") == [
        "kbnn.convert.lowering._Ref",
        "int8._TENSOR_INT8",
        "kint._wrap",
    ]
    assert private_imports("from kbnn.convert.plan import Step\nimport os\nos.__name__\n", "m") == []
    assert _convert_imports("from kbnn.convert import plan, multibase\nimport kbnn.convert.graph\n") == {
        "plan",
        "multibase",
        "graph",
    }
