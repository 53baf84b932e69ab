"""SDK calls and their HTTP attempts: one span per call, one CLIENT span per attempt.

A call (``jobs.get``, ``documents.download``...) is what ``Sender.retrying`` runs; its
attempts are the tries of its retry loop. ``jobs.create`` is one call around its key
look-up (a ``jobs.list`` call of its own) and its POST attempts. The URL of a span is
always a template (``/api/v1/jobs/{job_id}/``), never the URL sent.
"""

from __future__ import annotations

import contextvars
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._metrics import meters, status_class
from ._otel import Scope, error_type, is_on

if TYPE_CHECKING:
    from .._httpx import httpx

__all__ = [
    "OFF",
    "Call",
    "attempt",
    "call",
    "note",
    "operation",
    "rate_limit_wait",
    "responded",
    "retried",
    "url_template",
]

#: The literal path segments of the APIs; every other segment becomes a placeholder.
_LITERALS = frozenset(
    {"api", "v1", "link", "4.0", "jobs", "document", "zips", "utilities", "data", "bills"}
)
_PLACEHOLDERS = {
    "jobs": "{job_id}",
    "zips": "{zipcode}",
    "utilities": "{provider_id}",
    "bills": "{profile_id}",
}
_OPERATIONS = {
    ("POST", "/jobs/"): "jobs.create",
    ("GET", "/jobs/"): "jobs.list",
    ("GET", "/jobs/{job_id}/"): "jobs.get",
    ("GET", "/jobs/{job_id}/document"): "documents.get",
    ("GET", "/jobs/{job_id}/document/"): "documents.get",
    ("GET", "/zips/{zipcode}"): "zips.get",
    ("GET", "/utilities/"): "utilities.find",
    ("GET", "/utilities/{provider_id}"): "utilities.get",
    ("GET", "/data/bills/{profile_id}"): "link.bills",
    ("GET", "/data/bills/{profile_id}/{id}"): "link.download_pdf",
}
_API_PREFIXES = ("/api/v1/", "/link/4.0/")
#: Rate-limit waits shorter than this (seconds) are no event.
_NOTABLE_WAIT = 0.001


def url_template(path: str) -> tuple[str, str, int | None]:
    """A URL path as a template, the part after the API prefix, and the job id it names."""
    out: list[str] = []
    job_id: int | None = None
    previous = ""
    for segment in path.split("/"):
        if segment and segment not in _LITERALS:
            if previous == "jobs" and segment.isdigit():
                job_id = int(segment)
            segment = _PLACEHOLDERS.get(previous, "{id}")
        out.append(segment)
        previous = segment
    template = "/".join(out)
    for prefix in _API_PREFIXES:
        at = template.find(prefix)
        if at >= 0:
            return template, template[at + len(prefix) - 1 :], job_id
    return template, template, job_id


_CALL: contextvars.ContextVar[Call | None] = contextvars.ContextVar("wattzon_call", default=None)


class Call(Scope):
    """One SDK call: its span (current while it runs), its attempts, its duration."""

    def __init__(self, name: str, method: str = "", url: str = "", job_id: int | None = None):
        attributes: dict[str, Any] = {"wattzon.operation": name}
        if job_id is not None:
            attributes["wattzon.job.id"] = job_id
        super().__init__(name, attributes=attributes)
        self.method = method
        self.url = url
        self.attempts = 0
        self.status: int | None = None
        self.attempt_scope: Scope | None = None
        self._token: contextvars.Token[Call | None] | None = None
        self._started = 0.0

    def __enter__(self) -> Call:
        super().__enter__()
        self._token = _CALL.set(self)
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _CALL.reset(self._token)
        if self.attempts > 1:
            self.note("wattzon.attempts", self.attempts)
        super().__exit__(exc_type, exc, tb)
        m = meters()
        if m is not None:
            labels = {
                "wattzon.operation": self.name,
                "wattzon.status_class": status_class(self.status, exc),
            }
            m.duration.record(time.perf_counter() - self._started, labels)


