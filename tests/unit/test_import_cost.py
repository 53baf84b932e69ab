"""``import wattzon_async`` loads only what a client needs: heavy packages wait for first use.

Each check runs a fresh interpreter (``sys.modules`` of this test process already holds
everything the suite imported) and reads the modules it ended up with.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wattzon_async._httpx import stack_name

#: The HTTP package the SDK runs on here (httpx2, or httpx with WATTZON_HTTP_STACK=httpx).
STACK = stack_name()

#: Packages that only a feature that needs them may import: certificates from files
#: (cryptography), a retry (tenacity), a batch journal (sqlite3), the CLI (rich), the
#: notification consumer (aiobotocore, botocore), tracing (opentelemetry) and the emulator
#: (uvicorn, starlette).
DEFERRED = (
    "aiobotocore",
    "botocore",
    "cattrs",
    "cryptography",
    "opentelemetry",
    "rich",
    "sqlite3",
    "starlette",
    "tenacity",
    "uvicorn",
)

_PROGRAM = """
import json, sys
import {module}
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after ``import <module>``."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(module=module)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return {name.partition(".")[0] for name in names}


@pytest.fixture(scope="module")
def loaded() -> set[str]:
    return modules_after("wattzon_async")


@pytest.fixture(scope="module")
def loaded_by_httpx() -> set[str]:
    # httpx's own __init__ imports its command line (click, rich) when they are installed
    return modules_after(STACK)


@pytest.mark.parametrize("package", DEFERRED)
def test_import_wattzon_async_does_not_load(
    package: str, loaded: set[str], loaded_by_httpx: set[str]
) -> None:
    assert package not in loaded - loaded_by_httpx


def test_the_check_sees_a_package_that_is_loaded(loaded: set[str]) -> None:
    assert {"wattzon_async", STACK, "attrs"} <= loaded


def test_deferred_names_load_on_first_use() -> None:
    program = (
        "import sys, wattzon_async\n"
        "assert 'wattzon_async.jobs._batch' not in sys.modules\n"
        "from wattzon_async import BatchRun, ResumeSummary\n"
        "assert 'sqlite3' in sys.modules\n"
        "print(BatchRun.__module__, ResumeSummary.__name__)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.split() == ["wattzon_async.jobs._batch", "ResumeSummary"]
