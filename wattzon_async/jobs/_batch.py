"""submit_many: submit thousands of bills concurrently and hear about each as it finishes.

Every submission is checked before any upload starts; a bad one becomes an outcome with
its ValidationError, and the rest go on. Uploads run at most ``concurrency`` at a time;
waits (``wait=True``) do not hold an upload slot, since they cost only budgeted polls.
Each create carries its own idempotency key, so a retried upload never makes a second
job. Outcomes come out of the iterator in the order they finish; closing or cancelling
the iterator cancels what is still running (locally: nothing on the server) and returns
only when every task has ended. ``BatchRun.stop()`` ends a batch gently instead: nothing
more is sent, uploads in flight finish, waits end, and every submission still gets its
outcome (``BatchStoppedError``, with the job when there is one).

With ``journal=PATH`` the batch is durable: ``_resume`` writes each step down before
taking it, so a rerun after any crash sends only what was never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
)
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from attrs import define, field, frozen

from .. import _telemetry
from .._errors import BatchStoppedError, JobError, ValidationError
from .._validation import check_integer, check_results
from ..models import Job, Submission
from ._resume import (
    Creates,
    Item,
    JournaledCreates,
    ListsJobs,
    Prepared,
    ResumeSummary,
    plan_keys,
)

if TYPE_CHECKING:
    from ..notifications import NotificationConsumer
    from ._journal import Journal

__all__ = [
    "BatchJobs",
    "BatchProgress",
    "BatchRun",
    "ProgressCallback",
    "ResumeSummary",
    "SubmitOutcome",
    "submit_many",
]

logger = logging.getLogger("wattzon_async")

#: A checked create, ready to send (the creator's ``prepare`` makes it).
P = TypeVar("P", bound=Prepared)


@frozen
class SubmitOutcome:
    """What became of one submission: ``job`` on success, else ``error``.

    When the job was created but waiting for it failed (a deadline, a FAILED job, a
    stopped batch), both are set: ``job`` is the job as created, so its id is never lost.

    Attributes:
        index: The position of the submission in the input.
        submission: The submission itself.
        job: The created job (COMPLETE when the batch waited), or None if none was made.
        error: The error that stopped this submission, or None.
    """

    index: int
    submission: Submission
    job: Job | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the submission succeeded."""
        return self.error is None


@define
class BatchProgress:
    """Running counts of a batch, passed to ``on_progress`` after every change.

    ``resume`` is what the journal already knew (None without a journal); it is set
    before the first call.
    """

    total: int
    submitted: int = 0
    processing: int = 0
    done: int = 0
    failed: int = 0
    resume: ResumeSummary | None = None

    @property
    def finished(self) -> int:
        """Submissions that have an outcome."""
        return self.done + self.failed


ProgressCallback = Callable[[BatchProgress], None]


class BatchJobs(ListsJobs, Protocol):
    """What a batch reads and waits with: ``client.jobs`` (``Jobs``), which starts it."""

    async def get(
        self, job_id: int | str, *, results: Literal["raw", "transformed"] = "raw"
    ) -> Job:
        """A job as it is now (for a job a journal recorded as final)."""
        ...

    async def await_job(
        self,
        job_id: int | str,
        *,
        timeout: float | None = None,
        notifications: NotificationConsumer | None = None,
        results: Literal["raw", "transformed"] = "raw",
    ) -> Job:
        """Wait for a job's final state."""
        ...


class BatchRun(AsyncIterator[SubmitOutcome]):
    """What ``jobs.submit_many`` returns: iterate it for the outcomes; ``stop()`` ends it.

    ``aclose()`` (or leaving the loop, or cancelling it) cancels what is still running;
    ``stop()`` ends the batch gently, so that every submission gets its outcome.
    """

    def __init__(self, outcomes: AsyncGenerator[SubmitOutcome, None], batch: _Batch[Any]) -> None:
        self._outcomes = outcomes
        self._batch = batch

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> SubmitOutcome:
        return await self._outcomes.__anext__()

    async def aclose(self) -> None:
        """Cancel what is still running (nothing on the server) and wait for it to end."""
        await self._outcomes.aclose()

    @property
    def progress(self) -> BatchProgress:
        """The running counts."""
        return self._batch.progress

    def stop(self) -> None:
        """Send nothing more and stop waiting; keep iterating for the remaining outcomes.

        Uploads in flight finish, so their job ids are known. A submission never sent
        ends with ``BatchStoppedError`` and no job; one whose job exists but was not
        waited for to the end, with ``BatchStoppedError`` and its job. Safe to call from
        a signal handler installed with ``loop.add_signal_handler``, and more than once.
        """
        self._batch.stop()


