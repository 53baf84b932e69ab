"""OpenTelemetry traces and metrics of the SDK: every use of opentelemetry is in here.

The rest of the package calls small hooks (an SDK call, an HTTP attempt, an
``await_job``, a batch and its submissions, the consumer's batches, messages and
handlers) and never imports opentelemetry. Neither does this package: it looks whether
the application has loaded it (``sys.modules``), so ``import wattzon_async`` loads
nothing of it, and when nobody configured OpenTelemetry each hook costs a dictionary
look-up or two and returns a shared object that does nothing (``_otel`` says how
"configured" is decided).

What is recorded follows the OpenTelemetry semantic conventions (HTTP client spans,
messaging spans with ``messaging.system=aws_sqs``), plus ``wattzon.*`` attributes. No
attribute or metric label ever holds an email, a document byte, a tag, a key, a password,
an exception message or a raw URL: URLs become templates (``/api/v1/jobs/{job_id}/``),
errors their type; only ids (job, message), counts and states are kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._calls import (
    OFF,
    Call,
    attempt,
    call,
    note,
    operation,
    rate_limit_wait,
    responded,
    retried,
    url_template,
)
from ._metrics import watch_limiter
from ._otel import is_on, tracer

if TYPE_CHECKING:
    from ._flows import Batch, OffWait, Wait, submission, wait
    from ._messaging import claimed, dispatched, handling, note_waiter, processing, received

#: The hooks of waits, batches and the consumer, imported on first use: a plain client
#: that sends requests needs only the call and attempt hooks.
_LAZY = {
    **dict.fromkeys(("Batch", "OffWait", "Wait", "submission", "wait"), "_flows"),
    **dict.fromkeys(
        ("claimed", "dispatched", "handling", "note_waiter", "processing", "received"),
        "_messaging",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "OFF",
    "Batch",
    "Call",
    "OffWait",
    "Wait",
    "attempt",
    "call",
    "claimed",
    "dispatched",
    "handling",
    "is_on",
    "note",
    "note_waiter",
    "operation",
    "processing",
    "rate_limit_wait",
    "received",
    "responded",
    "retried",
    "submission",
    "tracer",
    "url_template",
    "wait",
    "watch_limiter",
]
