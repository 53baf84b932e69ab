"""The one backoff policy and the one retry loop of the package.

Every retry in the SDK goes through :func:`retry`: the send path, the recovery of an
ambiguous create, ``await_job``'s polling, the SQS receive loop and the SQS deleter, and
the emulator's notification publisher. So there is one answer to "how long does it
wait, and when does it give up":

* The wait after failed attempt *n* is ``Backoff.wait(n)``: ``initial * multiplier **
  (n - 1)``, capped at ``max``, then spread by the package's one jitter formula,
  :func:`jittered` (uniformly over +/- ``jitter`` of itself, so that many clients do not
  retry in step).
* A failure that carries a server's Retry-After (``retry_after=``) waits at least that
  long: the server's word wins over a shorter computed backoff, up to
  ``MAX_RETRY_AFTER`` (120 s), past which it is not taken at its word.
* It gives up after ``attempts`` tries, or as soon as the next wait would end at or past
  the monotonic ``deadline`` (a Retry-After longer than what is left ends it at once),
  and then raises the last error as it was: callers never see a tenacity exception.

The shape follows hynek's stamina (attempts, deadline, wait_initial/max/jitter,
Retry-After over backoff), on top of tenacity, which stays private to this module. The
first attempt runs bare, with no tenacity object made: most calls succeed at once, and
the send path's overhead is measured per request. Only a failure that may be retried
imports tenacity (so ``import wattzon_async`` does not) and builds its loop, which is
handed that first outcome as its attempt 1, so its attempt numbers, waits and stop rule
are the same as if it had run from the start.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from attrs import field, frozen

from ._errors import MAX_RETRY_AFTER
from ._validation import number

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["Backoff", "jittered", "retry"]

T = TypeVar("T")

#: Called before each sleep with the failed attempt's number, its error (None when the
#: attempt returned a result that is not done yet) and the seconds about to be slept.
BeforeSleep = Callable[[int, BaseException | None, float], None]


def jittered(delay: float, jitter: float) -> float:
    """``delay`` spread uniformly over +/- ``jitter`` of itself: the package's one jitter.

    Args:
        delay: The delay in seconds.
        jitter: The fraction of the delay to spread by, 0 to 1 (0.1 = +/- 10%).

    Returns:
        A delay in ``[delay * (1 - jitter), delay * (1 + jitter)]``.
    """
    if not jitter:
        return delay
    return delay * (1.0 + random.uniform(-jitter, jitter))


_seconds = number(unit="seconds")


@frozen
class Backoff:
    """An exponential backoff: how long to wait after each failed attempt.

    Attributes:
        initial: The wait after the first failure, in seconds, before jitter.
        max: The cap on a wait, in seconds, before jitter.
        multiplier: Growth of the wait after each further failure.
        jitter: The fraction each wait is spread by at random, 0 to 1 (see ``jittered``).
    """

    initial: float = field(validator=_seconds)
    max: float = field(validator=_seconds)
    multiplier: float = field(default=2.0, validator=number(1.0))
    jitter: float = field(default=0.0, validator=number(0.0, 1.0))

    @classmethod
    def equal_jitter(cls, initial: float, max: float, multiplier: float = 2.0) -> Backoff:
        """Waits between half and all of ``initial * multiplier ** (n - 1)``, never over ``max``.

        The "equal jitter" of the AWS architecture note on backoff: expressed with the one
        jitter formula as three quarters of the delay, spread by a third.
        """
        return cls(initial * 0.75, max * 0.75, multiplier, 1 / 3)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without jitter."""
        try:
            grown = self.initial * self.multiplier ** (attempt - 1)
        except OverflowError:
            return float(self.max)
        return float(min(self.max, grown))

    def wait(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), with jitter."""
        return jittered(self.delay(attempt), self.jitter)


class _Failed:
    """An attempt's error, kept to be raised again as tenacity's attempt 1."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Replay(Generic[T]):
    """The attempt function handed to tenacity: the first outcome again, then real calls."""

    __slots__ = ("attempt", "first", "replayed")

    def __init__(self, attempt: Callable[[], Awaitable[T]], first: T | _Failed) -> None:
        self.attempt = attempt
        self.first = first
        self.replayed = False

    async def __call__(self) -> T:
        if self.replayed:
            return await self.attempt()
        self.replayed = True
        first = self.first
        if isinstance(first, _Failed):
            raise first.error
        return first


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    on: Callable[[BaseException], bool],
    backoff: Backoff,
    attempts: int | None = None,
    deadline: float | None = None,
    retry_after: Callable[[BaseException], float | None] | None = None,
    until: Callable[[T], bool] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    before_sleep: BeforeSleep | None = None,
) -> T:
    """Call ``attempt`` until it succeeds, fails for good, or the policy gives up.

    Args:
        attempt: Makes one try; called again for each retry.
        on: Whether an error may be retried; any other error is raised at once.
        backoff: The waits between tries.
        attempts: Tries in all, the first included (None: no limit).
        deadline: A ``time.monotonic()`` deadline: no wait may end at or past it.
        retry_after: The seconds a server asked to wait after this error, or None.
        until: Whether a result is done; one that is not is tried again like a
            retryable error (polling). None: every result is done.
        sleep: Sleeps between tries (a caller may cut it short, e.g. on a stop signal).
        before_sleep: Called before each sleep (to log or count the failure).

    Returns:
        The first result that is done.

    Raises:
        BaseException: The last error, unchanged, when it may not be retried or the
            policy gives up. A result that is still not done when the policy gives up is
            returned as it is.
    """
    try:
        result = await attempt()
    except Exception as exc:
        if not on(exc):
            raise
        first: T | _Failed = _Failed(exc)
    else:
        if until is None or until(result):
            return result
        first = result

    rules = _Rules(on, backoff, attempts, deadline, retry_after, until, before_sleep)
    from tenacity import AsyncRetrying  # only a failure pays for importing tenacity

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=rules.stop,
        wait=rules.wait,
        retry=rules.should_retry,
        before_sleep=rules.notify,
        retry_error_callback=_last_outcome,
    )
    done: T = await retrying(_Replay(attempt, first))
    return done


