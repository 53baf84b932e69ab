"""6. Consumer stop latency: how long ``NotificationConsumer.stop()`` takes, poll in flight.

Each sample starts a hub-mode consumer on a queue of its own (on the emulator's moto
server), waits until its first ReceiveMessage has been sent (counted through botocore's
``before-send`` event), lets a random part of a second pass, and times ``stop()``. With
the default 20-second long poll the poll in flight is cancelled; with a 1-second one it
ends on its own within the second and is let finish. The target is one second, whatever
the long poll; before 0.2 a stop waited out the poll in flight (up to 20 s).

A queue of its own per sample: a cancelled long poll may still take a message that
arrives before its wait time ends, and the emulator's own queue must not lose time so.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from wattzon_async.emulator import Emulator
from wattzon_async.notifications import NotificationConsumer

from ._common import BenchResult, Row, Settings, median, sqs_settings

__all__ = ["run"]

NAME = "6. Consumer stop latency"
_TARGET = 1.0


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Time stop() with a 20 s and with a 1 s long poll in flight."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    result = BenchResult(NAME)
    samples: dict[int, list[float]] = {20: [], 1: []}
    cancelled: dict[int, int] = {20: 0, 1: 0}
    async with get_session().create_client("sqs", **sqs_settings(emu)) as sqs:
        for index in range(settings.stop_samples * 2):
            wait = (20, 1)[index % 2]
            url = (await sqs.create_queue(QueueName=f"stop-{uuid.uuid4().hex[:12]}"))["QueueUrl"]
            try:
                seconds, polls_cancelled = await _one_stop(emu, url, wait)
            finally:
                await sqs.delete_queue(QueueUrl=url)
            samples[wait].append(seconds)
            cancelled[wait] += polls_cancelled
    result.details = {"samples": samples, "polls_cancelled": cancelled}
    for wait, limit in ((20, _TARGET), (1, None)):
        values = samples[wait]
        result.rows.append(
            Row(
                NAME,
                f"stop() with a {wait} s long poll in flight, slowest of {len(values)}",
                max(values),
                unit="ms",
                limit=limit,
                detail=f"median {median(values) * 1000:.0f} ms; "
                f"{cancelled[wait]} of {len(values)} polls cancelled",
            )
        )
    return result


async def _one_stop(emu: Emulator, queue_url: str, wait: int) -> tuple[float, int]:
    from aiobotocore.session import get_session

    sent = asyncio.Event()
    session = get_session()
    session.register("before-send.sqs.ReceiveMessage", _setter(sent))
    consumer = NotificationConsumer(
        queue_url, wait_time_seconds=wait, session=session, **sqs_settings(emu)
    )
    await consumer.start()
    await asyncio.wait_for(sent.wait(), 30)
    await asyncio.sleep(random.uniform(0.0, 0.5))
    started = time.perf_counter()
    await consumer.stop()
    return time.perf_counter() - started, consumer.stats.polls_cancelled


def _setter(event: asyncio.Event) -> Callable[..., None]:
    def handler(**kwargs: Any) -> None:
        event.set()

    return handler
