"""The package's one backoff policy and retry loop (``_retry``), on their own.

Sleeps are recorded instead of slept, so every wait and every stop is asserted exactly,
without a clock.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import tenacity

from wattzon_async._retry import Backoff, jittered, retry


class Flaky(Exception):
    """A retryable failure, optionally carrying a server's Retry-After."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(f"flaky (retry_after={retry_after})")
        self.retry_after = retry_after


class Fatal(Exception):
    """A failure that is never retried."""


def is_flaky(exc: BaseException) -> bool:
    return isinstance(exc, Flaky)


def asked(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, Flaky) else None


class Script:
    """An attempt function that plays a list of outcomes (an exception is raised)."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> object:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Sleeps:
    """A sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


NO_JITTER = Backoff(initial=1.0, max=8.0, multiplier=2.0, jitter=0.0)


# -- Backoff and the one jitter formula ------------------------------------------------


def test_backoff_grows_by_its_multiplier_up_to_its_cap() -> None:
    assert [NO_JITTER.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [NO_JITTER.wait(n) for n in range(1, 5)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_stays_at_its_cap_however_many_attempts() -> None:
    backoff = Backoff(initial=0.5, max=30.0, multiplier=1.5)
    assert backoff.delay(100_000) == 30.0  # 1.5 ** 99_999 overflows a float


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_stays_within_its_bounds_and_spreads(jitter: float) -> None:
    waits = [jittered(10.0, jitter) for _ in range(2000)]
    assert all(10.0 * (1 - jitter) <= w <= 10.0 * (1 + jitter) for w in waits)
    # spread over both halves of the band, not stuck on one value
    assert min(waits) < 10.0 * (1 - jitter / 2)
    assert max(waits) > 10.0 * (1 + jitter / 2)


def test_no_jitter_is_exact() -> None:
    assert jittered(3.25, 0.0) == 3.25


def test_equal_jitter_is_between_half_and_all_of_the_delay() -> None:
    backoff = Backoff.equal_jitter(0.4, 1.6)
    for attempt, ceiling in ((1, 0.4), (2, 0.8), (3, 1.6), (9, 1.6)):
        waits = [backoff.wait(attempt) for _ in range(500)]
        assert all(ceiling / 2 - 1e-9 <= w <= ceiling + 1e-9 for w in waits)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0, "max": 1.0},
        {"initial": 1.0, "max": -1.0},
        {"initial": 1.0, "max": 1.0, "multiplier": 0.5},
        {"initial": 1.0, "max": 1.0, "jitter": 1.5},
        {"initial": 1.0, "max": 1.0, "jitter": -0.1},
    ],
)
def test_backoff_refuses_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Backoff(**kwargs)


# -- the retry loop ------------------------------------------------------------------


async def test_a_first_success_never_builds_tenacity(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity was set up for a call that succeeded at once")

    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)
    attempt = Script("ok")
    assert await retry(attempt, on=is_flaky, backoff=NO_JITTER, attempts=5) == "ok"
    assert attempt.calls == 1


async def test_an_error_not_retried_is_raised_at_once_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity was set up for an error that is not retried")

    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)
    error = Fatal("no")
    attempt = Script(error)
    with pytest.raises(Fatal) as caught:
        await retry(attempt, on=is_flaky, backoff=NO_JITTER, attempts=5)
    assert caught.value is error
    assert attempt.calls == 1


async def test_retries_number_their_waits_from_the_first_failure() -> None:
    sleeps = Sleeps()
    attempt = Script(Flaky(), Flaky(), Flaky(), "ok")
    result = await retry(attempt, on=is_flaky, backoff=NO_JITTER, attempts=5, sleep=sleeps)
    assert result == "ok"
    assert attempt.calls == 4
    assert sleeps.waits == [1.0, 2.0, 4.0]  # backoff.wait(1), (2), (3): no offset


async def test_gives_up_after_attempts_with_the_last_error_itself() -> None:
    sleeps = Sleeps()
    errors = [Flaky(), Flaky(), Flaky()]
    attempt = Script(*errors)
    with pytest.raises(Flaky) as caught:
        await retry(attempt, on=is_flaky, backoff=NO_JITTER, attempts=3, sleep=sleeps)
    assert caught.value is errors[2]  # not a tenacity RetryError
    assert attempt.calls == 3
    assert sleeps.waits == [1.0, 2.0]


