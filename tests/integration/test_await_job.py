"""await_job against the emulator over real mTLS, racing polling against real SQS (moto)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from wattzon_async import (
    JobFailedError,
    JobStatus,
    JobUnsupportedError,
    NotificationConsumer,
    RateLimitPolicy,
    Submission,
    WaitPolicy,
    WaitTimeoutError,
    WattzOnClient,
)
from wattzon_async.emulator import Emulator

BILL = b"%PDF-1.4\n% a small bill\n"
JOB_GET = "GET /api/v1/jobs/{job_id}"
#: So sparse that a wait that finishes quickly can only have been told by SQS.
NEVER = WaitPolicy(initial_delay=300.0, max_delay=300.0, check_first=False)


async def job_gets(emulator: Emulator) -> int:
    stats = await emulator.stats()
    return sum(stats["requests"].get(JOB_GET, {}).values())


async def until(predicate: Any, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - a condition with a deadline
            await asyncio.sleep(0.02)


@pytest.fixture
async def fresh(wattzon_emulator: Emulator) -> AsyncIterator[Emulator]:
    await wattzon_emulator.reset(purge_queue=True)
    yield wattzon_emulator
    await wattzon_emulator.reset(purge_queue=True)


async def create(client: WattzOnClient, name: str = "bill.pdf", provider: int = 4) -> int:
    job = await client.jobs.create(
        email="user@example.com", provider=provider, document=BILL, name=name
    )
    return job.id


async def test_fast_job_is_resolved_by_its_notification(
    fresh: Emulator, wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer
) -> None:
    job_id = await create(wattzon_client)
    job = await wattzon_client.await_job(
        job_id, timeout=20, notifications=wattzon_consumer, policy=NEVER
    )
    assert job.status is JobStatus.COMPLETE
    assert job.values()["Name"]
    assert await job_gets(fresh) == 1


async def test_notification_that_arrived_before_the_wait_is_used(
    fresh: Emulator, wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer
) -> None:
    job_id = await create(wattzon_client)

    async def received() -> bool:
        return wattzon_consumer.stats.received >= 1

    await until(received)
    job = await wattzon_client.await_job(
        job_id, timeout=10, notifications=wattzon_consumer, policy=NEVER
    )
    assert job.id == job_id
    assert await job_gets(fresh) == 1


async def test_lost_notification_falls_back_to_polling(
    fresh: Emulator, wattzon_client: WattzOnClient
) -> None:
    quiet = await _empty_queue(fresh)
    consumer = NotificationConsumer(
        quiet,
        region_name="us-east-1",
        endpoint_url=fresh.sqs_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        wait_time_seconds=1,
    )
    async with consumer:
        job_id = await create(wattzon_client)
        policy = WaitPolicy(initial_delay=0.3, max_delay=0.5)
        job = await wattzon_client.await_job(
            job_id, timeout=20, notifications=consumer, policy=policy
        )
    assert job.is_final
    assert consumer.stats.received == 0


async def _empty_queue(emulator: Emulator) -> str:
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    session = get_session()
    async with session.create_client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=emulator.sqs_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as sqs:
        answer = await sqs.create_queue(QueueName=f"nobody-writes-here-{time.monotonic_ns()}")
    url: str = answer["QueueUrl"]
    return url


async def test_duplicate_and_malformed_messages_resolve_once(
    fresh: Emulator, wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer
) -> None:
    await fresh.set_faults(duplicate_notification_rate=1.0, malformed_notification_rate=1.0)
    ids = [await create(wattzon_client) for _ in range(3)]
    jobs = await asyncio.gather(
        *(
            wattzon_client.await_job(i, timeout=20, notifications=wattzon_consumer, policy=NEVER)
            for i in ids
        )
    )
    assert [j.id for j in jobs] == ids

    async def all_seen() -> bool:
        stats = wattzon_consumer.stats
        return stats.duplicates >= 3 and stats.invalid >= 3

    await until(all_seen)
    assert await job_gets(fresh) == 3


async def test_200_concurrent_waits_with_a_bounded_number_of_requests(
    fresh: Emulator, wattzon_consumer: NotificationConsumer
) -> None:
    async with fresh.client(rate_limit=RateLimitPolicy(poll_rate=50)) as client:
        subs = [
            Submission(email="user@example.com", provider=4, document=BILL, name=f"b{i}.pdf")
            for i in range(200)
        ]
        ids = [o.job.id async for o in client.jobs.submit_many(subs, concurrency=32) if o.job]
        assert len(ids) == 200
        jobs = await asyncio.gather(
            *(client.await_job(i, timeout=60, notifications=wattzon_consumer) for i in ids)
        )
    assert all(j.status is JobStatus.COMPLETE for j in jobs)
    assert await job_gets(fresh) <= 2 * 200


async def test_failed_and_unsupported_jobs_raise(
    fresh: Emulator, wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer
) -> None:
    failing = await create(wattzon_client, name="failed-bill.pdf")
    unsupported = await create(wattzon_client, provider=9999)
    with pytest.raises(JobFailedError) as failed:
        await wattzon_client.await_job(failing, timeout=20, notifications=wattzon_consumer)
    assert failed.value.job.id == failing
    with pytest.raises(JobUnsupportedError):
        await wattzon_client.await_job(unsupported, timeout=20, notifications=wattzon_consumer)


async def test_deadline_and_cancellation(fresh: Emulator, wattzon_client: WattzOnClient) -> None:
    await fresh.configure(processing_time=60.0)
    try:
        job_id = await create(wattzon_client)
        quick = WaitPolicy(initial_delay=0.05, max_delay=0.1)
        with pytest.raises(WaitTimeoutError) as caught:
            await wattzon_client.await_job(job_id, timeout=0.5, policy=quick)
        assert caught.value.job is not None
        assert not caught.value.job.is_final

        before = asyncio.all_tasks()
        task = asyncio.create_task(wattzon_client.await_job(job_id, policy=quick))

        async def polled() -> bool:
            return await job_gets(fresh) >= 4

        await until(polled)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() - before == set()
        assert (await wattzon_client.jobs.get(job_id)).status is not JobStatus.FAILED
    finally:
        await fresh.configure(processing_time=0.2)
