"""Fault soak: 200 submissions through an emulator that misbehaves in every documented way.

One dedicated emulator (faults are global to it) answers 10% of API requests with 500,
drops 5% of the connections right after a job was created, rate-limits with 429 and
Retry-After, and now and then holds every response past the client's read timeout; its
SQS publisher sends duplicate and malformed messages. The run then proves:

* every submission maps to exactly one job on the emulator (``jobs_created`` and a
  look-up by each submission's own tag), and its outcome is COMPLETE with results;
* every wait resolved exactly once (one outcome per index, progress counts consistent);
* no exception escaped but documented ``WattzOnError`` ones (in fact none at all);
* afterwards no task, TCP connection (to the API or to SQS) or file descriptor is left
  open, and no ResourceWarning is raised.

The helpers that look at the process's own sockets and descriptors are used by the
other integration files as well.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from wattzon_async import (
    BatchProgress,
    JobStatus,
    RetryPolicy,
    Submission,
    SubmitOutcome,
    Timeouts,
    WattzOnError,
)
from wattzon_async.emulator import Emulator

pytestmark = pytest.mark.integration

SUBMISSIONS = 200
CONCURRENCY = 32
READ_TIMEOUT = 0.5
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
FAULTS: dict[str, Any] = {
    "error_rate": 0.10,
    "drop_after_create_rate": 0.05,
    "rate_limit_rps": 60.0,
    "rate_limit_burst": 30.0,
    "duplicate_notification_rate": 0.10,
    "malformed_notification_rate": 0.05,
}
#: A latency spike: every response held this long (past READ_TIMEOUT) for SPIKE_LENGTH s.
SPIKE_LATENCY = 0.8
SPIKE_LENGTH = 0.6
SPIKE_EVERY = 2.5


# -- what the process holds open ------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what each points at."""
    found: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the descriptor listdir itself used, already closed
    return found


def tcp_connections(port: int) -> list[str]:
    """This process's TCP sockets whose remote port is ``port`` (any state), as text.

    Reads the socket inodes of ``/proc/self/fd`` and matches them in ``/proc/net/tcp``
    and ``/proc/net/tcp6``: a socket another process holds (the server's side) does not
    count, and a socket this process has closed is not listed.
    """
    inodes = {
        target[len("socket:[") : -1]
        for target in open_fds().values()
        if target.startswith("socket:[")
    }
    found: list[str] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[9] in inodes:
                found.append(f"{table} {fields[1]} -> {fields[2]} state {fields[3]}")
    return found


def other_tasks(baseline: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    """Tasks alive now that were not alive at ``baseline`` (the current task excepted)."""
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t not in baseline and t is not current]


async def assert_nothing_left(
    baseline_tasks: set[asyncio.Task[Any]],
    baseline_fds: dict[int, str],
    ports: list[int],
    *,
    timeout: float = 30.0,
) -> None:
    """Await (with a deadline) that no task, connection to ``ports`` or descriptor is left.

    A ResourceWarning raised while collecting garbage fails the test as well.
    """
    deadline = time.monotonic() + timeout
    while True:
        tasks = other_tasks(baseline_tasks)
        sockets = [s for port in ports for s in tcp_connections(port)]
        fds = {fd: t for fd, t in open_fds().items() if baseline_fds.get(fd) != t}
        if not tasks and not sockets and not fds:
            break
        if time.monotonic() >= deadline:
            pytest.fail(f"left open: tasks={tasks} sockets={sockets} descriptors={fds}")
        await asyncio.sleep(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        gc.collect()


@asynccontextmanager
async def no_leaks(*ports: int) -> AsyncIterator[list[int]]:
    """Check on exit that the block left nothing open; more ports may be appended inside."""
    baseline_tasks = set(asyncio.all_tasks())
    baseline_fds = open_fds()
    watched = list(ports)
    yield watched
    await assert_nothing_left(baseline_tasks, baseline_fds, watched)


# -- the soak --------------------------------------------------------------------------


async def _latency_spikes(emu: Emulator, stop: asyncio.Event) -> int:
    """Every SPIKE_EVERY seconds hold all responses past the read timeout for a moment."""
    spikes = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), SPIKE_EVERY)
        except TimeoutError:
            pass
        else:
            break
        await emu.set_faults(**FAULTS, latency=SPIKE_LATENCY)
        spikes += 1
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SPIKE_LENGTH)
        await emu.set_faults(**FAULTS)
    return spikes


