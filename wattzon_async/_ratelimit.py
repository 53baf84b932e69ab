"""Client-wide pacing: one limiter shared by every request of a WattzOnClient.

A 429 means the whole client is too fast, not one request. The limiter therefore paces
request starts for everyone: it has no rate of its own until the API first says 429 (or a
ceiling is configured), then holds a rate that backs off multiplicatively on each 429
(at most once per second, so one burst of 429s counts once) and recovers additively, in
time, while requests succeed. Once no 429 has come for a while and the rate is well above
what the client asks for, the limiter lets go of it. A Retry-After pauses every request
of the client until it has passed.
"""

from __future__ import annotations

import asyncio
import collections
import time

from ._config import RateLimitPolicy
from ._errors import APITimeoutError, parse_retry_after

__all__ = ["AdaptiveRateLimiter"]

_DECREASE = 0.75
_MIN_RATE = 1.0
_WINDOW = 2.0
#: Additive recovery, in requests per second gained per second, as a share of the rate.
_RECOVERY = 0.05
#: Seconds without a 429 after which a rate far above demand is dropped.
_FORGET_AFTER = 30.0


class AdaptiveRateLimiter:
    """Paces request starts; adapts the rate to the 429s the API answers with."""

    def __init__(self, policy: RateLimitPolicy, *, adaptive: bool | None = None) -> None:
        self.ceiling = policy.max_rate
        self.adaptive = policy.adaptive if adaptive is None else adaptive
        self.rate: float | None = policy.max_rate
        self._next = 0.0
        self._paused_until = 0.0
        self._last_decrease = 0.0
        self._last_increase = 0.0
        self._first_sent: float | None = None
        self._sent: collections.deque[float] = collections.deque()

    @property
    def is_free(self) -> bool:
        """True when a request may start at once: no rate of our own and no pause."""
        return self.rate is None and self._paused_until <= time.monotonic()

    def record_send(self) -> None:
        """Count a request that started without waiting (see ``is_free``)."""
        self._record_send()

    @property
    def paused_for(self) -> float:
        """Seconds until a Retry-After pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - time.monotonic())

    async def acquire(self, deadline: float) -> None:
        """Wait for this request's turn; raise APITimeoutError if it comes after ``deadline``."""
        while True:
            now = time.monotonic()
            slot = max(now, self._paused_until)
            if self.rate is not None:
                slot = max(slot, self._next)
            if slot > deadline:
                raise APITimeoutError(
                    "the call's deadline passes before the client-wide rate limit allows "
                    "another request",
                    request_sent=False,
                )
            if self.rate is not None:
                self._next = slot + 1.0 / self.rate
            if slot > now:
                await asyncio.sleep(slot - now)
            if self._paused_until <= time.monotonic():
                self._record_send()
                return

    def _record_send(self) -> None:
        now = time.monotonic()
        if self._first_sent is None:
            self._first_sent = now
        self._sent.append(now)
        while self._sent and self._sent[0] < now - _WINDOW:
            self._sent.popleft()

    def observed_rate(self) -> float:
        """Requests per second started over the last two seconds (or since the first)."""
        if self._first_sent is None:
            return 0.0
        now = time.monotonic()
        recent = sum(1 for t in self._sent if t >= now - _WINDOW)
        return recent / min(_WINDOW, max(0.25, now - self._first_sent))

    def observe(self, status_code: int, retry_after: str | None = None) -> None:
        """Learn from a response: back off on 429, recover a little on success."""
        now = time.monotonic()
        if status_code == 429:
            pause = parse_retry_after(retry_after)
            if pause:
                self._paused_until = max(self._paused_until, now + pause)
                self._next = max(self._next, self._paused_until)
            if self.adaptive and now - self._last_decrease >= 1.0:
                self._last_decrease = now
                current = self.rate if self.rate is not None else self.observed_rate()
                self.rate = max(_MIN_RATE, current * _DECREASE)
        elif self.adaptive and self.rate is not None and status_code < 400:
            self._recover(now)

    def _recover(self, now: float) -> None:
        assert self.rate is not None
        elapsed = min(1.0, now - max(self._last_increase, self._last_decrease))
        self._last_increase = now
        self.rate += max(1.0, _RECOVERY * self.rate) * max(0.0, elapsed)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)
        elif now - self._last_decrease > _FORGET_AFTER and self.rate > 2 * self.observed_rate():
            self.rate = None
