"""The only code that talks to SQS: a thin queue handle over one aiobotocore client.

This module exists to keep aiobotocore and botocore behind one narrow seam. It imports
them only when a queue is opened, so ``import wattzon_async`` never pays for them, and it
turns their exceptions into ``SQSCallError`` (a plain internal exception carrying the AWS
error code) so that the rest of the package never handles a botocore type.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field, frozen

if TYPE_CHECKING:
    from aiobotocore.session import AioSession  # type: ignore[import-untyped]
    from types_aiobotocore_sqs.client import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

__all__ = ["QueueSettings", "SQSCallError", "SQSQueue", "WireMessage"]

logger = logging.getLogger("wattzon_async.notifications")

#: AWS error codes that no retry will cure: a wrong queue, wrong credentials, no access.
PERMANENT_CODES = frozenset(
    {
        "MissingDependency",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAddress",
    }
)

_BATCH = 10


class SQSCallError(Exception):
    """An SQS call failed; ``code`` is the AWS error code, or the exception's class name."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help (the queue is wrong, or access is denied)."""
        return self.code in PERMANENT_CODES


@frozen
class QueueSettings:
    """Where the queue is and how to sign calls to it."""

    queue_url: str
    region_name: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)


@define
class WireMessage:
    """One received message: its id, current receipt handle, body and receive count."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


class SQSQueue:
    """One aiobotocore SQS client bound to one queue URL."""

    def __init__(self, settings: QueueSettings, session: AioSession | None = None) -> None:
        self._settings = settings
        self._session = session
        self._stack = contextlib.AsyncExitStack()
        self._client: SQSClient | None = None

    @property
    def url(self) -> str:
        """The queue URL."""
        return self._settings.queue_url

    async def open(self) -> None:
        """Create the client (importing aiobotocore now, not before)."""
        try:
            from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
            from aiobotocore.session import get_session
        except ImportError as exc:
            raise SQSCallError(
                "CreateClient",
                "MissingDependency",
                "aiobotocore is not installed: pip install 'wattzon-async[sqs]'",
            ) from exc

        session = self._session if self._session is not None else get_session()
        config = AioConfig(
            retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60
        )
        s = self._settings
        try:
            self._client = await self._stack.enter_async_context(
                session.create_client(
                    "sqs",
                    region_name=s.region_name,
                    endpoint_url=s.endpoint_url,
                    aws_access_key_id=s.aws_access_key_id,
                    aws_secret_access_key=s.aws_secret_access_key,
                    aws_session_token=s.aws_session_token,
                    config=config,
                )
            )
        except Exception as exc:
            await self._stack.aclose()
            raise _wrap("CreateClient", exc) from exc

    async def close(self) -> None:
        """Close the client and its connection pool."""
        self._client = None
        try:
            await self._stack.aclose()
        except Exception as exc:  # closing must not raise a botocore type
            logger.warning("closing the SQS client failed: %s", type(exc).__name__)

    @property
    def _sqs(self) -> SQSClient:
        if self._client is None:
            raise SQSCallError("call", "ClientClosed", "the SQS client is not open")
        return self._client

    async def visibility_timeout(self) -> int:
        """The queue's default visibility timeout in seconds."""
        try:
            reply = await self._sqs.get_queue_attributes(
                QueueUrl=self._settings.queue_url, AttributeNames=["VisibilityTimeout"]
            )
        except Exception as exc:
            raise _wrap("GetQueueAttributes", exc) from exc
        return int(reply.get("Attributes", {}).get("VisibilityTimeout", "30"))

    async def receive(
        self, *, max_messages: int, wait_time: int, visibility_timeout: int | None
    ) -> list[WireMessage]:
        """Long-poll for up to ``max_messages`` messages."""
        kwargs: dict[str, Any] = {}
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        try:
            reply = await self._sqs.receive_message(
                QueueUrl=self._settings.queue_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_time,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                **kwargs,
            )
        except Exception as exc:
            raise _wrap("ReceiveMessage", exc) from exc
        return [_message(item) for item in reply.get("Messages", [])]

    async def delete(self, handles: Sequence[str]) -> list[str]:
        """Delete up to ten messages; returns the handles whose deletion failed."""
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        call = self._sqs.delete_message_batch
        return await _batch("DeleteMessageBatch", call, self._settings, entries, handles)

    async def change_visibility(self, handles: Sequence[str], timeout: int) -> list[str]:
        """Set the visibility of up to ten messages; returns the handles that failed."""
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": timeout}
            for i, h in enumerate(handles)
        ]
        call = self._sqs.change_message_visibility_batch
        return await _batch("ChangeMessageVisibilityBatch", call, self._settings, entries, handles)


async def _batch(
    operation: str,
    call: Callable[..., Awaitable[Any]],
    settings: QueueSettings,
    entries: list[dict[str, Any]],
    handles: Sequence[str],
) -> list[str]:
    """Call a batch operation on ``handles``; returns the handles whose entry failed."""
    try:
        reply = await call(QueueUrl=settings.queue_url, Entries=entries)
    except Exception as exc:
        raise _wrap(operation, exc) from exc
    return _failed(reply.get("Failed", []), handles, operation)


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    """Split receipt handles into batches of at most ten (the SQS batch limit)."""
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _failed(failed: Iterable[Any], handles: Sequence[str], operation: str) -> list[str]:
    out: list[str] = []
    for entry in failed:
        index = int(entry["Id"])
        logger.warning(
            "%s: entry failed: %s: %s",
            operation,
            entry.get("Code", "?"),
            entry.get("Message", ""),
        )
        out.append(handles[index])
    return out


def _message(item: MessageTypeDef) -> WireMessage:
    attributes = item.get("Attributes", {})
    try:
        count = int(attributes.get("ApproximateReceiveCount", "1"))
    except ValueError:
        count = 1
    return WireMessage(
        message_id=item.get("MessageId", ""),
        receipt_handle=item.get("ReceiptHandle", ""),
        body=item.get("Body", ""),
        receive_count=count,
    )


def _wrap(operation: str, exc: BaseException) -> SQSCallError:
    response = getattr(exc, "response", None)
    code = type(exc).__name__
    message = str(exc)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or code)
        message = str(error.get("Message") or message)
    return SQSCallError(operation, code, message[:300])
