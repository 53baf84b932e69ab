"""The benchmark table: each benchmark has a number of its own, and they run 1 to N."""

from __future__ import annotations

import importlib
import re

from benchmarks.__main__ import NAMES


def number(title: str) -> int:
    """The number a benchmark's title starts with (``"5. Import cost"``: 5)."""
    found = re.match(r"(\d+)\. ", title)
    assert found is not None, f"{title!r} does not start with its number"
    return int(found.group(1))


def test_each_benchmark_has_its_own_number() -> None:
    titles = [importlib.import_module(f"benchmarks.{name}").NAME for name in NAMES]
    assert sorted(number(title) for title in titles) == list(range(1, len(NAMES) + 1)), titles