async def test_one_attempt_means_no_retry() -> None:
    attempt = Script(Flaky(), "ok")
    with pytest.raises(Flaky):
        await retry(attempt, on=is_flaky, backoff=NO_JITTER, attempts=1, sleep=Sleeps())
    assert attempt.calls == 1


async def test_a_wait_that_would_end_past_the_deadline_ends_the_retries() -> None:
    sleeps = Sleeps()
    attempt = Script(Flaky())
    deadline = time.monotonic() + 3.5  # room for the 1 s and 2 s waits, not the 4 s one
    with pytest.raises(Flaky):
        await retry(attempt, on=is_flaky, backoff=NO_JITTER, deadline=deadline, sleep=sleeps)
    assert sleeps.waits == [1.0, 2.0]
    assert attempt.calls == 3


async def test_retry_after_wins_over_a_shorter_backoff() -> None:
    sleeps = Sleeps()
    attempt = Script(Flaky(retry_after=5.0), Flaky(), "ok")
    result = await retry(attempt, on=is_flaky, backoff=NO_JITTER, retry_after=asked, sleep=sleeps)
    assert result == "ok"
    assert sleeps.waits == [5.0, 2.0]  # the server's 5 s, then the backoff's own 2 s


async def test_a_shorter_retry_after_does_not_cut_the_backoff() -> None:
    sleeps = Sleeps()
    attempt = Script(Flaky(retry_after=0.25), "ok")
    await retry(attempt, on=is_flaky, backoff=NO_JITTER, retry_after=asked, sleep=sleeps)
    assert sleeps.waits == [1.0]


async def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    sleeps = Sleeps()
    error = Flaky(retry_after=60.0)
    attempt = Script(error, "ok")
    with pytest.raises(Flaky) as caught:
        await retry(
            attempt,
            on=is_flaky,
            backoff=NO_JITTER,
            deadline=time.monotonic() + 30.0,
            retry_after=asked,
            sleep=sleeps,
        )
    assert caught.value is error
    assert attempt.calls == 1
    assert sleeps.waits == []


async def test_until_polls_past_results_that_are_not_done() -> None:
    sleeps = Sleeps()
    attempt = Script("pending", Flaky(), "pending", "done")
    result = await retry(
        attempt, on=is_flaky, until=lambda r: r == "done", backoff=NO_JITTER, sleep=sleeps
    )
    assert result == "done"
    assert sleeps.waits == [1.0, 2.0, 4.0]


async def test_until_returns_the_last_result_when_the_policy_gives_up() -> None:
    attempt = Script("pending")
    result = await retry(
        attempt,
        on=is_flaky,
        until=lambda r: r == "done",
        backoff=NO_JITTER,
        attempts=3,
        sleep=Sleeps(),
    )
    assert result == "pending"
    assert attempt.calls == 3


async def test_before_sleep_hears_each_failure_with_its_number_and_wait() -> None:
    heard: list[tuple[int, str | None, float]] = []
    errors = [Flaky(), Flaky()]
    attempt = Script(errors[0], "pending", errors[1], "done")
    await retry(
        attempt,
        on=is_flaky,
        until=lambda r: r == "done",
        backoff=NO_JITTER,
        sleep=Sleeps(),
        before_sleep=lambda n, e, d: heard.append((n, None if e is None else str(e), d)),
    )
    assert heard == [(1, str(errors[0]), 1.0), (2, None, 2.0), (3, str(errors[1]), 4.0)]


@pytest.mark.parametrize("first", [True, False])
async def test_cancellation_is_never_retried(first: bool) -> None:
    seen: list[BaseException] = []

    def on(exc: BaseException) -> bool:
        seen.append(exc)
        return True

    outcomes: list[object] = [asyncio.CancelledError()]
    if not first:
        outcomes.insert(0, Flaky())
    attempt = Script(*outcomes)
    with pytest.raises(asyncio.CancelledError):
        await retry(attempt, on=on, backoff=NO_JITTER, attempts=5, sleep=Sleeps())
    assert all(isinstance(e, Flaky) for e in seen)


async def test_a_sleep_cut_short_still_counts_as_a_wait() -> None:
    """The sleep is the caller's (the consumer's stops early); the loop just goes on."""
    stop = asyncio.Event()
    stop.set()

    async def interrupted(seconds: float) -> None:
        await asyncio.wait_for(stop.wait(), seconds)

    attempt = Script(Flaky(), "ok")
    assert await retry(attempt, on=is_flaky, backoff=NO_JITTER, sleep=interrupted) == "ok"
    assert attempt.calls == 2
