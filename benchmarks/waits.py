"""10. Thousands of waits racing SQS: 2,000 ``await_job(notifications=consumer)`` in one client.

One client and one hub-mode consumer (the emulator handle's 1 s long poll), the SDK's
default polling schedule and polling budget (20 GETs/s). The jobs are created in groups
of 100, each group after ``emu.configure(processing_time=d)`` with ``d`` chosen so that
the jobs finish in a burst, spread over ``_SPREAD`` seconds, and thousands of
notifications are published and received together. A job's completion instant is
exactly ``created_at + d`` on the emulator's clock (the same machine's wall clock).

Three shapes:

* **one by one**: each ``await_job`` starts as soon as its create returns; the burst
  comes a few seconds after the last create, so every wait is running when its job ends.
* **all at once**: the same client creates every job, then starts every wait together
  (a batch that creates first and waits after); the burst comes a second after that.
* **restart**: one client creates the jobs and closes; a new client and a new consumer
  (a restarted service) re-attach every wait together while the jobs finish: the burst
  is timed for the moment the new client starts.

Latency is from a job's completion instant to its ``await_job`` returning. GETs per job
are the emulator's count of ``GET /api/v1/jobs/{id}`` over the jobs. The **floor** is
measured in the same run: a fresh client GETs every (COMPLETE) job, 16 at a time, the
least time this machine takes to serve the confirming GETs alone; p95 is reported
against it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from wattzon_async import Job, RateLimitPolicy, WaitPolicy, WattzOnClient
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
_FLOOR_TARGET = 2.0
_GETS_TARGET = 1.5
#: GETs in flight while measuring the floor (the SDK's own bound for the GETs of waits).
_FLOOR_CONCURRENCY = 16
_GROUP = 100
_SPREAD = 2.0
_WAIT_TIMEOUT = 300.0
#: Creates per second assumed when placing the burst after the last create.
_CREATE_RATE = 150.0

Created = list[tuple[Job, float]]


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure completion latency and GETs per job with thousands of waits at once."""
    result = BenchResult(NAME)
    jobs = settings.waits_jobs
    async with emu.client(wait=WaitPolicy()) as client, emu.consumer() as consumer:
        one = await _one_by_one(emu, client, consumer, jobs)
    async with emu.client(wait=WaitPolicy()) as client, emu.consumer() as consumer:
        together = await _all_at_once(emu, client, consumer, jobs)
    restart = await _restart(emu, jobs)
    floor = await _floor(emu, [job.id for job, _ in restart.pop("created")])
    await emu.configure(processing_time=3600.0)
    shapes = {"one by one": one, "all at once": together, "restart": restart}
    result.details = {
        name: {key: value for key, value in shape.items() if key != "latencies"}
        for name, shape in shapes.items()
    } | {"floor_seconds": floor}
    for name, shape in shapes.items():
        result.rows += _rows(name, shape, jobs, floor)
    return result


def _rows(shape: str, one: dict[str, Any], jobs: int, floor: float) -> list[Row]:
    latencies = one["latencies"]
    failed = f"; {one['failed']} waits failed" if one["failed"] else ""
    p95 = percentile(latencies, 95)
    return [
        Row(
            NAME,
            f"p50 latency, final state -> await_job returns, {jobs} waits with SQS, {shape}",
            percentile(latencies, 50),
            unit="ms",
            detail=f"{len(latencies)} jobs finishing within {_SPREAD:g} s{failed}",
        ),
        Row(
            NAME,
            f"p95 latency, {jobs} waits with SQS, {shape}",
            p95,
            unit="ms",
            limit=_P95_TARGET if shape == "one by one" else None,
            detail=f"max {max(latencies, default=0.0) * 1e3:.0f} ms",
        ),
        Row(
            NAME,
            f"p95 latency / floor (all {jobs} confirming GETs alone), {shape}",
            p95 / floor,
            limit=_FLOOR_TARGET,
            detail=f"p95 {p95 * 1e3:.0f} ms, floor {floor * 1e3:.0f} ms (same run)",
        ),
        Row(
            NAME,
            f"GET requests per job, {jobs} waits with SQS, {shape}",
            one["gets_per_job"],
            unit="",
            limit=_GETS_TARGET,
            detail=f"{one['gets']} GETs; the polling budget is 20 GETs/s",
        ),
    ]


