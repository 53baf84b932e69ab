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
     ├── IdempotencyConflictError: a key reused with another provider, email or document
     ├── JobError (.job)
     │    ├── JobFailedError (FAILED)
     │    └── JobUnsupportedError (UNSUPPORTED)
     ├── WaitTimeoutError (also a TimeoutError): the overall await deadline passed
     ├── BatchStoppedError (.job): the batch was stopped before this submission finished
     ├── JournalError: the journal of a durable batch could not be read or written
     ├── NotificationError: an SQS message that is not a valid notification
     └── ConsumerError: the notification consumer could not start or was misused
          └── ConsumerNotRunningError (also a RuntimeError)

Advice that names settings (``pass key_password=``) is kept apart from the problem as a
``hint``: a template whose ``{fields}`` are setting names. ``str(error)`` spells them as a
Python caller writes them (:data:`PYTHON_SETTINGS`); the command line renders the same
hint with its flags through :meth:`WattzOnError.render`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# Durations are read and written in _durations; these names are kept importable from here.
from ._durations import MAX_RETRY_AFTER, parse_retry_after, retry_after_asked, seconds_text

if TYPE_CHECKING:
    from ._httpx import httpx
    from .models import Job

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmitError",
    "AuthenticationError",
    "BadRequestError",
    "BatchStoppedError",
    "CertificateError",
    "ConsumerError",
    "ConsumerNotRunningError",
    "DocumentTooLargeError",
    "IdempotencyConflictError",
    "InternalServerError",
    "JobError",
    "JobFailedError",
    "JobUnsupportedError",
    "JournalError",
    "MAX_RETRY_AFTER",
    "NotFoundError",
    "NotificationError",
    "PermissionDeniedError",
    "RateLimitError",
    "StoreError",
    "UnexpectedResponseError",
    "ValidationError",
    "WaitTimeoutError",
    "WattzOnError",
    "decode_response",
    "parse_retry_after",
    "retry_after_asked",
    "retry_after_of",
    "seconds_text",
]

#: How a hint names each setting to a Python caller (keys are the hint template fields).
PYTHON_SETTINGS: Mapping[str, str] = {
    "cert": "cert=",
    "cert_pair": "cert=(cert_path, key_path)",
    "cert_alone": "cert= alone (one path, no key)",
    "key_password": "key_password= (or WATTZON_KEY_PASSWORD)",
    "ca_bundle": "ca_bundle= (or WATTZON_CA_BUNDLE)",
    "snap_url": "snap_url= (or WATTZON_SNAP_URL)",
    "link_url": "link_url= (or WATTZON_LINK_URL)",
    "force": "force=True",
    "overwrite": "overwrite=True",
    "check_document": "check_document=False",
}


class WattzOnError(Exception):
    """Base class of every exception the SDK raises.

    Attributes:
        problem: What went wrong, without the advice.
        hint: The advice, a template naming settings as ``{key_password}`` and the like
            (see :data:`PYTHON_SETTINGS`), or None.
    """

    def __init__(self, *args: object, hint: str | None = None) -> None:
        self.problem = str(args[0]) if args else ""
        self.hint = hint
        if hint is not None:
            args = (f"{self.problem}; {hint.format_map(_Spellings(PYTHON_SETTINGS))}", *args[1:])
        super().__init__(*args)

    def render(self, settings: Mapping[str, str]) -> str:
        """The message with the hint's settings named from ``settings``.

        Args:
            settings: How to spell each setting, e.g. ``{"force": "--force", ...}``.

        Returns:
            The problem and the advice; ``str(error)`` when there is no hint.
        """
        if self.hint is None:
            return str(self)
        return f"{self.problem}; {self.hint.format_map(_Spellings(settings))}"


class _Spellings(dict[str, str]):
    """Spellings for a hint; a setting missing from them is named as Python names it."""

    def __missing__(self, key: str) -> str:
        return PYTHON_SETTINGS.get(key, key)


