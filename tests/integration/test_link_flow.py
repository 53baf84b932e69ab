"""The Link flow end to end against the emulator: an extraction, its message, the bills.

A user links a utility account (``Emulator.start_link``); the seed's Link message reaches
the queue; a hub waits for it (``consumer.wait_for_link``), early or late.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from wattzon_async import (
    LinkNotification,
    NotificationError,
    SnapNotification,
    WaitTimeoutError,
)
from wattzon_async.emulator import Emulator

from .conftest import emulator_sqs, poll_until
from .test_emulator_faults import receive

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def emu(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator, reset, with its queue purged."""
    await clean_emulator.reset(purge_queue=True)
    yield clean_emulator


async def send(emu: Emulator, *bodies: str) -> None:
    """Put raw message bodies on the emulator's queue, as SQS would deliver them."""
    async with emulator_sqs(emu) as sqs:
        for body in bodies:
            await sqs.send_message(QueueUrl=emu.queue_url, MessageBody=body)


async def queue_counts(emu: Emulator) -> tuple[int, int]:
    """(visible, in flight) messages of the emulator's queue."""
    async with emulator_sqs(emu) as sqs:
        reply = await sqs.get_queue_attributes(
            QueueUrl=emu.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    attributes = reply["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


async def drained(emu: Emulator) -> bool | None:
    return True if await queue_counts(emu) == (0, 0) else None


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait for an in-process condition, with a deadline."""

    async def check() -> bool | None:
        return True if predicate() else None

    await poll_until(check, timeout=timeout)


# -- hub mode: wait_for_link ---------------------------------------------------------------


async def test_wait_for_link_gets_a_message_that_arrives_later(emu: Emulator) -> None:
    async with emu.consumer() as consumer:
        waiter = asyncio.create_task(consumer.wait_for_link("7001", timeout=30))
        await asyncio.sleep(0)  # the waiter is registered before the extraction starts
        job = await emu.start_link("7001", tags=["late"])
        notification = await waiter
        assert isinstance(notification, LinkNotification)
        assert (notification.profile_id, notification.job_id) == ("7001", job.job_id)
        assert notification.tags == ("late",)
        await poll_until(lambda: drained(emu))  # handed to a waiter: deleted
        assert consumer.stats.delivered == 1


async def test_wait_for_link_finds_a_message_that_arrived_first(emu: Emulator) -> None:
    async with emu.consumer() as consumer:
        job = await emu.start_link(7002)  # an int profile id is the same profile
        await until(lambda: consumer.stats.received)
        assert await queue_counts(emu) == (0, 1)  # held for a waiter, not deleted
        notification = await consumer.wait_for_link(7002, timeout=5)
        assert notification.job_id == job.job_id
        again = await consumer.wait_for_link("7002", timeout=5)  # still within retention
        assert again == notification
        await poll_until(lambda: drained(emu))
        async with emu.client() as client:
            assert len(await client.link.bills(notification.profile_id)) == 3


async def test_wait_for_link_times_out_and_leaves_no_waiter(emu: Emulator) -> None:
    async with emu.consumer() as consumer:
        with pytest.raises(WaitTimeoutError, match="profile 7003") as info:
            await consumer.wait_for_link("7003", timeout=0.3)
        assert isinstance(info.value, TimeoutError)
        assert info.value.job is None
        await emu.start_link("7003")
        await until(lambda: consumer.stats.received)
        assert consumer.stats.delivered == 0  # the timed-out waiter took nothing
        assert await queue_counts(emu) == (0, 1)


async def test_a_link_message_never_resolves_a_snap_wait(emu: Emulator) -> None:
    async with emu.consumer() as consumer:
        snap = asyncio.create_task(consumer.wait_for(1001))
        await emu.start_link("1001")
        notification = await consumer.wait_for_link("1001", timeout=30)
        assert notification.profile_id == "1001"
        assert not snap.done()
        snap.cancel()


# -- malformed Link messages ---------------------------------------------------------------

GARBAGE = (
    '{"app": "link", "profile_id": "7004"}',  # no job_id
    '{"app": "link", "profile_id": "7004", "job_id": "1", "tags": "[\'unterminated"}',
    '{"app": "link", "profile_id": ["7004"], "job_id": "1"}',
    '{"app": "LINK", "profile_id": "7004", "job_id": "1", "created_at": "not a time"}',
)


async def test_malformed_link_messages_are_left_to_the_redrive_policy(emu: Emulator) -> None:
    invalid: list[tuple[str, NotificationError]] = []
    handled: list[SnapNotification | LinkNotification] = []

    async def handle(notification: SnapNotification | LinkNotification) -> None:
        handled.append(notification)

    consumer = emu.consumer(
        visibility_timeout=1, on_invalid=lambda body, error: invalid.append((body, error))
    )
    await send(emu, *GARBAGE)
    job = await emu.start_link("7004")
    worker = asyncio.create_task(consumer.run(handle))
    try:
        await until(lambda: handled and len(invalid) >= len(GARBAGE))
    finally:
        await consumer.stop()
        await worker
    assert [n.job_id for n in handled] == [job.job_id]
    assert sorted(body for body, _ in invalid[: len(GARBAGE)]) == sorted(GARBAGE)
    assert all(isinstance(error, NotificationError) for _, error in invalid)
    # Not deleted: each comes back after its visibility timeout, for the redrive policy.
    assert sorted(await receive(emu, len(GARBAGE))) == sorted(GARBAGE)
