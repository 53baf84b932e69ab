"""The journal of a durable batch: which submission was sent, which job it became, how it ended.

A batch of thousands of bills outlives processes (an OOM kill, a deploy, Ctrl-C). Without
a record, a rerun cannot tell a bill that was never sent from one whose job exists, and
sends it again: a second paid job. The journal is that record: a SQLite database (WAL
mode) with one row per submission key, written in the order that makes every crash
point safe:

1. ``claim``: the key is committed, owned by this process, *before* the POST;
2. ``created``: the job, right after the answer;
3. ``finished``: the final state, when the batch waited for it.

A row left ``sending`` by a process that is gone is *unsure*: its job may or may not
exist, so it is looked up by its key before anything is sent again. A process that is
alive keeps its claims: its heartbeat renews their lease, and on the same host a claim
of a dead process id is free at once.

Every SQLite call runs on one thread that owns the connection (``_sqlthread``);
operations queued while it works are committed together, so the event loop never waits
on disk and a busy batch costs a few commits, not one per call. Commits do not fsync
(``synchronous=NORMAL``): a killed process loses nothing; a power cut may lose the last
commits but never corrupts the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from attrs import frozen

from ._errors import JournalError, ValidationError
from ._private import create_private_file
from ._serde import dump_job, structure_job
from ._sqlthread import SQLiteThread
from .models import Job

__all__ = ["CREATED", "FINAL", "SENDING", "Entry", "Journal", "derive_key"]


#: Row states: a claim whose answer is not recorded, a job, a job in a final state.
SENDING: Final = "sending"
CREATED: Final = "created"
FINAL: Final = "final"
#: Seconds a claim stays owned without a heartbeat.
LEASE = 30.0
#: The journal format this code reads and writes.
FORMAT = "wattzon-batch-journal/1"
_GROUP = 256
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal_items ("
    " key TEXT PRIMARY KEY, tag TEXT NOT NULL, label TEXT NOT NULL, state TEXT NOT NULL,"
    " job_id INTEGER, job TEXT, owner TEXT, host TEXT, pid INTEGER, lease REAL,"
    " updated REAL NOT NULL)",
)


def derive_key(salt: str, content_sha256: str, provider: int, email: str) -> str:
    """The idempotency key of a journaled submission that brought none of its own.

    It is ``idem:`` and 32 hex digits of a SHA-256 over the journal's salt, the provider,
    the email and the document's SHA-256: the same bill in the same journal always gets
    the same key; a new journal (``--fresh``) makes new ones.
    """
    text = f"{salt}\n{provider}\n{email}\n{content_sha256}"
    return "idem:" + hashlib.sha256(text.encode()).hexdigest()[:32]


@frozen
class Entry:
    """A journal row as one process sees it.

    Attributes:
        key: The submission's key.
        tag: The idempotency tag its job carries (looked up when unsure).
        state: ``SENDING``, ``CREATED`` or ``FINAL``.
        job: The job as last recorded (without results), or None.
        mine: This journal owns the claim now and may send.
        unsure: Sent before with no answer recorded: look it up before sending.
        busy: Another live process is sending it.
    """

    key: str
    tag: str
    state: str
    job: Job | None = None
    mine: bool = False
    unsure: bool = False
    busy: bool = False


@frozen
class _Owner:
    token: str
    host: str
    pid: int


class Journal:
    """A batch journal file, open for one batch run (``async with await Journal.open(p)``)."""

    def __init__(self, path: Path, owner: _Owner) -> None:
        self.path = path
        self.salt = ""
        self._owner = owner
        self._db = SQLiteThread(path, lambda exc: _journal_error(path, exc))
        self._call = self._db.call
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal at ``path`` and start its thread and heartbeat.

        Raises:
            ValidationError: ``path`` cannot hold a journal, or holds something else.
        """
        checked = check_path(path)
        try:  # owner-only from the start: SQLite gives its -wal and -shm files this mode
            create_private_file(checked)
        except OSError as exc:
            raise ValidationError(
                f"journal: {checked} cannot be created: {exc.strerror or exc}", field="journal"
            ) from None
        journal = cls(checked, _Owner(secrets.token_hex(8), socket.gethostname(), os.getpid()))
        try:
            journal.salt = await journal._call(_setup)
        except (JournalError, _NotAJournal) as exc:
            await journal._db.stop()
            raise ValidationError(
                f"journal: {checked} cannot be used: {exc}", field="journal"
            ) from None
        except BaseException:
            await journal._db.stop()
            raise
        journal._heartbeat = asyncio.create_task(journal._beat())
        return journal

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def entries(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The rows of ``keys`` that exist (one read, whatever their number)."""
        wanted = list(dict.fromkeys(keys))
        return await self._call(lambda conn: _select(conn, wanted, self._owner))

    async def claim(self, key: str, tag: str, label: str) -> Entry:
        """Take ``key`` for sending, committed before this returns.

        Returns:
            The entry: ``mine`` when this journal may send (``unsure`` when it must look
            the key up first); else the job another run recorded, or ``busy``.
        """
        return await self._call(lambda conn: _claim(conn, key, tag, label, self._owner))

    async def created(self, key: str, job: Job) -> None:
        """Record the job a claim became (not over a final state)."""
        await self._record(key, CREATED, job)

    async def finished(self, key: str, job: Job) -> None:
        """Record the final state of a key's job."""
        await self._record(key, FINAL, job)

    async def release(self, key: str) -> None:
        """Give a claim up with its outcome unknown: the next run looks the key up."""
        sql = (
            "UPDATE journal_items SET owner = NULL, host = NULL, pid = NULL, lease = NULL "
            "WHERE key = ? AND owner = ? AND state = 'sending'"
        )
        await self._call(lambda conn: conn.execute(sql, (key, self._owner.token)))

    async def forget(self, key: str) -> None:
        """Drop a claim that surely made no job: the key counts as never sent."""
        sql = "DELETE FROM journal_items WHERE key = ? AND owner = ? AND state = 'sending'"
        await self._call(lambda conn: conn.execute(sql, (key, self._owner.token)))

    async def close(self) -> None:
        """Release this run's unanswered claims, stop the heartbeat, close the file."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        with contextlib.suppress(JournalError):
            await asyncio.shield(self._call(lambda conn: _release_all(conn, self._owner.token)))
        await self._db.stop()

    async def _record(self, key: str, state: str, job: Job) -> None:
        data = json.dumps(dump_job(job), separators=(",", ":"))
        guard = "" if state == FINAL else " AND state != 'final'"
        sql = (
            "UPDATE journal_items SET state = ?, job_id = ?, job = ?, owner = NULL, "
            f"host = NULL, pid = NULL, lease = NULL, updated = ? WHERE key = ?{guard}"
        )
        await self._call(lambda conn: conn.execute(sql, (state, job.id, data, time.time(), key)))

    async def _beat(self) -> None:
        sql = "UPDATE journal_items SET lease = ? WHERE owner = ? AND state = 'sending'"
        while True:
            await asyncio.sleep(LEASE / 3)
            with contextlib.suppress(JournalError):
                await self._call(
                    lambda conn: conn.execute(sql, (time.time() + LEASE, self._owner.token))
                )


def check_path(path: object) -> Path:
    """The journal path, checked: a file (existing or not) in an existing folder.

    Raises:
        ValidationError: Not a path, a folder, or in a folder that does not exist.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ValidationError(
            f"journal: must be a file path, not {type(path).__name__}", field="journal"
        )
    checked = Path(os.fspath(path))
    if checked.is_dir():
        raise ValidationError(f"journal: {checked} is a folder, not a file", field="journal")
    if not checked.parent.is_dir():
        raise ValidationError(f"journal: no such folder: {checked.parent}", field="journal")
    return checked


def _journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    return JournalError(f"the batch journal {path} could not be used: {exc}")


class _NotAJournal(ValueError):
    """The file is a SQLite database of something else, or of another journal format."""


def _setup(conn: sqlite3.Connection) -> str:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "journal_meta" not in tables:
        raise _NotAJournal("it is a SQLite database, but not a batch journal")
    for statement in _SCHEMA:
        conn.execute(statement)
    insert = "INSERT OR IGNORE INTO journal_meta (name, value) VALUES (?, ?)"
    conn.execute(insert, ("format", FORMAT))
    conn.execute(insert, ("salt", secrets.token_hex(16)))
    meta = dict(conn.execute("SELECT name, value FROM journal_meta").fetchall())
    if meta["format"] != FORMAT:
        raise _NotAJournal(f"its format is {meta['format']!r}; this version reads {FORMAT!r}")
    return str(meta["salt"])


_COLUMNS = "key, tag, state, job, owner, host, pid, lease"


def _select(conn: sqlite3.Connection, keys: list[str], me: _Owner) -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    now = time.time()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT {_COLUMNS} FROM journal_items WHERE key IN ({marks})"
        for row in conn.execute(sql, chunk):
            found[row[0]] = _entry(row, me, now)
    return found


def _entry(row: tuple[Any, ...], me: _Owner, now: float) -> Entry:
    key, tag, state, job, owner, host, pid, lease = row
    recorded = structure_job(json.loads(job)) if job else None
    if state != SENDING:
        return Entry(key, tag, state, recorded)
    if owner == me.token:
        return Entry(key, tag, state, mine=True)
    if owner is not None and _alive(host, pid, lease, now, me):
        return Entry(key, tag, state, busy=True)
    return Entry(key, tag, state, unsure=True)


def _claim(conn: sqlite3.Connection, key: str, tag: str, label: str, me: _Owner) -> Entry:
    now = time.time()
    row = conn.execute(f"SELECT {_COLUMNS} FROM journal_items WHERE key = ?", (key,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO journal_items (key, tag, label, state, owner, host, pid, lease, updated)"
            " VALUES (?, ?, ?, 'sending', ?, ?, ?, ?, ?)",
            (key, tag, label, me.token, me.host, me.pid, now + LEASE, now),
        )
        return Entry(key, tag, SENDING, mine=True)
    entry = _entry(row, me, now)
    if entry.state != SENDING or entry.busy or entry.mine:
        return entry
    conn.execute(
        "UPDATE journal_items SET owner = ?, host = ?, pid = ?, lease = ?, updated = ? "
        "WHERE key = ?",
        (me.token, me.host, me.pid, now + LEASE, now, key),
    )
    return Entry(key, entry.tag, SENDING, mine=True, unsure=True)


def _release_all(conn: sqlite3.Connection, token: str) -> None:
    conn.execute(
        "UPDATE journal_items SET owner = NULL, host = NULL, pid = NULL, lease = NULL "
        "WHERE owner = ? AND state = 'sending'",
        (token,),
    )


def _alive(host: str | None, pid: int | None, lease: float | None, now: float, me: _Owner) -> bool:
    """Whether another owner still holds its claim: a fresh lease, and a live pid here."""
    if lease is None or lease < now:
        return False
    if host != me.host or pid is None:
        return True
    return _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead too
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
