"""The journal of a durable batch: which submission was sent, which job it became, how it ended.

A batch of thousands of bills outlives processes (an OOM kill, a deploy, Ctrl-C). Without
a record, a rerun cannot tell a bill that was never sent from one whose job exists, and
sends it again: a second paid job. The journal is that record: one row per submission
key, in a SQLite file (``_journalfile``) or in a PostgreSQL store (``store/_pgjournal``,
where machines share a batch), written in the order that makes every crash point safe:

1. ``claim``: the key is committed, owned by this process, *before* the POST;
2. ``created``: the job, right after the answer;
3. ``finished``: the final state, when the batch waited for it.

A row left ``sending`` by a process that is gone is *unsure*: its job may or may not
exist, so it is looked up by its key before anything is sent again. A process that is
alive keeps its claims: its heartbeat renews their lease, and on the same host a claim
of a dead process id is free at once.

This module decides what a row means (``_entry``: mine, busy, unsure or done) and what
a claim takes; the two backends only read and write rows. In SQLite every call runs on
one thread that owns the connection (``_sqlthread``); operations queued while it works
are committed together, so the event loop never waits on disk and a busy batch costs a
few commits, not one per call. Commits do not fsync (``synchronous=NORMAL``): a killed
process loses nothing; a power cut may lose the last commits but never corrupts the
file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, Protocol

from attrs import frozen

from .._errors import JournalError, StoreError, ValidationError
from .._private import create_private_file
from .._serde import dump_job, structure_job
from ..models import Job
from ..store import StoreURL, parse_store_url
from ._journalfile import NotAJournal, SQLiteJournal

__all__ = [
    "CREATED",
    "FINAL",
    "SENDING",
    "Backend",
    "Entry",
    "Journal",
    "check_path",
    "derive_key",
    "drop_journal",
]

#: A journal given as a URL (any scheme, so that a wrong one is refused as a URL, its
#: password hidden, rather than taken for a file name); ``sqlite:file.db`` too.
_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|sqlite:|postgres(ql)?:)", re.IGNORECASE)


#: Row states: a claim whose answer is not recorded, a job, a job in a final state.
SENDING: Final = "sending"
CREATED: Final = "created"
FINAL: Final = "final"
#: Seconds a claim stays owned without a heartbeat.
LEASE = 30.0


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


class Backend(Protocol):
    """Where a journal's rows live: a SQLite file, or a PostgreSQL store (``store``).

    ``claim`` reads the key's row and asks ``judge(row)`` (None: no row) what it means
    and whether this journal takes it; taking writes the owner in the same transaction.
    """

    async def setup(self) -> str:
        """Make the tables if needed; the journal's salt."""

    async def rows(self, keys: list[str]) -> list[tuple[Any, ...]]:
        """The rows of ``keys`` that exist (``key, tag, state, job, owner, host, pid, lease``)."""

    async def claim(
        self,
        key: str,
        tag: str,
        label: str,
        owner: tuple[str, str, int, float],
        judge: Callable[[tuple[Any, ...] | None], tuple[Entry, bool]],
    ) -> Entry:
        """Judge the key's row and take it for ``owner`` (token, host, pid, lease) if told."""

    async def record(self, key: str, state: str, job_id: int, job: str) -> None:
        """Write a key's job (not over a final state, unless ``state`` is final)."""

    async def release(self, key: str | None, token: str) -> None:
        """Give up the claim on ``key`` (None: every claim) that ``token`` holds."""

    async def forget(self, key: str, token: str) -> None:
        """Drop the claim row of ``key`` that ``token`` holds."""

    async def beat(self, token: str, lease_until: float) -> None:
        """Renew every claim ``token`` holds."""

    async def close(self) -> None:
        """Close the connection."""


