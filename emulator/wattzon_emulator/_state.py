"""The emulator's in-memory store: jobs, documents, tenants, and the job lifecycle.

A job's status is computed from the time since it was created, so a slow lifecycle
never blocks the event loop: ``ENQUEUED`` for the first part of its processing time,
then ``PROCESSING``, then its final state. A timer per job sends the SQS notification
when it reaches that final state (at once for ``UNSUPPORTED`` jobs). Link extractions
(``_link``) run on the same lifecycle and send their notification the same way, with
the same faults.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from wattzon_async._doctype import HEAD_SIZE, document_kind

from ._data import UNSUPPORTED_PROVIDER, raw_results
from ._faults import FaultSettings, RateLimiter, Stats, make_rng
from ._link import LinkRecord, LinkRequest, Links
from ._validate import CreateRequest

__all__ = [
    "Forbidden",
    "JobLog",
    "JobRecord",
    "Lifecycle",
    "NotFound",
    "Publisher",
    "Store",
]

logger = logging.getLogger("wattzon_async.emulator")

#: Fraction of a job's processing time it spends ENQUEUED before PROCESSING.
_ENQUEUED_SHARE = 0.25
_GARBAGE = (
    "this is not JSON {",
    '{"app": "snap", "job_id": "not-a-number", "final_state": 42}',
    "[1, 2, 3]",
    '{"hello": "world"}',
    '{"app": "link", "profile_id": 1001, "tags": "[\'unterminated"}',
    '"just a string"',
)


class NotFound(Exception):
    """The resource does not exist (404)."""


class Forbidden(Exception):
    """The resource belongs to another tenant (403)."""


class Publisher(Protocol):
    """Where notifications go: one SQS queue."""

    async def send(self, body: str | Mapping[str, Any]) -> None:
        """Publish one message body (a mapping goes as JSON); return once SQS has it."""

    async def purge(self) -> None:
        """Delete every message in the queue."""


class JobLog(Protocol):
    """Where jobs and Link extractions are kept across restarts (``_jobfile.JobFile``)."""

    def load(self) -> tuple[list[JobRecord | LinkRecord], set[str]]:
        """The records kept, oldest first, and the keys whose notification was sent."""

    def add(self, record: JobRecord | LinkRecord) -> None:
        """Keep a new job or extraction."""

    def notified(self, record: JobRecord | LinkRecord) -> None:
        """Note that the notification of ``record`` was sent."""

    def clear(self) -> None:
        """Forget every job."""


@dataclass
class Lifecycle:
    """How jobs progress.

    Attributes:
        processing_time: Seconds from creation to the final state, or a ``(min, max)``
            range each job draws its own time from.
        unsupported_providers: Providers whose jobs are UNSUPPORTED.
        failing_providers: Providers whose jobs end FAILED.
        failing_prefix: Documents whose file name starts with this end FAILED. So does
            a document that is neither a PDF nor an image (by its first bytes), as the
            real pipeline's would: it has no fields to extract.
    """

    processing_time: float | tuple[float, float] = 0.5
    unsupported_providers: frozenset[int] = frozenset({UNSUPPORTED_PROVIDER})
    failing_providers: frozenset[int] = frozenset()
    failing_prefix: str = "failed"


@dataclass
class JobRecord:
    """One job as the store keeps it."""

    id: int
    tenant: str
    created_at: datetime
    started: float
    duration: float
    outcome: str
    email: str
    provider: int
    tags: tuple[str, ...]
    document_id: int
    document_name: str
    content: bytes = field(repr=False)

    @property
    def key(self) -> str:
        """The job's key among everything that sends a notification."""
        return f"snap:{self.id}"

    def status(self, now: float | None = None) -> str:
        """The job's status at monotonic time ``now`` (default: now)."""
        if self.outcome == "UNSUPPORTED":
            return self.outcome
        elapsed = (time.monotonic() if now is None else now) - self.started
        if elapsed >= self.duration:
            return self.outcome
        return "ENQUEUED" if elapsed < self.duration * _ENQUEUED_SHARE else "PROCESSING"

    def summary(self, status: str | None = None) -> dict[str, Any]:
        """The job summary the API returns (no results)."""
        return {
            "id": self.id,
            "created_at": self.created_at.replace(tzinfo=None).isoformat(timespec="microseconds"),
            "email": self.email,
            "provider": self.provider,
            "status": status or self.status(),
            "tags": list(self.tags),
            "document": {"id": self.document_id, "name": self.document_name},
        }

    def notification(self) -> dict[str, Any]:
        """The Snap SQS notification for this job's final state, as the vendor shows it."""
        return {
            "app": "snap",
            "job_id": self.id,
            "tags": repr(list(self.tags)),
            "created_at": datetime.now(UTC).isoformat(sep=" ", timespec="microseconds"),
            "final_state": self.outcome,
            "provider": self.provider,
            "email": self.email,
            "document": {"id": self.document_id, "name": self.document_name},
            "got_results": self.outcome == "COMPLETE",
        }

    def results(self, transformed: bool) -> dict[str, Any]:
        """The extraction results, raw (with token boxes) or transformed (text only)."""
        raw = raw_results(self.content, self.provider)
        if transformed:
            return {name: value["tokens"]["content"] for name, value in raw.items()}
        return raw


