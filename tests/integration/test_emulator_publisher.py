"""The emulator publishes like a real producer: batches, several at once, retried.

Every job's notification reaches the queue exactly once, whether the jobs finish
together (many SendMessageBatch calls in flight), one by one, or during an SQS outage
(sent once the queue is back); the duplicates fault adds exactly one copy per job.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from wattzon_async.emulator import Emulator

from .conftest import all_final, create_jobs, emulator_sqs, poll_until

pytestmark = pytest.mark.integration


class Queue:
    """A raw reader of the emulator's queue: receives, deletes and counts job ids."""

    def __init__(self, emu: Emulator, sqs: Any) -> None:
        self.emu = emu
        self.sqs = sqs
        self.seen: Counter[int] = Counter()

    async def drain(self) -> None:
        """Receive and delete every message visible now."""
        sqs = self.sqs
        while True:
            reply = await sqs.receive_message(
                QueueUrl=self.emu.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = reply.get("Messages", [])
            if not messages:
                return
            for message in messages:
                self.seen[json.loads(message["Body"])["job_id"]] += 1
            await sqs.delete_message_batch(
                QueueUrl=self.emu.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )

    async def until_sent(self, total: int) -> None:
        """Drain until the emulator says it sent ``total`` messages and all were read."""

        async def check() -> bool | None:
            await self.drain()
            stats = await self.emu.stats()
            return True if stats["sqs_messages_sent"] >= total else None

        await poll_until(check, timeout=60, interval=0.05)
        await self.drain()


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(processing_time=0.3, sqs=True) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def queue(emu: Emulator) -> AsyncIterator[Queue]:
    async with emulator_sqs(emu) as sqs:
        yield Queue(emu, sqs)


async def test_jobs_finishing_together_and_during_an_outage_are_each_notified_once(
    emu: Emulator, queue: Queue
) -> None:
    async with emu.client() as client:
        before = await create_jobs(client, 60)  # finish together: batches in flight at once
        await queue.until_sent(60)
        assert queue.seen == Counter(before)

        await emu.stop_sqs()
        during = await create_jobs(client, 40)
        await poll_until(lambda: all_final(client, during), timeout=30, interval=0.05)
        stats = await emu.stats()
        assert stats["notifications_sent"] == 60  # nothing reached a queue that was down
        await emu.start_sqs()
        await queue.until_sent(100)

        after = await create_jobs(client, 5)
        await queue.until_sent(105)
    stats = await emu.stats()
    assert queue.seen == Counter(before + during + after)
    assert stats["notifications_sent"] == 105
    assert stats["sqs_messages_sent"] == 105
    assert stats["notification_errors"] == 0


async def test_the_duplicates_fault_adds_exactly_one_copy_per_job(
    emu: Emulator, queue: Queue
) -> None:
    await emu.set_faults(duplicate_notification_rate=1.0)
    async with emu.client() as client:
        ids = await create_jobs(client, 30)
        await queue.until_sent(60)
    stats = await emu.stats()
    assert queue.seen == Counter(ids * 2)
    assert stats["notifications_sent"] == 30
    assert stats["duplicate_notifications_sent"] == 30
