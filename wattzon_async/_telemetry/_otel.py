"""Whether OpenTelemetry is on, and spans made current for a block: the only API calls.

This module never imports opentelemetry on its own account: it looks whether the
application has (``sys.modules``). A tracer provider the application set (the SDK's, a
vendor's) turns tracing on; the API's proxy or no-op provider means off. The provider is
asked on every hook, so one set after the client was made is used from the next call on;
the tracer and the instruments are made once per provider.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanContext, Tracer

__all__ = ["SCOPE", "Scope", "end_span", "error_type", "is_on", "start_span", "tracer"]

#: The instrumentation scope of every span and instrument.
SCOPE = "wattzon_async"
#: Providers that mean "nobody configured OpenTelemetry" (the API's own stand-ins).
_OFF_PROVIDERS = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)
_tracer_cache: tuple[object, Tracer] | None = None


def version() -> str | None:
    """The SDK's installed version, for the instrumentation scope (None when unknown)."""
    from importlib import metadata

    try:
        return metadata.version("wattzon-async")
    except metadata.PackageNotFoundError:
        return None


def tracer() -> Tracer | None:
    """The SDK's tracer when the application configured a tracer provider, else None."""
    global _tracer_cache
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in _OFF_PROVIDERS:
        return None
    if _tracer_cache is None or _tracer_cache[0] is not provider:
        _tracer_cache = (provider, provider.get_tracer(SCOPE, version()))
    return _tracer_cache[1]


def meter_provider() -> Any | None:
    """The application's meter provider, or None when metrics are off."""
    metrics = sys.modules.get("opentelemetry.metrics")
    if metrics is None:
        return None
    provider = metrics.get_meter_provider()
    if type(provider).__name__ in _OFF_PROVIDERS:
        return None
    return provider


def is_on() -> bool:
    """Whether traces or metrics are on (cheap when opentelemetry is not even loaded)."""
    modules = sys.modules
    if "opentelemetry.trace" not in modules and "opentelemetry.metrics" not in modules:
        return False
    return tracer() is not None or meter_provider() is not None


def _trace() -> Any:
    """The ``opentelemetry.trace`` module (loaded whenever a tracer exists)."""
    return sys.modules["opentelemetry.trace"]


def start_span(
    name: str,
    kind: str = "INTERNAL",
    attributes: dict[str, Any] | None = None,
    *,
    current: bool = True,
) -> tuple[Span, object] | None:
    """Start a span (made current unless told not); the span and its detach token, or None.

    A CLIENT span is the HTTP span of its request: while it is current, HTTP
    instrumentations (httpx's) are told to make no span of their own.
    """
    t = tracer()
    if t is None:
        return None
    trace = _trace()
    span = t.start_span(name, kind=getattr(trace.SpanKind, kind), attributes=attributes)
    if not current:
        return span, None
    return span, attach(span, suppress_http=kind == "CLIENT")


def attach(span: Span, *, suppress_http: bool = False) -> object:
    """Make ``span`` the current span of this context; returns the token to detach.

    ``suppress_http`` also sets the flag HTTP instrumentations read to stay silent (the
    one the botocore instrumentation sets around its own HTTP calls).
    """
    from opentelemetry import context

    current = _trace().set_span_in_context(span)
    key = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
    if suppress_http and key is not None:
        current = context.set_value(key, True, current)
    return context.attach(current)


def end_span(started: tuple[Span, object] | None, exc: BaseException | None = None) -> None:
    """Detach a span started by ``start_span``, mark it failed by ``exc``, and end it."""
    if started is None:
        return
    span, token = started
    if token is not None:
        from opentelemetry import context

        context.detach(token)  # type: ignore[arg-type]
    if exc is not None:
        fail(span, exc)
    span.end()


def fail(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed, naming the error's type only (never its message)."""
    if span.is_recording():
        trace = _trace()
        span.set_attribute("error.type", error_type(exc))
        span.set_status(trace.Status(trace.StatusCode.ERROR))


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: an HTTP status code, else its class name."""
    code = getattr(exc, "status_code", None)
    return str(code) if isinstance(code, int) else type(exc).__name__


def span_context() -> SpanContext | None:
    """The current span's context, when tracing is on and a span is recording."""
    if tracer() is None:
        return None
    span = _trace().get_current_span()
    return span.get_span_context() if span.is_recording() else None


class Scope:
    """A span made current for a ``with`` block (nothing when tracing is off).

    Args:
        name: The span name.
        kind: ``INTERNAL``, ``CLIENT``, ``CONSUMER``...
        attributes: Attributes known at the start (ids and counts only).
    """

    def __init__(
        self, name: str, kind: str = "INTERNAL", attributes: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.span: Span | None = None
        self._open: tuple[Span, object] | None = None

    def __enter__(self) -> Scope:
        self._open = start_span(self.name, self.kind, self.attributes)
        self.span = self._open[0] if self._open is not None else None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end_span(self._open, exc)

    def note(self, name: str, value: str | int | float | bool) -> None:
        """Set an attribute of the span (a no-op once it ended, or without one)."""
        if self.span is not None and self.span.is_recording():
            self.span.set_attribute(name, value)

    def fail(self, exc: BaseException) -> None:
        """Mark the span failed by ``exc`` (its type, never its message)."""
        if self.span is not None:
            fail(self.span, exc)

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        """Add an event to the span."""
        if self.span is not None and self.span.is_recording():
            self.span.add_event(name, attributes)

    def link(self, context: SpanContext) -> None:
        """Link the span to another (the ``await_job`` a notification resolved)."""
        if self.span is not None and self.span.is_recording():
            self.span.add_link(context)

    def rename(self, name: str) -> None:
        """Rename the span."""
        self.name = name
        if self.span is not None and self.span.is_recording():
            self.span.update_name(name)
