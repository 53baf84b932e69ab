"""The client-wide limiter in virtual time: slow start, 429s, pauses, order of turns.

Each test runs its own event loop whose clock is virtual: when every task sleeps, the
loop jumps to the next timer instead of waiting. The limiter reads the same clock, so
the tests count requests per (virtual) second without depending on the machine's speed.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from wattzon_async import RateLimitPolicy
from wattzon_async._errors import MAX_RETRY_AFTER, APITimeoutError
from wattzon_async._ratelimit import AdaptiveRateLimiter

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: a wait for ``timeout`` seconds moves the loop's clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("deadlock: nothing is scheduled and nothing can happen")
        self.now += max(0.0, timeout)
        return super().select(0)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def run_virtual(main: Callable[[_VirtualLoop], Coroutine[Any, Any, T]]) -> T:
    """Run ``main(loop)`` on a fresh virtual-time loop."""
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


async def _start_all(loop: _VirtualLoop, limiter: AdaptiveRateLimiter, count: int) -> list[float]:
    """Queue ``count`` requests at once; return when each one started."""
    starts: list[float] = []

    async def one() -> None:
        await limiter.acquire(math.inf)
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


def test_a_new_client_sends_four_at_once_then_paces_from_the_initial_rate() -> None:
    async def main(loop: _VirtualLoop) -> list[float]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(), clock=loop.time)
        return await _start_all(loop, limiter, 12)

    starts = run_virtual(main)
    assert starts[:4] == [0.0] * 4
    assert starts[4] == 0.0  # the first paced slot is free too
    assert 0.2 < starts[5] <= 0.25  # then 1/4 s, a little less as the rate grows
    assert sorted(starts) == starts


def test_the_slow_start_doubles_the_rate_every_half_second_while_busy() -> None:
    async def main(loop: _VirtualLoop) -> tuple[list[float], list[float]]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=4.0), clock=loop.time)
        rates: list[float] = []

        async def sample() -> None:
            for _ in range(4):
                await asyncio.sleep(0.5)
                assert limiter.rate is not None
                rates.append(limiter.rate)

        starts, _ = await asyncio.gather(_start_all(loop, limiter, 200), sample())
        return starts, rates

    starts, rates = run_virtual(main)
    for earlier, later in itertools.pairwise(rates):
        assert 1.8 < later / earlier < 2.2
    assert 50 < rates[-1] < 80  # 4/s doubled four times
    per_half_second = [sum(1 for s in starts if k / 2 <= s < (k + 1) / 2) for k in range(4)]
    assert per_half_second[1] < per_half_second[2] < per_half_second[3]


def test_the_first_429_halves_the_rate_sent_and_ends_the_slow_start() -> None:
    async def main(loop: _VirtualLoop) -> None:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(), clock=loop.time)
        await _start_all(loop, limiter, 40)
        assert limiter.slow_start
        sent = min(limiter.rate or 0.0, limiter.observed_rate())
        limiter.observe(429)
        assert not limiter.slow_start
        assert limiter.rate == pytest.approx(sent / 2)
        halved = limiter.rate
        limiter.observe(429)  # the same burst of 429s: counted once
        assert limiter.rate == halved
        await asyncio.sleep(1.0)
        limiter.observe(429)
        assert limiter.rate == pytest.approx(halved * 0.75)

    run_virtual(main)


def test_successes_win_the_rate_back_faster_the_longer_no_429_comes() -> None:
    async def main(loop: _VirtualLoop) -> list[float]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None), clock=loop.time)
        limiter.record_send()
        limiter.observe(429)  # from free to a rate, without a pause
        gains: list[float] = []
        for _ in range(12):
            before = limiter.rate
            await asyncio.sleep(1.0)
            limiter.observe(200)
            assert limiter.rate is not None
            assert before is not None
            gains.append(limiter.rate - before)
        return gains

    gains = run_virtual(main)
    assert gains[0] == pytest.approx(0.5 * (1 + (1 / 6) ** 2))  # additive at a low rate
    assert all(later > earlier for earlier, later in itertools.pairwise(gains))
    assert gains[-1] > 4 * gains[0]


def test_time_in_a_retry_after_pause_wins_nothing_back() -> None:
    async def main(loop: _VirtualLoop) -> None:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None), clock=loop.time)
        limiter.record_send()
        limiter.observe(429, 5.0)
        rate = limiter.rate
        await asyncio.sleep(4.0)
        limiter.observe(200)  # a request sent before the 429 answers late
        assert limiter.rate == rate

    run_virtual(main)


def test_a_client_asking_for_less_than_the_rate_is_let_go() -> None:
    async def main(loop: _VirtualLoop) -> AdaptiveRateLimiter:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(), clock=loop.time)
        for _ in range(30):
            if limiter.is_free:
                limiter.record_send()
            else:
                await limiter.acquire(math.inf)
            limiter.observe(200)
            await asyncio.sleep(0.5)
        return limiter

    limiter = run_virtual(main)
    assert limiter.rate is None
    assert not limiter.slow_start


def test_a_ceiling_means_no_slow_start_and_no_slow_start_means_free() -> None:
    ceiling = AdaptiveRateLimiter(RateLimitPolicy(max_rate=10.0))
    assert (ceiling.rate, ceiling.slow_start) == (10.0, False)
    free = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None))
    assert free.rate is None
    assert free.is_free
    fixed = AdaptiveRateLimiter(RateLimitPolicy(), adaptive=False)
    assert fixed.rate is None
    assert not fixed.slow_start


def test_without_a_slow_start_the_first_429_takes_a_quarter_off() -> None:
    now = [0.0]
    ceiling = AdaptiveRateLimiter(RateLimitPolicy(max_rate=10.0), clock=lambda: now[0])
    ceiling.observe(429)
    assert ceiling.rate == pytest.approx(7.5)
    free = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None), clock=lambda: now[0])
    for _ in range(8):
        free.record_send()
    now[0] = 1.0
    sending = free.observed_rate()
    free.observe(429)
    assert free.rate == pytest.approx(sending * 0.75)
    fixed = AdaptiveRateLimiter(RateLimitPolicy(max_rate=10.0, adaptive=False))
    fixed.observe(429, retry_after=2.0)
    assert fixed.rate == 10.0
    assert fixed.paused_for > 0  # Retry-After pauses the client either way


def test_turns_come_in_order_and_a_cancelled_turn_gives_its_slot_away() -> None:
    async def main(loop: _VirtualLoop) -> tuple[list[int], list[float]]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(max_rate=2.0), clock=loop.time)
        order: list[int] = []
        times: list[float] = []

        async def one(index: int) -> None:
            await limiter.acquire(math.inf)
            order.append(index)
            times.append(loop.time())

        tasks = [asyncio.create_task(one(i)) for i in range(5)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return order, times

    order, times = run_virtual(main)
    assert order == [0, 2, 3, 4]
    assert times == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_a_retry_after_holds_every_queued_request_until_it_has_passed() -> None:
    async def main(loop: _VirtualLoop) -> list[float]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None), clock=loop.time)
        limiter.observe(429, 3)
        assert limiter.paused_for == pytest.approx(3.0)
        return await _start_all(loop, limiter, 3)

    starts = run_virtual(main)
    assert min(starts) >= 3.0


def test_a_turn_past_the_deadline_is_refused_without_booking_a_slot() -> None:
    async def main(loop: _VirtualLoop) -> list[float]:
        limiter = AdaptiveRateLimiter(RateLimitPolicy(max_rate=1.0), clock=loop.time)
        await limiter.acquire(math.inf)
        await limiter.acquire(math.inf)  # waits one second
        for _ in range(3):
            with pytest.raises(APITimeoutError, match="deadline"):
                await limiter.acquire(loop.time() + 0.5)
        return await _start_all(loop, limiter, 1)

    assert run_virtual(main) == [2.0]


async def _fleet(
    loop: _VirtualLoop, policy: RateLimitPolicy, processes: int, bills: int
) -> tuple[int, int, float]:
    """Clients started together under one token bucket of 40/s (burst 40), as in
    benchmarks/processes.py: each sends ``bills`` requests, 16 at a time, each answered
    in 30 ms; a 429 (Retry-After: 1) is retried after a second. Returns (created, 429s,
    seconds)."""
    rate = burst = 40.0
    bucket = {"tokens": burst, "at": 0.0}
    counts = {"ok": 0, "429": 0}

    def server_allows() -> bool:
        now = loop.time()
        bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["at"]) * rate)
        bucket["at"] = now
        if bucket["tokens"] >= 1:
            bucket["tokens"] -= 1
            return True
        return False

    async def client() -> None:
        limiter = AdaptiveRateLimiter(policy, clock=loop.time)
        remaining = iter(range(bills))

        async def worker() -> None:
            for _ in remaining:
                while True:
                    if limiter.is_free:
                        limiter.record_send()
                    else:
                        await limiter.acquire(math.inf)
                    await asyncio.sleep(0.015)
                    allowed = server_allows()
                    await asyncio.sleep(0.015)
                    if allowed:
                        limiter.observe(201)
                        counts["ok"] += 1
                        break
                    counts["429"] += 1
                    limiter.observe(429, 1)
                    await asyncio.sleep(1.0)

        await asyncio.gather(*(worker() for _ in range(16)))

    await asyncio.gather(*(client() for _ in range(processes)))
    return counts["ok"], counts["429"], loop.time()


def _fleet_run(policy: RateLimitPolicy, processes: int, bills: int) -> tuple[int, int, float]:
    async def main(loop: _VirtualLoop) -> tuple[int, int, float]:
        return await _fleet(loop, policy, processes, bills)

    return run_virtual(main)


def test_processes_started_together_find_their_share_instead_of_bursting() -> None:
    created, refused, seconds = _fleet_run(RateLimitPolicy(), processes=4, bills=100)
    assert created == 400
    assert refused / (created + refused) < 0.03
    assert created / seconds > 0.9 * 40
    _, refused_without, _ = _fleet_run(RateLimitPolicy(initial_rate=None), 4, 100)
    assert refused_without > 4 * refused


def test_one_client_alone_under_the_limit_loses_little_to_the_slow_start() -> None:
    created, refused, seconds = _fleet_run(RateLimitPolicy(), processes=1, bills=100)
    assert (created, refused) == (100, 0)
    assert created / seconds > 0.9 * 40


@pytest.mark.parametrize("asked", [1e9, 1e308, math.inf])
def test_no_retry_after_pauses_the_client_past_the_cap(asked: float) -> None:
    now = [0.0]
    limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None), clock=lambda: now[0])
    limiter.observe(429, retry_after=asked)
    assert limiter.paused_for == MAX_RETRY_AFTER == 120.0
    now[0] = MAX_RETRY_AFTER
    assert limiter.paused_for == 0.0
