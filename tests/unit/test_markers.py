"""Every integration test carries the ``integration`` marker; no unit test does.

``-m "not integration"`` must leave exactly the unit tests: checked by collecting the
suite in a child pytest, as a user would select.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _collected(*args: str) -> list[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr  # 5: nothing collected
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_no_integration_test_escapes_the_marker() -> None:
    assert _collected("-m", "not integration", "tests/integration") == []


def test_every_integration_file_is_marked() -> None:
    marked = {line.split("::")[0] for line in _collected("-m", "integration", "tests/integration")}
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "integration").glob("test_*.py")}
    assert marked == files


def test_no_unit_test_is_marked_integration() -> None:
    assert _collected("-m", "integration", "tests/unit/test_sizes.py") == []
