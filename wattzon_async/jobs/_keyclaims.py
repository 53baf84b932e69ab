"""Idempotency keys across processes: a keyed create claims its key in the shared store.

Inside one client, creates with one key share one flight (``_create``). Across
processes that share a store, the flight's first step is a claim on the key's row
(``Store.claim_key``), taken *before* the key is looked up or the document sent:

* **mine**: this process makes the key's job. It looks the key up first unless the
  claim is fresh and the caller said no look-up is needed (a batch journal's new key);
  a claim that is not fresh (a holder died, or failed, before) is always looked up. A
  heartbeat renews the lease while the create runs. The job made (or the job found, or
  the other bill's job behind an ``IdempotencyConflictError``) is recorded; a create
  that fails without a job gives the key up, for the next claim to look up.
* **done**: the key already made a job: it is read (one GET) and compared, so the same
  bill returns the same job and another bill raises the same ``IdempotencyConflictError``.
* **held**: another process makes the job right now: the claim is asked again (20 ms,
  growing to 250 ms) until it is done, given up, or its lease runs out (a holder killed
  mid-upload stops renewing it; the taker looks the key up before it uploads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from .._errors import AmbiguousSubmitError, IdempotencyConflictError, StoreError
from ..models import Job
from ..store import ClaimState, Store

__all__ = ["KeyClaims"]

logger = logging.getLogger("wattzon_async")

_FIRST_WAIT = 0.02
_MOST_WAIT = 0.25


class KeyClaims:
    """Claims on idempotency keys in one store, on behalf of one client."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Names this client in the store (host, process id and a random part).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._recording: set[asyncio.Task[None]] = set()

    async def run(
        self,
        tag: str,
        deadline: float,
        make: Callable[[bool], Awaitable[Job]],
        read: Callable[[int], Awaitable[Job]],
    ) -> Job:
        """The job of key ``tag``: made by ``make(look_up)`` under a claim, or ``read(id)``.

        ``make(True)`` must look the key up before it sends (``make(False)`` may skip
        that); ``read`` gets a job the key made elsewhere and checks it is this bill.

        Raises:
            AmbiguousSubmitError: The deadline passed while another process held the key.
            StoreError: The store cannot be reached.
        """
        wait = _FIRST_WAIT
        while True:
            claim = await self.store.claim_key(tag, self.owner)
            if claim.state is ClaimState.MINE:
                return await self._hold(tag, make(not claim.fresh))
            if claim.state is ClaimState.DONE:
                assert claim.job_id is not None
                return await read(claim.job_id)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AmbiguousSubmitError(
                    f"idempotency key (tag {tag}) is held by another process sharing the "
                    f"store {self.store.url}, and it did not finish in time; look it up with "
                    f"client.jobs.list(tag={tag!r}) or create again later",
                    idempotency_key=tag,
                )
            await asyncio.sleep(min(wait, left))
            wait = min(wait * 1.5, _MOST_WAIT)

    async def _hold(self, tag: str, making: Awaitable[Job]) -> Job:
        """Await ``making`` holding the claim on ``tag``: renew it, then record or give it up.

        A job made is returned at once and recorded in the background (the heartbeat
        goes on until it is): until then another process waits a moment longer, and a
        process killed before the record leaves a claim whose taker finds the job.
        """
        heartbeat = asyncio.create_task(self._renew(tag))
        try:
            job = await making
        except IdempotencyConflictError as exc:
            await _stop(heartbeat)
            if exc.job is not None:
                await self._record(tag, exc.job.id)
            else:
                await self._give_up(tag)
            raise
        except BaseException:
            await _stop(heartbeat)
            await self._give_up(tag)
            raise
        recording = asyncio.create_task(self._record(tag, job.id, heartbeat))
        self._recording.add(recording)
        recording.add_done_callback(self._recording.discard)
        return job

    async def aclose(self) -> None:
        """Finish recording the jobs made (before the store closes)."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def _renew(self, tag: str) -> None:
        interval = self.store.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.store.renew_key(tag, self.owner):
                    logger.warning("idempotency tag %s: the claim was taken over", tag)
                    return
            except StoreError as exc:
                logger.warning("idempotency tag %s: renewing the claim failed: %s", tag, exc)

    async def _record(
        self, tag: str, job_id: int, heartbeat: asyncio.Task[None] | None = None
    ) -> None:
        """Record the key's job (shielded from cancellation), then stop the heartbeat.

        When the store fails, the lease runs out and the next claim looks the key up,
        which finds the job: nothing is lost.
        """
        try:
            await asyncio.shield(self.store.finish_key(tag, job_id))
        except StoreError as exc:
            logger.warning("idempotency tag %s: job %d not recorded: %s", tag, job_id, exc)
        finally:
            if heartbeat is not None:
                await _stop(heartbeat)

    async def _give_up(self, tag: str) -> None:
        try:
            await asyncio.shield(self.store.release_key(tag, self.owner))
        except StoreError as exc:
            logger.warning("idempotency tag %s: releasing the claim failed: %s", tag, exc)
        except asyncio.CancelledError:
            pass


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
