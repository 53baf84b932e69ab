"""The PostgreSQL store: the machines of a fleet, sharing one database.

The driver is asyncpg (extra ``postgres``), imported when the first PostgreSQL store is
made, never by ``import wattzon_async``. A small pool is opened on first use; the schema
is made then, under a transaction-level advisory lock, so processes starting together
make it once (``CREATE TABLE IF NOT EXISTS`` alone races in PostgreSQL). Leases are
measured on the server's clock, so machines whose clocks differ agree on them. A
handed-over notification is announced with ``NOTIFY`` on the channel
``wattzon_notifications`` (``listen`` subscribes), in the transaction that stores it.

Errors become ``StoreError`` naming the URL without its password; a driver's own message
is scrubbed of the password too, and never chained when it held one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, TypeVar

from .._errors import StoreError
from ._base import SCHEMA_VERSION, ClaimState, KeyClaim, StoredNotification
from ._url import StoreURL, scrub

__all__ = ["CHANNEL", "PostgresStore"]

T = TypeVar("T")

logger = logging.getLogger("wattzon_async.store")

#: Seconds a lost connection is retried before a call fails.
RECONNECT = 30.0
#: The NOTIFY channel announcing handed-over notifications.
CHANNEL = "wattzon_notifications"
#: Seconds a handed-over notification is kept.
KEEP_NOTIFICATIONS = 3600.0
#: The advisory lock taken while the schema is made (any constant of our own).
_SCHEMA_LOCK = 0x57A770
#: The advisory lock that orders notification inserts: seq order is then commit order.
_NOTIFY_LOCK = 0x57A771
_LATEST = "SELECT coalesce(max(seq), 0) FROM wattzon_notifications"
_NOW = "extract(epoch from clock_timestamp())::float8"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS wattzon_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wattzon_keys (tag TEXT PRIMARY KEY, owner TEXT,"
    " lease_until DOUBLE PRECISION NOT NULL, tried INTEGER NOT NULL, job_id BIGINT)",
    "CREATE TABLE IF NOT EXISTS wattzon_notifications (seq BIGSERIAL PRIMARY KEY,"
    " key TEXT NOT NULL, body TEXT NOT NULL, arrived DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS wattzon_notifications_key ON wattzon_notifications (key)",
    "CREATE TABLE IF NOT EXISTS wattzon_journal_meta (batch TEXT NOT NULL, name TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY (batch, name))",
    "CREATE TABLE IF NOT EXISTS wattzon_journal_items (batch TEXT NOT NULL, key TEXT NOT NULL,"
    " tag TEXT NOT NULL, label TEXT NOT NULL, state TEXT NOT NULL, job_id BIGINT, job TEXT,"
    " owner TEXT, host TEXT, pid INTEGER, lease DOUBLE PRECISION,"
    " updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (batch, key))",
    "CREATE INDEX IF NOT EXISTS wattzon_journal_items_owner ON wattzon_journal_items (owner)",
)
_CLAIM = (
    "INSERT INTO wattzon_keys AS k (tag, owner, lease_until, tried)"
    f" VALUES ($1, $2, {_NOW} + $3, 0)"
    " ON CONFLICT (tag) DO UPDATE SET owner = excluded.owner,"
    " lease_until = excluded.lease_until, tried = k.tried + 1"
    " WHERE k.job_id IS NULL"
    f" AND (k.owner IS NULL OR k.owner = excluded.owner OR k.lease_until < {_NOW})"
    " RETURNING tried"
)


def _driver(url: StoreURL) -> ModuleType:
    try:
        return importlib.import_module("asyncpg")
    except ImportError:
        raise StoreError(
            f"store {url.safe}: a PostgreSQL store needs asyncpg: "
            "pip install 'wattzon-async[postgres]'"
        ) from None


class PostgresStore:
    """A store in a PostgreSQL database (``postgresql://...``).

    Args:
        url: The checked URL.

    Raises:
        StoreError: asyncpg is not installed.
    """

    def __init__(self, url: StoreURL) -> None:
        self._url = url
        self._asyncpg = _driver(url)
        self._pool: Any = None
        self._listener: Any = None
        errors = self._asyncpg.exceptions
        self._transient = (
            OSError,
            TimeoutError,
            errors.PostgresConnectionError,
            errors.OperatorInterventionError,
            errors.InterfaceError,
            # A connection whose protocol state a lost connection left behind
            # ("cannot switch to state ...; another operation is in progress").
            errors.InternalClientError,
        )
        self._opening = asyncio.Lock()

    @property
    def url(self) -> str:
        """The URL with its password removed."""
        return self._url.safe

    @property
    def lease(self) -> float:
        """Seconds a claim stays owned without a heartbeat."""
        return self._url.lease

    def _error(self, exc: BaseException, doing: str) -> StoreError:
        detail = scrub(f"{type(exc).__name__}: {exc}", self._url.password)
        return StoreError(f"store {self._url.safe}: {doing} failed ({detail})")

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                pool = await self._asyncpg.create_pool(
                    self._url.dsn, min_size=1, max_size=4, command_timeout=60
                )
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                        for statement in _SCHEMA:
                            await conn.execute(statement)
                        version = await self._version(conn)
                except BaseException:
                    await pool.close()
                    raise
                if version > SCHEMA_VERSION:
                    await pool.close()
                    raise StoreError(
                        f"store {self._url.safe} has schema version {version}; this release "
                        f"reads version {SCHEMA_VERSION}: upgrade wattzon-async"
                    )
                self._pool = pool
            return self._pool

    @staticmethod
    async def _version(conn: Any) -> int:
        await conn.execute(
            "INSERT INTO wattzon_meta (name, value) VALUES ('schema_version', $1)"
            " ON CONFLICT (name) DO NOTHING",
            str(SCHEMA_VERSION),
        )
        value = await conn.fetchval("SELECT value FROM wattzon_meta WHERE name = 'schema_version'")
        return int(value)

    async def run(self, doing: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(connection)`` in a transaction (for the journal); see ``_run``."""
        return await self._run(doing, fn)

    async def _run(self, doing: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(connection)`` in a transaction; driver errors become StoreError.

        Once the store was reached, a lost connection (a server restart, a failover) is
        retried with a new one for up to ``RECONNECT`` seconds: every write here is safe
        to repeat. A store never reached fails at once.
        """
        deadline: float | None = None
        pause = 0.1
        while True:
            try:
                pool = self._pool or await self._open()
                async with pool.acquire() as conn, conn.transaction():
                    return await fn(conn)
            except StoreError:
                raise
            except self._transient as exc:
                if self._pool is None:
                    raise self._error(exc, doing) from None
                deadline = deadline or time.monotonic() + RECONNECT
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._error(exc, doing) from None
                logger.warning("%s: the connection was lost; trying again", self._url.safe)
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, 2.0)
            except Exception as exc:
                if not type(exc).__module__.startswith("asyncpg"):
                    raise
                raise self._error(exc, doing) from None  # no driver error reaches a user

    async def claim_key(self, tag: str, owner: str) -> KeyClaim:
        """Claim ``tag`` for ``owner`` (see ``Store.claim_key``)."""

        async def claim(conn: Any) -> KeyClaim:
            tried = await conn.fetchval(_CLAIM, tag, owner, self._url.lease)
            if tried is not None:
                return KeyClaim(ClaimState.MINE, fresh=tried == 0)
            job_id = await conn.fetchval("SELECT job_id FROM wattzon_keys WHERE tag = $1", tag)
            if job_id is not None:
                return KeyClaim(ClaimState.DONE, job_id=int(job_id))
            return KeyClaim(ClaimState.HELD)

        return await self._run("claiming an idempotency key", claim)

    async def renew_key(self, tag: str, owner: str) -> bool:
        """Extend ``owner``'s lease on ``tag`` (see ``Store.renew_key``)."""

        async def renew(conn: Any) -> bool:
            status = await conn.execute(
                f"UPDATE wattzon_keys SET lease_until = {_NOW} + $3 WHERE tag = $1 AND owner = $2",
                tag,
                owner,
                self._url.lease,
            )
            return bool(status == "UPDATE 1")

        return await self._run("renewing a claim", renew)

    async def finish_key(self, tag: str, job_id: int) -> None:
        """Record the job ``tag`` made (see ``Store.finish_key``)."""

        async def finish(conn: Any) -> None:
            await conn.execute(
                "UPDATE wattzon_keys SET job_id = $2, owner = NULL"
                " WHERE tag = $1 AND job_id IS NULL",
                tag,
                job_id,
            )

        await self._run("recording a job", finish)

    async def release_key(self, tag: str, owner: str) -> None:
        """Give ``tag`` up without a job (see ``Store.release_key``)."""

        async def release(conn: Any) -> None:
            await conn.execute(
                "UPDATE wattzon_keys SET owner = NULL, lease_until = 0"
                " WHERE tag = $1 AND owner = $2",
                tag,
                owner,
            )

        await self._run("releasing a claim", release)

    async def put_notification(self, key: str, body: str) -> None:
        """Keep a notification for ``key`` and announce it (see ``Store.put_notification``)."""

        async def put(conn: Any) -> None:
            await conn.execute(
                f"DELETE FROM wattzon_notifications WHERE arrived < {_NOW} - $1",
                KEEP_NOTIFICATIONS,
            )
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _NOTIFY_LOCK)
            await conn.execute(
                f"INSERT INTO wattzon_notifications (key, body, arrived) VALUES ($1, $2, {_NOW})",
                key,
                body,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, key)

        await self._run("storing a notification", put)

    async def get_notification(self, key: str) -> str | None:
        """The notification kept for ``key`` (see ``Store.get_notification``)."""

        async def get(conn: Any) -> str | None:
            body = await conn.fetchval(
                "SELECT body FROM wattzon_notifications WHERE key = $1 ORDER BY seq DESC LIMIT 1",
                key,
            )
            return None if body is None else str(body)

        return await self._run("reading a notification", get)

    async def notifications_after(self, seq: int) -> list[StoredNotification]:
        """Notifications kept since ``seq`` (see ``Store.notifications_after``)."""

        async def after(conn: Any) -> list[StoredNotification]:
            rows = await conn.fetch(
                "SELECT key, body, seq FROM wattzon_notifications WHERE seq > $1 ORDER BY seq"
                " LIMIT 1000",
                seq,
            )
            return [StoredNotification(r["key"], r["body"], int(r["seq"])) for r in rows]

        return await self._run("reading notifications", after)

    async def latest_seq(self) -> int:
        """The last notification's ``seq`` (see ``Store.latest_seq``)."""

        async def latest(conn: Any) -> int:
            return int(await conn.fetchval(_LATEST))

        return await self._run("reading notifications", latest)

    @property
    def poll_interval(self) -> float:
        """Seconds between looks for new notifications besides NOTIFY (a lost connection)."""
        return 1.0

    async def listen(self, wake: Callable[[], None]) -> None:
        """LISTEN on ``CHANNEL`` on a connection of its own: ``wake()`` on every NOTIFY.

        Called again, it does nothing while that connection lives, and opens a new one
        when it was lost (a server restart).
        """
        if self._listener is not None:
            if not self._listener.is_closed():
                return
            self._listener = None

        async def subscribe(conn: Any) -> Any:
            listener = await self._asyncpg.connect(self._url.dsn)
            await listener.add_listener(CHANNEL, lambda *_: wake())
            return listener

        self._listener = await self._run("listening for notifications", subscribe)

    async def aclose(self) -> None:
        """Close the listening connection and the pool."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._url.safe!r})"
