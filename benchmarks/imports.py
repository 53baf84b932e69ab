"""5. Import cost: ``import wattzon_async`` against ``import httpx``, each in fresh processes.

Each sample is a new interpreter that times its own import with ``time.perf_counter``
(interpreter start-up excluded); the two alternate (A B B A ...) and the figure is the
median over pairs of SDK time / httpx time. The same children report whether importing
the SDK pulled in aiobotocore or botocore, which only a started NotificationConsumer may.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from ._common import BenchResult, Row, Settings, child_environment, median, python, side_order

__all__ = ["run"]

NAME = "5. Import cost"
_TARGET = 1.3
_PROGRAM = """
import json, sys, time
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
heavy = sorted(m for m in ("aiobotocore", "botocore", "boto3") if m in sys.modules)
print(json.dumps({{"seconds": seconds, "heavy": heavy, "modules": len(sys.modules)}}))
"""


def _sample(module: str) -> dict[str, Any]:
    completed = subprocess.run(
        [python(), "-c", _PROGRAM.format(module=module)],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=120,
        check=True,
    )
    data: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return data


def run(settings: Settings) -> BenchResult:
    """Time the two imports in alternating fresh processes."""
    result = BenchResult(NAME)
    samples: dict[str, list[dict[str, Any]]] = {"wattzon_async": [], "httpx": []}
    _sample("wattzon_async")  # warm the file system cache and the bytecode
    _sample("httpx")
    for index in range(settings.import_samples):
        sdk_first, _ = side_order(index)
        order = ["wattzon_async", "httpx"] if sdk_first else ["httpx", "wattzon_async"]
        for module in order:
            samples[module].append(_sample(module))
    sdk = [s["seconds"] for s in samples["wattzon_async"]]
    base = [s["seconds"] for s in samples["httpx"]]
    ratios = [a / b for a, b in zip(sdk, base, strict=True)]
    heavy = sorted({m for s in samples["wattzon_async"] for m in s["heavy"]})
    result.details = {"samples": samples, "pair_ratios": ratios}
    result.rows.append(
        Row(
            NAME,
            "import wattzon_async / import httpx (fresh processes)",
            median(ratios),
            limit=_TARGET,
            detail=(
                f"{median(sdk) * 1e3:.0f} ms vs {median(base) * 1e3:.0f} ms; "
                f"median of {len(ratios)} pairs"
            ),
        )
    )
    result.rows.append(
        Row(
            NAME,
            "aiobotocore/botocore modules loaded by import wattzon_async",
            float(len(heavy)),
            unit="",
            limit=0.0,
            detail=", ".join(heavy) or "none",
        )
    )
    return result
