"""The modules of kbnn/ import one another one way: the graph of every import statement (at
module level or inside a function: a deferred import still ties the two modules together) has
no cycle. Built from the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file below ``package_dir`` (a package's name
    stands for its __init__.py)."""
    modules = {}
    base = package_dir.parent
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a known module (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports. ``from p import n`` counts as an import
    of ``p.n`` where ``n`` is a submodule, else of ``p``; relative imports are resolved."""
    modules = module_files(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def cyclic_groups(graph: dict[str, set[str]]) -> list[set[str]]:
    """The sets of modules that import one another in a circle (the graph's strongly connected
    components of more than one module), each found by removing the others' edges."""
    groups: list[set[str]] = []
    remaining = {k: set(v) for k, v in graph.items()}
    while (cycle := find_cycle(remaining)) is not None:
        group = set(cycle)
        # Grow to the whole component: the modules reachable from the cycle that reach it back.
        reach = _reachable(remaining, group)
        back = _reachable({k: {m for m in remaining if k in remaining[m]} for k in remaining}, group)
        group = reach & back
        groups.append(group)
        for name in group:
            remaining[name] -= group
    return groups


def _reachable(graph: dict[str, set[str]], starts: set[str]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_kbnn_modules_import_each_other_without_a_cycle():
    graph = import_graph(ROOT / "kbnn")
    assert "kbnn.compat.larq" in graph and "kbnn.models.quicknet" in graph
    groups = cyclic_groups(graph)
    assert not groups, (
        f"import cycles in kbnn/ (modules that import one another): {[sorted(g) for g in groups]}"
    )


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(
    "files",
    [
        # The shape of the circle issue 21 removed: a zoo module defers its import of the
        # importer package, whose module imports the zoo module back inside a function.
        {
            "pkg/__init__.py": "",
            "pkg/compat/__init__.py": "from pkg.compat.larq import load\n",
            "pkg/compat/larq.py": "def load():\n    from pkg.models.quicknet import BlurPool\n",
            "pkg/models/__init__.py": "",
            "pkg/models/quicknet.py": "def build():\n    from pkg.compat import load\n",
        },
        {"pkg/__init__.py": "", "pkg/a.py": "from . import b\n", "pkg/b.py": "import pkg.a\n"},
        {"pkg/__init__.py": "from pkg.x import f\n", "pkg/x.py": "from . import f\n"},
    ],
    ids=["deferred_zoo_importer_circle", "relative_and_absolute", "package_init"],
)
def test_the_cycle_check_finds_cycles(tmp_path, files):
    cycle = find_cycle(import_graph(write_tree(tmp_path, files)))
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) >= 3


def test_the_cycle_check_accepts_one_way_layers(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg.models import build\n",
        "pkg/initializers.py": "import numpy\n",
        "pkg/compat.py": "from pkg.initializers import BlurPool\nfrom pkg import zoo_weights\n",
        "pkg/zoo_weights.py": "import os\n",
        "pkg/models.py": (
            "from .initializers import BlurPool\n\ndef build():\n    from .zoo_weights import r\n"
        ),
    }
    graph = import_graph(write_tree(tmp_path, files))
    assert graph["pkg.compat"] == {"pkg.initializers", "pkg.zoo_weights"}
    assert graph["pkg.models"] == {"pkg.initializers", "pkg.zoo_weights"}
    assert find_cycle(graph) is None
