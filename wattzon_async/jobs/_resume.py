"""Durable batches: each submission's key, what the journal knows of it, and its creates.

A journaled create writes every step down before taking it.

``submit_many(..., journal=PATH)`` runs the items of a batch through here. A submission's
key is the caller's ``Submission.idempotency_key`` or, without one, derived from the
journal's salt and the document's SHA-256, provider and email (``derive_key``): the same
bill in the same journal always has the same key. What the journal holds for a key
decides what a run does with it:

- nothing: never sent; claimed (written down), then sent;
- ``sending`` and its owner gone: *unsure*; looked up by its tag (one ``jobs.list``),
  and sent only when no job carries it;
- ``sending`` and its owner alive (another process): waited for in the journal;
- ``created``/``final``: the recorded job, with no request at all.

A caller's own key that this journal has never seen is looked up before it is sent
too: it may have been used outside this journal.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Generic, Protocol, Self, TypeVar

from attrs import define, frozen

from .._errors import AmbiguousSubmitError, BatchStoppedError, WattzOnError
from ..models import Job, Submission
from ._journal import CREATED, FINAL, SENDING, Entry, Journal, derive_key
from ._upload import DocumentSource

__all__ = [
    "Creates",
    "Item",
    "JournaledCreates",
    "ListsJobs",
    "Prepared",
    "ResumeSummary",
    "plan_keys",
]

logger = logging.getLogger("wattzon_async")

#: Seconds between looks at a key another live process is sending.
BUSY_POLL = 0.2
#: Documents hashed per hand-over to the worker thread.
_HASH_SLICE = 64


class Prepared(Protocol):
    """What a batch needs of a checked create: its document and its wire tag."""

    @property
    def source(self) -> DocumentSource:
        """The checked document."""

    @property
    def idempotency_key(self) -> str | None:
        """The tag the job will carry."""

    def with_key(self, key: str, document_sha256: str) -> Self:
        """This create under ``key``, its document's digest known (nothing read again)."""


P = TypeVar("P", bound=Prepared)


class Creates(Protocol[P]):
    """What checks and sends a create: the client's ``Creator``, handed over by ``Jobs``."""

    def prepare(self, submission: Submission, *, keyed: bool = True) -> P:
        """Check a submission without sending anything."""
        ...

    async def send(self, prepared: P, *, timeout: float | None = None, look_up: bool = True) -> Job:
        """Send a checked create: the job its key already made, or a new one."""
        ...


class ListsJobs(Protocol):
    """What lists jobs by tag: ``client.jobs`` (``Jobs``), which starts the batch."""

    async def list(
        self, *, tag: str | int | None = None, timeout: float | None = None
    ) -> builtins.list[Job]:
        """Jobs carrying ``tag``, most recent first."""
        ...


@frozen
class ResumeSummary:
    """What a batch's journal already knew when the batch started, in submissions.

    Attributes:
        done: Finished in an earlier run: reported from the journal.
        waiting: Created earlier (or being sent by another process): waited for again.
        unsure: Sent earlier with no answer recorded: looked up by key before any resend.
        to_submit: Never sent: submitted now.
    """

    done: int = 0
    waiting: int = 0
    unsure: int = 0
    to_submit: int = 0

    @property
    def resuming(self) -> bool:
        """True when an earlier run had sent part of this batch."""
        return self.done + self.waiting + self.unsure > 0

    def __str__(self) -> str:
        parts = [f"{self.done} done", f"{self.waiting} waiting"]
        if self.unsure:
            parts.append(f"{self.unsure} to look up")
        parts.append(f"{self.to_submit} to submit")
        return ", ".join(parts)


@define
class Item(Generic[P]):
    """One key of a batch: the submissions that share it, and what became of it."""

    indexes: list[int]
    prepared: P
    key: str = ""
    label: str = ""
    given_key: bool = False
    entry: Entry | None = None
    job: Job | None = None

    @property
    def tag(self) -> str:
        """The wire tag the job carries."""
        return self.prepared.idempotency_key or self.key


async def plan_keys(
    journal: Journal,
    submissions: Sequence[Submission],
    prepared: Sequence[tuple[int, P]],
    *,
    wait: bool,
) -> tuple[list[Item[P]], list[tuple[int, Exception]], ResumeSummary]:
    """Give every checked submission its key and its journal entry; count them.

    Documents are hashed in a worker thread (streamed, never held whole).
    Submissions with the same key (the same bill twice) share one item, so one job.

    Args:
        journal: The open journal.
        submissions: The batch's submissions.
        prepared: Each checked submission's index and prepared create.
        wait: Whether the batch waits: without, a created job is done.

    Returns:
        The items, the submissions whose document could not be read, and the summary.
    """
    digests = await _digests(submissions, prepared)
    items: dict[str, Item[P]] = {}
    failed: list[tuple[int, Exception]] = []
    for index, checked in prepared:
        submission = submissions[index]
        digest = digests.get(index)
        try:
            if isinstance(digest, WattzOnError):
                raise digest
            item = _keyed(journal.salt, submission, checked, index, digest)
        except WattzOnError as exc:
            failed.append((index, exc))
            continue
        if item.key in items:
            items[item.key].indexes.append(index)
        else:
            items[item.key] = item
    entries = await journal.entries(items)
    counts = {"done": 0, "waiting": 0, "unsure": 0, "to_submit": 0}
    for item in items.values():
        item.entry = entries.get(item.key)
        counts[_kind(item.entry, wait)] += len(item.indexes)
    return list(items.values()), failed, ResumeSummary(**counts)


