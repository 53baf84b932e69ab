"""Publish notifications to a real SQS endpoint (the moto server) through aiobotocore.

Runs in the emulator's server process. Credentials are dummies passed explicitly, so no
AWS account, no ``~/.aws`` and no network beyond 127.0.0.1 are involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

__all__ = ["DUMMY_CREDENTIALS", "REGION", "SqsPublisher"]

REGION = "us-east-1"
#: The credentials every emulator SQS client uses; moto accepts anything.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class SqsPublisher:
    """Sends message bodies to one queue, creating it on start."""

    def __init__(self, endpoint_url: str, queue_name: str) -> None:
        self.endpoint_url = endpoint_url
        self.queue_name = queue_name
        self.queue_url = ""
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        #: Sends that failed and were tried again.
        self.retries = 0

    async def start(self) -> str:
        """Open the client and create the queue.

        Returns:
            The queue URL.
        """
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        session = get_session()
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "sqs", region_name=REGION, endpoint_url=self.endpoint_url, **DUMMY_CREDENTIALS
            )
        )
        reply = await self._client.create_queue(QueueName=self.queue_name)
        self.queue_url = str(reply["QueueUrl"])
        return self.queue_url

    async def send(self, body: str, *, give_up_after: float = 300.0) -> None:
        """Send one message body, retrying while SQS is unreachable, as WattzOn would.

        Backs off exponentially (capped at 2 s) and makes the queue again when it is gone
        (a restarted moto server forgets its queues). Gives up, raising the last error,
        only after ``give_up_after`` seconds.
        """
        deadline = time.monotonic() + give_up_after
        delay = 0.05
        while True:
            try:
                await self._client.send_message(QueueUrl=self.queue_url, MessageBody=body)
                return
            except Exception:
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                with contextlib.suppress(Exception):
                    await self._client.create_queue(QueueName=self.queue_name)

    async def purge(self) -> None:
        """Delete every visible message in the queue.

        Receives and deletes in batches rather than calling PurgeQueue, which SQS (and
        moto) allow only once a minute.
        """
        while True:
            reply = await self._client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = reply.get("Messages", [])
            if not messages:
                return
            await self._client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )

    async def close(self) -> None:
        """Close the client."""
        await self._stack.aclose()
