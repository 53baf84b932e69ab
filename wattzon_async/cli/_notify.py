"""How ``wattzon`` waits for jobs: SQS notifications racing polls, or polls alone.

Kept apart so that every waiting command chooses the same way and says which it chose:
with ``WATTZON_SQS_QUEUE_URL`` set, a ``NotificationConsumer`` (hub mode) on that queue
races polling, the way ``await_job(..., notifications=consumer)`` does; without it, the
command polls. The queue is checked before anything is submitted.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ._context import Context
from ._errors import CliError, ExitCode

if TYPE_CHECKING:
    from ..notifications import NotificationConsumer

__all__ = ["notifications"]

#: The consumer's long poll: short, so that stopping it never cancels a poll (a
#: cancelled poll could hide a message meant for another consumer of the queue).
_WAIT_TIME_SECONDS = 1


@contextlib.asynccontextmanager
async def notifications(ctx: Context, *, wait: bool) -> AsyncIterator[NotificationConsumer | None]:
    """A running consumer when ``wait`` and WATTZON_SQS_QUEUE_URL is set, else None.

    Says on stderr how the command waits.

    Raises:
        CliError: The queue cannot be used (exit code 2).
    """
    if not wait:
        yield None
        return
    if not ctx.environ.get("WATTZON_SQS_QUEUE_URL"):
        _say("waiting by polling (set WATTZON_SQS_QUEUE_URL to be notified through SQS)")
        yield None
        return
    from ..notifications import ConsumerError, NotificationConsumer

    consumer = NotificationConsumer.from_env(ctx.environ, wait_time_seconds=_WAIT_TIME_SECONDS)
    try:
        await consumer.start()
    except ConsumerError as exc:
        raise CliError(f"WATTZON_SQS_QUEUE_URL: {exc}", ExitCode.USAGE) from None
    _say(f"waiting by SQS notifications from {consumer.queue_url}, racing polls")
    try:
        yield consumer
    finally:
        await consumer.stop()


def _say(text: str) -> None:
    print(f"wattzon: {text}", file=sys.stderr, flush=True)
