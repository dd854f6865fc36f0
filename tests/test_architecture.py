"""The layering issue 16 set up, checked so it stays: no import cycle between the package's parts
(function-level imports counted), inference free of the trainer and of pyplot, and every name the
command line offers accepted by the library."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import radiomicgan
from radiomicgan.methods import METHODS, resolve

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


def _loaded_by(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after `statement`."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_inference_loads_nothing_of_training_and_no_pyplot() -> None:
    loaded = _loaded_by(
        "import radiomicgan.inference, radiomicgan.inference.series, radiomicgan.inference.jobs, "
        "radiomicgan.inference.onnx_engine"
    )
    assert "radiomicgan.inference.harmonizer" in loaded  # the check saw the harmonizer
    trainer = sorted(m for m in loaded if m.startswith(("radiomicgan.train", "radiomicgan.methods")))
    assert trainer == []
    assert "matplotlib.pyplot" not in loaded


def _draws_through_pyplot(node: ast.AST) -> bool:
    """An import of matplotlib.pyplot, or a call of matplotlib.use (which switches a notebook's backend)."""
    if isinstance(node, ast.Import):
        return any(alias.name == "matplotlib.pyplot" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        names = {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        return "matplotlib.pyplot" in names
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "use"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "matplotlib"
    )


def test_the_pyplot_finder_finds_pyplot() -> None:
    for code in ("import matplotlib.pyplot as plt", "from matplotlib import pyplot", "matplotlib.use('Agg')"):
        assert any(_draws_through_pyplot(node) for node in ast.walk(ast.parse(code)))


def test_no_module_draws_through_pyplot_or_switches_matplotlibs_backend() -> None:
    offenders = [name for name, tree in _modules() if any(map(_draws_through_pyplot, ast.walk(tree)))]
    assert offenders == []


def test_every_choice_the_command_line_offers_is_one_the_library_accepts() -> None:
    from radiomicgan.cli import build_parser
    from radiomicgan.commands import evaluate, harmonize, train

    def _resolved(args: argparse.Namespace) -> object:
        return resolve(train.config_from_args(args))

    commands = {  # the least each command needs to parse, and how it turns options into settings
        "train": (
            ["--out", "o", "--source", "s", "--target", "t"],
            lambda a: resolve(train.config_from_args(a)),
        ),
        "harmonize": (["--model", "m", "in", "out"], harmonize.settings_from_args),
        "evaluate": (["--reference", "r", "--candidate", "c=d", "--out", "o"], evaluate.config_from_args),
    }
    parser = build_parser()
    offered = 0
    for name, (needed, to_settings) in commands.items():
        for action in _subparser(parser, name)._actions:
            for choice in action.choices or ():
                to_settings(parser.parse_args([name, *needed, action.option_strings[-1], str(choice)]))
                offered += 1
    assert offered >= len(METHODS) + 10  # the check saw the methods and the harmonize settings


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]  # type: ignore[no-any-return]
    raise AssertionError("no subcommands")
