"""Spans of the flows above single calls: ``await_job`` and ``submit_many``.

An ``await_job`` span runs from call to return; the polls its poller makes are its
children, with how many there were, what resolved the wait (a notification or a poll)
and the final status. A batch has one parent span (never made current: the caller runs
between outcomes) and one child span per submission, whose create and wait nest in it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ._calls import OFF, _Off
from ._metrics import meters
from ._otel import Scope, attach, end_span, is_on, start_span

if TYPE_CHECKING:
    from ..models import Job

__all__ = ["OFF_WAIT", "Batch", "OffWait", "Wait", "submission", "wait"]

T = TypeVar("T")


class Wait(Scope):
    """One ``await_job`` call: its span, its polls, and the job's latency when final."""

    def __init__(self, job_id: int) -> None:
        super().__init__("await_job", attributes={"wattzon.job.id": job_id})
        self.polls = 0
        self.resolved_by = "poll"
        self.job: Job | None = None

    def __enter__(self) -> Wait:
        super().__enter__()
        return self

    def seen(self, job: Job | None, polls: int, *, by_notification: bool) -> None:
        """Note what the wait saw: the last job, the polls made, what resolved it."""
        self.job = job
        self.polls = polls
        self.resolved_by = "notification" if by_notification else "poll"

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        job = self.job if self.job is not None else getattr(exc, "job", None)
        self.note("wattzon.wait.polls", self.polls)
        self.note("wattzon.wait.resolved_by", self.resolved_by)
        if job is not None:
            self.note("wattzon.job.status", job.status.value)
        super().__exit__(exc_type, exc, tb)
        m = meters()
        if m is None or job is None or not job.is_final:
            return
        m.polls.record(self.polls, {"wattzon.wait.resolved_by": self.resolved_by})
        seconds = (datetime.now(UTC) - job.created_at).total_seconds()
        m.job_duration.record(max(0.0, seconds), {"wattzon.job.status": job.status.value})


class OffWait(_Off):
    """An ``await_job`` context that records nothing."""

    def __enter__(self) -> OffWait:
        return self

    def seen(self, job: Job | None, polls: int, *, by_notification: bool) -> None:
        """Nothing to note."""


OFF_WAIT = OffWait()


def wait(job_id: int) -> Wait | OffWait:
    """The context of one ``await_job`` call, or one that does nothing."""
    return Wait(job_id) if is_on() else OFF_WAIT


class Batch:
    """One ``submit_many`` run: a parent span, started and ended by the batch itself."""

    def __init__(self, total: int) -> None:
        self._started = start_span(
            "submit_many", attributes={"wattzon.batch.size": total}, current=False
        )

    def task(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start one submission's task, as a child of the batch span."""
        if self._started is None:
            return asyncio.create_task(coro)
        context = contextvars.copy_context()
        context.run(attach, self._started[0])
        return asyncio.create_task(coro, context=context)

    def end(self, done: int, failed: int) -> None:
        """End the batch span with its counts."""
        if self._started is None:
            return
        span = self._started[0]
        if span.is_recording():
            span.set_attribute("wattzon.batch.done", done)
            span.set_attribute("wattzon.batch.failed", failed)
        end_span(self._started)


def submission(index: int) -> Scope | _Off:
    """The span of one submission of a batch (its create and wait nest in it)."""
    return Scope("submission", attributes={"wattzon.batch.index": index}) if is_on() else OFF
