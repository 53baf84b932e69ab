"""submit_many: submit thousands of bills concurrently and hear about each as it finishes.

Every submission is checked before any upload starts; a bad one becomes an outcome with
its ValidationError, and the rest go on. Uploads run at most ``concurrency`` at a time;
waits (``wait=True``) do not hold an upload slot, since they cost only budgeted polls.
Each create carries its own idempotency key, so a retried upload never makes a second
job. Outcomes come out of the iterator in the order they finish; closing or cancelling
the iterator cancels what is still running (locally: nothing on the server) and returns
only when every task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from attrs import define, field, frozen

from ._errors import ValidationError
from .models import Job, Submission

if TYPE_CHECKING:
    from .notifications import NotificationConsumer

__all__ = ["BatchProgress", "ProgressCallback", "SubmitOutcome", "submit_many"]

logger = logging.getLogger("wattzon_async")

#: A checked create, ready to send (``client.jobs.prepare`` makes it); opaque here.
P = TypeVar("P")


@frozen
class SubmitOutcome:
    """What became of one submission: ``job`` on success, else ``error``.

    When the job was created but waiting for it failed (a deadline, a FAILED job), both
    are set: ``job`` is the job as created, so its id is never lost.

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
    """Running counts of a batch, passed to ``on_progress`` after every change."""

    total: int
    submitted: int = 0
    processing: int = 0
    done: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        """Submissions that have an outcome."""
        return self.done + self.failed


ProgressCallback = Callable[[BatchProgress], None]


@define
class _Batch(Generic[P]):
    send: Callable[[P], Awaitable[Job]]
    await_job: Callable[..., Awaitable[Job]]
    wait: bool
    notifications: NotificationConsumer | None
    timeout: float | None
    results: Literal["raw", "transformed"]
    progress: BatchProgress
    on_progress: ProgressCallback | None
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

    async def run_one(
        self, index: int, submission: Submission, prepared: P, slots: asyncio.Semaphore
    ) -> None:
        job: Job | None = None
        try:
            async with slots:
                job = await self.send(prepared)
            self.progress.submitted += 1
            if self.wait:
                job = await self._wait(job)
        except Exception as exc:  # every outcome is reported, whatever went wrong
            self.report(SubmitOutcome(index, submission, job=job, error=exc))
        else:
            self.report(SubmitOutcome(index, submission, job=job))

    async def _wait(self, job: Job) -> Job:
        self.progress.processing += 1
        self.report()
        try:
            return await self.await_job(
                job.id,
                timeout=self.timeout,
                notifications=self.notifications,
                results=self.results,
            )
        finally:
            self.progress.processing -= 1


async def submit_many(
    submissions: Iterable[Submission],
    *,
    prepare: Callable[..., P],
    send: Callable[[P], Awaitable[Job]],
    await_job: Callable[..., Awaitable[Job]],
    concurrency: int = 8,
    wait: bool = False,
    notifications: NotificationConsumer | None = None,
    timeout: float | None = None,
    results: Literal["raw", "transformed"] = "raw",
    on_progress: ProgressCallback | None = None,
) -> AsyncIterator[SubmitOutcome]:
    """Submit bills concurrently; yield a SubmitOutcome for each as it finishes.

    The client wires it (``client.jobs.submit_many``): this module knows nothing of the
    resource or the waiter, only the three callables it is given.

    Args:
        submissions: The bills to submit.
        prepare: Checks one create's arguments (``client.jobs.prepare``).
        send: Sends a checked create (``client.jobs.send``).
        await_job: Waits for a job (``client.await_job``).
        concurrency: Uploads in flight at once.
        wait: Also wait for each job's final state (``await_job``).
        notifications: A running NotificationConsumer to race the waits against.
        timeout: The deadline of each wait, in seconds.
        results: The results form of waited jobs: ``"raw"`` or ``"transformed"``.
        on_progress: Called with the running counts after every change.

    Raises:
        ValidationError: ``concurrency`` is not a positive integer.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(
            f"concurrency: must be a positive integer, not {concurrency!r}", field="concurrency"
        )
    items = list(submissions)
    if results not in ("raw", "transformed"):
        raise ValidationError(
            f"results: must be 'raw' or 'transformed', not {results!r}", field="results"
        )
    progress = BatchProgress(len(items))
    batch = _Batch(send, await_job, wait, notifications, timeout, results, progress, on_progress)
    ready: list[tuple[int, Submission, P]] = []
    for index, submission in enumerate(items):
        try:
            ready.append((index, submission, _prepare(prepare, submission)))
        except ValidationError as exc:
            batch.report(SubmitOutcome(index, submission, error=exc))
    slots = asyncio.Semaphore(concurrency)
    tasks = [asyncio.create_task(batch.run_one(i, s, p, slots)) for i, s, p in ready]
    try:
        for _ in range(len(items)):
            yield await batch.outcomes.get()
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def _prepare(prepare: Callable[..., P], submission: Submission) -> P:
    if not isinstance(submission, Submission):
        raise ValidationError(
            f"submissions: each item must be a Submission, not {type(submission).__name__}",
            field="submissions",
        )
    return prepare(
        email=submission.email,
        provider=submission.provider,
        document=submission.document,
        tags=submission.tags,
        name=submission.name,
        idempotency_key=submission.idempotency_key,
    )