class _Off:
    """What a hook returns when telemetry is off (or has nothing to add): does nothing."""

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def note(self, name: str, value: str | int | float | bool) -> None:
        """Nothing to note."""

    def fail(self, exc: BaseException) -> None:
        """Nothing to mark."""


OFF = _Off()


def call(what: str) -> Call | _Off:
    """The context of one SDK call sending ``what`` (``"GET <url>"``), or OFF.

    A call inside a call of the same operation (the POST of ``jobs.create``) adds
    nothing: its attempts are the outer call's.
    """
    if not is_on():
        return OFF
    method, _, url = what.partition(" ")
    template, suffix, job_id = url_template(urlsplit(url).path)
    name = _OPERATIONS.get((method, suffix), f"{method} {template}")
    current = _CALL.get()
    if current is not None and current.name == name:
        if not current.url:  # the POST of jobs.create: its attempts are the operation's
            current.method, current.url = method, url
        return OFF
    return Call(name, method, url, job_id)


def operation(name: str) -> Call | _Off:
    """The context of an SDK call made of several requests (``jobs.create``), or OFF."""
    return Call(name) if is_on() else OFF


def note(name: str, value: str | int) -> None:
    """Set an attribute of the SDK call in progress (nothing outside a call)."""
    current = _CALL.get()
    if current is not None:
        current.note(name, value)


class _Attempt:
    """One HTTP attempt of a call: a CLIENT span, as the HTTP semantic conventions say."""

    def __init__(self, current: Call) -> None:
        self.call = current
        self.scope: Scope | None = None

    def __enter__(self) -> _Attempt:
        current = self.call
        current.attempts += 1
        if not current.url:  # an operation: the requests it makes are calls of their own
            return self
        parts = urlsplit(current.url)
        template = url_template(parts.path)[0]
        attributes: dict[str, Any] = {
            "http.request.method": current.method,
            "url.template": template,
            "server.address": parts.hostname or "",
            "server.port": parts.port or 443,
        }
        if current.attempts > 1:
            attributes["http.request.resend_count"] = current.attempts - 1
        self.scope = current.attempt_scope = Scope(
            f"{current.method} {template}", "CLIENT", attributes
        ).__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.call.attempt_scope = None
        if self.scope is not None:
            self.scope.__exit__(exc_type, exc, tb)


def attempt() -> _Attempt | _Off:
    """The context of one HTTP attempt of the call in progress, or OFF."""
    current = _CALL.get()
    return OFF if current is None else _Attempt(current)


def responded(response: httpx.Response) -> None:
    """Note the status of the attempt in progress; count a 429."""
    current = _CALL.get()
    if current is None:
        return
    status = current.status = response.status_code
    scope = current.attempt_scope
    if scope is not None:
        scope.note("http.response.status_code", status)
        if status >= 400:
            scope.note("error.type", str(status))
    if current.name == "documents.get" and response.request.url.params.get("raw"):
        current.rename("documents.download")
        current.note("wattzon.operation", current.name)
    m = meters()
    if status == 429 and m is not None:
        m.rate_limited.add(1, {"wattzon.operation": current.name})


def rate_limit_wait(seconds: float) -> None:
    """Note that the attempt in progress waited ``seconds`` for the client's rate limit."""
    current = _CALL.get()
    scope = current.attempt_scope if current is not None else None
    if scope is not None and seconds >= _NOTABLE_WAIT:
        scope.event("wattzon.rate_limit.wait", {"wattzon.wait.seconds": seconds})


def retried(attempt_number: int, error: BaseException | None, delay: float) -> None:
    """Note a retry of the call in progress: an event on its span, and a count."""
    current = _CALL.get()
    if current is None:
        return
    reason = error_type(error) if error is not None else "result"
    current.event(
        "wattzon.retry",
        {"wattzon.attempt": attempt_number, "wattzon.retry.delay": delay, "error.type": reason},
    )
    m = meters()
    if m is not None:
        m.retries.add(1, {"wattzon.operation": current.name, "error.type": reason})