@define
class _Batch(Generic[P]):
    jobs: BatchJobs
    creator: Creates[P]
    submissions: list[Submission]
    wait: bool
    notifications: NotificationConsumer | None
    timeout: float | None
    results: Literal["raw", "transformed"]
    progress: BatchProgress
    on_progress: ProgressCallback | None
    slots: asyncio.Semaphore
    journaled: JournaledCreates[P] | None = None
    stopping: asyncio.Event = field(factory=asyncio.Event)
    waits: set[asyncio.Task[Job]] = field(factory=set)
    outcomes: asyncio.Queue[SubmitOutcome] = field(factory=asyncio.Queue)

    def report(self, outcome: SubmitOutcome | None = None) -> None:
        if outcome is not None:
            if outcome.ok:
                self.progress.done += 1
            else:
                self.progress.failed += 1
            self.outcomes.put_nowait(outcome)
        if self.on_progress is not None:
            try:
                self.on_progress(self.progress)
            except Exception:
                logger.exception("on_progress raised; the batch goes on")

    def report_item(self, item: Item[P], error: Exception | None = None) -> None:
        for index in item.indexes:
            self.report(SubmitOutcome(index, self.submissions[index], item.job, error))

    def stop(self) -> None:
        self.stopping.set()
        for task in list(self.waits):
            task.cancel()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """An upload slot, unless the batch is stopping."""
        async with self.slots:
            if self.stopping.is_set():
                raise BatchStoppedError("not submitted: the batch was stopped")
            yield

    async def run(self, item: Item[P]) -> None:
        with _telemetry.submission(item.indexes[0]) as span:
            try:
                job = await self._job(item)
                self.progress.submitted += len(item.indexes)
                if self.wait:
                    item.job = await self._final(item, job)
            except Exception as exc:  # every outcome is reported, whatever went wrong
                span.fail(exc)
                self.report_item(item, exc)
            else:
                self.report_item(item)
            if item.job is not None:
                span.note("wattzon.job.id", item.job.id)

    async def _job(self, item: Item[P]) -> Job:
        if self.journaled is not None:
            return await self.journaled.job(item)
        async with self.slot():
            item.job = await self.creator.send(item.prepared)
        return item.job

    async def _final(self, item: Item[P], job: Job) -> Job:
        try:
            if item.entry is not None and item.entry.state == "final" and job.is_final:
                done = await self._recorded_final(job)
            else:
                done = await self._wait_for(job)
        except JobError as exc:
            if self.journaled is not None:
                await self.journaled.finished(item, exc.job)
            raise
        if self.journaled is not None:
            await self.journaled.finished(item, done)
        return done

    async def _recorded_final(self, job: Job) -> Job:
        """A job a journal recorded as final: read its results (one GET), or raise."""
        if job.status.value != "COMPLETE":
            return await self._wait_for(job)  # raises the JobError of its state
        async with self.slots:
            return await self.jobs.get(job.id, results=self.results)

    async def _wait_for(self, job: Job) -> Job:
        if self.stopping.is_set():
            raise BatchStoppedError(f"job {job.id} not waited for: the batch was stopped", job=job)
        self.progress.processing += 1
        self.report()
        waiting: asyncio.Task[Job] = asyncio.create_task(
            self.jobs.await_job(
                job.id, timeout=self.timeout, notifications=self.notifications, results=self.results
            )
        )
        self.waits.add(waiting)
        try:
            await asyncio.wait({waiting})
        finally:
            self.waits.discard(waiting)
            self.progress.processing -= 1
            if not waiting.done():
                waiting.cancel()
                await asyncio.wait({waiting})
        if waiting.cancelled():
            raise BatchStoppedError(f"job {job.id} not waited for: the batch was stopped", job=job)
        return waiting.result()