class Journal:
    """A batch journal, open for one batch run (``async with await Journal.open(p)``).

    Its rows live in a SQLite file (a path or ``sqlite:///path``), or in a PostgreSQL
    store (``postgresql://...?batch=NAME``), where processes on several machines can
    share one batch.
    """

    def __init__(self, where: str, backend: Backend, owner: _Owner) -> None:
        self.where = where
        self.salt = ""
        self._owner = owner
        self._backend = backend
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, target: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal ``target`` names; start its heartbeat.

        Raises:
            ValidationError: ``target`` cannot hold a journal, or holds something else.
            StoreError: A PostgreSQL journal cannot be reached.
        """
        where = check_path(target)
        owner = _Owner(secrets.token_hex(8), socket.gethostname(), os.getpid())
        if isinstance(where, Path):
            try:  # owner-only from the start: SQLite gives its -wal and -shm files this mode
                create_private_file(where)
            except OSError as exc:
                raise ValidationError(
                    f"journal: {where} cannot be created: {exc.strerror or exc}", field="journal"
                ) from None
            backend: Backend = SQLiteJournal(where)
        else:
            from ..store import open_journal_backend

            backend = open_journal_backend(where)
        journal = cls(str(where) if isinstance(where, Path) else where.safe, backend, owner)
        try:
            journal.salt = await backend.setup()
        except (JournalError, NotAJournal) as exc:
            await backend.close()
            raise ValidationError(
                f"journal: {journal.where} cannot be used: {exc}", field="journal"
            ) from None
        except BaseException:
            await backend.close()
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
        now = time.time()
        return {row[0]: _entry(row, self._owner, now) for row in await self._backend.rows(wanted)}

    async def claim(self, key: str, tag: str, label: str) -> Entry:
        """Take ``key`` for sending, committed before this returns.

        Returns:
            The entry: ``mine`` when this journal may send (``unsure`` when it must look
            the key up first); else the job another run recorded, or ``busy``.
        """
        me = self._owner
        now = time.time()

        def judge(row: tuple[Any, ...] | None) -> tuple[Entry, bool]:
            if row is None:
                return Entry(key, tag, SENDING, mine=True), True
            entry = _entry(row, me, now)
            if entry.state != SENDING or entry.busy or entry.mine:
                return entry, False
            return Entry(key, entry.tag, SENDING, mine=True, unsure=True), True

        owner = (me.token, me.host, me.pid, now + LEASE)
        return await self._backend.claim(key, tag, label, owner, judge)

    async def created(self, key: str, job: Job) -> None:
        """Record the job a claim became (not over a final state)."""
        await self._record(key, CREATED, job)

    async def finished(self, key: str, job: Job) -> None:
        """Record the final state of a key's job."""
        await self._record(key, FINAL, job)

    async def release(self, key: str) -> None:
        """Give a claim up with its outcome unknown: the next run looks the key up."""
        await self._backend.release(key, self._owner.token)

    async def forget(self, key: str) -> None:
        """Drop a claim that surely made no job: the key counts as never sent."""
        await self._backend.forget(key, self._owner.token)

    async def close(self) -> None:
        """Release this run's unanswered claims, stop the heartbeat, close the journal."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        with contextlib.suppress(JournalError, StoreError):
            await asyncio.shield(self._backend.release(None, self._owner.token))
        await self._backend.close()

    async def _record(self, key: str, state: str, job: Job) -> None:
        data = json.dumps(dump_job(job), separators=(",", ":"))
        await self._backend.record(key, state, job.id, data)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(LEASE / 3)
            with contextlib.suppress(JournalError, StoreError):
                await self._backend.beat(self._owner.token, time.time() + LEASE)


def check_path(path: object) -> Path | StoreURL:
    """The journal's place, checked: a file path, or a store URL.

    A path (or ``sqlite:///path``) names a file, existing or not, in an existing folder;
    a PostgreSQL URL (``postgresql://...?batch=NAME``) a batch in that database.

    Raises:
        ValidationError: Not a path, a folder, in a folder that does not exist, or a bad
            URL (shown without its password).
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise ValidationError(
            f"journal: must be a file path or a store URL, not {type(path).__name__}",
            field="journal",
        )
    if isinstance(path, str) and _URL.match(path):
        try:
            url = parse_store_url(path)
        except ValidationError as exc:
            raise ValidationError(
                "journal: " + str(exc).removeprefix("store: "), field="journal"
            ) from None
        if url.path is None:
            return url
        path = url.path
    checked = Path(os.fspath(path))
    if checked.is_dir():
        raise ValidationError(f"journal: {checked} is a folder, not a file", field="journal")
    if not checked.parent.is_dir():
        raise ValidationError(f"journal: no such folder: {checked.parent}", field="journal")
    return checked


async def drop_journal(target: str | os.PathLike[str]) -> None:
    """Delete a journal (``--fresh``).

    A file goes with SQLite's files beside it; a batch in PostgreSQL loses its rows.

    Raises:
        ValidationError: ``target`` is not a journal's place.
        StoreError: A PostgreSQL journal cannot be reached.
    """
    where = check_path(target)
    if isinstance(where, Path):
        for suffix in ("", "-wal", "-shm"):
            where.with_name(where.name + suffix).unlink(missing_ok=True)
        return
    from ..store import open_journal_backend

    backend = open_journal_backend(where)
    try:
        await backend.drop()
    finally:
        await backend.close()


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
