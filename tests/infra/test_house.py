"""House rules a newcomer can rely on: no module too long to read in one sitting, no import cycles in the sandbox."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 300
# Where the line limit applies (directories and single files, relative to the repository root).
CHECKED_ROOTS = ["sandbox", "stacks", "incidents_cli", "tools", "lambdas", "app.py"]
# Packages whose modules must not import each other in a cycle (imports under `if TYPE_CHECKING:` and inside
# functions count too: a cycle hidden from the interpreter still ties the modules together for a reader).
ACYCLIC_PACKAGES = ["sandbox", "stacks", "incidents_cli", "tools"]


def _modules(root: str) -> list[Path]:
    path = ROOT / root
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts and not p.name.startswith("test_"))


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("root", CHECKED_ROOTS)
def test_no_module_is_longer_than_the_limit(root):
    modules = _modules(root)
    assert modules, f"{root} has no Python modules: is CHECKED_ROOTS out of date?"
    too_long = {str(path.relative_to(ROOT)): _line_count(path) for path in modules if _line_count(path) > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them by what each part owns): {too_long}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of `known` that `module` (at `path`) imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:  # `from pkg import submodule` names the submodule, anything else the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known and name != module}


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (edges go to the module an import names)."""
    paths = {_module_name(path): path for path in sorted((ROOT / package).rglob("*.py")) if "__pycache__" not in path.parts}
    known = set(paths)
    return {module: _imports(path, module, known) for module, path in paths.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan), each as a closed path a -> ... -> a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(graph, set(component)) for component in components]


def _closed_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A cycle through the component's first module, found breadth-first inside the component."""
    start = min(component)
    paths = {target: [start, target] for target in graph[start] if target in component}
    frontier = list(paths)
    while start not in paths:
        node = frontier.pop(0)
        for target in sorted(graph[node]):
            if target in component and target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    return paths[start]


@pytest.mark.parametrize("package", ACYCLIC_PACKAGES)
def test_no_import_cycles(package):
    graph = import_graph(package)
    assert len(graph) > 1, f"{package} has no modules: is ACYCLIC_PACKAGES out of date?"
    cycles = [" -> ".join(cycle) for cycle in find_cycles(graph)]
    assert not cycles, f"import cycles in {package}: {cycles}"


def test_the_cycle_finder_finds_a_cycle_through_type_checking_imports(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .b import B\n")
    (package / "a.py").write_text("from .sub.b import B\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import A\nclass B: ...\n"
    )
    (package / "c.py").write_text("from . import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = import_graph("pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]
