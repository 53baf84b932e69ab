"""2. Upload memory and speed: 32 concurrent creates of 4.5 MB documents.

Each measurement runs in a fresh child process (``python -m benchmarks.upload MODE
CONFIG``), so that peak memory is the child's own: the peak resident set size
(``ru_maxrss``) once the uploads are done, minus the resident size just before the
documents were made. That growth is divided by the document bytes in flight (count x
size; the documents are in memory as bytes in both modes). The modes:

* ``sdk``: ``client.jobs.create(document=<bytes>)``, which streams the base64 body.
* ``raw``: a bare httpx.AsyncClient with ``json=`` (the base64 text inside a dict that
  httpx serialises with ``json.dumps``), the usual way to send such a body.

Children alternate (sdk raw raw sdk ...); throughput is the median over pairs of
raw time / SDK time (above 1: the SDK is faster).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wattzon_async.emulator import Emulator

from ._common import (
    EMAIL,
    PROVIDER,
    BenchResult,
    Row,
    Settings,
    child_environment,
    document,
    median,
    python,
    side_order,
    ssl_context,
)

__all__ = ["run"]

NAME = "2. Upload memory and speed"
_MEMORY_TARGET = 1.5
_SPEED_TARGET = 1.0
_CHILD_TIMEOUT = 300.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Run the upload children, alternating modes; see the module docstring."""
    result = BenchResult(NAME)
    await emu.configure(processing_time=3600.0)
    config = {
        "snap_url": emu.snap_url,
        "ca": str(emu.ca_cert),
        "cert": str(emu.client_cert),
        "key": str(emu.client_key),
        "count": settings.upload_count,
        "size": settings.upload_size,
    }
    runs: dict[str, list[dict[str, Any]]] = {"sdk": [], "raw": []}
    for index in range(settings.upload_rounds * 2):
        sdk_first, _ = side_order(index // 2)
        first = index % 2 == 0
        mode = "sdk" if sdk_first == first else "raw"
        runs[mode].append(await asyncio.to_thread(_child, mode, config))
        await emu.reset()
        await emu.configure(processing_time=3600.0)
    in_flight = settings.upload_count * settings.upload_size
    memory = {mode: [r["peak_growth"] / in_flight for r in runs[mode]] for mode in runs}
    seconds = {mode: [r["seconds"] for r in runs[mode]] for mode in runs}
    speed = [raw / sdk for raw, sdk in zip(seconds["raw"], seconds["sdk"], strict=True)]
    result.details = {"in_flight_bytes": in_flight, "runs": runs}
    mb = in_flight / 1e6
    label = f"{settings.upload_count} x {settings.upload_size / 1e6:.1f} MB"
    result.rows.append(
        Row(
            NAME,
            f"Peak client memory / bytes in flight, SDK streamed ({label})",
            median(memory["sdk"]),
            limit=_MEMORY_TARGET,
            detail=f"{median(memory['sdk']) * mb:.0f} MB peak growth for {mb:.0f} MB in flight",
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Peak client memory / bytes in flight, raw httpx json= (baseline)",
            median(memory["raw"]),
            detail=f"{median(memory['raw']) * mb:.0f} MB peak growth; expected about 4-5",
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Throughput SDK / raw httpx json= (raw time / SDK time)",
            median(speed),
            limit=_SPEED_TARGET,
            higher_is_better=True,
            detail=(
                f"SDK {median(seconds['sdk']):.2f} s, raw {median(seconds['raw']):.2f} s "
                f"(medians of {len(speed)} runs each)"
            ),
        )
    )
    failures = sum(r["failed"] for mode in runs for r in runs[mode])
    if failures:
        result.notes.append(f"{failures} uploads failed; see results.json")
    return result


def _child(mode: str, config: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        [python(), "-m", "benchmarks.upload", mode, json.dumps(config)],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=_CHILD_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"upload child ({mode}) failed:\n{completed.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return data


# -- the child -------------------------------------------------------------------------------


def _rss() -> int:
    """The resident set size now, in bytes."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def _peak_rss() -> int:
    """The peak resident set size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _child_main(mode: str, config: dict[str, Any]) -> dict[str, Any]:
    from wattzon_async import WattzOnClient
    from wattzon_async._httpx import httpx

    client = WattzOnClient(
        cert=(config["cert"], config["key"]), ca_bundle=config["ca"], snap_url=config["snap_url"]
    )
    raw = httpx.AsyncClient(
        verify=ssl_context(config["ca"], config["cert"], config["key"]),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        timeout=_CHILD_TIMEOUT,
    )
    url = config["snap_url"] + "jobs/"
    count, size = int(config["count"]), int(config["size"])

    async def sdk_create(data: bytes, name: str) -> None:
        await client.jobs.create(email=EMAIL, provider=PROVIDER, document=data, name=name)

    async def raw_create(data: bytes, name: str) -> None:
        body = {
            "email": EMAIL,
            "provider": PROVIDER,
            "tags": [],
            "document": {"name": name, "content": base64.b64encode(data).decode("ascii")},
        }
        response = await raw.post(url, json=body, headers={"Accept": "application/json"})
        response.raise_for_status()
        response.json()

    create = sdk_create if mode == "sdk" else raw_create
    failed = 0
    async with client, raw:
        await create(document(30_000, 0), "warm-up.pdf")
        gc.collect()
        before = _rss()
        documents = [document(size, seed) for seed in range(1, count + 1)]
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(create(data, f"bill-{i}.pdf") for i, data in enumerate(documents)),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - started
        failed = sum(isinstance(o, BaseException) for o in outcomes)
        peak = _peak_rss()
        errors = [repr(o) for o in outcomes if isinstance(o, BaseException)][:3]
    return {
        "mode": mode,
        "seconds": seconds,
        "rss_before": before,
        "peak_rss": peak,
        "peak_growth": peak - before,
        "failed": failed,
        "errors": errors,
    }


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m benchmarks.upload MODE CONFIG_JSON``."""
    mode, config = argv[0], json.loads(argv[1])
    print(json.dumps(asyncio.run(_child_main(mode, config))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