async def _one_job_per_tag(emu: Emulator, count: int) -> Counter[int]:
    """How many jobs the emulator holds for each submission tag ``soak:<i>``."""
    found: Counter[int] = Counter()
    slots = asyncio.Semaphore(16)
    async with emu.client() as client:

        async def look(index: int) -> None:
            async with slots:
                jobs = await client.jobs.list(tag=f"soak:{index}")
            found[index] = len(jobs)

        async with asyncio.TaskGroup() as group:
            for index in range(count):
                group.create_task(look(index))
    return found


async def test_fault_soak() -> None:
    async with no_leaks() as ports, Emulator(processing_time=(0.05, 0.3), sqs=True) as emu:
        assert emu.sqs_endpoint_url is not None
        ports += [emu.port, int(urlsplit(emu.sqs_endpoint_url).port or 0)]
        await emu.set_faults(**FAULTS)
        invalid: list[WattzOnError] = []
        progress: list[BatchProgress] = []
        submissions = [
            Submission(
                email=f"customer{i}@example.com",
                provider=4,
                document=PDF,
                name=f"bill-{i}.pdf",
                tags=[f"soak:{i}", "soak"],
            )
            for i in range(SUBMISSIONS)
        ]
        outcomes: dict[int, SubmitOutcome] = {}
        client = emu.client(
            timeouts=Timeouts(read=READ_TIMEOUT),
            retry=RetryPolicy(attempts=8, timeout=60.0, wait_initial=0.1, wait_max=2.0),
        )
        consumer = emu.consumer(on_invalid=lambda body, error: invalid.append(error))
        stop = asyncio.Event()
        async with client, consumer:
            spikes = asyncio.create_task(_latency_spikes(emu, stop))
            try:
                batch = client.jobs.submit_many(
                    submissions,
                    concurrency=CONCURRENCY,
                    wait=True,
                    notifications=consumer,
                    timeout=300,  # a deadline against hanging, not a speed test
                    on_progress=lambda p: progress.append(
                        BatchProgress(p.total, p.submitted, p.processing, p.done, p.failed)
                    ),
                )
                async for outcome in batch:
                    assert outcome.index not in outcomes, "a wait resolved twice"
                    outcomes[outcome.index] = outcome
            finally:
                stop.set()
                spike_count = await spikes
            await emu.set_faults()
            stats = await emu.stats()
            consumer_stats = consumer.stats
            per_tag = await _one_job_per_tag(emu, SUBMISSIONS)
            assert consumer.running

        # Every wait resolved exactly once, with a COMPLETE job and no error at all.
        assert sorted(outcomes) == list(range(SUBMISSIONS))
        errors = {i: o.error for i, o in outcomes.items() if o.error is not None}
        assert all(isinstance(e, WattzOnError) for e in errors.values()), errors
        assert errors == {}
        jobs = {i: o.job for i, o in outcomes.items() if o.job is not None}
        assert len(jobs) == SUBMISSIONS
        for index, job in jobs.items():
            assert job.status is JobStatus.COMPLETE
            assert f"soak:{index}" in job.tags
            assert job.values()
        assert len({job.id for job in jobs.values()}) == SUBMISSIONS
        final = progress[-1]
        assert (final.total, final.submitted, final.processing) == (SUBMISSIONS,) * 2 + (0,)
        assert (final.done, final.failed) == (SUBMISSIONS, 0)

        # Every submission made exactly one job on the server.
        assert stats["jobs_created"] == SUBMISSIONS
        assert per_tag == Counter(dict.fromkeys(range(SUBMISSIONS), 1))

        # The faults really happened.
        responses = stats["responses"]
        assert responses.get("500", 0) > SUBMISSIONS // 20
        assert responses.get("429", 0) > 0
        assert stats["connections_dropped"] > 0
        assert spike_count > 0
        assert stats["duplicate_notifications_sent"] > 0
        assert stats["malformed_notifications_sent"] > 0
        assert consumer_stats.duplicates > 0
        assert consumer_stats.invalid > 0
        assert invalid
        assert all(isinstance(e, WattzOnError) for e in invalid)
