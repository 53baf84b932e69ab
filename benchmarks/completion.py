"""3. Completion detection: from a job's final state on the server to ``await_job``'s return.

Jobs get processing times spread evenly over 1 to 3 seconds (40 distinct values for 200
jobs, five jobs each). The emulator reports when
a job was created (``created_at``, its wall clock, microseconds) and computes its status
from that instant plus the processing time in force when it was created; so the jobs
are created in small groups, each after ``emu.configure(processing_time=d)``, and each
job's completion instant is exactly ``created_at + d``. Both processes share one machine
and one wall clock. ``await_job`` starts as soon as its create returns.

Two ways of waiting, alternated round by round:

* ``sqs``: ``await_job(..., notifications=consumer)``, the SQS notification racing a
  sparse polling fallback (the consumer's long poll is the emulator handle's 1 s).
* ``poll``: polling only, with the client's default ``WaitPolicy`` (first poll after
  about 5 s, as jobs "typically take at least 30 seconds").

GETs per job are the emulator's count of ``GET /api/v1/jobs/{id}`` over the jobs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wattzon_async import Job, WaitPolicy, WattzOnClient
from wattzon_async.emulator import Emulator
from wattzon_async.notifications import NotificationConsumer

from ._common import (
    EMAIL,
    PROVIDER,
    BenchResult,
    Row,
    Settings,
    document,
    median,
    percentile,
    requests_to,
)

__all__ = ["run"]

NAME = "3. Completion detection"
_P95_TARGET = 0.200
_GETS_TARGET = 2.0
_GROUP = 5
_WAIT_TIMEOUT = 120.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure completion latency with SQS racing and with polling only."""
    result = BenchResult(NAME)
    measured: dict[str, dict[str, list[float]]] = {
        "sqs": {"latency": [], "gets_per_job": []},
        "poll": {"latency": [], "gets_per_job": []},
    }
    rounds: list[dict[str, Any]] = []
    for index in range(settings.completion_rounds * 2):
        mode = ("sqs", "poll")[(index + index // 2) % 2]
        await emu.reset(purge_queue=True)
        # The SDK's default polling schedule, not the emulator handle's faster one.
        async with emu.client(wait=WaitPolicy()) as client:
            if mode == "sqs":
                async with emu.consumer() as consumer:
                    one = await _round(emu, client, consumer, settings)
            else:
                one = await _round(emu, client, None, settings)
        one["mode"] = mode
        rounds.append(one)
        measured[mode]["latency"] += one["latencies"]
        measured[mode]["gets_per_job"].append(one["gets_per_job"])
    await emu.configure(processing_time=3600.0)
    result.details = {"rounds": rounds}
    jobs = settings.completion_jobs
    low, high = settings.completion_spread
    for mode, label, limit_p95, limit_gets in (
        ("sqs", "SQS racing polls", _P95_TARGET, _GETS_TARGET),
        ("poll", "polling only, default WaitPolicy", None, None),
    ):
        latencies = measured[mode]["latency"]
        gets = median(measured[mode]["gets_per_job"])
        failures = sum(r["failed"] for r in rounds if r["mode"] == mode)
        worst = max(latencies, default=0.0)
        detail = f"{len(latencies)} jobs over {low:g}-{high:g} s; max {worst * 1e3:.0f} ms"
        if failures:
            detail += f"; {failures} waits failed"
        result.rows.append(
            Row(
                NAME,
                f"p50 latency, final state -> await_job returns, {label} ({jobs} jobs)",
                percentile(latencies, 50),
                unit="ms",
                detail=detail,
            )
        )
        result.rows.append(
            Row(
                NAME,
                f"p95 latency, {label}",
                percentile(latencies, 95),
                unit="ms",
                limit=limit_p95,
                detail=f"p99 {percentile(latencies, 99) * 1e3:.0f} ms",
            )
        )
        result.rows.append(
            Row(
                NAME,
                f"GET requests per job, {label}",
                gets,
                unit="",
                limit=limit_gets,
                detail="the emulator's count of GET /api/v1/jobs/{id}",
            )
        )
    return result


def _durations(settings: Settings) -> list[float]:
    """One processing time per group of jobs, evenly over the spread."""
    low, high = settings.completion_spread
    groups = max(1, -(-settings.completion_jobs // _GROUP))
    return [low + (high - low) * (g + 0.5) / groups for g in range(groups)]


async def _round(
    emu: Emulator,
    client: WattzOnClient,
    consumer: NotificationConsumer | None,
    settings: Settings,
) -> dict[str, Any]:
    data = document(2_000, 7)
    waits: list[asyncio.Task[tuple[float, float]]] = []

    async def wait(job: Job, duration: float) -> tuple[float, float]:
        await client.await_job(job.id, notifications=consumer, timeout=_WAIT_TIMEOUT)
        returned = time.time()
        return returned, job.created_at.timestamp() + duration

    remaining = settings.completion_jobs
    for duration in _durations(settings):
        await emu.configure(processing_time=duration)
        size = min(_GROUP, remaining)
        remaining -= size

        async def create(index: int) -> Job:
            return await client.jobs.create(
                email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{index}.pdf"
            )

        for job in await asyncio.gather(*(create(i) for i in range(size))):
            waits.append(asyncio.create_task(wait(job, duration)))
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    latencies = [done - final for done, final in (o for o in outcomes if isinstance(o, tuple))]
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    stats = await emu.stats()
    gets = requests_to(stats, "GET /api/v1/jobs/{job_id}")
    return {
        "jobs": len(waits),
        "failed": failed,
        "errors": [repr(o) for o in outcomes if isinstance(o, BaseException)][:3],
        "latencies": latencies,
        "gets": gets,
        "gets_per_job": gets / max(1, len(waits)),
        "notifications_sent": stats.get("notifications_sent"),
    }