async def _digests(
    submissions: Sequence[Submission], prepared: Sequence[tuple[int, P]]
) -> dict[int, str | WattzOnError]:
    """The SHA-256 of each document without a caller's key, by index (or why not).

    Hashed in a worker thread, a slice of documents per hand-over: one hand-over per
    document would cost more than hashing a small one.
    """
    todo = [(i, p.source) for i, p in prepared if submissions[i].idempotency_key is None]
    digests: dict[int, str | WattzOnError] = {}
    for start in range(0, len(todo), _HASH_SLICE):
        digests.update(await asyncio.to_thread(_hash_slice, todo[start : start + _HASH_SLICE]))
    return digests


def _hash_slice(sources: list[tuple[int, DocumentSource]]) -> dict[int, str | WattzOnError]:
    digests: dict[int, str | WattzOnError] = {}
    for index, source in sources:
        try:
            digests[index] = source.sha256()
        except WattzOnError as exc:
            digests[index] = exc
    return digests


def _keyed(
    salt: str,
    submission: Submission,
    checked: P,
    index: int,
    digest: str | None,
) -> Item[P]:
    label = _label(submission, checked.source)
    if digest is None:  # the caller's own key
        assert submission.idempotency_key is not None
        return Item([index], checked, submission.idempotency_key, label, given_key=True)
    key = derive_key(salt, digest, submission.provider, submission.email)
    return Item([index], checked.with_key(key, digest), key, label)


def _kind(entry: Entry | None, wait: bool) -> str:
    if entry is None:
        return "to_submit"
    if entry.state == FINAL or (entry.state == CREATED and not wait):
        return "done"
    if entry.state == CREATED or entry.busy:
        return "waiting"
    return "unsure"


def _label(submission: Submission, source: DocumentSource) -> str:
    return str(source.path) if source.path is not None else source.name


class JournaledCreates(Generic[P]):
    """Creates written down step by step: the claim before the POST, the job after it.

    Args:
        journal: The open journal.
        creator: Sends a checked create.
        jobs: Lists jobs by tag (``client.jobs``), for unsure keys.
        slot: An upload slot; raises BatchStoppedError once the batch is stopping.
        stopping: Set when the batch is stopped.
    """

    def __init__(
        self,
        journal: Journal,
        creator: Creates[P],
        jobs: ListsJobs,
        slot: Callable[[], AbstractAsyncContextManager[None]],
        stopping: asyncio.Event,
    ) -> None:
        self.journal = journal
        self._creator = creator
        self._jobs = jobs
        self._slot = slot
        self._stopping = stopping

    async def job(self, item: Item[P]) -> Job:
        """The item's job: recorded earlier, or created now (claimed first)."""
        entry = item.entry
        while entry is None or entry.state == SENDING:
            if entry is not None and entry.busy:
                entry = await self._while_busy(item)
                continue
            async with self._slot():
                entry = await self.journal.claim(item.key, item.tag, item.label)
                job = await self._send_claimed(item, entry) if entry.mine else None
            if job is not None:  # written down after the slot is free for the next upload
                await self.journal.created(item.key, job)
                return job
        assert entry.job is not None
        item.entry = entry
        item.job = entry.job
        return entry.job

    async def finished(self, item: Item[P], job: Job) -> None:
        """Record a final state (unless the journal had it already)."""
        if item.entry is None or item.entry.state != FINAL:
            await self.journal.finished(item.key, job)

    async def _send_claimed(self, item: Item[P], entry: Entry) -> Job:
        """Send a key this journal has just claimed (looked up first when unsure)."""
        look_up = entry.unsure or item.given_key
        try:
            job = await self._look_up(item.tag) if look_up else None
        except BaseException:
            await self.journal.release(item.key)
            raise
        if job is None:
            try:
                # Looked up just above when it had to be: the SDK need not look again.
                job = await self._creator.send(item.prepared, look_up=False)
            except AmbiguousSubmitError:
                await self.journal.release(item.key)
                raise
            except WattzOnError:  # the SDK's word: no job was made
                await self.journal.forget(item.key)
                raise
        item.job = job
        return job

    async def _look_up(self, tag: str) -> Job | None:
        jobs = await self._jobs.list(tag=tag)
        matches = sorted((j for j in jobs if tag in j.tags), key=lambda j: j.id)
        if matches:
            logger.info("job %d found by its idempotency tag %s", matches[0].id, tag)
            return matches[0]
        return None

    async def _while_busy(self, item: Item[P]) -> Entry | None:
        """Another live process is sending this key: follow the journal until it is done."""
        while True:
            if self._stopping.is_set():
                raise BatchStoppedError("not submitted: the batch was stopped")
            await asyncio.sleep(BUSY_POLL)
            entry = (await self.journal.entries([item.key])).get(item.key)
            if entry is None or not entry.busy:
                return entry
