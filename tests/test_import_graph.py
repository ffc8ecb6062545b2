"""The import graph of src/disgu has no cycle: between modules, and between the top-level packages.

Read from the source with `ast` (nothing is imported), counting every import: top-level, inside
functions and under `if TYPE_CHECKING:`. A cycle between packages is an import running upward: the
packages then form no layers. `disgu` itself (its `__init__`) is a node of its own at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, a package standing for its __init__.py."""
    out = {}
    for path in sorted((src / "disgu").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` lives in: itself, or the nearest enclosing module (an attribute import)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """module -> the disgu modules it imports."""
    modules = _modules(src)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` imports the submodule where there is one, else pkg itself
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for name in names:
                target = _resolve(name, modules) if name.split(".")[0] == "disgu" else None
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between disgu's top-level packages and modules (disgu.data, disgu.models, ...)."""
    def top(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        out.setdefault(top(module), set()).update(top(t) for t in targets if top(t) != top(module))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(import_graph()) == []


def test_the_top_level_packages_form_layers():
    assert cycles(package_graph(import_graph())) == []


def test_the_checker_sees_a_type_checking_cycle_and_an_upward_import(tmp_path: Path):
    pkg = tmp_path / "disgu"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from disgu.a import x\n")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .y import Y\n")
    (pkg / "a" / "y.py").write_text("from disgu.a import x\n\ndef f():\n    from disgu import __version__\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["disgu", "disgu.a.x", "disgu.a.y"]]
    assert cycles(package_graph(graph)) == [["disgu", "disgu.a"]]
