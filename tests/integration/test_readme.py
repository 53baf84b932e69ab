"""The guide runs: README's programs, its pytest example and the CLI page's commands.

Every Python block of README.md and docs/index.md is a complete program, unless its
first line says otherwise:

* ``# partial: ...`` marks a fragment (few are allowed, none run);
* ``# test_<name>.py`` is a pytest module: it runs with the README's ``toml`` block as the
  ``pyproject.toml`` of a fresh project, with the ``wattzon`` plugin and nothing else;
* ``# Runs until Ctrl+C or SIGTERM.`` is a service: it runs until it has handled a job
  made for it, then gets SIGTERM and must exit 0.

Programs run as a user runs them after the Quickstart: in a folder holding ``bill.pdf``
and ``bills/``, with only the variables ``wattzon emulator`` printed. A new section of
the guide is covered the day it is written.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wattzon_async import WattzOnClient
from wattzon_async.cli import main

from .emulator_command import ROOT, clean_environment, emulator_command

pytestmark = pytest.mark.integration

GUIDES = (ROOT / "README.md", ROOT / "docs" / "index.md")
BILLS = ROOT / "examples" / "bills"
_BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<code>.*?)^```", re.M | re.S)
_SERVICE = "# Runs until Ctrl+C or SIGTERM."
#: Commands of the CLI page that are not run here: ``emulator`` serves until stopped
#: (the fixtures run it) and ``demo`` starts an emulator of its own (tested apart).
_NOT_RUN = ("wattzon emulator", "wattzon demo")


def blocks(path: Path, lang: str) -> list[tuple[str, str]]:
    """``(id, code)`` of each ``lang`` block of ``path``; the id is ``file:line``."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        if match["lang"] == lang:
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.name}:{line}", match["code"]))
    return found


def python_blocks() -> list[tuple[str, str]]:
    return [block for path in GUIDES for block in blocks(path, "python")]


def programs() -> list[tuple[str, str]]:
    return [
        (i, code) for i, code in python_blocks() if not code.startswith(("# partial", "# test_"))
    ]


def test_every_python_block_is_a_program_or_marked() -> None:
    partial = [i for i, code in python_blocks() if code.startswith("# partial")]
    modules = [i for i, code in python_blocks() if code.startswith("# test_")]
    assert len(partial) <= 2, f"too many partial blocks: {partial}"
    assert modules, "the pytest example is gone"
    assert len(programs()) >= 4


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, str]]:
    """What ``wattzon emulator`` prints, the emulator running for this module."""
    folder = tmp_path_factory.mktemp("readme-emulator")
    async with emulator_command(folder, "--processing-time", "0.3") as exports:
        yield exports


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder as the Quickstart leaves it: ``bill.pdf`` and ``bills/``."""
    shutil.copy(BILLS / "pge-2015-11.pdf", tmp_path / "bill.pdf")
    shutil.copytree(BILLS, tmp_path / "bills")
    return tmp_path


async def start(code: str, workdir: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    script = workdir / "program.py"
    script.write_text(code, encoding="utf-8")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=workdir,
        env=clean_environment(**env),
    )


@pytest.mark.parametrize(("where", "code"), programs(), ids=[i for i, _ in programs()])
async def test_program_runs(where: str, code: str, exported: dict[str, str], workdir: Path) -> None:
    process = await start(code, workdir, exported)
    assert process.stdout is not None
    if code.startswith(_SERVICE):
        async with WattzOnClient.from_env(exported) as client:
            job = await client.jobs.create(
                email="user@example.com", provider=4, document=workdir / "bill.pdf"
            )
        try:
            async with asyncio.timeout(60):
                while not (line := await process.stdout.readline()).startswith(b"%d " % job.id):
                    assert line, f"{where} ended without handling job {job.id}"
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, f"{where} failed:\n{err.decode()}"
    assert out or code.startswith(_SERVICE), f"{where} printed nothing"


def test_pytest_example_passes_in_a_fresh_project(tmp_path: Path) -> None:
    [(_, config)] = [b for b in blocks(GUIDES[0], "toml") if "asyncio_mode" in b[1]]
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    modules = [code for _, code in python_blocks() if code.startswith("# test_")]
    for code in modules:
        name = code.splitlines()[0].removeprefix("# ").strip()
        (tmp_path / name).write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_environment(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(modules)} passed" in done.stdout


def cli_examples() -> list[str]:
    lines = [
        line.strip()
        for _, block in blocks(ROOT / "docs" / "cli.md", "console")
        for line in block.splitlines()
    ]
    return [line for line in lines if line.startswith("wattzon ") and not line.startswith(_NOT_RUN)]


@pytest.fixture
async def fresh_exports(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """A fresh ``wattzon emulator``: the CLI page's job ids are its first ones."""
    async with emulator_command(tmp_path / "emulator", "--processing-time", "0.3") as exports:
        yield exports


def test_cli_page_examples_run_in_order(
    fresh_exports: dict[str, str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [n for n in os.environ if n.startswith(("AWS_", "WATTZON_"))]:
        monkeypatch.delenv(name)
    for name, value in fresh_exports.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(workdir)
    for line in cli_examples():
        argv = [os.path.expandvars(word) for word in shlex.split(line)[1:]]
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"{line}: {captured.out}{captured.err}"
