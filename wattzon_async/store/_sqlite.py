"""The SQLite store: the processes of one machine, sharing one database file.

SQLite's file locks serialise writers across processes; every call runs in a
``BEGIN IMMEDIATE`` transaction on the package's SQLite thread (``_sqlthread``: one
thread per store owns the connection, WAL mode, a 60 s busy timeout), so the event loop
never waits on disk. The folder the store makes is mode 0700 and the file 0600 whatever
the umask (SQLite gives its ``-wal`` and ``-shm`` files the database file's mode), since
the file names the jobs of an account. The schema is made on first use, inside the
first transaction, so processes starting together make it once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .._errors import StoreError
from .._sqlthread import SQLiteThread
from ._base import SCHEMA_VERSION, ClaimState, KeyClaim, StoredNotification
from ._url import StoreURL

__all__ = ["SQLiteStore"]

T = TypeVar("T")

#: Seconds a handed-over notification is kept.
KEEP_NOTIFICATIONS = 3600.0
_LATEST = "SELECT coalesce(max(seq), 0) FROM wattzon_notifications"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS wattzon_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wattzon_keys (tag TEXT PRIMARY KEY, owner TEXT,"
    " lease_until DOUBLE PRECISION NOT NULL, tried INTEGER NOT NULL, job_id BIGINT)",
    "CREATE TABLE IF NOT EXISTS wattzon_notifications (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " key TEXT NOT NULL, body TEXT NOT NULL, arrived DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS wattzon_notifications_key ON wattzon_notifications (key)",
)


def _make_private(path: Path) -> None:
    """Make the folder (0700) and the database file (0600) unless they exist."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size == 0:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO wattzon_meta (name, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    (version,) = conn.execute(
        "SELECT value FROM wattzon_meta WHERE name = 'schema_version'"
    ).fetchone()
    if int(version) > SCHEMA_VERSION:
        raise _Newer(int(version))


class _Newer(Exception):
    def __init__(self, version: int) -> None:
        self.version = version


class SQLiteStore:
    """A store in one SQLite file (``sqlite:///path``).

    Args:
        url: The checked URL.

    Raises:
        StoreError: The file or its folder cannot be made.
    """

    def __init__(self, url: StoreURL) -> None:
        assert url.path is not None
        self._url = url
        try:
            _make_private(url.path)
        except OSError as exc:
            raise StoreError(f"store {url.safe}: cannot create the file ({exc})") from None
        self._thread = SQLiteThread(url.path, self._wrap)
        self._ready = False

    @property
    def url(self) -> str:
        """The URL (a SQLite URL holds no password)."""
        return self._url.safe

    @property
    def lease(self) -> float:
        """Seconds a claim stays owned without a heartbeat."""
        return self._url.lease

    def _wrap(self, exc: sqlite3.Error) -> Exception:
        return StoreError(f"store {self._url.safe}: {exc}")

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._ready:
            try:
                await self._thread.call(_schema)
            except _Newer as exc:
                raise StoreError(
                    f"store {self._url.safe} has schema version {exc.version}; this release "
                    f"reads version {SCHEMA_VERSION}: upgrade wattzon-async"
                ) from None
            self._ready = True
        return await self._thread.call(fn)

    async def claim_key(self, tag: str, owner: str) -> KeyClaim:
        """Claim ``tag`` for ``owner`` (see ``Store.claim_key``)."""
        lease = self._url.lease

        def claim(conn: sqlite3.Connection) -> KeyClaim:
            now = time.time()
            row = conn.execute(
                "INSERT INTO wattzon_keys (tag, owner, lease_until, tried) VALUES (?, ?, ?, 0)"
                " ON CONFLICT (tag) DO UPDATE SET owner = excluded.owner,"
                " lease_until = excluded.lease_until, tried = tried + 1"
                " WHERE job_id IS NULL"
                " AND (owner IS NULL OR owner = excluded.owner OR lease_until < ?)"
                " RETURNING tried",
                (tag, owner, now + lease, now),
            ).fetchone()
            if row is not None:
                return KeyClaim(ClaimState.MINE, fresh=row[0] == 0)
            (job_id,) = conn.execute(
                "SELECT job_id FROM wattzon_keys WHERE tag = ?", (tag,)
            ).fetchone()
            if job_id is not None:
                return KeyClaim(ClaimState.DONE, job_id=job_id)
            return KeyClaim(ClaimState.HELD)

        return await self._call(claim)

    async def renew_key(self, tag: str, owner: str) -> bool:
        """Extend ``owner``'s lease on ``tag`` (see ``Store.renew_key``)."""
        lease = self._url.lease

        def renew(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE wattzon_keys SET lease_until = ? WHERE tag = ? AND owner = ?",
                (time.time() + lease, tag, owner),
            )
            return cursor.rowcount == 1

        return await self._call(renew)

    async def finish_key(self, tag: str, job_id: int) -> None:
        """Record the job ``tag`` made (see ``Store.finish_key``)."""

        def finish(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE wattzon_keys SET job_id = ?, owner = NULL WHERE tag = ? AND job_id IS NULL",
                (job_id, tag),
            )

        await self._call(finish)

    async def release_key(self, tag: str, owner: str) -> None:
        """Give ``tag`` up without a job (see ``Store.release_key``)."""

        def release(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE wattzon_keys SET owner = NULL, lease_until = 0 WHERE tag = ? AND owner = ?",
                (tag, owner),
            )

        await self._call(release)

    async def put_notification(self, key: str, body: str) -> None:
        """Keep a notification for ``key`` (see ``Store.put_notification``)."""

        def put(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "DELETE FROM wattzon_notifications WHERE arrived < ?", (now - KEEP_NOTIFICATIONS,)
            )
            conn.execute(
                "INSERT INTO wattzon_notifications (key, body, arrived) VALUES (?, ?, ?)",
                (key, body, now),
            )

        await self._call(put)

    async def get_notification(self, key: str) -> str | None:
        """The notification kept for ``key`` (see ``Store.get_notification``)."""

        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT body FROM wattzon_notifications WHERE key = ? ORDER BY seq DESC LIMIT 1",
                (key,),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._call(get)

    async def notifications_after(self, seq: int) -> list[StoredNotification]:
        """Notifications kept since ``seq`` (see ``Store.notifications_after``)."""

        def after(conn: sqlite3.Connection) -> list[StoredNotification]:
            rows = conn.execute(
                "SELECT key, body, seq FROM wattzon_notifications WHERE seq > ? ORDER BY seq"
                " LIMIT 1000",
                (seq,),
            ).fetchall()
            return [StoredNotification(key, body, number) for key, body, number in rows]

        return await self._call(after)

    async def latest_seq(self) -> int:
        """The last notification's ``seq`` (see ``Store.latest_seq``)."""

        def latest(conn: sqlite3.Connection) -> int:
            (seq,) = conn.execute(_LATEST).fetchone()
            return int(seq)

        return await self._call(latest)

    @property
    def poll_interval(self) -> float:
        """Seconds between looks for new notifications: nothing announces them in SQLite."""
        return 0.05

    async def listen(self, wake: Callable[[], None]) -> None:
        """Nothing to subscribe to: watchers look every ``poll_interval``."""

    async def aclose(self) -> None:
        """Finish what is queued and close the file."""
        with contextlib.suppress(StoreError):
            await self._thread.stop()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._url.safe!r})"
