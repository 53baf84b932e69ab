"""Snap jobs: create (streamed upload, idempotent by key), get, list, wait, submit many.

``Jobs`` owns the job lifecycle: it makes its collaborators on first use (the
``Creator`` of ``_create``, the ``Waiter`` of ``_waiting``, a batch of ``_batch``) and
hands them itself, which they know by a protocol (``JobReader``, ``BatchJobs``). So a
create goes one way (here, then ``Creator``, then the send path) and a wait too (here,
then ``Waiter``, whose polls call ``get`` here).
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from .._validation import check_job_id, check_results, check_tags
from ..models import Job, Submission
from ..resources._base import Resource

if TYPE_CHECKING:
    from .._config import WaitPolicy
    from .._http import Sender
    from ..notifications import NotificationConsumer
    from ._batch import BatchRun, ProgressCallback
    from ._create import Creator
    from ._keyclaims import KeyClaims
    from ._upload import DocumentInput
    from ._waiting import Waiter

__all__ = ["Jobs"]


class Jobs(Resource):
    """``client.jobs``: submit bills, read their jobs and wait for them.

    The client makes it with its send path and, with a shared store, the store's key
    claims; it makes the rest itself, on first use.
    """

    def __init__(self, sender: Sender, *, claims: KeyClaims | None = None) -> None:
        super().__init__(sender)
        self._claims = claims
        self._made_creator: Creator | None = None
        self._made_waiter: Waiter | None = None

    @property
    def _creator(self) -> Creator:
        """The create machinery, made on first use (it is not imported before)."""
        if self._made_creator is None:
            from ._create import Creator

            self._made_creator = Creator(self._sender, self._claims)
        return self._made_creator

    @property
    def _waiter(self) -> Waiter:
        """The waits (pollers, polling budget), made on the first ``await_job``."""
        if self._made_waiter is None:
            from ._waiting import Waiter

            self._made_waiter = Waiter(self, self._sender.config)
        return self._made_waiter

    async def await_job(
        self,
        job_id: int | str,
        *,
        timeout: float | None = None,
        notifications: NotificationConsumer | None = None,
        results: Literal["raw", "transformed"] = "raw",
        policy: WaitPolicy | None = None,
    ) -> Job:
        """Wait until a job reaches a final state, and return it COMPLETE with results.

        ``client.await_job`` is this method. The API reference ("How await_job waits")
        describes the schedule, the deadline and the race with SQS notifications.

        Args:
            job_id: The job to wait for.
            timeout: Overall deadline in seconds (None: wait until a final state).
            notifications: A running NotificationConsumer to race against polling.
            results: ``"raw"`` or ``"transformed"`` results on the returned job.
            policy: The polling schedule (default: the client's ``wait`` policy, or a
                sparse fallback schedule when ``notifications`` is given).

        Raises:
            JobFailedError: The job ended FAILED.
            JobUnsupportedError: The job is UNSUPPORTED.
            WaitTimeoutError: The deadline passed; ``.job`` is the last state seen.
        """
        return await self._waiter.await_job(
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
        submission = Submission(
            email=email,
            provider=provider,
            document=document,
            tags=check_tags(tags),  # a string is refused here, not split
            name=name,
            idempotency_key=None if idempotency_key is False else idempotency_key,
            check_document=check_document,
        )
        creator = self._creator
        prepared = creator.prepare(submission, keyed=idempotency_key is not False)
        return await creator.send(prepared, timeout=timeout)

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
        from ._batch import submit_many  # batches (and sqlite3) load on first use

        return submit_many(
            submissions,
            jobs=self,
            creator=self._creator,
            concurrency=concurrency,
            wait=wait,
            notifications=notifications,
            timeout=timeout,
            results=results,
            on_progress=on_progress,
            journal=journal,
        )

    async def aclose(self) -> None:
        """Stop the pollers of waits in progress (the client closes its jobs)."""
        if self._made_waiter is not None:
            await self._made_waiter.aclose()


def _results_params(results: str) -> dict[str, str] | None:
    return None if check_results(results) == "raw" else {"results": "transformed"}
