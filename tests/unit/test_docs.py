"""The API reference (``docs/reference/*.md``, rendered by mkdocstrings) shows the public surface.

Every public name is documented somewhere; nothing private is rendered beyond a module's
own docstring; and classes that users never construct (the resources, which the client
wires with its private ``Sender``) show no constructor. ``make docs`` builds the site
strictly; these checks keep the pages honest without building it.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pytest

import wattzon_async
from wattzon_async.cli import ExitCode
from wattzon_async.cli._parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
_DIRECTIVE = re.compile(r"^::: (?P<target>\S+)\n(?P<options>(?:[ \t]+.*\n|\n(?=[ \t]))*)", re.M)


def directives() -> list[tuple[str, str]]:
    """Every ``::: target`` of the reference with the option lines under it."""
    found: list[tuple[str, str]] = []
    for page in sorted(REFERENCE.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        found += [(m["target"], m["options"]) for m in _DIRECTIVE.finditer(text + "\n")]
    return found


def documented_names() -> set[str]:
    names: set[str] = set()
    for target, options in directives():
        names.add(target.rsplit(".", 1)[-1])
        names.update(re.findall(r"^\s+- (\w+)\s*$", options, re.M))
    return names


@pytest.mark.parametrize("name", sorted(n for n in wattzon_async.__all__ if n != "__version__"))
def test_every_public_name_is_in_the_reference(name: str) -> None:
    assert name in documented_names(), f"add wattzon_async.{name} to a page of docs/reference"


def resolve(target: str) -> object:
    module_name, _, attribute = target.rpartition(".")
    try:
        return __import__(target, fromlist=["_"])
    except ImportError:
        module = __import__(module_name, fromlist=["_"])
        return getattr(module, attribute)


@pytest.mark.parametrize(("target", "options"), directives())
def test_no_private_member_or_wiring_is_rendered(target: str, options: str) -> None:
    if any(part.startswith("_") for part in target.split(".")):
        assert "members: false" in options, f"{target}: render its module docstring only"
    obj = resolve(target)
    if inspect.isclass(obj) and "sender" in inspect.signature(obj.__init__).parameters:
        assert "merge_init_into_class: false" in options, f"{target}: its wiring shows"


def commands(parser: argparse.ArgumentParser, prefix: str = "wattzon") -> list[str]:
    """Every leaf command of ``parser``, as typed (``wattzon jobs get``)."""
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, f"{prefix} {name}") or [f"{prefix} {name}"]
    return found


def test_the_cli_page_shows_every_command_and_exit_code() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    lines = [
        line
        for block in re.findall(r"```console\n(.*?)```", page, re.S)
        for line in block.splitlines()
    ]
    for command in commands(build_parser()):
        assert f"### `{command}`" in page, f"docs/cli.md has no section for {command}"
        assert any(line.startswith(command + " ") or line == command for line in lines), command
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", page, re.M))
    assert sorted(int(code) for code in table) == sorted(int(code) for code in ExitCode)
