"""WattzOn SQS notifications: parse a message body, or consume a queue.

``parse_notification`` is pure and cheap. ``NotificationConsumer`` reads a queue with
aiobotocore, which is imported only when a consumer starts: importing this package does
not import aiobotocore or botocore.
"""

from ._consumer import NotificationConsumer
from ._parse import MAX_BODY_SIZE, parse_notification
from ._types import (
    ConsumerError,
    ConsumerNotRunningError,
    ConsumerStats,
    Handler,
    InvalidMessageCallback,
)

__all__ = [
    "ConsumerError",
    "ConsumerNotRunningError",
    "ConsumerStats",
    "Handler",
    "InvalidMessageCallback",
    "MAX_BODY_SIZE",
    "NotificationConsumer",
    "parse_notification",
]
