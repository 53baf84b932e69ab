"""Coalesce message deletions into DeleteMessageBatch calls.

This module exists so that settling many messages costs one SQS call per ten, not one per
message: deletions are buffered and flushed when ten are waiting or after a short
interval, whichever comes first, up to ``_IN_FLIGHT`` calls at once when many are
waiting (a backlog being drained). A failed call is retried a few times with backoff and
then logged; a message whose deletion is lost comes back and is deleted as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence

from .._retry import Backoff, retry
from ._sqs import SQSCallError, SQSQueue, chunks

__all__ = ["DeleteBatcher"]

logger = logging.getLogger("wattzon_async.notifications")

_ATTEMPTS = 3
_BATCH = 10
#: The most DeleteMessageBatch calls in flight at once.
_IN_FLIGHT = 4
#: Between 0.2 and 0.4 s after the first failure, doubled after the second.
_BACKOFF = Backoff.equal_jitter(0.4, 1.6)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, SQSCallError) and not exc.permanent


class DeleteBatcher:
    """Buffers receipt handles and deletes them in batches of up to ten.

    Args:
        queue: The queue to delete from.
        interval: The longest a deletion waits for a batch to fill, in seconds.
        on_deleted: Called with the number of messages each successful call deleted.
    """

    def __init__(
        self,
        queue: SQSQueue,
        *,
        interval: float,
        on_deleted: Callable[[int], None],
    ) -> None:
        self._queue = queue
        self._interval = interval
        self._on_deleted = on_deleted
        self._buffer: list[str] = []
        self._pending = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Start the background flusher."""
        self._task = asyncio.create_task(self._loop(), name="wattzon-sqs-deleter")

    def add(self, receipt_handle: str) -> None:
        """Queue one message for deletion."""
        self._buffer.append(receipt_handle)
        self._pending.set()
        if len(self._buffer) >= _BATCH:
            self._full.set()

    async def close(self) -> None:
        """Let the flusher finish its current batch, then delete whatever is left."""
        self._closing = True
        self._pending.set()
        self._full.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Delete every buffered message now."""
        handles, self._buffer = self._buffer, []
        self._pending.clear()
        self._full.clear()
        batches = iter(chunks(handles))

        async def worker() -> None:
            for batch in batches:
                await self._delete(batch)

        calls = min(_IN_FLIGHT, -(-len(handles) // _BATCH))
        await asyncio.gather(*(worker() for _ in range(calls)))

    async def _loop(self) -> None:
        # Never cancelled: a deletion cut off midway would lose its receipt handles.
        while not self._closing:
            await self._pending.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._interval)
            await self.flush()

    async def _delete(self, batch: Sequence[str]) -> None:
        try:
            failed = await retry(
                functools.partial(self._queue.delete, batch),
                on=_transient,
                backoff=_BACKOFF,
                attempts=_ATTEMPTS,
            )
        except SQSCallError as exc:
            logger.warning(
                "could not delete %d message(s); they will return and be deleted as duplicates: %s",
                len(batch),
                exc,
            )
            return
        self._on_deleted(len(batch) - len(failed))