def submit_many(
    submissions: Iterable[Submission],
    *,
    jobs: BatchJobs,
    creator: Creates[P],
    concurrency: int = 8,
    wait: bool = False,
    notifications: NotificationConsumer | None = None,
    timeout: float | None = None,
    results: Literal["raw", "transformed"] = "raw",
    on_progress: ProgressCallback | None = None,
    journal: str | os.PathLike[str] | None = None,
) -> BatchRun:
    """Submit bills concurrently; the BatchRun yields a SubmitOutcome for each as it ends.

    ``client.jobs.submit_many`` starts it and hands it itself and its creator: this
    module knows them only by the protocols it needs.

    Args:
        submissions: The bills to submit.
        jobs: Reads, lists and waits for jobs (``client.jobs``).
        creator: Checks and sends each create.
        concurrency: Uploads in flight at once.
        wait: Also wait for each job's final state (``await_job``).
        notifications: A running NotificationConsumer to race the waits against.
        timeout: The deadline of each wait, in seconds.
        results: The results form of waited jobs: ``"raw"`` or ``"transformed"``.
        on_progress: Called with the running counts after every change.
        journal: The journal of a durable batch (see ``_resume``): a file path or a
            store URL, or None.

    Raises:
        ValidationError: A bad option (checked at once, before anything runs).
    """
    check_integer(concurrency, field="concurrency", low=1)
    check_results(results)
    if journal is not None:
        from ._journal import check_path

        check_path(journal)
    items = list(submissions)
    batch = _Batch(
        jobs,
        creator,
        items,
        wait,
        notifications,
        timeout,
        results,
        BatchProgress(len(items)),
        on_progress,
        asyncio.Semaphore(concurrency),
    )
    return BatchRun(_run(batch, journal), batch)


async def _run(
    batch: _Batch[P], journal_path: str | os.PathLike[str] | None
) -> AsyncGenerator[SubmitOutcome, None]:
    checked = _checked(batch)
    journal: Journal | None = None
    tasks: list[asyncio.Task[None]] = []
    span = _telemetry.Batch(batch.progress.total)
    try:
        if journal_path is None:
            work = [Item([index], prepared) for index, prepared in checked]
        else:
            journal, work = await _journaled(batch, journal_path, checked)
        batch.report()
        tasks = [span.task(batch.run(item)) for item in work]
        for _ in range(batch.progress.total):
            yield await batch.outcomes.get()
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        span.end(batch.progress.done, batch.progress.failed)
        if journal is not None:
            await journal.close()


def _checked(batch: _Batch[P]) -> list[tuple[int, P]]:
    """Check every submission; a bad one is reported at once."""
    checked: list[tuple[int, P]] = []
    for index, submission in enumerate(batch.submissions):
        try:
            checked.append((index, _prepare(batch.creator, submission)))
        except ValidationError as exc:
            batch.report(SubmitOutcome(index, submission, error=exc))
    return checked


async def _journaled(
    batch: _Batch[P], path: str | os.PathLike[str], checked: list[tuple[int, P]]
) -> tuple[Journal, list[Item[P]]]:
    from ._journal import Journal

    journal = await Journal.open(path)
    try:
        work, unreadable, summary = await plan_keys(
            journal, batch.submissions, checked, wait=batch.wait
        )
    except BaseException:
        await journal.close()
        raise
    for index, exc in unreadable:
        batch.report(SubmitOutcome(index, batch.submissions[index], error=exc))
    batch.progress.resume = summary
    batch.journaled = JournaledCreates(
        journal, batch.creator, batch.jobs, batch.slot, batch.stopping
    )
    return journal, work


def _prepare(creator: Creates[P], submission: Submission) -> P:
    if not isinstance(submission, Submission):
        raise ValidationError(
            f"submissions: each item must be a Submission, not {type(submission).__name__}",
            field="submissions",
        )
    return creator.prepare(submission)
