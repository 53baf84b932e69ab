"""No function over 60 lines and no module over 450, in both distributions.

Long functions and modules are where a reader loses the thread; the limits are the
project's standard, enforced here over every module of ``wattzon_async`` and of the
emulator's ``wattzon_emulator``, by walking each module's syntax tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wattzon_async
import wattzon_emulator

PACKAGE = Path(wattzon_async.__file__).parent
EMULATOR = Path(wattzon_emulator.__file__).parent
MAX_FUNCTION = 60
MAX_MODULE = 450


def _modules() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *EMULATOR.rglob("*.py")])


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first decorator (or ``def``) to the end, its docstring apart.

    A docstring is what a reader is glad to find long; the code is what must stay short.
    """
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    assert node.end_lineno is not None
    lines = node.end_lineno - first + 1
    doc = node.body[0] if node.body else None
    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
        assert doc.end_lineno is not None
        if isinstance(doc.value.value, str):
            lines -= doc.end_lineno - doc.lineno + 1
    return lines


def test_the_walk_finds_the_package() -> None:
    modules = _modules()
    assert PACKAGE / "_http.py" in modules
    assert EMULATOR / "_handle.py" in modules


def test_no_function_is_over_60_lines() -> None:
    long = [
        f"{path}:{fn.lineno} {fn.name} ({_length(fn)} lines)"
        for path in _modules()
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8")))
        if _length(fn) > MAX_FUNCTION
    ]
    assert long == []


def test_no_module_is_over_450_lines() -> None:
    long = [
        f"{path} ({n} lines)"
        for path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE
    ]
    assert long == []


def test_the_limits_see_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    doc = '    """One line.\n\n    And more.\n    """'
    (fn,) = _functions(ast.parse(f"@decorated\ndef f():\n{doc}\n{body}\n"))
    assert _length(fn) == MAX_FUNCTION + 2
