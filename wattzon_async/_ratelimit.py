"""Client-wide pacing: one limiter shared by every request of a WattzOnClient.

A 429 means the whole client is too fast, not one request, and a new client knows
neither the API's limit nor how many other processes share it. The limiter therefore
paces request starts for everyone, first come first served, the way TCP paces a
connection:

* **Slow start.** A new client does not start at full speed. Its first few requests go
  at once; after them, starts are paced at ``RateLimitPolicy.initial_rate`` per second,
  a rate that doubles every half-second while requests keep it busy and no 429 comes.
  Once nobody has had to wait for a while and the rate is twice what the client uses,
  the probe is over: the limiter lets go of the rate and requests start freely.
* **Congestion avoidance.** The first 429 ends the slow start: the rate drops to half
  of what was being sent. From there each 429 takes a quarter off the rate (at most once
  a second, so that one burst of 429s counts once) and successes win it back: 5 % of the
  rate a second, at least half a request per second per second (the additive part,
  which evens out the shares of processes under one limit), faster the longer no 429
  comes (to take up what other clients leave). A client that was running free when a
  429 came starts here, from a quarter below the rate it was sending at. Once no 429
  has come for a while and the rate is twice what the client uses, the limiter lets go
  of it again.
* **Retry-After** pauses every request of the client until it has passed, for at most
  ``MAX_RETRY_AFTER`` (120 s) whatever the server asked: one absurd answer cannot stop
  the client for good.

A configured ``max_rate`` is the rate the client starts at and never exceeds, with no
slow start. Time comes from an injectable clock, so that the rules can be tested by
counting requests in virtual time.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable

from ._config import RateLimitPolicy
from ._errors import MAX_RETRY_AFTER, APITimeoutError

__all__ = ["AdaptiveRateLimiter"]

#: Requests a new client sends at once before its slow start paces the rest.
_INITIAL_BURST = 4
#: Seconds of paced use in which the slow start doubles the rate.
_DOUBLING = 0.5
#: The share of the rate being sent that the first 429 leaves (TCP halves its window).
_SLOW_START_EXIT = 0.5
#: The share of the rate a later 429 leaves (at most one decrease a second).
_DECREASE = 0.75
_MIN_RATE = 1.0
_WINDOW = 2.0
#: Recovery after a decrease, in requests per second gained per second: a share of the
#: rate, at least ``_MIN_RECOVERY`` (the additive part, which evens out the shares of
#: processes under one limit), accelerated after ``_QUIET`` seconds without a 429.
_RECOVERY = 0.05
_MIN_RECOVERY = 0.5
_QUIET = 6.0
#: Seconds without a 429 after which a rate far above demand is dropped.
_FORGET_AFTER = 30.0


class AdaptiveRateLimiter:
    """Paces request starts; probes the API's rate, then adapts it to the 429s.

    Args:
        policy: The ceiling (``max_rate``), the slow start's ``initial_rate`` and whether
            the rate adapts at all.
        adaptive: Overrides ``policy.adaptive`` (the polling budget is a fixed rate).
        clock: Monotonic seconds (``time.monotonic``; tests pass a fake clock).
    """

    def __init__(
        self,
        policy: RateLimitPolicy,
        *,
        adaptive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = policy.max_rate
        self.adaptive = policy.adaptive if adaptive is None else adaptive
        self._clock = clock
        #: True until the first 429 or until the probe finds the client unconstrained.
        self.slow_start = (
            self.adaptive and policy.max_rate is None and policy.initial_rate is not None
        )
        self.rate: float | None = policy.initial_rate if self.slow_start else policy.max_rate
        self._burst = _INITIAL_BURST if self.slow_start else 0
        self._next = 0.0
        self._paused_until = 0.0
        self._last_decrease = -math.inf
        self._last_increase = -math.inf
        self._first_sent: float | None = None
        self._sent: collections.deque[float] = collections.deque()
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_queued = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_free(self) -> bool:
        """True when a request may start at once: no rate of our own and no pause."""
        return self.rate is None and self._paused_until <= self._clock()

    def record_send(self) -> None:
        """Count a request that started without waiting (see ``is_free``)."""
        self._record_send(self._clock())

    @property
    def paused_for(self) -> float:
        """Seconds until a Retry-After pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def _slot(self, now: float) -> float:
        """When the next request may start (now or later), if nobody is queued before it."""
        slot = max(now, self._paused_until)
        if self.rate is not None and self._burst <= 0:
            slot = max(slot, self._next)
        return slot

    def _take(self, now: float, *, queued: bool) -> None:
        """Start a request now: spend the burst or book the slot after this one."""
        if self.rate is not None:
            if self._burst > 0:
                self._burst -= 1
                self._last_increase = now  # the slow start's clock starts with the burst
            else:
                if self.slow_start:
                    self._grow(now)
                interval = 1.0 / self.rate
                # A queued request released by a timer a little late keeps the pace (its
                # slot was _next); one that did not have to wait starts the count afresh.
                start = max(self._next, now - interval) if queued else now
                self._next = start + interval
        self._record_send(now)

    async def acquire(self, deadline: float) -> None:
        """Wait for this request's turn, first come first served.

        Raises:
            APITimeoutError: The turn would come after ``deadline``; nothing is booked.
        """
        now = self._clock()
        slot = self._slot(now)
        if not self._queue and slot <= now:
            self._take(now, queued=False)
            return
        if self.rate is not None:
            slot += len(self._queue) / self.rate
        if slot > deadline:
            raise APITimeoutError(
                "the call's deadline passes before the client-wide rate limit allows "
                "another request",
                request_sent=False,
            )
        self._last_queued = now
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        self._schedule()
        await turn  # a cancelled turn is skipped when its time comes

    def _schedule(self) -> None:
        """Make sure a timer will release the head of the queue when its turn comes."""
        loop = asyncio.get_running_loop()
        if not self._queue or (self._timer is not None and self._timer_loop is loop):
            return
        now = self._clock()
        self._timer = loop.call_later(self._slot(now) - now, self._release)
        self._timer_loop = loop

    def _release(self) -> None:
        """Start the queued requests whose turn has come; wake up again for the next."""
        self._timer = None
        now = self._clock()
        while self._queue:
            turn = self._queue[0]
            if turn.done():
                self._queue.popleft()
            elif self._slot(now) <= now:
                self._queue.popleft()
                self._take(now, queued=True)
                turn.set_result(None)
            else:
                break
        self._schedule()

    def _record_send(self, now: float) -> None:
        if self._first_sent is None:
            self._first_sent = now
        self._sent.append(now)
        while self._sent and self._sent[0] < now - _WINDOW:
            self._sent.popleft()

    def observed_rate(self) -> float:
        """Requests per second started over the last two seconds (or since the first)."""
        if self._first_sent is None:
            return 0.0
        now = self._clock()
        while self._sent and self._sent[0] < now - _WINDOW:
            self._sent.popleft()
        return len(self._sent) / min(_WINDOW, max(0.25, now - self._first_sent))

    def observe(self, status_code: int, retry_after: float | None = None) -> None:
        """Learn from a response: back off on 429, grow or recover on success.

        Args:
            status_code: The response's status.
            retry_after: Seconds a 429 asked every request to wait
                (``RateLimitError.retry_after``), if it said; at most
                ``MAX_RETRY_AFTER`` of it is honoured.
        """
        now = self._clock()
        if status_code == 429:
            if retry_after and retry_after > 0:
                pause = min(retry_after, MAX_RETRY_AFTER)
                self._paused_until = max(self._paused_until, now + pause)
            if self.adaptive:
                self._decrease(now)
        elif self.adaptive and self.rate is not None and status_code < 400:
            if self.slow_start:
                self._let_go_if_unneeded(now)
            else:
                self._recover(now)

    def _decrease(self, now: float) -> None:
        """A 429: end the slow start at half the rate sent, or take a quarter off."""
        if self.slow_start:
            self.slow_start = False
            self._burst = 0
            sending = min(self.rate or 0.0, self.observed_rate()) or (self.rate or _MIN_RATE)
            self.rate = max(_MIN_RATE, sending * _SLOW_START_EXIT)
            self._last_decrease = now
        elif now - self._last_decrease >= 1.0:
            self._last_decrease = now
            current = self.rate if self.rate is not None else self.observed_rate()
            self.rate = max(_MIN_RATE, current * _DECREASE)

    def _grow(self, now: float) -> None:
        """Slow start: the rate doubles every ``_DOUBLING`` seconds of paced starts.

        Growth counts the time since the previous paced start, at most one slot of the
        current rate: a client kept busy by the limiter doubles its rate every half
        second, one asking for less than the rate grows it only as fast as it uses it.
        """
        assert self.rate is not None
        elapsed = min(max(0.0, now - self._last_increase), 1.0 / self.rate)
        self._last_increase = now
        self.rate *= 2.0 ** (elapsed / _DOUBLING)

    def _let_go_if_unneeded(self, now: float) -> None:
        """End a slow start that found no limit up to twice what the client asks for.

        That is: nobody had to queue for a while, and the rate is twice the one used.
        """
        assert self.rate is not None
        if now - self._last_queued >= _WINDOW and self.rate > 2 * self.observed_rate():
            self.slow_start = False
            self.rate = None

    def _recover(self, now: float) -> None:
        """A success after a decrease: win back a little, more the longer 429s stay away.

        The gain per second is 5 % of the rate (at least ``_MIN_RECOVERY`` requests per
        second), times ``1 + (quiet / _QUIET) ** 2`` after ``quiet`` seconds without a
        429: slow near the rate that drew the last 429, quick to take up capacity that
        other clients have left. Time spent in a Retry-After pause earns nothing.
        """
        assert self.rate is not None
        since = max(self._last_increase, self._last_decrease, self._paused_until)
        elapsed = min(1.0, max(0.0, now - since))
        self._last_increase = now
        quiet = min(now - self._last_decrease, _FORGET_AFTER)
        gain = max(_MIN_RECOVERY, _RECOVERY * self.rate) * (1.0 + (quiet / _QUIET) ** 2)
        self.rate += gain * elapsed
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)
        elif quiet >= _FORGET_AFTER and self.rate > 2 * self.observed_rate():
            self.rate = None
