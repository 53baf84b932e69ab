"""Two-lane admission for the GETs of waits: confirmations first, bounded in flight.

This module exists because thousands of waits started at once must not bury the GET that
confirms a notification. A wait's GETs pass through ``Lanes``: at most ``limit`` run at
once, and when one ends the next to start is the oldest *urgent* one (a notification's
confirming GET) before any first look or scheduled poll. Bounding them also keeps the
waits' GETs out of the HTTP pool's own queue, whose cost grows with its length.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Lanes"]


class Lanes:
    """At most ``limit`` holders at once; urgent requests are admitted before the others.

    Args:
        limit: How many may hold a slot at once (at least 1).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._free = self.limit
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._normal: collections.deque[asyncio.Future[None]] = collections.deque()

    def waiting(self, *, urgent: bool) -> int:
        """Requests waiting in one lane (cancelled ones may still be counted)."""
        return len(self._urgent if urgent else self._normal)

    @contextlib.asynccontextmanager
    async def slot(
        self, *, urgent: bool, promote_on: asyncio.Future[Any] | None = None
    ) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``; urgent ones go first.

        Args:
            urgent: Join the urgent lane.
            promote_on: A future whose result moves a request still waiting in the other
                lane to the back of the urgent one (done already: urgent at once). One
                that fails or is cancelled promotes nothing.
        """
        urgent = urgent or (
            promote_on is not None
            and promote_on.done()
            and not promote_on.cancelled()
            and promote_on.exception() is None
        )
        await self._acquire(urgent, None if urgent else promote_on)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool, promote_on: asyncio.Future[Any] | None) -> None:
        ahead = self._urgent if urgent else (self._urgent or self._normal)
        if self._free > 0 and not ahead:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(turn)

        def promote(done: asyncio.Future[Any]) -> None:
            if done.cancelled() or done.exception() is not None:
                return  # no notification came (its wait ended otherwise)
            if not turn.done() and turn in self._normal:
                self._normal.remove(turn)
                self._urgent.append(turn)

        if promote_on is not None:
            promote_on.add_done_callback(promote)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # the slot was handed over as the cancellation came
            raise
        finally:
            if promote_on is not None:
                promote_on.remove_done_callback(promote)

    def _release(self) -> None:
        """Hand the slot to the oldest urgent request, else the oldest other one."""
        for lane in (self._urgent, self._normal):
            while lane:
                turn = lane.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1
