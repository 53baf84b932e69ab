"""The one small interface every store engine implements, and what its calls return.

The rest of the package talks to a store only through ``Store``: the SQLite engine
(``_sqlite``) and the PostgreSQL engine (``_postgres``) are interchangeable behind it,
and the tests run each behaviour against both.

The schema is the same on both engines (``SCHEMA_VERSION`` in ``wattzon_meta``, so that
a later release can migrate it):

* ``wattzon_keys``: one row per idempotency tag: who holds it (``owner``) until when
  (``lease_until``, seconds since the epoch on the store's clock), how many times it was
  claimed before (``tried``), and the job it made (``job_id``) once it made one.
* ``wattzon_notifications``: notifications handed over between replicas, by key.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from attrs import frozen

__all__ = ["SCHEMA_VERSION", "ClaimState", "KeyClaim", "Store", "StoredNotification"]

#: The schema this release reads and writes.
SCHEMA_VERSION = 1


class ClaimState(enum.Enum):
    """What claiming an idempotency key found."""

    #: The caller holds the key now and makes its job.
    MINE = "mine"
    #: The key already made a job (``KeyClaim.job_id``).
    DONE = "done"
    #: Another process holds the key and its lease runs.
    HELD = "held"


@frozen
class KeyClaim:
    """The answer to ``Store.claim_key``.

    Attributes:
        state: MINE, DONE or HELD.
        job_id: The job the key made (DONE).
        fresh: MINE on a key never claimed before: nothing can have been sent with it
            through this store (a key claimed before, by a process that died or failed,
            must be looked up before anything is sent).
    """

    state: ClaimState
    job_id: int | None = None
    fresh: bool = False


@frozen
class StoredNotification:
    """A notification handed over through the store.

    Attributes:
        key: What it is for: ``snap:<job id>`` or ``link:<profile id>``.
        body: The SQS message body, as received.
        seq: Its place in the store's order of arrival (for watchers).
    """

    key: str
    body: str
    seq: int


class Store(Protocol):
    """A store shared by processes: claims on idempotency keys, handed-over notifications.

    Every method may raise ``StoreError`` (naming the URL without its password) when the
    store cannot be reached or written. Connections are made on first use.
    """

    @property
    def url(self) -> str:
        """The store's URL with its password removed."""

    @property
    def lease(self) -> float:
        """Seconds a claim stays owned without a heartbeat."""

    async def claim_key(self, tag: str, owner: str) -> KeyClaim:
        """Claim ``tag`` for ``owner`` unless it made a job or another owner's lease runs.

        ``owner`` may claim a key it holds again (a call retried after a lost
        connection): the claim is then not fresh.
        """

    async def renew_key(self, tag: str, owner: str) -> bool:
        """Extend ``owner``'s lease on ``tag``; False when ``owner`` no longer holds it."""

    async def finish_key(self, tag: str, job_id: int) -> None:
        """Record the job ``tag`` made; the key is no longer held."""

    async def release_key(self, tag: str, owner: str) -> None:
        """Give ``tag`` up without a job (the create failed): the next claim looks it up."""

    async def put_notification(self, key: str, body: str) -> None:
        """Keep a notification for whichever process waits for ``key`` (durable on return)."""

    async def get_notification(self, key: str) -> str | None:
        """The body of the notification kept for ``key``, or None."""

    async def notifications_after(self, seq: int) -> list[StoredNotification]:
        """The notifications kept since ``seq`` (0: all), in order of arrival (at most 1000).

        Order of arrival is commit order, so a watcher that remembers the last ``seq``
        it saw misses none.
        """

    async def latest_seq(self) -> int:
        """The ``seq`` of the last notification kept (0: none)."""

    @property
    def poll_interval(self) -> float:
        """Seconds between two looks for new notifications when nothing announces them."""

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` whenever a notification is kept (no-op where nothing announces)."""

    async def aclose(self) -> None:
        """Close the store's connections and threads."""
