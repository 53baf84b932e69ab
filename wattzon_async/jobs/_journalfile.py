"""A batch journal's rows in one SQLite file: the schema, the reads and the writes.

The batch journal (``_journal``) decides what a row means; this module only reads and
writes the rows of its SQLite file, on the package's SQLite thread (``_sqlthread``), as
``store/_pgjournal`` does in PostgreSQL. A claim reads its row and writes its owner in
one ``BEGIN IMMEDIATE`` transaction, so two processes never both take one key.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .._errors import JournalError
from .._sqlthread import SQLiteThread

__all__ = ["FORMAT", "NotAJournal", "SQLiteJournal"]

E = TypeVar("E")

#: The journal format this code reads and writes.
FORMAT = "wattzon-batch-journal/1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal_items ("
    " key TEXT PRIMARY KEY, tag TEXT NOT NULL, label TEXT NOT NULL, state TEXT NOT NULL,"
    " job_id INTEGER, job TEXT, owner TEXT, host TEXT, pid INTEGER, lease REAL,"
    " updated REAL NOT NULL)",
)


class SQLiteJournal:
    """A journal in one SQLite file (see ``_journal.Backend``)."""

    def __init__(self, path: Path) -> None:
        self._db = SQLiteThread(path, lambda exc: _journal_error(path, exc))
        self._call = self._db.call

    async def setup(self) -> str:
        return await self._call(_setup)

    async def rows(self, keys: list[str]) -> list[tuple[Any, ...]]:
        return await self._call(lambda conn: _select(conn, keys))

    async def claim(
        self,
        key: str,
        tag: str,
        label: str,
        owner: tuple[str, str, int, float],
        judge: Callable[[tuple[Any, ...] | None], tuple[E, bool]],
    ) -> E:
        return await self._call(lambda conn: _claim(conn, key, tag, label, owner, judge))

    async def record(self, key: str, state: str, job_id: int, job: str) -> None:
        guard = "" if state == "final" else " AND state != 'final'"
        sql = (
            "UPDATE journal_items SET state = ?, job_id = ?, job = ?, owner = NULL, "
            f"host = NULL, pid = NULL, lease = NULL, updated = ? WHERE key = ?{guard}"
        )
        await self._call(lambda conn: conn.execute(sql, (state, job_id, job, time.time(), key)))

    async def release(self, key: str | None, token: str) -> None:
        sql = (
            "UPDATE journal_items SET owner = NULL, host = NULL, pid = NULL, lease = NULL "
            "WHERE owner = ? AND state = 'sending'"
        )
        if key is None:
            await self._call(lambda conn: conn.execute(sql, (token,)))
        else:
            await self._call(lambda conn: conn.execute(sql + " AND key = ?", (token, key)))

    async def forget(self, key: str, token: str) -> None:
        sql = "DELETE FROM journal_items WHERE key = ? AND owner = ? AND state = 'sending'"
        await self._call(lambda conn: conn.execute(sql, (key, token)))

    async def beat(self, token: str, lease_until: float) -> None:
        sql = "UPDATE journal_items SET lease = ? WHERE owner = ? AND state = 'sending'"
        await self._call(lambda conn: conn.execute(sql, (lease_until, token)))

    async def close(self) -> None:
        await self._db.stop()


def _journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    return JournalError(f"the batch journal {path} could not be used: {exc}")


class NotAJournal(ValueError):
    """The file is a SQLite database of something else, or of another journal format."""


def _setup(conn: sqlite3.Connection) -> str:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "journal_meta" not in tables:
        raise NotAJournal("it is a SQLite database, but not a batch journal")
    for statement in _SCHEMA:
        conn.execute(statement)
    insert = "INSERT OR IGNORE INTO journal_meta (name, value) VALUES (?, ?)"
    conn.execute(insert, ("format", FORMAT))
    conn.execute(insert, ("salt", secrets.token_hex(16)))
    meta = dict(conn.execute("SELECT name, value FROM journal_meta").fetchall())
    if meta["format"] != FORMAT:
        raise NotAJournal(f"its format is {meta['format']!r}; this version reads {FORMAT!r}")
    return str(meta["salt"])


_COLUMNS = "key, tag, state, job, owner, host, pid, lease"


def _select(conn: sqlite3.Connection, keys: list[str]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT {_COLUMNS} FROM journal_items WHERE key IN ({marks})"
        found.extend(conn.execute(sql, chunk))
    return found


def _claim(
    conn: sqlite3.Connection,
    key: str,
    tag: str,
    label: str,
    owner: tuple[str, str, int, float],
    judge: Callable[[tuple[Any, ...] | None], tuple[E, bool]],
) -> E:
    """Judge the key's row and write the owner if the judge takes it.

    A new key (the common case) costs one statement: its row is inserted at once, and
    deleted again if the judge does not take a new key.
    """
    now = time.time()
    inserted = conn.execute(
        "INSERT INTO journal_items (key, tag, label, state, owner, host, pid, lease, updated)"
        " VALUES (?, ?, ?, 'sending', ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        (key, tag, label, *owner, now),
    ).rowcount
    if inserted:
        entry, take = judge(None)
        if not take:
            conn.execute("DELETE FROM journal_items WHERE key = ?", (key,))
        return entry
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal_items WHERE key = ?", (key,)).fetchone()
    entry, take = judge(row)
    if take:
        conn.execute(
            "UPDATE journal_items SET owner = ?, host = ?, pid = ?, lease = ?, updated = ? "
            "WHERE key = ?",
            (*owner, now, key),
        )
    return entry
