"""``make demo`` (``python -m wattzon_async demo``) as a new user sees it: 80 columns.

The demo runs as a real process with ``COLUMNS=80``; every line must fit and no cell
may be cut short (rich marks a cut with an ellipsis). It must name the provider of each
bill as Link does, report each bill as it finishes, and show the race: how soon each
way of waiting knew, the GETs each made, and what SQS did.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .emulator_command import ROOT

pytestmark = pytest.mark.integration


def test_demo_fits_80_columns_and_shows_the_race() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wattzon_async", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)},
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    assert "…" not in done.stdout
    for provider, name in (
        (140, "Consolidated Edison Company of New York"),
        (3150, "City of Palo Alto Utilities"),
        (27, "San Diego Gas & Electric"),
        (4, "Pacific Gas and Electric Company"),
    ):
        assert any(f" {provider}  {name}" in line for line in lines), name
    bills = sorted(p.name for p in (ROOT / "examples" / "bills").iterdir())
    progress = [line for line in lines if line.lstrip().startswith("[")]
    assert len(progress) == len(bills)
    assert progress[-1].lstrip().startswith(f"[{len(bills)}/{len(bills)}]")
    for bill in bills:
        [row] = [
            line
            for line in lines
            if line.strip().startswith(bill)
            and "ms" not in line
            and ("COMPLETE" in line or "FAILED" in line)
        ]
        assert ("FAILED" in row) == bill.startswith("failed")
    assert any(
        "SQS notification racing sparse polls" in line and "GETs per job" in line for line in lines
    )
    assert any("polling every second, alone" in line for line in lines)
    assert f"SQS: {len(bills)} messages received, {len(bills)} handed to waiters" in done.stdout
