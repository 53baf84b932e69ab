"""The Link flow end to end against the emulator: an extraction, its message, the bills.

A user links a utility account (``Emulator.start_link``); the seed's Link message reaches
the queue; a hub waits for it (``consumer.wait_for_link``), early or late, or a worker
(``examples/sqs_worker.py``) stores the profile's bills and PDFs exactly once, however
often the message is delivered.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from examples import sqs_worker
from wattzon_async import (
    LinkNotification,
    NotificationError,
    SnapNotification,
    WaitTimeoutError,
    WattzOnClient,
)
from wattzon_async.emulator import Emulator

from .conftest import emulator_sqs, poll_until
from .emulator_command import ROOT, clean_environment
from .test_emulator_faults import receive
from .test_emulator_link import LINK_TIME, seed_body

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
        with pytest.raises(asyncio.CancelledError):
            await snap


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


# -- worker mode: examples/sqs_worker.py ----------------------------------------------------


async def test_worker_stores_bills_and_pdfs_exactly_once_under_duplicate_delivery(
    emu: Emulator, wattzon_client: WattzOnClient, tmp_path: Path
) -> None:
    job = await emu.start_link("7005", tags=["sfid:12345", "demo"], provider=140, bills=3)
    (body,) = await receive(emu, 1)
    created_at = json.loads(body)["created_at"]
    assert LINK_TIME.match(created_at)
    assert body == seed_body(job, created_at)  # the seed's exact shape
    await send(emu, body, body, body)  # SQS delivers it three times

    db, pdfs = tmp_path / "results.sqlite", tmp_path / "pdfs"
    store = sqs_worker.ResultStore(db)
    # Copies received while the first is handled come back after 2 s, then count as seen.
    consumer = emu.consumer(visibility_timeout=2)
    worker = asyncio.create_task(sqs_worker.run(wattzon_client, consumer, db, pdf_dir=pdfs))
    try:
        await poll_until(lambda: drained(emu), timeout=30)
    finally:
        await consumer.stop()
        await worker
    assert consumer.stats.handled == 1
    assert consumer.stats.duplicates == 2

    def stored() -> dict[str, Any]:
        return {
            "jobs": store.link_jobs("7005"),
            "bills": store.link_bills("7005"),
            "files": sorted(p.relative_to(pdfs).as_posix() for p in pdfs.rglob("*")),
        }

    first = stored()
    expected = [b["id"] for b in await wattzon_client.link.bills("7005")]
    assert first["jobs"] == [job.job_id]
    assert sorted(first["bills"]) == sorted(str(i) for i in expected)
    assert first["files"] == ["7005", *sorted(f"7005/{i}.pdf" for i in expected)]
    for bill, pdf in first["bills"].values():
        assert bill["provider_id"] == 140
        assert pdf is not None
        assert Path(pdf).read_bytes().startswith(b"%PDF")

    # A redelivery after the consumer's dedup window: the handler runs again, changes nothing.
    handle = sqs_worker.make_handler(wattzon_client, store, pdf_dir=pdfs)
    notification = LinkNotification(profile_id="7005", job_id=job.job_id, tags=job.tags)
    await handle(notification)
    await asyncio.gather(handle(notification), handle(notification))
    assert stored() == first


async def test_worker_keeps_pdf_paths_when_run_without_pdfs(
    emu: Emulator, wattzon_client: WattzOnClient, tmp_path: Path
) -> None:
    store = sqs_worker.ResultStore(tmp_path / "results.sqlite")
    await asyncio.to_thread(store.create)
    job = await emu.start_link("7006", bills=2)
    notification = LinkNotification(profile_id="7006", job_id=job.job_id)
    await sqs_worker.make_handler(wattzon_client, store, pdf_dir=tmp_path / "pdfs")(notification)
    with_pdfs = store.link_bills("7006")
    await sqs_worker.make_handler(wattzon_client, store)(notification)
    assert store.link_bills("7006") == with_pdfs
    assert all(pdf for _, pdf in with_pdfs.values())


async def test_the_worker_program_saves_pdfs_with_its_flag(emu: Emulator, tmp_path: Path) -> None:
    db, pdfs = tmp_path / "results.sqlite", tmp_path / "pdfs"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "sqs_worker.py"),
        "--db",
        str(db),
        "--pdf-dir",
        str(pdfs),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=clean_environment(**emu.environ()),
    )
    try:
        job = await emu.start_link("7007", bills=2)
        await until(lambda: len(list(pdfs.glob("7007/*.pdf"))) == 2, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    store = sqs_worker.ResultStore(db)
    assert store.link_jobs("7007") == [job.job_id]
    assert {pdf for _, pdf in store.link_bills("7007").values()} == {
        str(p) for p in pdfs.glob("7007/*.pdf")
    }