class Store:
    """Jobs and documents of every tenant, the faults in force, and the counters."""

    def __init__(
        self, lifecycle: Lifecycle, publisher: Publisher | None = None, log: JobLog | None = None
    ) -> None:
        self.lifecycle = lifecycle
        self._initial_lifecycle = lifecycle
        self.publisher = publisher
        self.stats = Stats()
        self.faults = FaultSettings()
        self.rng = make_rng(None)
        self.limiter: RateLimiter | None = None
        #: Set unless a ``hold`` fault is in force; held API requests wait for it.
        self.hold_lifted = asyncio.Event()
        self.hold_lifted.set()
        self._jobs: dict[int, JobRecord] = {}
        self._job_ids = itertools.count(1000)
        self._document_ids = itertools.count(5000)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = log
        self._owed: list[JobRecord | LinkRecord] = []
        self.links = Links()
        if log is not None:
            kept, notified = log.load()
            self._jobs = {job.id: job for job in kept if isinstance(job, JobRecord)}
            self.links = Links(r for r in kept if isinstance(r, LinkRecord))
            self._owed = [record for record in kept if record.key not in notified]
            self._job_ids = itertools.count(max(self._jobs, default=999) + 1)
            self._document_ids = itertools.count(
                max((job.document_id for job in self._jobs.values()), default=4999) + 1
            )

    def resume(self) -> None:
        """Schedule the notifications that kept jobs still owe (once a publisher is set)."""
        owed, self._owed = self._owed, []
        if self.publisher is None:
            return
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for record in owed:
            delay = max(0.0, record.started + record.duration - now)
            self._timers[record.key] = loop.call_later(delay, self._final, record)

    def set_faults(self, faults: FaultSettings) -> None:
        """Put ``faults`` in force, with fresh rate-limit buckets."""
        self.faults = faults
        self.rng = make_rng(faults.seed)
        rps = faults.rate_limit_rps
        self.limiter = RateLimiter(rps, faults.rate_limit_burst) if rps else None
        if faults.hold:
            self.hold_lifted.clear()
        else:
            self.hold_lifted.set()

    def create(self, tenant: str, request: CreateRequest) -> JobRecord:
        """Create a job for ``tenant`` and schedule its notification."""
        life = self.lifecycle
        if request.provider in life.unsupported_providers:
            outcome = "UNSUPPORTED"
        elif (
            request.provider in life.failing_providers
            or request.name.lower().startswith(life.failing_prefix)
            or document_kind(request.content[:HEAD_SIZE]) is None  # no bill: nothing to read
        ):
            outcome = "FAILED"
        else:
            outcome = "COMPLETE"
        job = JobRecord(
            id=next(self._job_ids),
            tenant=tenant,
            created_at=datetime.now(UTC),
            started=time.monotonic(),
            duration=0.0 if outcome == "UNSUPPORTED" else self._draw_duration(),
            outcome=outcome,
            email=request.email,
            provider=request.provider,
            tags=request.tags,
            document_id=next(self._document_ids),
            document_name=request.name,
            content=request.content,
        )
        self._jobs[job.id] = job
        self._begin(job)
        self.stats.jobs_by_tenant[tenant] += 1
        return job

    def start_link(self, tenant: str, request: LinkRequest) -> LinkRecord:
        """Start a Link extraction for ``tenant`` and schedule its notification.

        Raises:
            BadRequest: The request does not fit the profile.
            LinkForbidden: The profile belongs to another tenant.
        """
        record = self.links.start(
            tenant, request, duration=self._draw_duration(), started=time.monotonic()
        )
        self._begin(record)
        self.stats.link_extractions += 1
        return record

    def _begin(self, record: JobRecord | LinkRecord) -> None:
        if self._log is not None:
            self._log.add(record)
        if self.publisher is not None:
            loop = asyncio.get_running_loop()
            self._timers[record.key] = loop.call_later(record.duration, self._final, record)

    def _draw_duration(self) -> float:
        spec = self.lifecycle.processing_time
        if isinstance(spec, tuple):
            return self.rng.uniform(spec[0], spec[1])
        return spec

    def get(self, tenant: str, job_id: str) -> JobRecord:
        """The job ``job_id`` if ``tenant`` owns it.

        Raises:
            NotFound: No such job.
            Forbidden: The job belongs to another tenant.
        """
        job = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        if job.tenant != tenant:
            raise Forbidden(f"job {job_id} belongs to another client")
        return job

    def list(self, tenant: str, tag: str | None = None, limit: int = 20) -> list[JobRecord]:
        """The tenant's most recent jobs, newest first, optionally with tag ``tag``."""
        found: Iterable[JobRecord] = (
            job
            for job in reversed(self._jobs.values())
            if job.tenant == tenant and (tag is None or tag in job.tags)
        )
        return list(itertools.islice(found, limit))

    def _final(self, record: JobRecord | LinkRecord) -> None:
        self._timers.pop(record.key, None)
        task = asyncio.get_running_loop().create_task(self._notify(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, record: JobRecord | LinkRecord) -> None:
        if self.publisher is None:
            return
        body = json.dumps(record.notification())
        counts = self.stats.notifications
        duplicate = self.rng.random() < self.faults.duplicate_notification_rate
        malformed = self.rng.random() < self.faults.malformed_notification_rate
        try:
            await self.publisher.send(body)
            if self._log is not None:
                self._log.notified(record)
            counts["sent"] += 1
            counts["messages"] += 1
            if duplicate:
                await self.publisher.send(body)
                counts["duplicate"] += 1
                counts["messages"] += 1
            if malformed:
                await self.publisher.send(self.rng.choice(_GARBAGE))
                counts["malformed"] += 1
                counts["messages"] += 1
        except Exception:
            counts["error"] += 1
            logger.exception("could not send the notification of %s", record.key)

    def reset(self) -> None:
        """Forget every job, fault, setting and counter; pending notifications are not sent."""
        self._cancel()
        self.lifecycle = self._initial_lifecycle
        self._jobs.clear()
        self.links.clear()
        if self._log is not None:
            self._log.clear()
        self.stats = Stats()
        self.set_faults(FaultSettings())

    def _cancel(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    async def close(self) -> None:
        """Stop timers and wait for notifications being sent to finish."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        self._cancel()
