"""The SDK runs on httpx2 or on httpx, chosen in one place (``wattzon_async._httpx``).

Each check runs a fresh interpreter, since the choice is made once, at import.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "WATTZON_HTTP_STACK"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=120,
        check=False,
    )


_PROGRAM = (
    "import sys\n"
    "{block}"
    "import wattzon_async\n"
    "from wattzon_async._httpx import httpx, stack_name\n"
    "import wattzon_async._client as client\n"
    "assert client.httpx is httpx\n"
    "print(stack_name(), *(sys.modules.get(m) is not None for m in ('httpx2', 'httpx')))\n"
)


def test_httpx2_is_preferred_where_both_are_installed() -> None:
    done = _run(_PROGRAM.format(block=""))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["httpx2", "True", "False"]


def test_only_httpx_installed_runs_on_httpx() -> None:
    done = _run(_PROGRAM.format(block="sys.modules['httpx2'] = None\n"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["httpx", "False", "True"]


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_the_stack_can_be_chosen(stack: str) -> None:
    done = _run(_PROGRAM.format(block=""), WATTZON_HTTP_STACK=stack)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == stack


def test_an_unknown_stack_is_named() -> None:
    done = _run("import wattzon_async", WATTZON_HTTP_STACK="requests")
    assert done.returncode != 0
    assert "WATTZON_HTTP_STACK='requests' is not one of httpx2, httpx" in done.stderr


def test_a_chosen_stack_that_is_missing_says_how_to_install_it() -> None:
    done = _run(
        "import sys; sys.modules['httpx'] = None\nimport wattzon_async",
        WATTZON_HTTP_STACK="httpx",
    )
    assert done.returncode != 0
    assert "but httpx is not installed (pip install httpx)" in done.stderr


def test_neither_installed_says_what_to_install() -> None:
    done = _run(
        "import sys; sys.modules['httpx'] = sys.modules['httpx2'] = None\nimport wattzon_async"
    )
    assert done.returncode != 0
    assert "wattzon-async needs httpx2 (or httpx): pip install httpx2" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "import wattzon_async, wattzon_async.cli, wattzon_async.certs"],
        ["-c", "import wattzon_async._tls._certfiles"],  # what loading any certificate imports
        ["-c", "import wattzon_async.emulator, wattzon_async.testing, wattzon_async.notifications"],
        ["-m", "wattzon_async", "--help"],
        ["-m", "wattzon_async", "cert", "--help"],
    ],
)
def test_no_warning_from_imports_or_commands(argv: list[str]) -> None:
    # every warning category shown (-W default) and none printed: a dependency's new
    # deprecation reaches no user's stderr
    done = subprocess.run(
        [sys.executable, "-W", "default", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
