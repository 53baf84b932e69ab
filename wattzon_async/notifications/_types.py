"""Small public types of the consumer (its errors and counters) and its validated options.

This module exists so that the consumer's facade, its engine and users' type hints share
these names without importing one another (and without importing aiobotocore).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from attrs import define, field, frozen
from attrs.validators import optional

from .._errors import ConsumerError, ConsumerNotRunningError, NotificationError
from .._validation import callable_or_none, integer, number
from ..models import LinkNotification, SnapNotification

__all__ = [
    "ConsumerError",
    "ConsumerNotRunningError",
    "ConsumerStats",
    "Handler",
    "InvalidMessageCallback",
    "Options",
]

#: A worker-mode handler: called with each notification; returning settles the message.
Handler = Callable[[SnapNotification | LinkNotification], Awaitable[object]]

#: Called with the raw body and the error of a message that is not a valid notification.
InvalidMessageCallback = Callable[[str, NotificationError], Awaitable[None] | None]


@define
class ConsumerStats:
    """Counters of one consumer since it was created (a snapshot when read from ``stats``).

    Attributes:
        received: Messages received from the queue, redeliveries included.
        delivered: Notifications handed to ``wait_for`` callers.
        handled: Notifications whose worker-mode handler returned.
        deleted: Messages deleted from the queue.
        released: Messages made visible again (unclaimed, or not started at stop).
        invalid: Messages that were not valid notifications.
        duplicates: Duplicate deliveries deleted without being handed out again.
        handler_errors: Worker-mode handler calls that raised.
        receive_errors: ReceiveMessage calls that failed (each is retried after backoff).
        polls_cancelled: Long polls that ``stop()`` cancelled rather than wait for. SQS
            may still hand a message to such a poll before its wait time ends; that
            message stays invisible until its visibility timeout, then returns.
        last_receive_at: ``time.monotonic()`` of the last successful ReceiveMessage call
            (an empty long poll counts), or None; compare it with ``time.monotonic()``.
        stored: With a store: notifications written to it before their message was
            deleted (for the process that waits for them, wherever it runs).
        from_store: With a store: ``wait_for`` callers served by a notification another
            process received (or this one, before the wait began).
    """

    received: int = 0
    delivered: int = 0
    handled: int = 0
    deleted: int = 0
    released: int = 0
    invalid: int = 0
    duplicates: int = 0
    handler_errors: int = 0
    receive_errors: int = 0
    polls_cancelled: int = 0
    last_receive_at: float | None = None
    stored: int = 0
    from_store: int = 0


_seconds = number(unit="seconds")
_positive_seconds = number(above=True, unit="seconds")


@frozen
class Options:
    """The validated tuning of a consumer (see ``NotificationConsumer`` for each field).

    Each field is checked when the consumer is made: a bad value raises
    ``ValidationError`` naming the constructor's keyword.
    """

    wait_time_seconds: int = field(validator=integer(0, 20))
    max_messages: int = field(validator=integer(1, 10))
    visibility_timeout: int | None = field(validator=optional(integer(1, 43200)))
    concurrency: int = field(validator=integer(1, 100_000))
    retention: float = field(validator=_seconds)
    max_retained: int = field(validator=integer(1, 1_000_000))
    dedup_window: float = field(validator=_seconds)
    retry_backoff: float | None = field(validator=optional(_positive_seconds))
    delete_interval: float = field(validator=_positive_seconds)
    receive_backoff_max: float = field(validator=_positive_seconds)
    stop_timeout: float = field(validator=_seconds)
    on_invalid: InvalidMessageCallback | None = field(validator=callable_or_none)
