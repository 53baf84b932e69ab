"""Snap jobs: create (streamed upload, idempotent by tag), get, list.

POST /jobs/ is not idempotent on the server: a POST sent twice may make two jobs. So each
create carries a client-made idempotency tag (``idem:<32 hex>``). When an attempt may have
reached the server (the connection broke after sending, a read timeout, a 5xx), the job is
looked up by that tag before anything is sent again: found, it is returned; not found,
the POST is retried. Only when the look-up itself cannot decide within the deadline does
``AmbiguousSubmitError`` carry the key back to the caller.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Literal

from attrs import field, frozen

from .._create import IDEMPOTENCY_PREFIX, idempotency_tag, new_idempotency_key
from .._errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIError,
    InternalServerError,
    UnexpectedResponseError,
)
from .._http import Retry
from .._serde import create_job_envelope, structure_job, structure_jobs
from .._upload import DocumentInput, DocumentSource
from .._validation import check_email, check_job_id, check_provider, check_results, check_tags
from ..models import Job, Submission
from ._base import Resource

if TYPE_CHECKING:
    from .._batch import BatchRun, ProgressCallback
    from .._config import WaitPolicy
    from .._http import Sender
    from ..notifications import NotificationConsumer

__all__ = ["IDEMPOTENCY_PREFIX", "Jobs", "PreparedCreate", "new_idempotency_key"]

logger = logging.getLogger("wattzon_async")


@frozen
class PreparedCreate:
    """A create whose arguments were checked: ready to be sent, and sent again."""

    source: DocumentSource
    idempotency_key: str | None
    envelope: tuple[bytes, bytes] = field(repr=False)

    def body(self) -> tuple[int, AsyncIterator[bytes]]:
        """A fresh streamed request body and its length."""
        return self.source.body(*self.envelope)


class Jobs(Resource):
    """``client.jobs``: submit bills and read their jobs.

    The client makes it, and hands it the two things it delegates: waiting for a job
    (``await_job``) and submitting many (``submit_many``).
    """

    def __init__(
        self,
        sender: Sender,
        *,
        await_job: Callable[..., Awaitable[Job]],
        submit_many: Callable[..., BatchRun],
    ) -> None:
        super().__init__(sender)
        self._await_job = await_job
        self._submit_many = submit_many

    async def await_job(
        self,
        job_id: int | str,
        *,
        timeout: float | None = None,
        notifications: NotificationConsumer | None = None,
        results: Literal["raw", "transformed"] = "raw",
        policy: WaitPolicy | None = None,
    ) -> Job:
        """The same as ``WattzOnClient.await_job``."""
        return await self._await_job(
            job_id, timeout=timeout, notifications=notifications, results=results, policy=policy
        )

    async def create(
        self,
        *,
        email: str,
        provider: int,
        document: DocumentInput,
        tags: Iterable[str | int | float] | None = None,
        name: str | None = None,
        idempotency_key: str | Literal[False] | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Upload a bill and create an extraction job.

        Everything is checked before anything is sent. The document is streamed: it is
        read and base64-encoded in chunks as it goes, never held whole in memory.

        Args:
            email: The email address of the job's customer.
            provider: The utility provider id (see ``client.utilities.find``).
            document: A path, bytes, or a binary file (read from its current position).
            tags: Up to 255 characters each, no commas; numbers become strings.
            name: The file name sent; defaults to the path's or file's name.
            idempotency_key: What makes a retried create safe: any non-empty string of at
                most 255 characters that you already have (an order id); the job carries
                the tag derived from it (``idempotency_tag(key)``; a key that already is
                ``idem:<32 hex>`` is used as it is). None makes a fresh key; False sends
                no key, and then a create whose outcome is unknown raises instead of
                being recovered.
            timeout: Overall deadline in seconds, retries included (default: the upload
                timeout).

        Raises:
            ValidationError: A bad argument (DocumentTooLargeError over 5 MiB).
            AmbiguousSubmitError: The job may or may not exist and a look-up could not tell.
        """
        prepared = self.prepare(
            email=email,
            provider=provider,
            document=document,
            tags=tags,
            name=name,
            idempotency_key=idempotency_key,
        )
        return await self.send(prepared, timeout=timeout)

    async def send(self, prepared: PreparedCreate, *, timeout: float | None = None) -> Job:
        """Send a checked create (see ``prepare``), recovering ambiguous failures by its key.

        A part of the deadline (the read timeout, at most a quarter) is kept back from the
        POST so that a create that timed out can still be looked up.
        """
        config = self._sender.config
        total = config.timeouts.upload if timeout is None else timeout
        deadline = time.monotonic() + total
        key = prepared.idempotency_key
        reserve = min(config.timeouts.read, total / 4) if key is not None else 0.0
        attempts = 0
        while True:
            attempts += 1
            try:
                data = await self._sender.request(
                    "POST",
                    self._snap("jobs"),
                    body=prepared.body,
                    retry=Retry.UNSENT,
                    deadline=deadline - reserve,
                    read_timeout=config.timeouts.upload,
                )
            except (APIConnectionError, InternalServerError) as exc:
                if getattr(exc, "request_sent", None) is False:
                    raise
                found = await self._recover(key, deadline, reserve, exc)
                if found is not None:
                    return found
                if attempts >= config.retry.attempts or time.monotonic() >= deadline - reserve:
                    raise
                await _sleep_within(config.retry.backoff(attempts), deadline - reserve)
                continue
            except UnexpectedResponseError as exc:
                return await self._created_but_unreadable(key, deadline, reserve, exc)
            try:
                return structure_job(data)
            except UnexpectedResponseError as exc:
                return await self._created_but_unreadable(key, deadline, reserve, exc)

    async def _created_but_unreadable(
        self, key: str | None, deadline: float, reserve: float, cause: APIError
    ) -> Job:
        """A 2xx whose body is not a job: the job exists; read it back by its key."""
        found = await self._recover(key, deadline, reserve, cause)
        if found is None:
            raise AmbiguousSubmitError(
                f"the create succeeded but its answer was unreadable ({cause}), and the job "
                f"is not listed by its idempotency key {key} yet",
                idempotency_key=key,
            ) from cause
        return found

    def prepare(
        self,
        *,
        email: object,
        provider: object,
        document: DocumentInput,
        tags: Iterable[str | int | float] | None = None,
        name: str | None = None,
        idempotency_key: str | Literal[False] | None = None,
    ) -> PreparedCreate:
        """Check the arguments of ``create`` without sending anything.

        Raises:
            ValidationError: The first bad argument, named.
        """
        checked_email = check_email(email)
        checked_provider = check_provider(provider)
        checked_tags = check_tags(tags)
        source = DocumentSource.of(document, name=name, limit=self._sender.config.max_document_size)
        key: str | None = None
        if idempotency_key is None:
            key = new_idempotency_key()
        elif idempotency_key is not False:
            key = idempotency_tag(idempotency_key)
        if key is not None and key not in checked_tags:
            checked_tags = (*checked_tags, key)
        envelope = create_job_envelope(
            email=checked_email, provider=checked_provider, tags=checked_tags, name=source.name
        )
        return PreparedCreate(source=source, idempotency_key=key, envelope=envelope)

    async def _recover(
        self, key: str | None, deadline: float, reserve: float, cause: APIError
    ) -> Job | None:
        """Look a create up by its key: the job, None when surely absent, or raise."""
        if key is None:
            raise AmbiguousSubmitError(
                f"a create may have reached the server ({cause}) and, sent without an "
                "idempotency key, it cannot be looked up",
                idempotency_key=None,
            ) from cause
        logger.info("create may have reached the server (%s); looking up %s", cause, key)
        try:
            jobs = await self.list(tag=key, timeout=max(deadline - time.monotonic(), reserve))
        except APIError as exc:
            raise AmbiguousSubmitError(
                f"a create may have reached the server ({cause}) and the look-up by its "
                f"idempotency key {key} failed ({exc}); look it up with "
                f"client.jobs.list(tag={key!r}) before submitting again",
                idempotency_key=key,
            ) from exc
        matches = sorted((j for j in jobs if key in j.tags), key=lambda j: j.id)
        if matches:
            logger.info("create recovered by its idempotency key: job %d", matches[0].id)
            return matches[0]
        return None

    async def get(
        self,
        job_id: int | str,
        *,
        results: Literal["raw", "transformed"] = "raw",
        timeout: float | None = None,
    ) -> Job:
        """Read a job; when it is COMPLETE, with its results.

        Args:
            job_id: The job.
            results: ``"raw"`` (each field with the token boxes it was read from) or
                ``"transformed"`` (each field a string).
            timeout: Overall deadline of this call in seconds, retries included.
        """
        jid = check_job_id(job_id)
        params = _results_params(results)
        data = await self._sender.request(
            "GET", self._snap("jobs", jid), params=params, deadline=self._sender.deadline(timeout)
        )
        return structure_job(data)

    async def list(
        self, *, tag: str | int | None = None, timeout: float | None = None
    ) -> builtins.list[Job]:
        """List jobs, most recent first (the API guarantees the latest 20).

        Args:
            tag: Keep only jobs carrying this tag.
            timeout: Overall deadline of this call in seconds, retries included.
        """
        params = {"tag": check_tags([tag], field="tag")[0]} if tag is not None else None
        data = await self._sender.request(
            "GET", self._snap("jobs"), params=params, deadline=self._sender.deadline(timeout)
        )
        return structure_jobs(data)

    def submit_many(
        self,
        submissions: Iterable[Submission],
        *,
        concurrency: int = 8,
        wait: bool = False,
        notifications: NotificationConsumer | None = None,
        timeout: float | None = None,
        results: Literal["raw", "transformed"] = "raw",
        on_progress: ProgressCallback | None = None,
        journal: str | os.PathLike[str] | None = None,
    ) -> BatchRun:
        """Submit many bills concurrently; yield each outcome as it finishes.

        Every submission is checked before any upload starts; a bad one becomes an outcome
        with its ValidationError, and the rest go on. Outcomes come out in the order they
        finish; closing or cancelling the iterator cancels what is still running (locally:
        nothing on the server); ``stop()`` on it ends the batch gently, every submission
        still getting its outcome (``BatchStoppedError`` with the job, if one was made).

        With ``journal``, the batch is durable: a SQLite file records each submission's
        key before its upload, its job right after, and its final state. Run the same
        batch again with the same journal (after a crash, a kill, Ctrl-C) and it reports
        what finished without a request (one GET each when ``wait`` asks for results),
        waits again for jobs still running, looks up by key the uploads whose answer was
        lost, and submits only what was never sent: no bill becomes two jobs. Each
        submission's key is its ``idempotency_key`` or, without one, derived from the
        document's SHA-256, the provider and the email (and the journal, so that a new
        journal starts over). Several processes may share one journal: each key is
        claimed by one of them at a time.

        Args:
            submissions: The bills to submit.
            concurrency: Uploads in flight at once.
            wait: Also wait for each job's final state (``await_job``).
            notifications: A running NotificationConsumer to race the waits against.
            timeout: The deadline of each wait, in seconds.
            results: The results form of waited jobs: ``"raw"`` or ``"transformed"``.
            on_progress: Called with the running counts after every change.
            journal: A file path: keep the batch's journal there and resume from it.

        Returns:
            A ``BatchRun``: an async iterator of ``SubmitOutcome``, with ``stop()``.

        Raises:
            ValidationError: A bad option (``concurrency`` not a positive integer, a
                journal path in no folder).
        """
        return self._submit_many(
            submissions,
            concurrency=concurrency,
            wait=wait,
            notifications=notifications,
            timeout=timeout,
            results=results,
            on_progress=on_progress,
            journal=journal,
        )


def _results_params(results: str) -> dict[str, str] | None:
    return None if check_results(results) == "raw" else {"results": "transformed"}


async def _sleep_within(delay: float, deadline: float) -> None:
    delay = min(delay + random.uniform(0, delay / 2), max(0.0, deadline - time.monotonic()))
    if delay > 0:
        await asyncio.sleep(delay)
