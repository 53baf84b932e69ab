"""Notifications between replicas: the consumer's side of the shared store.

Replicas of a service share one queue, and SQS hands each message to one of them: often
not the one whose ``wait_for`` waits for it. With a store, a consumer writes every
notification it receives to the store before it deletes the message (so a replica
killed in between loses nothing: the message comes back), and watches the store for the
notifications other replicas wrote: PostgreSQL announces each with NOTIFY, SQLite is
looked at every 50 ms. A wait that begins looks in the store once, so a notification
that arrived anywhere before the wait is found too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .._errors import NotificationError, StoreError
from ..models import LinkNotification, SnapNotification
from ..store import Store
from ._hub import Hub, WaitKey
from ._parse import parse_notification

__all__ = ["Relay", "store_key"]

logger = logging.getLogger("wattzon_async.notifications")

Notification = SnapNotification | LinkNotification


def store_key(key: WaitKey) -> str:
    """A wait key as the store names it: ``snap:<job id>`` or ``link:<profile id>``."""
    if isinstance(key, int):
        return f"snap:{key}"
    return f"{key[0]}:{key[1]}"


class Relay:
    """One consumer run's link to the store: hand notifications over, watch for others'.

    Args:
        store: The store (the relay closes it).
        hub: The run's waiters.
        served: Called with the number of waiters each notification from the store served.
    """

    def __init__(self, store: Store, hub: Hub, served: Callable[[int], None]) -> None:
        self.store = store
        self._hub = hub
        self._served = served
        self._seq = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin watching from the store's latest notification.

        Raises:
            StoreError: The store cannot be reached.
        """
        self._seq = await self.store.latest_seq()
        await self.store.listen(self._wake.set)
        self._task = asyncio.create_task(self._watch(), name="wattzon-store-watcher")

    async def hand_over(self, key: WaitKey, body: str) -> bool:
        """Write a notification to the store; True once it is durable there."""
        try:
            await self.store.put_notification(store_key(key), body)
        except StoreError as exc:
            logger.warning("could not hand a notification over to the store: %s", exc)
            return False
        return True

    async def look(self, key: WaitKey) -> Notification | None:
        """The notification for ``key`` another process (or this one) stored, or None."""
        try:
            body = await self.store.get_notification(store_key(key))
        except StoreError as exc:
            logger.warning("could not look for a notification in the store: %s", exc)
            return None
        return None if body is None else _parse(body)

    async def _watch(self) -> None:
        while True:
            self._wake.clear()  # before looking: a NOTIFY during the look wakes the next
            try:
                await self.store.listen(self._wake.set)  # again after a lost connection
                rows = await self.store.notifications_after(self._seq)
            except StoreError as exc:
                logger.warning("watching the store failed; trying again: %s", exc)
                rows = []
            except Exception:  # never let the watcher die: waits would lose their path
                logger.exception("watching the store failed; trying again")
                rows = []
            for row in rows:
                self._seq = row.seq
                notification = _parse(row.body)
                if notification is not None:
                    self._served(len(self._hub.resolve(notification)))
            if len(rows) < 1000:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.store.poll_interval)

    async def aclose(self) -> None:
        """Stop watching and close the store."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.store.aclose()


def _parse(body: str) -> Notification | None:
    try:
        return parse_notification(body)
    except NotificationError:
        return None
