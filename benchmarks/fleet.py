"""12. The fleet: what a shared store costs a keyed create, and replicas racing one queue.

* Keyed creates, with a store / without: ``fleet_creates`` creates with fresh idempotency
  keys (``concurrency`` 16, no slow start), by a client with ``store=`` and by one
  without; the sides alternate (A B B A ...) and the figure is the ratio of the median
  wall times. With a store each create first claims its key (one write) and records its
  job (another) besides its look-up GET and its POST. Measured for SQLite (a file in a
  temporary folder) and PostgreSQL (a server the benchmark starts from the pgserver
  wheel or PATH, as the tests do; skipped without one).
* Replicas racing one queue: ``fleet_jobs`` jobs split over 4 replicas, each with its own
  client and hub-mode consumer on the one queue and one store (PostgreSQL, then SQLite),
  against the same jobs awaited by one replica alone. The replicas run in this process
  but share nothing but the queue and the store, so SQS hands each notification to any
  of them, as it would to four machines. Jobs finish together a few seconds after the last create;
  latency is from a job's completion instant (``created_at + processing_time`` on the
  emulator's clock) to its ``await_job`` returning, with the SDK's default schedule
  for notification waits (the first poll after 30 s). GETs per job are the emulator's.
* One batch over four processes with a PostgreSQL journal under a 40/s limit: goodput
  and jobs per bill (``fleetbatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from wattzon_async import Job, RateLimitPolicy, WattzOnClient
from wattzon_async.emulator import Emulator
from wattzon_async.notifications import NotificationConsumer

from . import fleetbatch
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
    run_concurrently,
    side_order,
)

__all__ = ["run"]

NAME = "12. The fleet"
_CREATE_TARGET = 1.15
_P95_TARGET = 2.0
_CONCURRENCY = 16
_REPLICAS = 4


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure the store's cost per keyed create, then 4 replicas against 1."""
    result = BenchResult(NAME)
    folder = Path(tempfile.mkdtemp(prefix="wattzon-bench-fleet-"))
    try:
        await _creates(emu, settings, f"sqlite://{folder}/store.db", "SQLite", result)
        async with _postgres(result) as url:
            if url is not None:
                await _creates(emu, settings, url, "PostgreSQL", result)
                await fleetbatch.run(emu, settings, url, NAME, result)
                await _replicas(emu, settings, url, "PostgreSQL", result)
        await _replicas(emu, settings, f"sqlite://{folder}/replicas.db", "SQLite", result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


@contextlib.asynccontextmanager
async def _postgres(result: BenchResult) -> AsyncIterator[str | None]:
    try:
        from tests.postgres import running_server
    except ImportError:
        result.notes.append("PostgreSQL rows skipped: tests/postgres.py is not importable")
        yield None
        return
    try:
        with running_server() as server:
            yield server.url
    except LookupError as exc:
        result.notes.append(f"PostgreSQL rows skipped: {exc}")
        yield None


async def _creates(
    emu: Emulator, settings: Settings, url: str, engine: str, result: BenchResult
) -> None:
    count = settings.fleet_creates
    data = document(2_000, 12)
    times: dict[str, list[float]] = {"store": [], "plain": []}
    fast = RateLimitPolicy(initial_rate=None)
    async with emu.client(rate_limit=fast) as plain, emu.client(rate_limit=fast, store=url) as kept:

        async def batch(client: WattzOnClient) -> float:
            started = time.perf_counter()

            async def create() -> None:
                await client.jobs.create(
                    email=EMAIL,
                    provider=PROVIDER,
                    document=data,
                    name="bill.pdf",
                    idempotency_key=uuid.uuid4().hex,
                )

            await run_concurrently(create, count, _CONCURRENCY)
            return time.perf_counter() - started

        await batch(plain)  # warm: connections, imports, the store's schema
        await batch(kept)
        for pair in range(settings.fleet_rounds):
            store_first, _ = side_order(pair)
            for side in ("store", "plain") if store_first else ("plain", "store"):
                await emu.reset()
                await emu.configure(processing_time=3600.0)
                times[side].append(await batch(kept if side == "store" else plain))
    result.details[f"creates_{engine}"] = times
    result.rows.append(
        Row(
            NAME,
            f"Keyed create, with a {engine} store / without ({count} creates, "
            f"concurrency {_CONCURRENCY})",
            median(times["store"]) / median(times["plain"]),
            limit=_CREATE_TARGET,
            detail=f"median {median(times['store']):.2f} s with, {median(times['plain']):.2f} s "
            f"without, over {len(times['store'])} alternated pairs",
        )
    )


async def _replicas(
    emu: Emulator, settings: Settings, url: str, engine: str, result: BenchResult
) -> None:
    jobs = settings.fleet_jobs
    one = await _race(emu, jobs, 1, None)
    many = await _race(emu, jobs, _REPLICAS, url)
    await emu.configure(processing_time=3600.0)
    result.details[f"replicas_{engine}"] = {
        "one": {k: v for k, v in one.items() if k != "latencies"},
        "many": {k: v for k, v in many.items() if k != "latencies"},
    }
    p95_one = percentile(one["latencies"], 95)
    p95_many = percentile(many["latencies"], 95)
    result.rows += [
        Row(
            NAME,
            f"p95 latency, final state -> await_job returns, {_REPLICAS} replicas on one queue "
            f"with a {engine} store",
            p95_many,
            unit="ms",
            limit=_P95_TARGET,
            detail=f"{jobs} jobs; one replica alone: p95 {p95_one * 1e3:.0f} ms; "
            f"{many['from_store']} notifications reached their replica through the store; "
            f"{many['failed'] + one['failed']} waits failed",
        ),
        Row(
            NAME,
            f"GET requests per job, {_REPLICAS} replicas / one replica ({engine} store)",
            many["gets_per_job"] / max(one["gets_per_job"], 1e-9),
            detail=f"{many['gets_per_job']:.2f} GETs per job with {_REPLICAS} replicas, "
            f"{one['gets_per_job']:.2f} with one (a first look and the confirming GET at most)",
        ),
    ]


async def _race(emu: Emulator, jobs: int, replicas: int, store: str | None) -> dict[str, Any]:
    """Create ``jobs`` jobs over ``replicas`` replicas and await each in its replica."""
    await emu.reset(purge_queue=True)
    data = document(2_000, 13)
    async with contextlib.AsyncExitStack() as stack:
        pairs: list[tuple[WattzOnClient, NotificationConsumer]] = []
        for _ in range(replicas):
            options = {} if store is None else {"store": store}
            client = await stack.enter_async_context(emu.client(**options))
            consumer = await stack.enter_async_context(emu.consumer(**options))
            pairs.append((client, consumer))
        duration = jobs / 100 + 3.0
        await emu.configure(processing_time=duration)

        async def one(index: int) -> tuple[float, float]:
            client, consumer = pairs[index % replicas]
            job: Job = await client.jobs.create(
                email=EMAIL, provider=PROVIDER, document=data, name=f"bill-{index}.pdf"
            )
            await client.await_job(job.id, notifications=consumer, timeout=300)
            return time.time(), job.created_at.timestamp() + duration

        outcomes = await asyncio.gather(*(one(i) for i in range(jobs)), return_exceptions=True)
        from_store = sum(consumer.stats.from_store for _, consumer in pairs)
    stats = await emu.stats()
    gets = requests_to(stats, "GET /api/v1/jobs/{job_id}")
    return {
        "latencies": [
            done - final for done, final in (o for o in outcomes if isinstance(o, tuple))
        ],
        "failed": sum(isinstance(o, BaseException) for o in outcomes),
        "errors": [repr(o) for o in outcomes if isinstance(o, BaseException)][:3],
        "gets_per_job": gets / max(1, jobs),
        "from_store": from_store,
    }