@frozen
class _Rules(Generic[T]):
    """The arguments of one ``retry`` call, as the four rules tenacity asks for."""

    on: Callable[[BaseException], bool]
    backoff: Backoff
    attempts: int | None
    deadline: float | None
    retry_after: Callable[[BaseException], float | None] | None
    until: Callable[[T], bool] | None
    before_sleep: BeforeSleep | None

    def should_retry(self, state: RetryCallState) -> bool:
        """Whether the outcome is retried: a retryable error, or a result not done yet."""
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            error = outcome.exception()
            return isinstance(error, Exception) and self.on(error)
        return self.until is not None and not self.until(outcome.result())

    def wait(self, state: RetryCallState) -> float:
        """The backoff, or the server's Retry-After when that is longer (capped)."""
        delay = self.backoff.wait(state.attempt_number)
        error = _error_of(state)
        if self.retry_after is not None and error is not None:
            asked = self.retry_after(error)
            if asked is not None and asked > 0:
                delay = max(delay, min(asked, MAX_RETRY_AFTER))
        return delay

    def stop(self, state: RetryCallState) -> bool:
        """Out of attempts, or the next wait would end at or past the deadline."""
        if self.attempts is not None and state.attempt_number >= self.attempts:
            return True
        deadline = self.deadline
        return deadline is not None and time.monotonic() + state.upcoming_sleep >= deadline

    def notify(self, state: RetryCallState) -> None:
        """Tell ``before_sleep`` of the coming sleep."""
        if self.before_sleep is not None:
            self.before_sleep(state.attempt_number, _error_of(state), state.upcoming_sleep)


def _error_of(state: RetryCallState) -> BaseException | None:
    outcome = state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


def _last_outcome(state: RetryCallState) -> Any:
    """When the policy gives up: the last error raised again, or the last result."""
    assert state.outcome is not None
    return state.outcome.result()
