"""11. SQS throughput: the emulator's publisher, and the consumer against a raw loop.

* Publishing: jobs created in groups of ten, each after
  ``emu.configure(processing_time=d)`` with ``d`` chosen so that all of them finish
  together; the rate is the jobs over the time from the first finish (``created_at +
  d``) until the emulator counts every notification sent. Beside
  it, on the same moto server and the same (purged) queue, a raw aiobotocore loop sends
  as many bodies one ``SendMessage`` at a time (how the emulator published before).
* Receiving: the queue is filled with valid Snap notifications, then drained by a
  hub-mode ``NotificationConsumer`` with a ``wait_for`` per job, as ``await_job`` uses
  it (timed once it has started, until the last message is deleted; its first receive
  may start a moment earlier), or by a hand-written aiobotocore loop
  (``ReceiveMessage`` of 10 with a 1 s long poll, then ``DeleteMessageBatch``),
  alternated A B B A; the rate is messages over the time until the last is deleted.
  moto slows down as its queue grows, so both sides start from the same number of
  messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from wattzon_async.emulator import Emulator

from ._common import (
    EMAIL,
    PROVIDER,
    BenchResult,
    Row,
    Settings,
    document,
    median,
    side_order,
    sqs_settings,
)

__all__ = ["run"]

NAME = "11. SQS throughput"
_GROUP = 10
_ROUNDS = 2
_FIRST_JOB = 100_000


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure notifications/s published and messages/s received."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    result = BenchResult(NAME)
    count = settings.sqs_messages
    async with get_session().create_client("sqs", **sqs_settings(emu)) as sqs:
        published = await _publish(emu, count)
        one_by_one = await _send_one_by_one(emu, sqs, count)
        sdk: list[float] = []
        raw: list[float] = []
        for block in range(_ROUNDS):
            for sdk_side in side_order(block):
                await emu.reset(purge_queue=True)
                await _fill(emu, sqs, count)
                if sdk_side:
                    sdk.append(await _drain_with_consumer(emu, count))
                else:
                    raw.append(await _drain_raw(emu, sqs, count))
    await emu.reset(purge_queue=True)
    result.details = {"published": published, "one_by_one": one_by_one, "sdk": sdk, "raw": raw}
    result.rows += [
        Row(
            NAME,
            f"Emulator notifications/s / one SendMessage per job ({count} jobs finishing at once)",
            published / one_by_one,
            detail=f"{published:.0f}/s vs {one_by_one:.0f}/s",
        ),
        Row(
            NAME,
            f"Consumer msgs/s / raw aiobotocore receive+delete loop ({count} messages)",
            median(sdk) / median(raw),
            limit=1.0,
            higher_is_better=True,
            detail=f"{median(sdk):.0f}/s vs {median(raw):.0f}/s; medians of {_ROUNDS} each",
        ),
    ]
    return result


async def _publish(emu: Emulator, count: int) -> float:
    """Jobs finishing together: notifications/s from the first finish to the last sent.

    A job finishes at ``created_at + d`` on the emulator's clock (this machine's wall
    clock); groups are small so that the finishes fall within a fraction of a second.
    """
    await emu.reset(purge_queue=True)
    data = document(2_000, 13)
    finishes: list[float] = []
    async with emu.client() as client:
        instant = time.time() + count / 80 + 2.0
        for start in range(0, count, _GROUP):
            duration = max(0.0, instant - time.time())
            await emu.configure(processing_time=duration)
            jobs = await asyncio.gather(
                *(
                    client.jobs.create(
                        email=EMAIL, provider=PROVIDER, document=data, name=f"n-{start + i}.pdf"
                    )
                    for i in range(min(_GROUP, count - start))
                )
            )
            finishes += [job.created_at.timestamp() + duration for job in jobs]
    while (await emu.stats())["notifications_sent"] < count:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.01)
    return count / (time.time() - min(finishes))


async def _send_one_by_one(emu: Emulator, sqs: Any, count: int) -> float:
    await emu.reset(purge_queue=True)
    started = time.monotonic()
    for index in range(count):
        await sqs.send_message(QueueUrl=emu.queue_url, MessageBody=_body(index))
    return count / (time.monotonic() - started)


async def _fill(emu: Emulator, sqs: Any, count: int) -> None:
    for start in range(0, count, 10):
        await sqs.send_message_batch(
            QueueUrl=emu.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": _body(start + i)}
                for i in range(min(10, count - start))
            ],
        )


async def _drain_with_consumer(emu: Emulator, count: int) -> float:
    """A hub-mode consumer with a ``wait_for`` per job, as ``await_job`` uses it."""
    async with emu.consumer() as consumer:
        started = time.monotonic()
        await asyncio.gather(*(consumer.wait_for(_FIRST_JOB + i) for i in range(count)))
        while consumer.stats.deleted < count:  # noqa: ASYNC110 - batched deletions in flight
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - started
    return count / elapsed


async def _drain_raw(emu: Emulator, sqs: Any, count: int) -> float:
    started = time.monotonic()
    received = 0
    while received < count:
        reply = await sqs.receive_message(
            QueueUrl=emu.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        messages = reply.get("Messages", [])
        for message in messages:
            json.loads(message["Body"])
        received += len(messages)
        if messages:
            await sqs.delete_message_batch(
                QueueUrl=emu.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
    return count / (time.monotonic() - started)


def _body(index: int) -> str:
    return json.dumps(
        {
            "app": "snap",
            "job_id": _FIRST_JOB + index,
            "tags": "['bench']",
            "created_at": "2026-01-01 00:00:00.000000+00:00",
            "final_state": "COMPLETE",
            "provider": PROVIDER,
            "email": EMAIL,
            "document": {"id": 500_000 + index, "name": f"bill-{index}.pdf"},
            "got_results": True,
        }
    )
