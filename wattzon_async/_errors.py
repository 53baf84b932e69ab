"""The exception tree, and the one pure function that turns a response into data or an error.

Users catch these and nothing else: no httpx, tenacity, botocore or cattrs exception
escapes the SDK. The tree::

    WattzOnError
     ├── ValidationError (also a ValueError): bad input caught before anything is sent
     │    └── DocumentTooLargeError
     ├── CertificateError: unreadable, mismatched, expired or untrusted certificate or key
     ├── APIError
     │    ├── APIStatusError (.status_code, .message, .response)
     │    │    ├── BadRequestError 400
     │    │    ├── AuthenticationError 401
     │    │    ├── PermissionDeniedError 403
     │    │    ├── NotFoundError 404
     │    │    ├── RateLimitError 429 (.retry_after)
     │    │    └── InternalServerError 5xx
     │    ├── APIConnectionError
     │    │    └── APITimeoutError
     │    ├── UnexpectedResponseError: a 2xx body that is not what the API documents
     │    └── AmbiguousSubmitError: a create may or may not have happened
     ├── JobError (.job)
     │    ├── JobFailedError (FAILED)
     │    └── JobUnsupportedError (UNSUPPORTED)
     ├── WaitTimeoutError (also a TimeoutError): the overall await deadline passed
     ├── NotificationError: an SQS message that is not a valid notification
     └── ConsumerError: the notification consumer could not start or was misused
          └── ConsumerNotRunningError (also a RuntimeError)
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from .models import Job

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmitError",
    "AuthenticationError",
    "BadRequestError",
    "CertificateError",
    "ConsumerError",
    "ConsumerNotRunningError",
    "DocumentTooLargeError",
    "InternalServerError",
    "JobError",
    "JobFailedError",
    "JobUnsupportedError",
    "NotFoundError",
    "NotificationError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnexpectedResponseError",
    "ValidationError",
    "WaitTimeoutError",
    "WattzOnError",
    "decode_response",
    "parse_retry_after",
]


class WattzOnError(Exception):
    """Base class of every exception the SDK raises."""


class ValidationError(WattzOnError, ValueError):
    """Bad input, caught before anything was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DocumentTooLargeError(ValidationError):
    """The document is larger than the API accepts (5 MiB by default)."""

    def __init__(self, size: int, limit: int, *, field: str = "document") -> None:
        super().__init__(
            f"{field}: {size} bytes is over the limit of {limit} bytes "
            f"({limit / 1024 / 1024:.0f} MiB); split or compress the document",
            field=field,
        )
        self.size = size
        self.limit = limit


class CertificateError(WattzOnError):
    """A client certificate or key that cannot be used, or a server that cannot be trusted."""


class APIError(WattzOnError):
    """The API could not be reached or did not answer as documented."""


class APIStatusError(APIError):
    """The API answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.response = response


class BadRequestError(APIStatusError):
    """400: the API rejected the request."""


class AuthenticationError(APIStatusError):
    """401: the client certificate is missing or not valid for this client."""


class PermissionDeniedError(APIStatusError):
    """403: the certificate has no access to the resource (another tenant's job)."""


class NotFoundError(APIStatusError):
    """404: the resource does not exist."""


class RateLimitError(APIStatusError):
    """429: the rate limit was exceeded; ``retry_after`` is in seconds when the API said."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, response=response)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the API failed."""


class APIConnectionError(APIError):
    """The API could not be reached, or the connection broke."""

    def __init__(self, message: str, *, request_sent: bool | None = None) -> None:
        super().__init__(message)
        #: False when the request certainly never left; None when unknown.
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The API did not answer in time."""


class UnexpectedResponseError(APIError):
    """A success response whose body is not what the API documents."""


class AmbiguousSubmitError(APIError):
    """A create may or may not have reached the server, and a look-up could not tell.

    ``idempotency_key`` is the tag the SDK attached: look the job up with
    ``client.jobs.list(tag=error.idempotency_key)`` before submitting again.
    """

    def __init__(self, message: str, *, idempotency_key: str | None) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key


class JobError(WattzOnError):
    """A job reached a final state other than COMPLETE; ``job`` is that job."""

    def __init__(self, message: str, *, job: Job) -> None:
        super().__init__(message)
        self.job = job


class JobFailedError(JobError):
    """The job ended FAILED: processing went unrecoverably wrong."""


class JobUnsupportedError(JobError):
    """The job is UNSUPPORTED: the provider is not supported and the document is held."""


class WaitTimeoutError(WattzOnError, TimeoutError):
    """The overall deadline of a wait passed; ``job`` is the last state seen (or None)."""

    def __init__(self, message: str, *, job: Job | None, timeout: float | None) -> None:
        super().__init__(message)
        self.job = job
        self.timeout = timeout


class NotificationError(WattzOnError):
    """An SQS message that is not a valid WattzOn notification."""


class ConsumerError(WattzOnError):
    """The notification consumer could not start, or was used in a way it does not allow."""


class ConsumerNotRunningError(ConsumerError, RuntimeError):
    """The consumer is not running (never started, or stopped): nothing can arrive."""


_STATUS_TABLE: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

_MESSAGE_LIMIT = 500


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: delta-seconds or an HTTP date, as seconds from now.

    Returns None when the header is absent or unreadable; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _error_message(body: bytes, reason: str) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict) and "error" in data:
        message = data["error"]
        text = message if isinstance(message, str) else json.dumps(message)
    if not text:
        text = reason or "no message"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return text


def decode_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    reason: str = "",
    response: httpx.Response | None = None,
) -> Any:
    """Turn a status, headers and body into JSON data, or raise the matching exception.

    A pure function: no I/O, no state. Success bodies must be JSON (raw downloads do not
    come through here). ``{"error": ...}`` bodies and non-JSON error bodies alike keep
    their message.

    Raises:
        APIStatusError: a subclass chosen by status (see ``_STATUS_TABLE``; 5xx is
            InternalServerError; any other non-2xx is APIStatusError itself).
        UnexpectedResponseError: a 2xx whose body is not JSON.
    """
    if 200 <= status_code < 300:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise UnexpectedResponseError(
                f"{status_code} response is not JSON: {body[:80]!r}"
            ) from exc
    message = _error_message(body, reason)
    if status_code == 429:
        retry_after = parse_retry_after(_header(headers, "retry-after"))
        raise RateLimitError(message, response=response, retry_after=retry_after)
    cls = _STATUS_TABLE.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    raise cls(message, status_code=status_code, response=response)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value
