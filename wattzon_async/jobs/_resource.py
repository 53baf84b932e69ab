"""Snap jobs: create (streamed upload, idempotent by key), get, list.

Creates are prepared, deduplicated and recovered in ``_create`` (the client passes its
``Creator``); this module is the public face of those calls and the plain reads.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from .._validation import check_job_id, check_results, check_tags
from ..models import Job, Submission
from ..resources._base import Resource
from ._idempotency import IDEMPOTENCY_PREFIX, new_idempotency_key

if TYPE_CHECKING:
    from .._config import WaitPolicy
    from .._http import Sender
    from ..notifications import NotificationConsumer
    from ._batch import BatchRun, ProgressCallback
    from ._create import Creator, PreparedCreate
    from ._upload import DocumentInput

__all__ = ["IDEMPOTENCY_PREFIX", "Jobs", "PreparedCreate", "new_idempotency_key"]


def __getattr__(name: str) -> Any:
    """``PreparedCreate``, imported on first use with the create machinery."""
    if name == "PreparedCreate":
        from ._create import PreparedCreate

        return PreparedCreate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Jobs(Resource):
    """``client.jobs``: submit bills and read their jobs.

    The client makes it, and hands it what it delegates: creating (``creator``), waiting
    for a job (``await_job``) and submitting many (``submit_many``).
    """

    def __init__(
        self,
        sender: Sender,
        *,
        creator: Callable[[], Creator],
        await_job: Callable[..., Awaitable[Job]],
        submit_many: Callable[..., BatchRun],
    ) -> None:
        super().__init__(sender)
        self._make_creator = creator
        self._made: Creator | None = None
        self._await_job = await_job
        self._submit_many = submit_many

    @property
    def _creator(self) -> Creator:
        """The create machinery, made on first use (it is not imported before)."""
        if self._made is None:
            self._made = self._make_creator()
        return self._made

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
        check_document: bool = True,
    ) -> Job:
        """Upload a bill and create an extraction job.

        Everything is checked before anything is sent. The document is streamed: it is
        read and base64-encoded in chunks as it goes, never held whole in memory.

        With your own ``idempotency_key`` the create is safe to repeat, the way payment
        APIs do it: it first looks the key up (one GET) and returns the job already made
        with it; the same key with another provider, email or document raises
        ``IdempotencyConflictError``; concurrent creates with one key in this client
        share one request. Across processes, a client with a ``store`` claims the key
        in it first, so one key makes one job in every process that shares the store;
        without one, two processes racing with a new key can both create (the API has
        no idempotency of its own): see the README, Guarantees.

        Args:
            email: The email address of the job's customer.
            provider: The utility provider id (see ``client.utilities.find``).
            document: A path, bytes, or a binary file (read from its current position).
            tags: Up to 255 characters each, no commas; numbers become strings.
            name: The file name sent; defaults to the path's or file's name.
            idempotency_key: Any non-empty string of at most 255 characters that names
                this bill for you (an order id); the job carries the tag derived from it
                (``idempotency_tag(key)``; a key that already is ``idem:<32 hex>`` is used
                as it is). None makes a fresh key, so that retries inside this call are
                safe; False sends no key, and then a create whose outcome is unknown
                raises instead of being recovered.
            timeout: Overall deadline in seconds, look-up and retries included (default:
                the upload timeout).
            check_document: Check by its first bytes that the document is a PDF or an
                image a bill photo comes in (JPEG, PNG, GIF, TIFF, BMP, WebP, HEIC/HEIF,
                AVIF, JPEG 2000) before sending it. False uploads anything, as the API
                itself accepts anything (the job then most likely ends FAILED).

        Raises:
            ValidationError: A bad argument (DocumentTooLargeError over 5 MiB; a
                document that is empty or no PDF or image, saying what it looks like).
            IdempotencyConflictError: The key was used for another provider, email or
                document.
            AmbiguousSubmitError: The job may or may not exist and a look-up could not tell
                (with a store: also when another process held the key past the deadline).
            StoreError: The client's store cannot be reached (a keyed create with a store
                claims its key there first).
        """
        prepared = self.prepare(
            email=email,
            provider=provider,
            document=document,
            tags=tags,
            name=name,
            idempotency_key=idempotency_key,
            check_document=check_document,
        )
        return await self.send(prepared, timeout=timeout)

    async def send(
        self, prepared: PreparedCreate, *, timeout: float | None = None, look_up: bool = True
    ) -> Job:
        """Send a checked create (see ``prepare``): the job its key made, or a new one.

        ``look_up=False`` skips the look-up before a create with a caller's key, for a
        caller that knows the key was never sent.

        Raises:
            IdempotencyConflictError: The key was used for another bill.
            AmbiguousSubmitError: The job may or may not exist and a look-up could not tell.
        """
        return await self._creator.send(prepared, timeout=timeout, look_up=look_up)

    def prepare(
        self,
        *,
        email: object,
        provider: object,
        document: DocumentInput,
        tags: Iterable[str | int | float] | None = None,
        name: str | None = None,
        idempotency_key: str | Literal[False] | None = None,
        check_document: bool = True,
    ) -> PreparedCreate:
        """Check the arguments of ``create`` without sending anything.

        Raises:
            ValidationError: The first bad argument, named.
        """
        return self._creator.prepare(
            email=email,
            provider=provider,
            document=document,
            tags=tags,
            name=name,
            idempotency_key=idempotency_key,
            check_document=check_document,
        )

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
        url = f"{self._sender.config.snap_url}jobs/{jid}/"  # _snap("jobs", jid), quicker
        data = await self._sender.request(
            "GET", url, params=params, deadline=self._sender.deadline(timeout)
        )
        from .._serde._converter import structure_job

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
        from .._serde._converter import structure_jobs

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
        claimed by one of them at a time, so they share the batch out between them. A
        journal in PostgreSQL (``postgresql://user:password@host/db?batch=NAME``) lets
        processes on several machines share one batch; a process that dies leaves its
        claims to the others (at once on its own machine, after a 30 s lease elsewhere).

        Args:
            submissions: The bills to submit.
            concurrency: Uploads in flight at once.
            wait: Also wait for each job's final state (``await_job``).
            notifications: A running NotificationConsumer to race the waits against.
            timeout: The deadline of each wait, in seconds.
            results: The results form of waited jobs: ``"raw"`` or ``"transformed"``.
            on_progress: Called with the running counts after every change.
            journal: A file path (or ``sqlite:///path``), or a PostgreSQL URL with the
                batch's name (``?batch=NAME``): keep the batch's journal there and
                resume from it.

        Returns:
            A ``BatchRun``: an async iterator of ``SubmitOutcome``, with ``stop()``.

        Raises:
            ValidationError: A bad option (``concurrency`` not a positive integer, a
                journal path in no folder, a bad journal URL).
            StoreError: A PostgreSQL journal cannot be reached (raised by the first
                step of the iteration).
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
