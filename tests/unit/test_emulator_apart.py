"""The emulator is a distribution of its own: what the SDK does where it is not installed.

``wattzon_async.emulator`` and ``wattzon_async.testing`` are thin re-exports; the
``wattzon emulator`` and ``wattzon demo`` commands load the emulator when they run. Without
the ``wattzon-async-emulator`` distribution, each says how to install it. The absence is
made by a finder that answers for ``wattzon_emulator`` the way a missing package does.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

import pytest

from wattzon_async.cli import ExitCode, run

INSTALL = "pip install 'wattzon-async[emulator]'"


class _Absent(importlib.abc.MetaPathFinder):
    """Makes the named top-level packages missing, as on a machine without them."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if fullname in self.names or top in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def _forget(monkeypatch: pytest.MonkeyPatch, *prefixes: str) -> None:
    """Drop the modules under ``prefixes`` for this test (restored after it)."""
    for name in list(sys.modules):
        if name.startswith(prefixes):
            monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def without_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    _forget(monkeypatch, "wattzon_emulator", "wattzon_async.emulator", "wattzon_async.testing")
    monkeypatch.setattr(sys, "meta_path", [_Absent("wattzon_emulator"), *sys.meta_path])


@pytest.mark.parametrize("module", ["wattzon_async.emulator", "wattzon_async.testing"])
@pytest.mark.usefixtures("without_emulator")
def test_reexports_say_how_to_install_the_emulator(module: str) -> None:
    with pytest.raises(ImportError, match=r"pip install 'wattzon-async\[emulator\]'") as caught:
        importlib.import_module(module)
    assert caught.value.name == "wattzon_emulator"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


@pytest.mark.parametrize("command", ["emulator", "demo"])
@pytest.mark.usefixtures("without_emulator")
def test_commands_say_how_to_install_the_emulator(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([command], environ={}) == ExitCode.FAILED
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wattzon: error: ")
    assert INSTALL in lines[0]


def test_a_missing_dependency_of_the_emulator_keeps_its_own_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _forget(monkeypatch, "wattzon_emulator", "wattzon_async.emulator")
    monkeypatch.setattr(sys, "meta_path", [_Absent("wattzon_emulator._handle"), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module("wattzon_async.emulator")
    assert caught.value.name == "wattzon_emulator._handle"
    assert INSTALL not in str(caught.value)


def test_the_reexports_are_the_emulator_distribution_names() -> None:
    import wattzon_async.emulator as shim
    import wattzon_async.testing as plugin_shim
    import wattzon_emulator
    import wattzon_emulator.testing

    assert shim.__all__ == wattzon_emulator.__all__
    for name in shim.__all__:
        assert getattr(shim, name) is getattr(wattzon_emulator, name)
    assert plugin_shim.__all__ == wattzon_emulator.testing.__all__
    for name in plugin_shim.__all__:
        assert getattr(plugin_shim, name) is getattr(wattzon_emulator.testing, name)