class ValidationError(WattzOnError, ValueError):
    """Bad input, caught before anything was sent."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
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
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        text = f"{status_code}: {message}" + (f" at {where}" if where else "")
        super().__init__(text, hint=hint)
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
    """429: the rate limit was exceeded.

    Attributes:
        retry_after: The seconds the API asked to wait (its ``Retry-After``), capped at
            :data:`MAX_RETRY_AFTER`; None when it did not say (or said nothing readable).
        retry_after_asked: What the API asked, uncapped (``inf`` for a number too large
            to hold); None when it did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
        retry_after_asked: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, response=response)
        self.retry_after = retry_after
        self.retry_after_asked = retry_after if retry_after_asked is None else retry_after_asked


class InternalServerError(APIStatusError):
    """5xx: the API failed."""


class APIConnectionError(APIError):
    """The API could not be reached, or the connection broke."""

    def __init__(
        self, message: str, *, request_sent: bool | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
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


class IdempotencyConflictError(WattzOnError):
    """An idempotency key was reused for another bill (provider, email or document).

    The key stands for one create; the job it made is never returned for different
    arguments. ``job`` is the job already made with the key (None while that create is
    still in flight in this client); ``differences`` names what differs
    (``"provider"``, ``"email"``, ``"document"``); ``idempotency_key`` is the key as
    given and ``tag`` its wire tag. The message shows only the tag: a key may hold
    personal data.
    """

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str,
        tag: str,
        job: Job | None,
        differences: tuple[str, ...],
    ) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key
        self.tag = tag
        self.job = job
        self.differences = differences


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


class BatchStoppedError(WattzOnError):
    """The batch was stopped before this submission finished; ``job`` is set if it exists.

    A submission never sent has ``job`` None; a job that was created but not waited for
    to the end has its ``job`` as last seen: it goes on at WattzOn, and a rerun of a
    journaled batch picks it up.
    """

    def __init__(self, message: str, *, job: Job | None = None) -> None:
        super().__init__(message)
        self.job = job


class JournalError(WattzOnError):
    """The journal of a durable batch could not be read or written (disk full, locked)."""


class StoreError(WattzOnError):
    """The shared store could not be reached, read or written (the URL shown without password)."""


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


def retry_after_of(error: BaseException) -> float | None:
    """The seconds a 429 asked to wait (its Retry-After), or None for any other error."""
    return error.retry_after if isinstance(error, RateLimitError) else None


def _error_message(body: bytes, reason: str) -> tuple[str, bool]:
    """The message of an error body, and whether it says more than the status line."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):
        data = None
    specific = False
    if isinstance(data, dict) and "error" in data:
        message = data["error"]
        text = message if isinstance(message, str) else json.dumps(message)
        specific = bool(text.strip()) and text.strip().lower() != (reason or "").lower()
    if not text:
        text = reason or "no message"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return text, specific


def decode_response(
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    reason: str = "",
    response: httpx.Response | None = None,
    where: str | None = None,
    setting: str | None = None,
) -> Any:
    """Turn a status, headers and body into JSON data, or raise the matching exception.

    A pure function: no I/O, no state. Success bodies must be JSON (raw downloads do not
    come through here). ``{"error": ...}`` bodies and non-JSON error bodies alike keep
    their message. A 404 that names nothing (no API error message, or only "Not Found")
    most likely means the URL is not the API's: its message names ``where`` (the URL,
    without its query) and its hint the base URL ``setting`` to check. A 3xx names where
    it points (without the query): redirects are never followed, so the client
    certificate never goes to a host a server names.

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
    message, specific = _error_message(body, reason)
    if status_code == 429:
        asked = retry_after_asked(_header(headers, "retry-after"))
        retry_after = None if asked is None else min(asked, MAX_RETRY_AFTER)
        raise RateLimitError(
            message, response=response, retry_after=retry_after, retry_after_asked=asked
        )
    location = _header(headers, "location") if 300 <= status_code < 400 else None
    if location:  # the client follows no redirect (see _client)
        target = location.split("?", 1)[0]
        target = target if len(target) <= 200 else target[:200] + "…"
        message += f": redirected to {target} (the SDK follows no redirect)"
    cls = _STATUS_TABLE.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    if status_code == 404 and not specific and where:
        hint = f"check that {{{setting}}} is the API's base URL" if setting else None
        raise cls(message, status_code=404, response=response, where=where, hint=hint)
    raise cls(message, status_code=status_code, response=response)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate
    return value
