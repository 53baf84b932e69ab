"""A batch split over processes through a PostgreSQL journal (part of 12. The fleet).

Four real processes run the same batch (``submit_many(concurrency=16,
journal=postgresql://...?batch=NAME)``, the SDK's default client) under one tenant's
limit of R requests per second; they are started first and told to go together, as in
benchmark 8. Each takes the bills it claims first and waits in the journal for the
ones another process is sending, so every process ends when the whole batch is done.
Goodput is the batch's bills over the time from "go" to the end of the last process,
divided by R; the emulator counts the jobs made (exactly one per bill is the point).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from wattzon_async.emulator import Emulator

from ._common import EMAIL, PROVIDER, BenchResult, Row, Settings, released_together

__all__ = ["run"]

_GOODPUT_TARGET = 0.9
_PROCESSES = 4
_CHILD_TIMEOUT = 600.0


async def run(emu: Emulator, settings: Settings, url: str, name: str, result: BenchResult) -> None:
    """Split ``settings.fleet_batch`` bills over 4 processes with a journal at ``url``."""
    bills, rate = settings.fleet_batch, settings.processes_rps
    await emu.reset()
    await emu.configure(processing_time=3600.0)
    await emu.set_faults(rate_limit_rps=rate)
    config = {
        "snap_url": emu.snap_url,
        "ca": str(emu.ca_cert),
        "cert": str(emu.client_cert),
        "key": str(emu.client_key),
        "bills": bills,
        "journal": url + f"?batch=bench-{time.time_ns()}",
    }
    one = await _round(config)
    stats = await emu.stats()
    await emu.reset()
    goodput = bills / one["seconds"] / rate
    result.details["batch"] = {**one, "jobs_created": stats["jobs_created"]}
    result.rows += [
        Row(
            name,
            f"Goodput / R (R = {rate:g}/s), one {bills}-bill batch over {_PROCESSES} processes "
            "with a PostgreSQL journal",
            goodput,
            limit=_GOODPUT_TARGET,
            higher_is_better=True,
            detail=f"{bills} bills in {one['seconds']:.1f} s; each process reported "
            f"{', '.join(str(n) for n in one['reported'])} outcomes, {one['failed']} failed",
        ),
        Row(
            name,
            f"Jobs made per bill, that batch ({_PROCESSES} processes, one journal)",
            stats["jobs_created"] / bills,
            unit="",
            limit=1.0,
            detail=f"{stats['jobs_created']} jobs for {bills} bills",
        ),
    ]


async def _round(config: dict[str, Any]) -> dict[str, Any]:
    go, reports = await released_together(
        "benchmarks.fleetbatch", config, _PROCESSES, _CHILD_TIMEOUT
    )
    return {
        "seconds": max(r["finished"] for r in reports) - go,
        "reported": [r["ok"] + r["failed"] for r in reports],
        "failed": sum(r["failed"] for r in reports),
        "errors": [e for r in reports for e in r["errors"]][:3],
    }


async def _child_main(config: dict[str, Any]) -> dict[str, Any]:
    from wattzon_async import Submission, WattzOnClient

    from ._common import batch_when_released, document

    submissions = [
        Submission(
            email=EMAIL, provider=PROVIDER, document=document(2_000, i), name=f"bill-{i}.pdf"
        )
        for i in range(int(config["bills"]))
    ]
    async with WattzOnClient(
        cert=(config["cert"], config["key"]), ca_bundle=config["ca"], snap_url=config["snap_url"]
    ) as client:
        return await batch_when_released(
            client, submissions, concurrency=16, journal=config["journal"]
        )


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m benchmarks.fleetbatch CONFIG_JSON``."""
    print(json.dumps(asyncio.run(_child_main(json.loads(argv[0])))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
