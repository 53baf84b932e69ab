"""wattzon-async: an asyncio SDK for the WattzOn Snap API and the Link look-ups.

Upload a photo or PDF of a utility bill, get a job, wait for it (by polling, by SQS
notification, or both raced), and read the extracted fields::

    async with WattzOnClient(cert=("client.crt", "client.key")) as client:
        job = await client.jobs.create(email=..., provider=4, document=Path("bill.pdf"))
        done = await client.await_job(job.id, timeout=600)
        print(done.values())
"""

from typing import TYPE_CHECKING, Any

from ._client import WattzOnClient
from ._config import (
    DEFAULT_LINK_URL,
    DEFAULT_SNAP_URL,
    MAX_DOCUMENT_SIZE,
    MAX_DOWNLOAD_SIZE,
    MAX_RESPONSE_SIZE,
    ClientConfig,
    RateLimitPolicy,
    RetryPolicy,
    Timeouts,
    WaitPolicy,
)
from ._errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchStoppedError,
    CertificateError,
    ConsumerError,
    ConsumerNotRunningError,
    DocumentTooLargeError,
    IdempotencyConflictError,
    InternalServerError,
    JobError,
    JobFailedError,
    JobUnsupportedError,
    JournalError,
    NotFoundError,
    NotificationError,
    PermissionDeniedError,
    RateLimitError,
    StoreError,
    UnexpectedResponseError,
    ValidationError,
    WaitTimeoutError,
    WattzOnError,
)
from .jobs._idempotency import MAX_IDEMPOTENCY_KEY_LENGTH, idempotency_tag
from .models import (
    Document,
    DocumentRef,
    ExtractedField,
    Job,
    JobStatus,
    LinkBill,
    LinkNotification,
    Notification,
    SnapNotification,
    Submission,
    TextBox,
    Token,
    Utility,
    ZipCode,
)

if TYPE_CHECKING:
    from ._tls._context import CertificateInfo
    from .jobs._batch import BatchProgress, BatchRun, ResumeSummary, SubmitOutcome
    from .notifications import NotificationConsumer, parse_notification

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmitError",
    "AuthenticationError",
    "BadRequestError",
    "BatchProgress",
    "BatchRun",
    "BatchStoppedError",
    "CertificateError",
    "CertificateInfo",
    "ClientConfig",
    "ConsumerError",
    "ConsumerNotRunningError",
    "DEFAULT_LINK_URL",
    "DEFAULT_SNAP_URL",
    "Document",
    "DocumentRef",
    "DocumentTooLargeError",
    "ExtractedField",
    "IdempotencyConflictError",
    "InternalServerError",
    "Job",
    "JobError",
    "JobFailedError",
    "JobStatus",
    "JobUnsupportedError",
    "JournalError",
    "LinkBill",
    "LinkNotification",
    "MAX_DOCUMENT_SIZE",
    "MAX_DOWNLOAD_SIZE",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_RESPONSE_SIZE",
    "NotFoundError",
    "Notification",
    "NotificationConsumer",
    "NotificationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitPolicy",
    "ResumeSummary",
    "RetryPolicy",
    "SnapNotification",
    "StoreError",
    "Submission",
    "SubmitOutcome",
    "TextBox",
    "Timeouts",
    "Token",
    "UnexpectedResponseError",
    "Utility",
    "ValidationError",
    "WaitPolicy",
    "WaitTimeoutError",
    "WattzOnClient",
    "WattzOnError",
    "ZipCode",
    "__version__",
    "idempotency_tag",
    "parse_notification",
]

#: Names imported on first use, so that ``import wattzon_async`` stays cheap: batches
#: bring sqlite3 and the journal, notifications bring aiobotocore, certificate details
#: the certificate readers.
_LAZY = {
    "CertificateInfo": "wattzon_async._tls._context",
    "BatchProgress": "wattzon_async.jobs._batch",
    "BatchRun": "wattzon_async.jobs._batch",
    "ResumeSummary": "wattzon_async.jobs._batch",
    "SubmitOutcome": "wattzon_async.jobs._batch",
    "NotificationConsumer": "wattzon_async.notifications",
    "parse_notification": "wattzon_async.notifications",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattzon_async' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
