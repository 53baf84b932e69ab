"""The package's import graph is a DAG: no module imports, even lazily, one that imports it.

Every import of a ``wattzon_async`` module counts: at module level, under
``if TYPE_CHECKING:``, and inside functions (a lazy import is still a dependency, and a
cycle hidden in a function is the one that breaks when somebody moves it up).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import wattzon_async

PACKAGE = "wattzon_async"
ROOT = Path(wattzon_async.__file__).parent


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package is its ``__init__``)."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def imported_modules(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package modules that ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:
                    yield submodule  # ``from . import _parse``: the submodule itself
                elif base in known:
                    yield base  # ``from ._http import Sender``


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Every intra-package import edge: module -> the modules it imports."""
    files = module_files(root, package)
    known = set(files)
    return {
        name: {t for t in imported_modules(name, path, known) if t != name}
        for name, path in files.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph is a DAG."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found is not None:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


def test_the_package_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walk_sees_every_kind_of_import() -> None:
    graph = import_graph()
    # module level, relative
    assert "wattzon_async._http" in graph["wattzon_async._client"]
    # under TYPE_CHECKING
    assert "wattzon_async.notifications" in graph["wattzon_async.jobs._resource"]
    # a relative import two levels up, and a package's own submodules
    assert "wattzon_async._http" in graph["wattzon_async.resources._base"]
    assert "wattzon_async.resources.zips" in graph["wattzon_async.resources"]


@pytest.mark.parametrize(
    ("source", "cycle"),
    [
        ("a: from . import b\nb: from .a import x", ["p.a", "p.b", "p.a"]),
        ("a: import p.b\nb:\n    def f():\n        from .a import x", ["p.a", "p.b", "p.a"]),
        (
            "a: from .b import x\nb: from typing import TYPE_CHECKING\n"
            "    if TYPE_CHECKING:\n        from .sub.c import y\nsub/c: from ..a import z",
            ["p.a", "p.b", "p.sub.c", "p.a"],
        ),
        ("a: from .b import x\nb: import os", None),
    ],
)
def test_find_cycle_reports_the_cycle(tmp_path: Path, source: str, cycle: list[str] | None) -> None:
    """The detector itself, on small packages written for it (a cycle in each but one)."""
    root = tmp_path / "p"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    current = None
    lines: dict[str, list[str]] = {}
    for line in source.splitlines():
        if not line.startswith(" ") and ":" in line:
            current, _, rest = line.partition(":")
            lines[current] = [rest.strip()]
        else:
            assert current is not None
            lines[current].append(line[4:])
    for name, body in lines.items():
        (root / f"{name}.py").write_text("\n".join(body) + "\n")
    assert find_cycle(import_graph(root, "p")) == cycle


EMULATOR_ROOT = Path(__file__).resolve().parents[2] / "emulator" / "wattzon_emulator"
#: The SDK modules the emulator may import: the public ones, and four private ones whose
#: names it needs (the HTTP stack, owner-only files, the backoff, the document sniffing).
EMULATOR_USES = {
    "wattzon_async",
    "wattzon_async.models",
    "wattzon_async.notifications",
    "wattzon_async._httpx",
    "wattzon_async._private",
    "wattzon_async._retry",
    "wattzon_async._doctype",
}


def _imports_of(root: Path, package: str, prefix: str) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules starting with ``prefix`` it imports."""
    found: dict[str, set[str]] = {}
    for name, path in module_files(root, package).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {
            n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module is not None
        }
        found[name] = {n for n in names if n == prefix or n.startswith(prefix + ".")}
    return found


def test_the_emulator_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph(EMULATOR_ROOT, "wattzon_emulator"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_emulator_uses_the_sdk_by_the_names_listed() -> None:
    used = set().union(*_imports_of(EMULATOR_ROOT, "wattzon_emulator", "wattzon_async").values())
    assert "wattzon_async._httpx" in used  # the walk sees absolute imports
    assert used <= EMULATOR_USES, f"new SDK internals used by the emulator: {used - EMULATOR_USES}"


def test_only_the_reexports_and_the_commands_reach_the_emulator() -> None:
    reaching = {
        module for module, names in _imports_of(ROOT, PACKAGE, "wattzon_emulator").items() if names
    }
    # wattzon_async.cli._commands loads it by name (importlib), when the command runs.
    assert reaching == {"wattzon_async.emulator", "wattzon_async.testing"}
