"""Spans and counts of the SQS consumer, in the messaging semantic conventions.

A non-empty receive is a ``receive <queue>`` CONSUMER span; each message in it a
``process <queue>`` CONSUMER span with its id, receive count, verdict (new, duplicate,
malformed...) and job id. When a message resolves ``await_job`` waits, its span links to
their spans. In worker mode the handler call is a child span with its outcome.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._calls import OFF, _Off
from ._metrics import meters
from ._otel import Scope, is_on, span_context, tracer

if TYPE_CHECKING:
    import asyncio

    from opentelemetry.trace import SpanContext

    from ..models import LinkNotification, SnapNotification

__all__ = ["claimed", "dispatched", "handling", "note_waiter", "processing", "received"]

#: The span of each ``await_job`` waiting for a notification, by the waiter's future.
_WAITERS: weakref.WeakKeyDictionary[asyncio.Future[Any], SpanContext] = weakref.WeakKeyDictionary()
#: The ``process`` span of recent new notifications (by job id, the latest first out),
#: for a wait that comes after its notification: that wait links to it.
_PROCESSED: OrderedDict[int | str, tuple[object, SpanContext]] = OrderedDict()
_PROCESSED_MAX = 1000


def _attributes(queue_url: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": "aws_sqs",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": queue_url.rstrip("/").rsplit("/", 1)[-1],
    }


def received(queue_url: str, count: int) -> Scope | _Off:
    """The span of one non-empty batch of messages, while it is dispatched."""
    if count == 0 or tracer() is None:
        return OFF
    attributes = _attributes(queue_url, "receive")
    attributes["messaging.batch.message_count"] = count
    name = f"receive {attributes['messaging.destination.name']}"
    return Scope(name, "CONSUMER", attributes)


def processing(queue_url: str, message_id: str, receive_count: int) -> Scope | _Off:
    """The span of one message, while it is parsed, classified and handed out."""
    if tracer() is None:
        return OFF
    attributes = _attributes(queue_url, "process")
    attributes["messaging.message.id"] = message_id
    attributes["wattzon.message.receive_count"] = receive_count
    attributes["wattzon.message.redelivered"] = receive_count > 1
    return Scope(f"process {attributes['messaging.destination.name']}", "CONSUMER", attributes)


def note_waiter(future: asyncio.Future[Any]) -> None:
    """Remember the span waiting on ``future`` (an ``await_job``), to link it later."""
    context = span_context()
    if context is not None:
        _WAITERS[future] = context


def dispatched(
    verdict: str,
    notification: SnapNotification | LinkNotification | None,
    resolved: Iterable[asyncio.Future[Any]] = (),
) -> None:
    """Note what became of the message in hand: its verdict, its job, the waits it ended."""
    m = meters()
    if m is not None:
        m.messages.add(1, {"wattzon.notification.verdict": verdict})
    if tracer() is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("wattzon.notification.verdict", verdict)
    if notification is not None:
        span.set_attribute("wattzon.job.id", notification.job_id)
        span.set_attribute("wattzon.notification.app", notification.app)
        status = getattr(notification, "final_state", None)
        if status is not None:
            span.set_attribute("wattzon.job.status", status.value)
    for future in resolved:
        context = _WAITERS.get(future)
        if context is not None:
            span.add_link(context)
    if notification is not None and verdict == "new":
        _PROCESSED[notification.job_id] = (notification, span.get_span_context())
        _PROCESSED.move_to_end(notification.job_id)
        if len(_PROCESSED) > _PROCESSED_MAX:
            _PROCESSED.popitem(last=False)


def claimed(notification: SnapNotification | LinkNotification) -> None:
    """Link the current span (an ``await_job``) to a notification that came before it."""
    if tracer() is None:
        return
    entry = _PROCESSED.get(notification.job_id)
    if entry is None or entry[0] is not notification:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.add_link(entry[1])


class _Handling(Scope):
    """One worker-mode handler call: a span, the in-flight count, the duration."""

    def __init__(self, job_id: int | str) -> None:
        super().__init__("handle notification", attributes={"wattzon.job.id": job_id})
        self._started = 0.0

    def __enter__(self) -> _Handling:
        super().__enter__()
        self._started = time.perf_counter()
        m = meters()
        if m is not None:
            m.handlers_active.add(1)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = "ok" if exc is None else "error"
        if exc_type is not None and exc_type.__name__ == "CancelledError":
            outcome = "cancelled"
        self.note("wattzon.handler.outcome", outcome)
        super().__exit__(exc_type, exc, tb)
        m = meters()
        if m is not None:
            m.handlers_active.add(-1)
            seconds = time.perf_counter() - self._started
            m.handler_duration.record(seconds, {"wattzon.handler.outcome": outcome})


def handling(notification: SnapNotification | LinkNotification) -> Scope | _Off:
    """The context of one worker-mode handler call."""
    return _Handling(notification.job_id) if is_on() else OFF
