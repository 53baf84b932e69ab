"""One run of a consumer: the receive loop, dispatch, handlers, heartbeats and shutdown.

This module exists to keep the moving parts (tasks, deadlines, SQS calls) apart from the
public facade in ``_consumer`` and from the pure bookkeeping in ``_hub``. An ``Engine``
lives from ``start()`` to the end of ``stop()``; a restarted consumer gets a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import Sequence

from .. import _telemetry
from .._errors import NotificationError
from .._retry import Backoff, retry
from ..models import LinkNotification, SnapNotification
from ..store import Store
from ._deleter import DeleteBatcher
from ._hub import Delivery, Hub, Verdict, WaitKey, wait_key
from ._parse import parse_notification
from ._relay import Relay
from ._sqs import SQSCallError, SQSQueue, WireMessage
from ._types import ConsumerError, ConsumerNotRunningError, ConsumerStats, Handler, Options
from ._visibility import Visibility

__all__ = ["Engine"]

logger = logging.getLogger("wattzon_async.notifications")

_IDLE_PAUSE = 1.0
_BACKOFF_BASE = 0.5
_MAX_RETRY_BACKOFF = 900
#: stop() lets a poll in flight finish when it ends on its own within this many seconds.
_STOP_GRACE = 1.0
#: How long past its wait time a poll is given to answer before stop() cuts it off.
_POLL_LATENESS = 0.25
#: The longest stop() waits for the receive loop beyond its own deadline.
_RECEIVER_GRACE = 5.0
#: The most ReceiveMessage calls in flight at once while the queue has a backlog.
_MAX_RECEIVERS = 4


def _is_sqs_error(exc: BaseException) -> bool:
    return isinstance(exc, SQSCallError)


class Engine:
    """The running part of a NotificationConsumer (see its docstring for the policies)."""

    def __init__(
        self,
        queue: SQSQueue,
        options: Options,
        stats: ConsumerStats,
        visibility_timeout: int,
        store: Store | None = None,
    ) -> None:
        self._queue = queue
        self._opt = options
        self._stats = stats
        self._vt = visibility_timeout
        self._hub = Hub(
            retention=options.retention,
            max_retained=options.max_retained,
            dedup_window=options.dedup_window,
        )
        self._visibility = Visibility(queue, self._hub, stats, visibility_timeout, options)
        self._deleter = DeleteBatcher(
            queue, interval=options.delete_interval, on_deleted=self._count_deleted
        )
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._changed = asyncio.Event()
        self._handler: Handler | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        #: Receivers beyond the first, started while receives come back full.
        self._extra: set[asyncio.Task[None]] = set()
        #: Worker mode: slots promised to polls in flight and to batches being dispatched.
        self._promised = 0
        self._receive_backoff = Backoff.equal_jitter(_BACKOFF_BASE, options.receive_backoff_max)
        self._redelivery_backoff = (
            None
            if options.retry_backoff is None
            else Backoff.equal_jitter(options.retry_backoff, _MAX_RETRY_BACKOFF)
        )
        #: With a store: notifications go through it to the replica that waits.
        self.relay = None if store is None else Relay(store, self._hub, self._served_from_store)
        self._handovers: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """True from start until stop begins."""
        return bool(self._tasks) and not self._stopping.is_set()

    @property
    def handler(self) -> Handler | None:
        """The worker-mode handler, if ``run`` installed one."""
        return self._handler

    def start(self) -> None:
        """Start the receive loop, the heartbeat and the delete batcher."""
        self._deleter.start()
        self._tasks = [
            asyncio.create_task(self._receive_loop(), name="wattzon-sqs-receiver"),
            asyncio.create_task(self._visibility.keep_loop(), name="wattzon-sqs-heartbeat"),
        ]

    def set_handler(self, handler: Handler) -> None:
        """Enter worker mode: held notifications and every new one go to ``handler``."""
        if self._handler is not None:
            raise ConsumerError("run() is already running on this consumer")
        self._handler = handler
        for delivery in list(self._hub.held()):
            delivery.held = False
            self._start_handler(delivery, handler)
        self._changed.set()

    async def wait_stopped(self) -> None:
        """Return once shutdown has finished."""
        await self._stopped.wait()

    async def wait_for(self, key: WaitKey) -> SnapNotification | LinkNotification:
        """The notification for ``key`` (a Snap job id, or ``("link", profile_id)``).

        A recent one at once, else the next to arrive.
        """
        if not self.running:
            raise ConsumerNotRunningError("the notification consumer is not running")
        found = self._hub.recent(key, time.monotonic())
        if found is not None:
            for delivery in self._hub.held_for(key):
                self._settle_and_delete(delivery)
            self._stats.delivered += 1
            _telemetry.claimed(found)
            return found
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SnapNotification | LinkNotification] = loop.create_future()
        _telemetry.note_waiter(future)
        self._hub.add_waiter(key, future)
        try:
            if self.relay is not None:  # it may have come before the wait, to any replica
                stored = await self.relay.look(key)
                if stored is not None and not future.done():
                    future.set_result(stored)
                    self._served_from_store(1)
            return await future
        finally:
            self._hub.remove_waiter(key, future)

    def _served_from_store(self, waiters: int) -> None:
        self._stats.delivered += waiters
        self._stats.from_store += waiters

    # -- receiving ---------------------------------------------------------------------

    async def _receive_loop(self, extra: bool = False) -> None:
        """Receive and dispatch until stopped; an extra receiver ends with the backlog.

        The first receiver long-polls for as long as the consumer runs. A receive that
        comes back full says the queue has a backlog: another receiver starts (up to
        ``_MAX_RECEIVERS`` in all), so that several receives and dispatches overlap, as
        they would in a hand-written loop per worker. An extra receiver polls without
        waiting and ends at its first receive that is not full.
        """
        wait = 0 if extra else self._opt.wait_time_seconds
        while True:
            batch = await retry(
                functools.partial(self._receive, wait),
                on=_is_sqs_error,
                backoff=self._receive_backoff,
                sleep=self._pause,
                before_sleep=self._receive_failed,
            )
            if batch is None:
                break
            self._stats.last_receive_at = time.monotonic()
            self._stats.received += len(batch)
            try:
                with _telemetry.received(self._queue.url, len(batch)):
                    await self._dispatch_batch(batch)
            finally:
                self._keep_promise(len(batch))
            if len(batch) >= self._opt.max_messages:
                self._scale_out()
            elif extra:
                break
            elif not batch and wait == 0:
                await self._pause(_IDLE_PAUSE)

    def _scale_out(self) -> None:
        if self._stopping.is_set() or len(self._extra) + 1 >= _MAX_RECEIVERS:
            return
        task = asyncio.create_task(self._receive_loop(extra=True), name="wattzon-sqs-receiver")
        self._extra.add(task)
        task.add_done_callback(self._extra.discard)

    def _keep_promise(self, slots: int) -> None:
        self._promised -= slots
        self._changed.set()

    async def _poll(self, limit: int, wait: int) -> list[WireMessage] | None:
        """One ReceiveMessage; None when stop() cut it short.

        A poll that would end on its own soon after stop() began is let finish, so the
        messages it brings are released; a longer one is cancelled. SQS may still hand
        messages to a cancelled long poll (until its wait time ends): they stay invisible
        until their visibility timeout, then return to the queue, never deleted.
        """
        ends = time.monotonic() + wait + _POLL_LATENESS
        poll = asyncio.create_task(
            self._queue.receive(
                max_messages=limit, wait_time=wait, visibility_timeout=self._opt.visibility_timeout
            ),
            name="wattzon-sqs-poll",
        )
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
            left = ends - time.monotonic()
            if not poll.done() and left <= _STOP_GRACE + _POLL_LATENESS:
                await asyncio.wait({poll}, timeout=left)
        finally:
            stopping.cancel()
            if not poll.done():
                poll.cancel()
                await asyncio.wait({poll})
        if poll.cancelled():
            self._stats.polls_cancelled += 1
            logger.info("stopping: cancelled the long poll in flight (%d s)", wait)
            return None
        return poll.result()

    async def _receive(self, wait: int) -> Sequence[WireMessage] | None:
        """One poll for the free slots; None once the consumer stops or stop() cut it short.

        The slots asked for are promised until the batch has been dispatched (the loop
        keeps the promise), so that receivers running side by side never start more
        handlers than ``concurrency``.
        """
        limit = await self._free_slots()
        if limit == 0:
            return None
        self._promised += limit
        batch = None
        try:
            batch = await self._poll(limit, wait)
        finally:
            self._keep_promise(limit - (len(batch) if batch else 0))
        return batch

    def _receive_failed(self, failures: int, exc: BaseException | None, delay: float) -> None:
        self._stats.receive_errors += 1
        permanent = isinstance(exc, SQSCallError) and exc.permanent
        logger.log(
            logging.ERROR if permanent else logging.WARNING,
            "receiving notifications failed (%d in a row); retrying in %.1f s: %s",
            failures,
            delay,
            exc,
        )

    async def _free_slots(self) -> int:
        while True:
            if self._stopping.is_set():
                return 0
            if self._handler is None:
                return self._opt.max_messages
            free = self._opt.concurrency - len(self._handlers) - self._promised
            if free > 0:
                return min(free, self._opt.max_messages)
            self._changed.clear()
            await self._changed.wait()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _dispatch_batch(self, batch: Sequence[WireMessage]) -> None:
        for index, wire in enumerate(batch):
            if self._stopping.is_set():
                count = await self._visibility.set([w.receipt_handle for w in batch[index:]], 0)
                self._stats.released += count
                return
            try:
                with _telemetry.processing(self._queue.url, wire.message_id, wire.receive_count):
                    await self._dispatch(wire)
            except Exception:
                logger.exception("dispatching message %s failed", wire.message_id)

    async def _dispatch(self, wire: WireMessage) -> None:
        try:
            notification = parse_notification(wire.body)
        except NotificationError as exc:
            await self._invalid(wire, exc)
            return
        now = time.monotonic()
        verdict = self._hub.classify(wire, notification, now)
        if verdict is not Verdict.NEW:
            _telemetry.dispatched(verdict.value, notification)
        if verdict is Verdict.DUPLICATE:
            self._stats.duplicates += 1
            logger.info("message %s duplicates a recent notification; deleted", wire.message_id)
            self._deleter.add(wire.receipt_handle)
            return
        if verdict is Verdict.REDELIVERED:
            for delivery in self._hub.active:
                if delivery.wire is wire:
                    delivery.visible_until = now + self._vt
        if verdict is not Verdict.NEW:
            logger.debug("message %s is already in hand (%s)", wire.message_id, verdict.value)
            return
        delivery = self._hub.admit(wire, notification, now)
        delivery.visible_until = now + self._vt
        resolved = self._hub.resolve(notification)
        _telemetry.dispatched(verdict.value, notification, resolved)
        self._stats.delivered += len(resolved)
        if self._handler is not None:
            self._start_handler(delivery, self._handler)
        elif self.relay is not None:
            task = asyncio.create_task(self._hand_over(delivery, bool(resolved)))
            self._handovers.add(task)
            task.add_done_callback(self._handovers.discard)
        elif resolved:
            self._settle_and_delete(delivery)
        else:
            delivery.held = True
            logger.debug("holding message %s (%s) for a waiter", wire.message_id, delivery.key)

    async def _hand_over(self, delivery: Delivery, resolved: bool) -> None:
        """Store a notification for the replica that waits; delete it once durable there."""
        assert self.relay is not None
        if await self.relay.hand_over(wait_key(delivery.notification), delivery.wire.body):
            self._stats.stored += 1
            self._settle_and_delete(delivery)
        elif resolved or delivery.claimed:  # a waiter here has it: delete, as without one
            self._settle_and_delete(delivery)
        else:
            delivery.held = True  # the store failed: held, as without one

    async def _invalid(self, wire: WireMessage, error: NotificationError) -> None:
        self._stats.invalid += 1
        _telemetry.dispatched("malformed", None)
        logger.warning(
            "message %s (receive %d) is not a valid notification; left to the queue's "
            "redrive policy: %s",
            wire.message_id,
            wire.receive_count,
            error,
        )
        callback = self._opt.on_invalid
        if callback is None:
            return
        try:
            result = callback(wire.body, error)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_invalid raised for message %s", wire.message_id)

    # -- handlers ----------------------------------------------------------------------

    def _start_handler(self, delivery: Delivery, handler: Handler) -> None:
        task = asyncio.create_task(
            self._handle(delivery, handler), name=f"wattzon-handler-{delivery.key}"
        )
        self._handlers.add(task)
        task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._changed.set()

    async def _handle(self, delivery: Delivery, handler: Handler) -> None:
        try:
            with _telemetry.handling(delivery.notification):
                result = handler(delivery.notification)
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise  # still active: shutdown releases it
        except Exception:
            self._stats.handler_errors += 1
            logger.warning(
                "handler failed for message %s (%s); left for redelivery",
                delivery.wire.message_id,
                delivery.key,
                exc_info=True,
            )
            self._hub.settle(delivery, seen=False, now=time.monotonic())
            if self._redelivery_backoff is not None:
                delay = self._redelivery_backoff.wait(delivery.wire.receive_count)
                await self._visibility.set([delivery.wire.receipt_handle], max(1, round(delay)))
        else:
            self._stats.handled += 1
            self._settle_and_delete(delivery)

    def _settle_and_delete(self, delivery: Delivery) -> None:
        self._hub.settle(delivery, seen=True, now=time.monotonic())
        self._deleter.add(delivery.wire.receipt_handle)

    def _count_deleted(self, count: int) -> None:
        self._stats.deleted += count

    # -- shutdown ------------------------------------------------------------------------

    async def shutdown(self, timeout: float) -> None:
        """Stop receiving, drain handlers until the deadline, release, flush and close."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._changed.set()
        self._hub.fail_waiters(ConsumerNotRunningError("the notification consumer stopped"))
        try:
            receiver, keeper = self._tasks
            # The receivers end within about a second: a poll in flight that would not end
            # by then is cancelled (see _poll) and a backoff pause is cut short. Only a
            # stuck on_invalid callback can hold them longer.
            await _finish_all(
                {receiver, *self._extra}, max(deadline, time.monotonic() + _RECEIVER_GRACE)
            )
            if self._handlers:
                await _finish_all(set(self._handlers), deadline)
            if self._handovers:
                await _finish_all(set(self._handovers), max(deadline, time.monotonic() + 5))
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self._visibility.release(self._hub.active, time.monotonic(), "not settled")
            await self._deleter.close()
        finally:
            await self._queue.close()
            if self.relay is not None:
                await self.relay.aclose()
            self._stopped.set()


async def _finish_all(tasks: set[asyncio.Task[None]], deadline: float) -> None:
    pending = set(tasks)
    remaining = deadline - time.monotonic()
    if remaining > 0:
        _, pending = await asyncio.wait(pending, timeout=remaining)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
