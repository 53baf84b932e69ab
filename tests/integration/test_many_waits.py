"""Hundreds of ``await_job(notifications=consumer)`` at once never miss a finish.

Three kinds of job, waited for together in one client with one consumer:

* *lost*: finished before the consumer started, their notifications taken off the
  queue by someone else: only the wait's first look (through the polling budget) can
  find them;
* *held*: finished while the consumer ran but before anyone waited: the consumer's
  early-arrival buffer answers;
* *late*: finishing after the waits started: the notification answers.

Every wait returns its COMPLETE job, with at most two GETs per job (its first look and
the confirmation of its notification), and the notification of every held and late job
reaches its wait.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from wattzon_async import JobStatus, WaitPolicy
from wattzon_async.emulator import Emulator

from .conftest import all_final, create_jobs, emulator_sqs, poll_until

pytestmark = pytest.mark.integration

EACH = 40


@pytest_asyncio.fixture
async def emu(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    await clean_emulator.reset(purge_queue=True)
    yield clean_emulator


async def take_notifications(emu: Emulator, ids: list[int]) -> None:
    """Receive and delete the notifications of ``ids``, as another consumer would."""
    wanted = set(ids)
    taken: set[int] = set()
    async with emulator_sqs(emu) as sqs:

        async def drained() -> bool | None:
            reply = await sqs.receive_message(
                QueueUrl=emu.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in reply.get("Messages", []):
                taken.add(json.loads(message["Body"])["job_id"])
                await sqs.delete_message(
                    QueueUrl=emu.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            return True if wanted <= taken else None

        await poll_until(drained, timeout=30, interval=0.05)


async def test_waits_started_together_find_early_held_and_late_finishes(emu: Emulator) -> None:
    await emu.configure(processing_time=0.2)
    async with emu.client(wait=WaitPolicy()) as client:
        lost = await create_jobs(client, EACH, "lost")
        await poll_until(lambda: all_final(client, lost), timeout=30, interval=0.05)
        await take_notifications(emu, lost)
        async with emu.consumer() as consumer:
            held = await create_jobs(client, EACH, "held")
            await poll_until(
                lambda: asyncio.sleep(0, True if consumer.stats.received >= EACH else None),
                timeout=30,
            )
            await emu.configure(processing_time=1.5)
            before = (await emu.stats())["requests"].get("GET /api/v1/jobs/{job_id}", {})
            late = await create_jobs(client, EACH, "late")
            ids = lost + held + late
            jobs = await asyncio.gather(
                *(client.await_job(i, notifications=consumer, timeout=120) for i in ids)
            )
            delivered = consumer.stats.delivered
        stats = await emu.stats()
    assert [job.id for job in jobs] == ids
    assert Counter(job.status for job in jobs) == {JobStatus.COMPLETE: 3 * EACH}
    gets = sum(stats["requests"]["GET /api/v1/jobs/{job_id}"].values()) - sum(before.values())
    assert 3 * EACH <= gets <= 2 * 3 * EACH
    assert delivered >= 2 * EACH  # every held and late job's notification reached its wait
