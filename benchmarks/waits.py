"""10. Thousands of waits racing SQS: 2,000 ``await_job(notifications=consumer)`` in one client.

One client and one hub-mode consumer (the emulator handle's 1 s long poll), the SDK's
default polling schedule and polling budget (20 GETs/s). The jobs are created in groups
of 100, each group after ``emu.configure(processing_time=d)`` with ``d`` chosen so that
the jobs finish in a burst a few seconds after the last create, spread over
``_SPREAD`` seconds: every wait is running when its job finishes, and thousands of
notifications are published and received together. A job's completion instant is
exactly ``created_at + d`` on the emulator's clock (the same machine's wall clock).
Each ``await_job`` starts as soon as its create returns.

Latency is from a job's completion instant to its ``await_job`` returning. GETs per job
are the emulator's count of ``GET /api/v1/jobs/{id}`` over the jobs.
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
    percentile,
    requests_to,
)

__all__ = ["run"]

NAME = "10. Thousands of waits"
_P95_TARGET = 2.0
_GETS_TARGET = 1.5
_GROUP = 100
_SPREAD = 2.0
_WAIT_TIMEOUT = 300.0
#: Creates per second assumed when placing the burst after the last create.
_CREATE_RATE = 150.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure completion latency and GETs per job with thousands of waits at once."""
    result = BenchResult(NAME)
    jobs = settings.waits_jobs
    async with emu.client(wait=WaitPolicy()) as client, emu.consumer() as consumer:
        one = await _round(emu, client, consumer, jobs)
    await emu.configure(processing_time=3600.0)
    result.details = {key: value for key, value in one.items() if key != "latencies"}
    latencies = one["latencies"]
    failed = f"; {one['failed']} waits failed" if one["failed"] else ""
    result.rows += [
        Row(
            NAME,
            f"p50 latency, final state -> await_job returns, {jobs} waits with SQS",
            percentile(latencies, 50),
            unit="ms",
            detail=f"{len(latencies)} jobs finishing within {_SPREAD:g} s{failed}",
        ),
        Row(
            NAME,
            f"p95 latency, {jobs} waits with SQS",
            percentile(latencies, 95),
            unit="ms",
            limit=_P95_TARGET,
            detail=f"max {max(latencies, default=0.0) * 1e3:.0f} ms",
        ),
        Row(
            NAME,
            f"GET requests per job, {jobs} waits with SQS",
            one["gets_per_job"],
            unit="",
            limit=_GETS_TARGET,
            detail=f"{one['gets']} GETs; the polling budget is 20 GETs/s",
        ),
    ]
    return result


async def _round(
    emu: Emulator, client: WattzOnClient, consumer: NotificationConsumer, jobs: int
) -> dict[str, Any]:
    await emu.reset(purge_queue=True)
    data = document(2_000, 11)
    burst = time.time() + jobs / _CREATE_RATE + 3.0
    waits: list[asyncio.Task[tuple[float, float]]] = []

    async def wait(job: Job, duration: float) -> tuple[float, float]:
        await client.await_job(job.id, notifications=consumer, timeout=_WAIT_TIMEOUT)
        return time.time(), job.created_at.timestamp() + duration

    groups = -(-jobs // _GROUP)
    for group in range(groups):
        size = min(_GROUP, jobs - group * _GROUP)
        duration = max(0.5, burst + _SPREAD * group / groups - time.time())
        await emu.configure(processing_time=duration)
        created = await asyncio.gather(
            *(
                client.jobs.create(
                    email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{group}-{i}.pdf"
                )
                for i in range(size)
            )
        )
        waits += [asyncio.create_task(wait(job, duration)) for job in created]
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    latencies = [done - final for done, final in (o for o in outcomes if isinstance(o, tuple))]
    stats = await emu.stats()
    gets = requests_to(stats, "GET /api/v1/jobs/{job_id}")
    return {
        "jobs": len(waits),
        "failed": sum(isinstance(o, BaseException) for o in outcomes),
        "errors": [repr(o) for o in outcomes if isinstance(o, BaseException)][:3],
        "latencies": latencies,
        "gets": gets,
        "gets_per_job": gets / max(1, len(waits)),
        "consumer": {
            "received": consumer.stats.received,
            "deleted": consumer.stats.deleted,
            "delivered": consumer.stats.delivered,
        },
        "notifications_sent": stats.get("notifications_sent"),
    }
