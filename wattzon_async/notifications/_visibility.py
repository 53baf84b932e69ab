"""The visibility heartbeat of a consumer's messages: extend, release, change in batches.

A received message stays invisible to other consumers for the queue's visibility timeout.
While a waiter or a handler holds it, the heartbeat extends that timeout before it runs
out; a message nobody claimed within the retention is released back to the queue at
once. Kept apart from the ``Engine`` (receive, dispatch, shutdown), which uses ``set``
to release messages and to delay a failed handler's redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from ._hub import Delivery, Hub
from ._sqs import SQSCallError, SQSQueue, chunks
from ._types import ConsumerStats, Options

__all__ = ["Visibility"]

logger = logging.getLogger("wattzon_async.notifications")


class Visibility:
    """The visibility of one consumer run's messages (its queue, hub and stats)."""

    def __init__(
        self, queue: SQSQueue, hub: Hub, stats: ConsumerStats, timeout: int, options: Options
    ) -> None:
        self._queue = queue
        self._hub = hub
        self._stats = stats
        self._vt = timeout
        self._tick = max(0.1, min(1.0, timeout / 4, options.retention / 4))

    async def keep_loop(self) -> None:
        """The heartbeat: keep held messages invisible, release expired ones; forever."""
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.keep(time.monotonic())
            except Exception:
                logger.exception("the visibility heartbeat failed; carrying on")

    async def keep(self, now: float) -> None:
        """One beat: release what nobody claimed in time, extend what is due."""
        await self.release(self._hub.expired(now), now, "unclaimed")
        due = [d for d in self._hub.active if d.visible_until - now < self._vt / 2]
        if due:
            await self.set([d.wire.receipt_handle for d in due], self._vt)
            for delivery in due:
                delivery.visible_until = now + self._vt

    async def release(self, deliveries: Sequence[Delivery], now: float, why: str) -> None:
        """Settle ``deliveries`` as unseen and make them visible again at once."""
        for delivery in deliveries:
            self._hub.settle(delivery, seen=False, now=now)
        if deliveries:
            count = await self.set([d.wire.receipt_handle for d in deliveries], 0)
            self._stats.released += count
            logger.info("released %d %s message(s) back to the queue", count, why)

    async def set(self, handles: Sequence[str], timeout: int) -> int:
        """Change visibility in batches; returns how many changes succeeded."""
        done = 0
        for batch in chunks(handles):
            try:
                failed = await self._queue.change_visibility(batch, timeout)
            except SQSCallError as exc:
                logger.warning("could not change visibility of %d message(s): %s", len(batch), exc)
                continue
            done += len(batch) - len(failed)
        return done
