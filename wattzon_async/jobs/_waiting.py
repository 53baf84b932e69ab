"""await_job: wait for a job's final state by polling, by SQS notification, or both at once.

How a wait works:

* One poller per job (and per results form and consumer) in a client, shared by every
  ``await_job`` for it. The poller looks at the job once at once (``check_first``: a job
  already final, or missing, answers without delay), sleeps ``initial_delay``, then polls
  ``GET /jobs/<id>/`` with delays growing by ``multiplier`` up to ``max_delay``, each
  spread by ``jitter``. The package's retry loop (``_retry.retry``, over tenacity) drives
  the schedule; tenacity never shows in the API.
* Every poll of every poller in a client takes a token from one bucket of
  ``RateLimitPolicy.poll_rate`` per second, so thousands of waits cannot flood the API.
* A 429 while waiting slows the poller down (Retry-After is honoured); connection errors,
  timeouts and 5xx are retried. Other errors (404, 403, certificate) end the wait.
* With ``notifications=consumer`` the sleep between polls races the consumer: a
  notification for the job is a hint, confirmed by one GET (which does not wait for the
  polling budget: there is one per job); after it, polling stops. Polling is then only
  the fallback, on a much sparser schedule.
* The GETs of all waits pass through two lanes (``_lanes.Lanes``): at most
  ``_IN_FLIGHT`` (or ``max_connections``) at once, and a confirming GET starts before
  every queued first look or poll, so thousands of waits started together cannot hold
  up the ones whose notification has come.
* Each ``await_job`` has its own monotonic deadline. When it passes, that wait raises
  ``WaitTimeoutError`` with the last job seen; a poller nobody waits for any more is
  cancelled and awaited, so nothing is left running. Nothing is ever cancelled on the
  server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .. import _telemetry
from .._config import ClientConfig, RateLimitPolicy, WaitPolicy, poll_backoff
from .._errors import (
    APIConnectionError,
    ConsumerNotRunningError,
    InternalServerError,
    JobFailedError,
    JobUnsupportedError,
    RateLimitError,
    UnexpectedResponseError,
    WaitTimeoutError,
    retry_after_of,
    seconds_text,
)
from .._ratelimit import AdaptiveRateLimiter
from .._retry import jittered, retry
from .._validation import check_job_id, check_number, check_results
from ..models import Job, JobStatus, SnapNotification
from ._lanes import Lanes

if TYPE_CHECKING:
    from ..notifications import NotificationConsumer

__all__ = ["JobReader", "Waiter", "final_job"]

logger = logging.getLogger("wattzon_async")

Results = Literal["raw", "transformed"]
#: The most GETs of waits in flight at once (fewer with a smaller connection pool):
#: no more than the pool keeps alive, so that a burst of them reuses its connections.
_IN_FLIGHT = 16
_TRANSIENT = (APIConnectionError, InternalServerError, RateLimitError, UnexpectedResponseError)


class JobReader(Protocol):
    """What a poll reads a job with: ``client.jobs`` (``Jobs``), which makes the Waiter."""

    def get(self, job_id: int | str, *, results: Results) -> Awaitable[Job]:
        """The job as it is now, with results in the given form when COMPLETE."""
        ...


def final_job(job: Job) -> Job:
    """Return a COMPLETE job; raise JobFailedError or JobUnsupportedError for the others."""
    if job.status == JobStatus.FAILED:
        raise JobFailedError(f"job {job.id} FAILED", job=job)
    if job.status == JobStatus.UNSUPPORTED:
        raise JobUnsupportedError(
            f"job {job.id} is UNSUPPORTED: provider {job.provider} is not supported", job=job
        )
    return job


class _Watch:
    """One poller, shared by every wait for the same job, results form and consumer."""

    def __init__(self, job_id: int, results: Results, policy: WaitPolicy) -> None:
        self.job_id = job_id
        self.results = results
        self.policy = policy
        self.future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self.last_job: Job | None = None
        self.waiters = 0
        self.polls = 0
        self.task: asyncio.Task[None] | None = None
        #: The consumer's wait for this job's notification (None without a consumer).
        self.hint: asyncio.Task[SnapNotification] | None = None
        self.hint_used = False
        #: A notification came: the next GET confirms it without waiting for the budget.
        self.confirming = False
        #: The last GET confirmed a notification (it resolves the wait if the job is final).
        self.by_notification = False

    def take_hint(self) -> None:
        """Note a notification that has come (or a consumer that has stopped)."""
        hint = self.hint
        if hint is None or self.hint_used or not hint.done():
            return
        self.hint_used = True
        if not hint.cancelled() and hint.exception() is None:
            logger.debug("job %d: notification received, confirming", self.job_id)
            self.confirming = True
        else:
            logger.debug("job %d: notification wait ended without one: %s", self.job_id, hint)


class Waiter:
    """The waits of one client: its pollers, keyed by job, and its polling budget.

    Args:
        jobs: What a poll reads the job with (``client.jobs``, which makes the Waiter).
        config: The client's configuration (the default schedule, the polling rate).
    """

    def __init__(self, jobs: JobReader, config: ClientConfig) -> None:
        self._jobs = jobs
        self._config = config
        self._watches: dict[tuple[int, str, object, WaitPolicy], _Watch] = {}
        self._budget = AdaptiveRateLimiter(
            RateLimitPolicy(max_rate=config.rate_limit.poll_rate), adaptive=False
        )
        self._lanes = Lanes(min(_IN_FLIGHT, config.max_connections))

    async def await_job(
        self,
        job_id: int | str,
        *,
        timeout: float | None = None,
        notifications: NotificationConsumer | None = None,
        results: Results = "raw",
        policy: WaitPolicy | None = None,
    ) -> Job:
        """Wait for a final state; see the module docstring and ``WattzOnClient.await_job``."""
        jid = check_job_id(job_id)
        check_results(results)
        if timeout is not None:
            check_number(timeout, field="timeout", unit="seconds")
        if notifications is not None and not notifications.running:
            raise ConsumerNotRunningError(
                "notifications= needs a running consumer: use 'async with consumer:' first"
            )
        if policy is None:
            policy = WaitPolicy.notification_fallback() if notifications else self._config.wait
        with _telemetry.wait(jid) as span:
            return await self._wait(jid, timeout, notifications, results, policy, span)

    async def _wait(
        self,
        jid: int,
        timeout: float | None,
        notifications: NotificationConsumer | None,
        results: Results,
        policy: WaitPolicy,
        span: _telemetry.Wait | _telemetry.OffWait,
    ) -> Job:
        key = (jid, results, notifications, policy)
        watch = self._watches.get(key)
        if watch is None or watch.future.done():
            watch = _Watch(jid, results, policy)
            watch.task = asyncio.create_task(
                self._run(watch, notifications), name=f"wattzon-await-job-{jid}"
            )
            self._watches[key] = watch
        watch.waiters += 1
        try:
            job = await asyncio.wait_for(asyncio.shield(watch.future), timeout)
        except TimeoutError:
            raise WaitTimeoutError(
                f"job {jid} did not reach a final state within {seconds_text(timeout or 0.0)}"
                + (f" (last seen {watch.last_job.status})" if watch.last_job else ""),
                job=watch.last_job,
                timeout=timeout,
            ) from None
        finally:
            span.seen(watch.last_job, watch.polls, by_notification=watch.by_notification)
            watch.waiters -= 1
            if watch.waiters == 0:
                if self._watches.get(key) is watch:
                    del self._watches[key]
                await _finish(watch)
        return final_job(job)

    async def _run(self, watch: _Watch, notifications: NotificationConsumer | None) -> None:
        if notifications is not None:
            watch.hint = asyncio.create_task(notifications.wait_for(watch.job_id))
        try:
            job = await self._poll_until_final(watch)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            watch.future.set_exception(exc)
        else:
            watch.future.set_result(job)
        finally:
            await _cancel(watch.hint)
            if watch.hint is not None and watch.hint.done() and not watch.hint.cancelled():
                watch.hint.exception()  # retrieved: a consumer that stopped is no error here

    async def _poll_until_final(self, watch: _Watch) -> Job:
        if watch.policy.check_first:
            first = await self._first_look(watch)
            if first is not None and first.is_final:
                return first
        policy = watch.policy
        await self._sleep(watch, jittered(policy.delay(0), policy.jitter))
        return await retry(
            functools.partial(self._poll, watch),
            on=_transient,
            until=_is_final,
            backoff=poll_backoff(policy),
            retry_after=retry_after_of,
            sleep=functools.partial(self._sleep, watch),
            before_sleep=_log_poll_failure,
        )

    async def _sleep(self, watch: _Watch, seconds: float) -> None:
        """Sleep between polls, cut short by the job's notification."""
        if watch.hint is None or watch.hint_used:
            await asyncio.sleep(seconds)
            return
        await asyncio.wait({watch.hint}, timeout=seconds)
        watch.take_hint()

    async def _first_look(self, watch: _Watch) -> Job | None:
        try:
            return await self._poll(watch)
        except _TRANSIENT as exc:
            logger.info("first look at job %d failed, waiting on: %s", watch.job_id, exc)
            return None

    async def _poll(self, watch: _Watch) -> Job:
        if not watch.confirming:
            await self._budget_turn(watch)
        watch.polls += 1
        hint = None if watch.confirming or watch.hint_used else watch.hint
        # A notification that comes while this GET waits for a slot makes it urgent.
        async with self._lanes.slot(urgent=watch.confirming, promote_on=hint):
            watch.take_hint()
            watch.by_notification = watch.confirming
            watch.confirming = False
            job = await self._jobs.get(watch.job_id, results=watch.results)
        watch.last_job = job
        return job

    async def _budget_turn(self, watch: _Watch) -> None:
        """Wait for a turn in the polling budget; a notification meanwhile skips the queue."""
        hint = watch.hint
        if hint is None or watch.hint_used:
            await self._budget.acquire(math.inf)
            return
        turn = asyncio.create_task(self._budget.acquire(math.inf))
        try:
            await asyncio.wait({turn, hint}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(turn)
        watch.take_hint()
        if not watch.confirming and turn.cancelled():
            await self._budget.acquire(math.inf)

    async def aclose(self) -> None:
        """Stop every poller; waits still running fail with APIConnectionError."""
        watches = list(self._watches.values())
        self._watches.clear()
        for watch in watches:
            await _finish(watch, closing=True)


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task})


async def _finish(watch: _Watch, *, closing: bool = False) -> None:
    """Stop a poller; with ``closing``, waits still on it fail with APIConnectionError."""
    if closing and not watch.future.done():
        watch.future.set_exception(
            APIConnectionError("the client was closed while waiting", request_sent=False)
        )
    await _cancel(watch.task)
    if watch.future.done() and not watch.future.cancelled():
        watch.future.exception()  # retrieved: no "never retrieved" warning
    else:
        watch.future.cancel()


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT)


def _is_final(job: Job) -> bool:
    return job.is_final


def _log_poll_failure(attempt: int, error: BaseException | None, delay: float) -> None:
    if error is not None:
        logger.info("polling continues after: %s", error)
