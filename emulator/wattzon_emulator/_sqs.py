"""Publish notifications to a real SQS endpoint (the moto server) through aiobotocore.

Runs in the emulator's server process. Credentials are dummies passed explicitly, so no
AWS account, no ``~/.aws`` and no network beyond 127.0.0.1 are involved.

It publishes the way a real producer does, so that thousands of jobs finishing together
reach the queue at the rate SQS allows rather than one request per job: ``send`` hands
one body to a pump, which packs what is waiting into ``SendMessageBatch`` calls of up to
ten messages and keeps up to ``concurrency`` of them in flight. While every slot is busy
the bodies pile up, so batches fill exactly when the load is high; a lone notification
goes out at once. A failed call, or the entries SQS refused in a batch, are tried again
through the package's one retry loop (``_retry.retry``) until SQS takes them or
``give_up_after`` seconds have passed: the notifications of jobs finishing during an SQS
outage arrive once it ends, as WattzOn's would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from wattzon_async._retry import Backoff, retry

__all__ = ["DUMMY_CREDENTIALS", "REGION", "SqsPublisher"]

logger = logging.getLogger("wattzon_async.emulator")

REGION = "us-east-1"
#: The credentials every emulator SQS client uses; moto accepts anything.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
#: The most messages one SendMessageBatch may carry (an SQS limit).
_BATCH = 10
#: From about 50 ms after the first failure, doubling up to about 2 s.
_BACKOFF = Backoff.equal_jitter(0.066, 2.66)


class _Unsent(Exception):
    """SQS refused some entries of a batch; they are tried again."""


class SqsPublisher:
    """Sends message bodies to one queue in concurrent batches, creating it on start.

    Args:
        endpoint_url: The SQS endpoint (the moto server).
        queue_name: The queue to create and publish to.
        concurrency: The most SendMessageBatch calls in flight at once.
        give_up_after: Seconds a message is retried before ``send`` raises the last error.
    """

    def __init__(
        self,
        endpoint_url: str,
        queue_name: str,
        *,
        concurrency: int = 8,
        give_up_after: float = 300.0,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.queue_name = queue_name
        self.queue_url = ""
        self._concurrency = concurrency
        self._give_up_after = give_up_after
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._waiting: deque[tuple[str, asyncio.Future[None]]] = deque()
        self._ready = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._pump: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        #: Calls that failed (or left entries unsent) and were tried again.
        self.retries = 0
        #: SendMessageBatch calls made, and messages SQS took.
        self.calls = 0
        self.sent = 0

    async def start(self) -> str:
        """Open the client, create the queue and start the pump.

        Returns:
            The queue URL.
        """
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        # One attempt per call: the retries are ours (``_retry``), not botocore's.
        config = AioConfig(
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=self._concurrency + 2,
            connect_timeout=5,
            read_timeout=30,
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "sqs",
                region_name=REGION,
                endpoint_url=self.endpoint_url,
                config=config,
                **DUMMY_CREDENTIALS,
            )
        )
        reply = await self._client.create_queue(QueueName=self.queue_name)
        self.queue_url = str(reply["QueueUrl"])
        self._pump = asyncio.create_task(self._run_pump(), name="wattzon-emulator-publisher")
        return self.queue_url

    async def send(self, body: str | Mapping[str, Any]) -> None:
        """Publish one message and return once SQS has it.

        Args:
            body: The message body: a string, or a mapping sent as JSON.

        Raises:
            Exception: The last error, when SQS did not take the message within
                ``give_up_after`` seconds.
        """
        text = body if isinstance(body, str) else json.dumps(body)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        self._ready.set()
        await future

    async def _run_pump(self) -> None:
        while True:
            await self._ready.wait()
            await self._slots.acquire()
            count = min(_BATCH, len(self._waiting))
            batch = [self._waiting.popleft() for _ in range(count)]
            if not self._waiting:
                self._ready.clear()
            batch = [(text, future) for text, future in batch if not future.cancelled()]
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._send_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._slots.release()

    async def _send_batch(self, batch: list[tuple[str, asyncio.Future[None]]]) -> None:
        """Send ``batch`` until SQS took every entry; fail what is left when giving up."""
        unsent = list(batch)
        failed_before = False

        async def attempt() -> None:
            nonlocal unsent
            if failed_before:
                # A restarted moto server has forgotten its queues: make ours again.
                with contextlib.suppress(Exception):
                    await self._client.create_queue(QueueName=self.queue_name)
            self.calls += 1
            reply = await self._client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": text} for i, (text, _) in enumerate(unsent)],
            )
            refused = {int(entry["Id"]) for entry in reply.get("Failed", [])}
            for index, (_, future) in enumerate(unsent):
                if index not in refused and not future.done():
                    future.set_result(None)
            self.sent += len(unsent) - len(refused)
            unsent = [item for index, item in enumerate(unsent) if index in refused]
            if unsent:
                raise _Unsent(f"SQS refused {len(unsent)} of the batch's entries")

        def failed(attempt_number: int, error: BaseException | None, delay: float) -> None:
            nonlocal failed_before
            failed_before = True
            self.retries += 1
            logger.info(
                "publishing %d message(s) failed, again in %.2f s: %s", len(unsent), delay, error
            )

        try:
            await retry(
                attempt,
                on=_any_error,
                backoff=_BACKOFF,
                deadline=time.monotonic() + self._give_up_after,
                before_sleep=failed,
            )
        except Exception as exc:
            for _, future in unsent:
                if not future.done():
                    future.set_exception(exc)

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
        """Stop the pump, abandon the batches in flight and close the client."""
        tasks = [t for t in (self._pump, *self._batches) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()
        await self._stack.aclose()


def _any_error(exc: BaseException) -> bool:
    """Every failure to publish is tried again until the deadline, as WattzOn would."""
    return isinstance(exc, Exception)
