"""The bookkeeping of a running consumer: waiters, recent notifications, held messages.

This module exists so that the rules that decide what happens to a message (deliver it,
hold it, call it a duplicate, release it) are plain synchronous code with an injectable
clock, testable without a queue. It performs no I/O: it says which messages to delete or
release and the consumer does it.
"""

from __future__ import annotations

import asyncio
import enum
from collections import OrderedDict
from collections.abc import Iterator

from attrs import define

from ..models import LinkNotification, SnapNotification
from ._sqs import WireMessage

__all__ = ["Delivery", "Hub", "Verdict", "WaitKey", "dedup_key", "wait_key"]

Notification = SnapNotification | LinkNotification
#: What a waiter waits for: a Snap job id, or ``("link", profile_id)``.
WaitKey = int | tuple[str, str]


def dedup_key(notification: Notification) -> str:
    """The identity of a notification: two deliveries with one key are duplicates."""
    if isinstance(notification, SnapNotification):
        return f"snap:{notification.job_id}:{notification.final_state.value}"
    return f"link:{notification.job_id}:{notification.profile_id}"


def wait_key(notification: Notification) -> WaitKey:
    """What a notification resolves: its Snap job, or its Link profile."""
    if isinstance(notification, SnapNotification):
        return notification.job_id
    return ("link", notification.profile_id)


class Verdict(enum.Enum):
    """What to do with a message just received."""

    #: Not seen before: deliver it.
    NEW = "new"
    #: Seen and settled recently, or a second copy of a held message: delete it.
    DUPLICATE = "duplicate"
    #: A copy of a message whose handler is running: leave it; it returns later.
    IN_PROGRESS = "in_progress"
    #: The same message again (its visibility lapsed): its receipt handle was updated.
    REDELIVERED = "redelivered"


@define(eq=False)
class Delivery:
    """A message the consumer has received and not yet settled (deleted or released)."""

    wire: WireMessage
    notification: Notification
    key: str
    arrived: float
    visible_until: float
    held: bool = False
    #: A ``wait_for`` took its notification while it was not held (being handed over).
    claimed: bool = False


class Hub:
    """Waiters, the retention cache and the duplicate ledger of one consumer run.

    Args:
        retention: Seconds a notification stays claimable after it arrived.
        max_retained: The most notifications (and held messages) kept at once.
        dedup_window: Seconds a settled message id and key count as seen.
    """

    def __init__(self, *, retention: float, max_retained: int, dedup_window: float) -> None:
        self._retention = retention
        self._max_retained = max_retained
        self._dedup_window = dedup_window
        self._waiters: dict[WaitKey, list[asyncio.Future[Notification]]] = {}
        self._recent: OrderedDict[WaitKey, tuple[Notification, float]] = OrderedDict()
        self._active: dict[str, Delivery] = {}
        self._active_keys: dict[str, str] = {}
        self._seen: OrderedDict[str, float] = OrderedDict()

    @property
    def active(self) -> list[Delivery]:
        """Every unsettled delivery: held messages and messages whose handler runs."""
        return list(self._active.values())

    def held(self) -> Iterator[Delivery]:
        """The held deliveries, oldest first."""
        return (d for d in self._active.values() if d.held)

    def classify(self, wire: WireMessage, notification: Notification, now: float) -> Verdict:
        """Tell a new message from a duplicate; a redelivery updates the receipt handle."""
        self._prune_seen(now)
        key = dedup_key(notification)
        current = self._active.get(wire.message_id)
        if current is not None:
            current.wire = wire
            return Verdict.REDELIVERED
        if "id:" + wire.message_id in self._seen or "key:" + key in self._seen:
            return Verdict.DUPLICATE
        other = self._active_keys.get(key)
        if other is not None:
            return Verdict.DUPLICATE if self._active[other].held else Verdict.IN_PROGRESS
        return Verdict.NEW

    def admit(self, wire: WireMessage, notification: Notification, now: float) -> Delivery:
        """Make a new message active and remember it as the recent one for its wait key."""
        delivery = Delivery(wire, notification, dedup_key(notification), now, now)
        self._active[wire.message_id] = delivery
        self._active_keys[delivery.key] = wire.message_id
        key = wait_key(notification)
        self._recent[key] = (notification, now)
        self._recent.move_to_end(key)
        while len(self._recent) > self._max_retained:
            self._recent.popitem(last=False)
        return delivery

    def resolve(self, notification: Notification) -> list[asyncio.Future[Notification]]:
        """Hand a notification to every waiter for its job (Link: profile); returns them."""
        resolved: list[asyncio.Future[Notification]] = []
        for future in self._waiters.pop(wait_key(notification), []):
            if not future.done():
                future.set_result(notification)
                resolved.append(future)
        return resolved

    def settle(self, delivery: Delivery, *, seen: bool, now: float) -> None:
        """Forget an active delivery; ``seen`` records it for duplicate detection."""
        if self._active.get(delivery.wire.message_id) is delivery:
            del self._active[delivery.wire.message_id]
        if self._active_keys.get(delivery.key) == delivery.wire.message_id:
            del self._active_keys[delivery.key]
        if seen:
            until = now + self._dedup_window
            for name in ("id:" + delivery.wire.message_id, "key:" + delivery.key):
                self._seen[name] = until
                self._seen.move_to_end(name)
            while len(self._seen) > 20 * self._max_retained:
                self._seen.popitem(last=False)
        else:
            key = wait_key(delivery.notification)
            entry = self._recent.get(key)
            if entry is not None and entry[0] is delivery.notification:
                del self._recent[key]

    def recent(self, key: WaitKey, now: float) -> Notification | None:
        """The notification for ``key`` if it arrived within the retention period."""
        entry = self._recent.get(key)
        if entry is None or now - entry[1] > self._retention:
            return None
        return entry[0]

    def held_for(self, key: WaitKey) -> list[Delivery]:
        """Held deliveries of the notifications for ``key``; the others are marked claimed."""
        found = [d for d in self._active.values() if wait_key(d.notification) == key]
        for delivery in found:
            delivery.claimed = True
        return [d for d in found if d.held]

    def expired(self, now: float) -> list[Delivery]:
        """Held deliveries past retention, or beyond the count bound (oldest first)."""
        held = list(self.held())
        excess = max(0, len(held) - self._max_retained)
        out = held[:excess] + [d for d in held[excess:] if now - d.arrived > self._retention]
        while self._recent:
            _, (_, arrived) = next(iter(self._recent.items()))
            if now - arrived <= self._retention:
                break
            self._recent.popitem(last=False)
        return out

    def add_waiter(self, key: WaitKey, future: asyncio.Future[Notification]) -> None:
        """Register a future to resolve when a notification for ``key`` arrives."""
        self._waiters.setdefault(key, []).append(future)

    def remove_waiter(self, key: WaitKey, future: asyncio.Future[Notification]) -> None:
        """Forget a waiter (it was resolved, cancelled or failed)."""
        futures = self._waiters.get(key)
        if futures is None:
            return
        if future in futures:
            futures.remove(future)
        if not futures:
            del self._waiters[key]

    def fail_waiters(self, error: BaseException) -> None:
        """Fail every waiter with ``error`` (the consumer is stopping)."""
        waiters, self._waiters = self._waiters, {}
        for futures in waiters.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)

    def _prune_seen(self, now: float) -> None:
        while self._seen:
            name, until = next(iter(self._seen.items()))
            if until > now:
                break
            del self._seen[name]
