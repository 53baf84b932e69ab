"""Notifications reach the replica that waits, through the store: SQLite and PostgreSQL.

Three replica processes share one queue and one store; each creates jobs and awaits them
with a schedule that polls once at first and then not for an hour, so only a
notification ends a wait. SQS hands each message to any replica: without the store, a
wait whose notification went elsewhere would hang (the hang guard fails the test).
A wait that starts after its notification was received (by another consumer) finds it
in the store, and the queue is left empty: every message was deleted once stored. A
store that cannot take a notification keeps its message from being deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import fresh_database
from tests.postgres import PostgresServer
from wattzon_async.emulator import Emulator

from .conftest import PDF, child_environ, empty_store_url, emulator_sqs, poll_until, reset_around

pytestmark = pytest.mark.integration

REPLICA = Path(__file__).with_name("store_replica.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def own_emulator() -> AsyncIterator[Emulator]:
    # A queue of this module's own: the checks that it ends empty see no message that
    # another test file's jobs sent to the session's shared emulator.
    async with Emulator(processing_time=0.2, sqs=True) as emu:
        yield emu


@pytest_asyncio.fixture
async def emulator(own_emulator: Emulator) -> AsyncIterator[Emulator]:
    async with reset_around(own_emulator, purge_queue=True) as emu:
        yield emu


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await empty_store_url(request, tmp_path / "fleet" / "store.db")


async def start_replica(
    emu: Emulator, store: str, count: int, go: Path
) -> asyncio.subprocess.Process:
    env = child_environ(emu, WATTZON_STORE_URL=store)
    return await asyncio.create_subprocess_exec(
        sys.executable, str(REPLICA), str(count), str(go),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), 300)).decode().strip()


async def queue_is_empty(emu: Emulator) -> bool | None:
    async with emulator_sqs(emu) as sqs:
        attributes = await sqs.get_queue_attributes(
            QueueUrl=emu.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    counts = attributes["Attributes"]
    empty = (
        counts["ApproximateNumberOfMessages"]
        == counts["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )
    return True if empty else None


async def test_replicas_sharing_a_queue_each_get_their_notifications(
    emulator: Emulator, store_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    replicas = [await start_replica(emulator, store_url, 5, go) for _ in range(3)]
    assert [await line(r) for r in replicas] == ["ready"] * 3
    go.touch()
    results: list[dict[str, Any]] = [json.loads(await line(r)) for r in replicas]
    for replica in replicas:
        assert await asyncio.wait_for(replica.wait(), 60) == 0
    assert all(r["states"] == ["COMPLETE"] for r in results), results
    assert sum(len(r["jobs"]) for r in results) == 15
    assert sum(r["from_store"] for r in results) > 0, results  # some went to another replica
    assert sum(r["stored"] for r in results) >= 15
    # A receive still in flight when a replica stopped may have taken messages it never saw:
    # SQS shows them again after their visibility timeout. Nothing is lost: the next replica
    # (here, one more consumer on the same store) takes them, and the queue empties.
    async with emulator.consumer(store=store_url):
        await poll_until(lambda: queue_is_empty(emulator), timeout=120)


async def test_a_wait_after_the_notification_arrived_elsewhere_finds_it(
    emulator: Emulator, store_url: str
) -> None:
    async with emulator.client() as client:
        job = await client.jobs.create(
            email="fleet@example.com", provider=4, document=PDF, name="early.pdf"
        )
        async with emulator.consumer(store=store_url) as receiver:

            async def stored() -> bool | None:
                return True if receiver.stats.stored >= 1 else None

            await poll_until(stored, timeout=60)  # received, nobody waiting: stored, deleted
        await poll_until(lambda: queue_is_empty(emulator), timeout=60)
        async with emulator.consumer(store=store_url) as late:
            notification = await asyncio.wait_for(late.wait_for(job.id), 60)
            assert notification.job_id == job.id
            assert late.stats.from_store == 1
            assert late.stats.received == 0


async def test_a_message_is_deleted_only_once_its_notification_is_stored(
    emulator: Emulator, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncpg  # type: ignore[import-untyped, unused-ignore]

    caplog.set_level(logging.WARNING, logger="wattzon_async.notifications")
    url = await fresh_database(postgres_server)
    async with emulator.client() as client, emulator.consumer(store=url) as consumer:
        conn = await asyncpg.connect(url)
        try:  # the store breaks under the running consumer: nothing can be written to it
            await conn.execute("DROP TABLE wattzon_notifications")
        finally:
            await conn.close()
        job = await client.jobs.create(
            email="fleet@example.com", provider=4, document=PDF, name="kept.pdf"
        )

        async def refused() -> bool | None:
            return True if "could not hand a notification over" in caplog.text else None

        await poll_until(refused, timeout=60)
        assert consumer.stats.received == 1
        assert consumer.stats.stored == 0
        assert consumer.stats.deleted == 0  # held, not deleted: the store does not have it
        notification = await asyncio.wait_for(consumer.wait_for(job.id), 60)
        assert notification.job_id == job.id  # a waiter here still gets it, then it goes

        async def deleted() -> bool | None:
            return True if consumer.stats.deleted >= 1 else None

        await poll_until(deleted, timeout=60)