async def _create(
    emu: Emulator,
    client: WattzOnClient,
    jobs: int,
    burst: Callable[[], float],
    started: Callable[[Created], None] | None = None,
) -> Created:
    """Create ``jobs`` jobs in groups, each group timed to finish at ``burst()`` + its share."""
    data = document(2_000, 11)
    created: Created = []
    groups = -(-jobs // _GROUP)
    for group in range(groups):
        size = min(_GROUP, jobs - group * _GROUP)
        duration = max(0.5, burst() + _SPREAD * group / groups - time.time())
        await emu.configure(processing_time=duration)
        batch = await asyncio.gather(
            *(
                client.jobs.create(
                    email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{group}-{i}.pdf"
                )
                for i in range(size)
            )
        )
        made = [(job, job.created_at.timestamp() + duration) for job in batch]
        created += made
        if started is not None:
            started(made)
    return created


def _waiter(
    client: WattzOnClient, consumer: NotificationConsumer
) -> Callable[[Job, float], asyncio.Task[float]]:
    async def wait(job: Job, final: float) -> float:
        await client.await_job(job.id, notifications=consumer, timeout=_WAIT_TIMEOUT)
        return time.time() - final

    return lambda job, final: asyncio.create_task(wait(job, final))


async def _one_by_one(
    emu: Emulator, client: WattzOnClient, consumer: NotificationConsumer, jobs: int
) -> dict[str, Any]:
    await emu.reset(purge_queue=True)
    burst = time.time() + jobs / _CREATE_RATE + 3.0
    start = _waiter(client, consumer)
    waits: list[asyncio.Task[float]] = []
    await _create(
        emu, client, jobs, lambda: burst, lambda made: waits.extend(start(*m) for m in made)
    )
    return await _outcome(emu, consumer, waits)


async def _all_at_once(
    emu: Emulator, client: WattzOnClient, consumer: NotificationConsumer, jobs: int
) -> dict[str, Any]:
    await emu.reset(purge_queue=True)
    burst = time.time() + jobs / _CREATE_RATE + 3.0
    created = await _create(emu, client, jobs, lambda: burst)
    start = _waiter(client, consumer)
    return await _outcome(emu, consumer, [start(job, final) for job, final in created])


async def _restart(emu: Emulator, jobs: int) -> dict[str, Any]:
    """A client creates the jobs and closes; a new one re-attaches every wait at once."""
    await emu.reset(purge_queue=True)
    # The burst starts about when the last create returns: the new client starts then.
    burst = time.time() + jobs / _CREATE_RATE + 0.5
    async with emu.client(wait=WaitPolicy()) as client:
        created = await _create(emu, client, jobs, lambda: burst)
    async with emu.client(wait=WaitPolicy()) as client, emu.consumer() as consumer:
        start = _waiter(client, consumer)
        outcome = await _outcome(emu, consumer, [start(job, final) for job, final in created])
    outcome["created"] = created
    return outcome


async def _floor(emu: Emulator, job_ids: list[int]) -> float:
    """Seconds a fresh client takes to GET every (COMPLETE) job: the floor.

    ``_FLOOR_CONCURRENCY`` at a time, as many as the waits' GETs run at once: thousands
    queued in httpx's pool at once would measure that pool's queue, not the machine.
    """
    # Without the slow start: the floor is the machine's, not the limiter's probe.
    async with emu.client(rate_limit=RateLimitPolicy(initial_rate=None)) as client:
        await client.jobs.get(job_ids[0])  # the connection and TLS set-up are not counted
        pending = iter(job_ids)

        async def worker() -> None:
            for job_id in pending:
                await client.jobs.get(job_id)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(_FLOOR_CONCURRENCY)))
        return time.perf_counter() - started


async def _outcome(
    emu: Emulator, consumer: NotificationConsumer, waits: list[asyncio.Task[float]]
) -> dict[str, Any]:
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    latencies = [o for o in outcomes if isinstance(o, float)]
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
