"""The SDK's OpenTelemetry instruments, made once per meter provider the application sets.

Every instrument and every label is listed here, so that what the SDK exports as metrics
can be read in one place (and shown to hold no personal data: labels are operation
names, status classes, error types, verdicts and outcomes, never an id or a value).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._otel import SCOPE, meter_provider, version

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

    from .._httpx import httpx
    from .._ratelimit import AdaptiveRateLimiter

__all__ = ["Meters", "meters", "status_class", "watch_limiter"]

#: Every client's rate limiter, with its API host and its connection pool, for the gauge.
_LIMITERS: weakref.WeakKeyDictionary[AdaptiveRateLimiter, tuple[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_cache: tuple[object, Meters] | None = None


class Meters:
    """The instruments (see the README, Observability, for each one's meaning)."""

    def __init__(self, meter: Any) -> None:
        self.duration = meter.create_histogram(
            "wattzon.client.operation.duration",
            unit="s",
            description="Duration of SDK calls, retries included, by operation and status class",
        )
        self.retries = meter.create_counter(
            "wattzon.client.retries", unit="{retry}", description="Requests sent again"
        )
        self.rate_limited = meter.create_counter(
            "wattzon.client.rate_limited", unit="{response}", description="429 responses"
        )
        self.job_duration = meter.create_histogram(
            "wattzon.job.duration",
            unit="s",
            description="Time from a job's creation to the final state await_job saw",
        )
        self.polls = meter.create_histogram(
            "wattzon.await_job.polls", unit="{poll}", description="GETs one await_job made"
        )
        self.messages = meter.create_counter(
            "wattzon.consumer.messages",
            unit="{message}",
            description="Messages received, by verdict (new, duplicate, malformed...)",
        )
        self.handler_duration = meter.create_histogram(
            "wattzon.consumer.handler.duration",
            unit="s",
            description="Duration of worker-mode handler calls, by outcome",
        )
        self.handlers_active = meter.create_up_down_counter(
            "wattzon.consumer.handlers.active",
            unit="{handler}",
            description="Worker-mode handler calls running",
        )
        meter.create_observable_gauge(
            "wattzon.client.rate_limit",
            callbacks=[_observe_rates],
            unit="{request}/s",
            description="The rate a client's limiter paces requests at (absent: unpaced)",
        )


def meters() -> Meters | None:
    """The instruments when the application configured a meter provider, else None."""
    global _cache
    provider = meter_provider()
    if provider is None:
        return None
    if _cache is None or _cache[0] is not provider:
        _cache = (provider, Meters(provider.get_meter(SCOPE, version())))
    return _cache[1]


def watch_limiter(limiter: AdaptiveRateLimiter, host: str, http: httpx.AsyncClient) -> None:
    """Report ``limiter``'s rate in the rate gauge until ``http`` is closed."""
    _LIMITERS[limiter] = (host, http)


def _observe_rates(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    for limiter, (host, http) in list(_LIMITERS.items()):
        if limiter.rate is not None and not http.is_closed:
            yield Observation(limiter.rate, {"server.address": host})


def status_class(status: int | None, exc: BaseException | None) -> str:
    """``2xx``, ``4xx``, ``5xx``... of a call's outcome, or ``error`` without a response."""
    code = getattr(exc, "status_code", None) if exc is not None else status
    if isinstance(code, int):
        return f"{code // 100}xx"
    return "error"
