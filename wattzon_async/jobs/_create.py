"""Prepared creates, idempotency keys and ambiguous-create recovery.

``POST /jobs/`` is not idempotent on the server, so every create carries a tag that names
it: the wire tag ``idem:<32 hex>``.

* **Keys** (``_idempotency``). A caller's key is any non-empty string; the wire tag is
  a hash of it. Without a key, each create gets a fresh random one, which makes the
  retries inside one call safe and nothing more.
* **Look-up first** (caller keys only). The create first lists the jobs carrying its tag
  (one GET) and returns the job already made with the key; only when there is none is
  the POST sent. A keyed create also carries a fingerprint tag, ``idem-fp:<32 hex>``: a
  hash of (wire tag, provider, email, SHA-256 of the document), no personal data in the
  clear and not comparable across keys. A key found on a job with another fingerprint
  raises ``IdempotencyConflictError``; a job without one (made by 0.1, or by a client
  that only tags) is compared by its provider and email, and its document is trusted.
  With several jobs on one tag, the oldest listed one is the key's job. ``GET /jobs/``
  guarantees only the 20 most recent jobs per filter: a tag filter still lists a job
  whenever one carries the tag, so a key is never taken for unused; only when more than
  20 jobs share one tag (a cross-process race, or a tag set by hand) is the job returned
  the oldest of the newest 20 rather than the first of all.
* **Single-flight.** Concurrent creates with one key in one client share one in-flight
  create (look-up and POST): a retry storm makes one job. The shared create uploads the
  document of the create that started it; the others' documents are only hashed, to
  compare. Cancelling one waiter leaves the create running for the others; when the
  last waiter goes, the create is cancelled and awaited.
* **Recovery.** When a POST may have reached the server (the connection broke after
  sending, a read timeout, a 5xx), the job is looked up by its tag before anything is
  sent again: found, it is returned; not found, the POST is retried. One loop owns the
  retries of a POST (``Creator.post``, through the package's ``_retry.retry``): the send
  path makes each POST once, so ``RetryPolicy.attempts`` is the most POSTs a create
  makes, whatever mix of 429s, 5xx and broken connections it meets. Only when the
  look-up itself cannot decide does ``AmbiguousSubmitError`` carry the tag back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING

from attrs import define

from .. import _telemetry
from .._config import retry_backoff
from .._errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIError,
    InternalServerError,
    RateLimitError,
    UnexpectedResponseError,
)
from .._http import Retry
from .._retry import retry
from .._serde import create_job_envelope, structure_job, structure_jobs
from .._validation import check_email, check_provider, check_tags
from ._idempotency import (
    check_idempotency_key,
    idempotency_tag,
    new_idempotency_key,
)
from ._prepared import PreparedCreate, conflict, differing, resolve
from ._upload import DocumentSource

if TYPE_CHECKING:
    from .._http import Sender
    from ..models import Job, Submission
    from ._keyclaims import KeyClaims

__all__ = ["Creator"]

logger = logging.getLogger("wattzon_async")

#: The span attribute saying how a create ended: created, found, recovered or shared.
_OUTCOME = "wattzon.idempotency.outcome"


@define
class _Flight:
    """One create in flight for a key, shared by every create with that key."""

    prepared: PreparedCreate
    task: asyncio.Task[Job]
    waiters: int = 0


class Creator:
    """The creates of one client: checks, keyed look-ups, single-flight and recovery."""

    def __init__(self, sender: Sender, claims: KeyClaims | None = None) -> None:
        self._sender = sender
        self._claims = claims
        self._flights: dict[str, _Flight] = {}

    def prepare(self, submission: Submission, *, keyed: bool = True) -> PreparedCreate:
        """Check a create's arguments without sending anything.

        ``keyed=False`` sends no idempotency key (``jobs.create(idempotency_key=False)``);
        otherwise the submission's key, or a fresh one, names the create.

        Raises:
            ValidationError: The first bad argument, named.
        """
        email, provider, tags = submission.email, submission.provider, submission.tags
        checked_email = check_email(email)
        checked_provider = check_provider(provider)
        checked_tags = check_tags(tags)
        source = DocumentSource.of(
            submission.document,
            name=submission.name,
            limit=self._sender.config.max_document_size,
            check_kind=submission.check_document,
        )
        key: str | None = None
        caller_key: str | None = None
        if submission.idempotency_key is None and keyed:
            key = new_idempotency_key()
        elif keyed:
            caller_key = check_idempotency_key(submission.idempotency_key)
            key = idempotency_tag(caller_key)
        if key is not None and key not in checked_tags:
            checked_tags = (*checked_tags, key)
        envelope = create_job_envelope(
            email=checked_email, provider=checked_provider, tags=checked_tags, name=source.name
        )
        return PreparedCreate(
            source=source,
            email=checked_email,
            provider=checked_provider,
            tags=checked_tags,
            idempotency_key=key,
            envelope=envelope,
            caller_key=caller_key,
        )

    async def send(
        self, prepared: PreparedCreate, *, timeout: float | None = None, look_up: bool = True
    ) -> Job:
        """Send a checked create: the job its key already made, or a new one.

        A create with a caller's key is fingerprinted, shares an in-flight create with
        the same key, and looks the key up before it POSTs (see the module docstring).
        ``look_up=False`` skips that GET, for a caller that knows the key was never sent
        (a batch journal that has just claimed it); creates that join one in flight
        share its choice.

        Raises:
            IdempotencyConflictError: The key belongs to a create of another bill.
            AmbiguousSubmitError: The job may or may not exist and a look-up could not tell.
        """
        total = self._sender.config.timeouts.upload if timeout is None else timeout
        deadline = time.monotonic() + total
        with _telemetry.operation("jobs.create") as call:
            if prepared.caller_key is None:
                job = await self.post(prepared, deadline)
            else:
                prepared = await prepared.fingerprinted()
                job = await self._shared(prepared, deadline, look_up)
            call.note("wattzon.job.id", job.id)
            return job

    async def _shared(self, prepared: PreparedCreate, deadline: float, look_up: bool) -> Job:
        """Join the create in flight for this key, or start it."""
        tag = prepared.idempotency_key
        assert tag is not None
        flight = self._flights.get(tag)
        if flight is None:
            task = asyncio.create_task(self._look_up_then_post(prepared, deadline, look_up))
            flight = self._flights[tag] = _Flight(prepared, task)
            task.add_done_callback(functools.partial(self._landed, tag, flight))
        elif flight.prepared.fingerprint != prepared.fingerprint:
            first = flight.prepared
            differences = differing(prepared, first.provider, first.email, document=True)
            raise conflict(
                prepared,
                None,
                differences,
                f"idempotency key (tag {tag}) is in use right now by a create with another "
                f"{' and '.join(differences)}; a different bill needs a different key",
            )
        else:
            _telemetry.note(_OUTCOME, "shared")
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # the last waiter left: nobody needs this create
                await asyncio.wait({flight.task})
            raise
        finally:
            flight.waiters -= 1

    def _landed(self, tag: str, flight: _Flight, task: asyncio.Task[Job]) -> None:
        if self._flights.get(tag) is flight:
            del self._flights[tag]

    async def _look_up_then_post(
        self, prepared: PreparedCreate, deadline: float, look_up: bool
    ) -> Job:
        """The flight of a keyed create: under a claim in the shared store, when there is one."""
        tag = prepared.idempotency_key
        if self._claims is None or tag is None:
            return await self._unclaimed(prepared, deadline, look_up)
        return await self._claims.run(
            tag,
            deadline,
            make=lambda must_look: self._unclaimed(prepared, deadline, look_up or must_look),
            read=lambda job_id: self._made_elsewhere(prepared, job_id, deadline),
        )

    async def _made_elsewhere(self, prepared: PreparedCreate, job_id: int, deadline: float) -> Job:
        """The job another process made with this key, if it is this bill (one GET).

        Raises:
            IdempotencyConflictError: It is another bill's job.
        """
        data = await self._sender.request(
            "GET",
            f"{self._sender.config.snap_url}jobs/{job_id}/",
            deadline=deadline,
        )
        job = structure_job(data)
        _telemetry.note(_OUTCOME, "found")
        return resolve([job], prepared) or job

    async def _unclaimed(self, prepared: PreparedCreate, deadline: float, look_up: bool) -> Job:
        tag = prepared.idempotency_key
        if look_up and tag is not None:
            found = resolve(await self._list(tag, deadline - time.monotonic()), prepared)
            if found is not None:
                logger.info("idempotency tag %s: job %d was already made", tag, found.id)
                _telemetry.note(_OUTCOME, "found")
                return found
        return await self.post(prepared, deadline)

    async def _list(self, tag: str, timeout: float) -> list[Job]:
        data = await self._sender.request(
            "GET",
            self._sender.config.snap_url + "jobs/",
            params={"tag": tag},
            deadline=self._sender.deadline(timeout),
        )
        return structure_jobs(data)

    async def post(self, prepared: PreparedCreate, deadline: float) -> Job:
        """POST a create, recovering ambiguous failures by its key (no look-up first).

        A POST that may have reached the server is looked up by its key before it is
        sent again; only one that surely made no job is retried (a 429 too, after its
        Retry-After), through the package's retry loop with the request retry policy:
        at most ``RetryPolicy.attempts`` POSTs in all. A part of the
        deadline (the read timeout, at most a quarter of what is left) is kept back from
        the POSTs so that a create that timed out can still be looked up.
        """
        config = self._sender.config
        left = deadline - time.monotonic()
        reserve = (
            min(config.timeouts.read, left / 4) if prepared.idempotency_key is not None else 0.0
        )
        return await retry(
            functools.partial(self._post_once, prepared, deadline, reserve),
            on=_not_made,
            backoff=retry_backoff(config.retry),
            attempts=config.retry.attempts,
            deadline=deadline - reserve,
            retry_after=self._sender.retry_after,
            before_sleep=_log_retry,
        )

    async def _post_once(self, prepared: PreparedCreate, deadline: float, reserve: float) -> Job:
        """One POST: the job, the job its key made if the POST may have made one, or raise.

        Raises:
            APIConnectionError, InternalServerError: The POST failed and made no job
                (looked up by its key, or never sent): ``_not_made`` lets it be retried.
        """
        config = self._sender.config
        try:
            data = await self._sender.request(
                "POST",
                config.snap_url + "jobs/",
                body=prepared.body,
                retry=Retry.ONCE,
                deadline=deadline - reserve,
                read_timeout=config.timeouts.upload,
            )
        except (APIConnectionError, InternalServerError) as exc:
            if getattr(exc, "request_sent", None) is False:
                raise
            found = await self.recover(prepared, deadline, reserve, exc)
            if found is None:
                raise
            return found
        except UnexpectedResponseError as exc:
            return await self._created_but_unreadable(prepared, deadline, reserve, exc)
        try:
            job = structure_job(data)
        except UnexpectedResponseError as exc:
            return await self._created_but_unreadable(prepared, deadline, reserve, exc)
        _telemetry.note(_OUTCOME, "created")
        return job

    async def _created_but_unreadable(
        self, prepared: PreparedCreate, deadline: float, reserve: float, cause: APIError
    ) -> Job:
        """A 2xx whose body is not a job: the job exists; read it back by its key."""
        found = await self.recover(prepared, deadline, reserve, cause)
        if found is None:
            key = prepared.idempotency_key
            raise AmbiguousSubmitError(
                f"the create succeeded but its answer was unreadable ({cause}), and the job "
                f"is not listed by its idempotency key {key} yet",
                idempotency_key=key,
            ) from cause
        return found

    async def recover(
        self, prepared: PreparedCreate, deadline: float, reserve: float, cause: APIError
    ) -> Job | None:
        """Look a create up by its key: the job, None when surely absent, or raise.

        Raises:
            AmbiguousSubmitError: No key to look up, or the look-up failed.
            IdempotencyConflictError: The key's job is another bill's.
        """
        key = prepared.idempotency_key
        if key is None:
            raise AmbiguousSubmitError(
                f"a create may have reached the server ({cause}) and, sent without an "
                "idempotency key, it cannot be looked up",
                idempotency_key=None,
            ) from cause
        logger.info("create may have reached the server (%s); looking up %s", cause, key)
        try:
            jobs = await self._list(key, max(deadline - time.monotonic(), reserve))
        except APIError as exc:
            raise AmbiguousSubmitError(
                f"a create may have reached the server ({cause}) and the look-up by its "
                f"idempotency key {key} failed ({exc}); look it up with "
                f"client.jobs.list(tag={key!r}) before submitting again",
                idempotency_key=key,
            ) from exc
        found = resolve(jobs, prepared)
        if found is not None:
            logger.info("create recovered by its idempotency key: job %d", found.id)
            _telemetry.note(_OUTCOME, "recovered")
        return found


def _not_made(exc: BaseException) -> bool:
    """Whether a failed POST may be sent again: it surely made no job.

    A 429 is answered without acting; ``_post_once`` raises a connection error or a 5xx
    only when the POST was never sent or its key's look-up found nothing.
    """
    return isinstance(exc, RateLimitError | APIConnectionError | InternalServerError)


def _log_retry(attempt: int, error: BaseException | None, delay: float) -> None:
    logger.info(
        "posting the create again in %.2fs (attempt %d: %s, no job made)", delay, attempt, error
    )
    _telemetry.retried(attempt, error, delay)
