"""5. Import cost: ``import wattzon_async`` against its HTTP stack's, each in fresh processes.

The stack is the one the SDK runs on here (httpx2, or httpx with WATTZON_HTTP_STACK=httpx).

Each sample is a new interpreter that times its own import with ``time.perf_counter``
(interpreter start-up excluded); the two alternate (A B B A ...) and the figure is the
median over pairs of SDK time / httpx time. A second series times the same two imports
in interpreters that have already imported asyncio, as every program that uses an
asyncio SDK has: what the SDK costs beyond the event loop it runs on. The same children
report which heavy packages importing the SDK pulled in beyond what httpx itself loads:
each of them belongs to a feature and is imported when that feature is first used.

Both sides load bytecode, as an installed package does: the children write and read it
in a cache directory of their own even where ``PYTHONDONTWRITEBYTECODE`` is set (it
would otherwise make the SDK, run from the source tree, compile every module anew).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from typing import Any

from wattzon_async._httpx import stack_name

from ._common import BenchResult, Row, Settings, child_environment, median, python, side_order

__all__ = ["run"]

#: The package the SDK imports for HTTP here; the baseline of the ratio.
STACK = stack_name()
NAME = "5. Import cost"
_TARGET = 1.3
#: Imported on first use of their feature only (tests/unit/test_import_cost.py).
_HEAVY = (
    "aiobotocore",
    "botocore",
    "cattrs",
    "cryptography",
    "opentelemetry",
    "sqlite3",
    "tenacity",
    "uvicorn",
)
_PROGRAM = """
import json, sys, time
{prelude}
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"seconds": seconds, "heavy": heavy, "modules": len(sys.modules)}}))
"""


def _sample(module: str, cache: str, prelude: str = "") -> dict[str, Any]:
    env = child_environment()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    program = _PROGRAM.format(module=module, prelude=prelude, heavy=_HEAVY)
    completed = subprocess.run(
        [python(), "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    data: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return data


def _series(count: int, cache: str, prelude: str = "") -> dict[str, list[dict[str, Any]]]:
    """``count`` alternating pairs of fresh-process imports of the SDK and of httpx."""
    samples: dict[str, list[dict[str, Any]]] = {"wattzon_async": [], "http": []}
    for index in range(count):
        sdk_first, _ = side_order(index)
        order = [("wattzon_async", "wattzon_async"), ("http", STACK)]
        for side, module in order if sdk_first else order[::-1]:
            samples[side].append(_sample(module, cache, prelude))
    return samples


def _ratio_row(metric: str, samples: dict[str, list[dict[str, Any]]], limit: float | None) -> Row:
    sdk = [s["seconds"] for s in samples["wattzon_async"]]
    base = [s["seconds"] for s in samples["http"]]
    ratios = [a / b for a, b in zip(sdk, base, strict=True)]
    return Row(
        NAME,
        metric,
        median(ratios),
        limit=limit,
        detail=(
            f"{median(sdk) * 1e3:.0f} ms vs {median(base) * 1e3:.0f} ms; "
            f"median of {len(ratios)} pairs"
        ),
    )


def run(settings: Settings) -> BenchResult:
    """Time the two imports in alternating fresh processes, without and with asyncio."""
    result = BenchResult(NAME)
    with tempfile.TemporaryDirectory(prefix="wattzon-bench-pycache-") as cache:
        _sample("wattzon_async", cache)  # warm the file system cache and write the bytecode
        _sample(STACK, cache)
        plain = _series(settings.import_samples, cache)
        after_asyncio = _series(settings.import_samples, cache, prelude="import asyncio")
    heavy = sorted(
        {m for s in plain["wattzon_async"] for m in s["heavy"]}
        - {m for s in plain["http"] for m in s["heavy"]}
    )
    result.details = {"samples": plain, "samples_after_asyncio": after_asyncio}
    result.rows.append(
        _ratio_row(f"import wattzon_async / import {STACK} (fresh processes)", plain, _TARGET)
    )
    result.rows.append(
        _ratio_row(
            f"import wattzon_async / import {STACK}, asyncio already imported",
            after_asyncio,
            None,
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Packages of other features loaded by import wattzon_async",
            float(len(heavy)),
            unit="",
            limit=0.0,
            detail=(", ".join(heavy) or "none") + " of " + ", ".join(_HEAVY),
        )
    )
    return result
