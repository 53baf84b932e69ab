"""SQS chaos: the consumer, and the SQS endpoint itself, go away in the middle of a stream.

Afterwards every notification has been handled at least once, the consumer recovered by
itself (no new process, and for the endpoint outage not even a new consumer), and
nothing is left open.

* With the emulator: a worker-mode consumer is stopped and started again (the same
  object) while jobs keep finishing and their notifications keep arriving.
* With an SQS endpoint outage: moto serves from a thread of this process behind a TCP
  proxy on a fixed port. Stopping the proxy cuts every connection and refuses new ones,
  as an unreachable endpoint does; starting it again on the same port brings the same
  queue back (moto's state lives in this process, as a real queue's messages survive an
  outage). The sender stands in for WattzOn, which retries a message it could not send.
  The emulator's own publisher cannot be used for this: it drops a notification it
  fails to send, and its moto cannot be restarted on the same port (see the report).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from wattzon_async import WaitPolicy
from wattzon_async.emulator import Emulator
from wattzon_async.models import LinkNotification, SnapNotification
from wattzon_async.notifications import NotificationConsumer

from .conftest import PDF
from .test_soak import no_leaks

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient

pytestmark = pytest.mark.integration

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
Notification = SnapNotification | LinkNotification


async def _until(condition: Any, timeout: float, what: str) -> None:
    """Await ``condition()`` becoming true, failing the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.02)


class Recorder:
    """A worker-mode handler that counts the job ids it handled."""

    def __init__(self) -> None:
        self.handled: Counter[int] = Counter()

    async def __call__(self, notification: Notification) -> None:
        if isinstance(notification, SnapNotification):
            self.handled[notification.job_id] += 1


# -- 1. the consumer stops and starts again while the emulator keeps notifying ---------------


@pytest_asyncio.fixture
async def quiet_queue(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    await clean_emulator.reset(purge_queue=True)
    yield clean_emulator


async def test_consumer_restart_mid_stream_handles_every_notification(
    quiet_queue: Emulator,
) -> None:
    emu = quiet_queue
    await emu.configure(processing_time=(0.1, 0.6))
    recorder = Recorder()
    created: list[int] = []
    async with no_leaks() as ports:
        ports.append(emu.port)
        consumer = emu.consumer(visibility_timeout=5)
        async with emu.client(wait=WaitPolicy(initial_delay=0.1)) as client:

            async def produce(count: int) -> None:
                for _ in range(count):
                    job = await client.jobs.create(
                        email="user@example.com", provider=4, document=PDF, name="bill.pdf"
                    )
                    created.append(job.id)
                    await asyncio.sleep(0.03)

            for _ in range(3):  # run, stop mid-stream, run the same consumer again
                runner = asyncio.create_task(consumer.run(recorder))
                # stop() before run() has started would be a no-op, and run() then endless.
                await _until(lambda: consumer.running, 60, "running")
                producer = asyncio.create_task(produce(15))
                target = len(recorder.handled) + 5  # progress in this round, not before it
                await _until(lambda n=target: len(recorder.handled) >= n, 60, "progress")
                await consumer.stop()
                await runner
                assert not consumer.running
                await producer  # notifications of these jobs arrive while nobody consumes
            runner = asyncio.create_task(consumer.run(recorder))
            await _until(lambda: set(created) <= set(recorder.handled), 60, "all handled")
            await consumer.stop()
            await runner
    assert len(created) == 45
    assert set(created) <= set(recorder.handled)
    stats = await emu.stats()
    assert stats["notifications_sent"] == 45
    assert stats["notification_errors"] == 0


# -- 2. the SQS endpoint goes away and comes back --------------------------------------------


class Moto:
    """moto's SQS served from a thread of this process on an ephemeral port."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class OneServerHeader(MotoRequestHandler):
            """werkzeug and moto both send ``Server``; aiohttp's strict parser rejects two."""

            def send_response(self, code: int, message: str | None = None) -> None:
                self.send_response_only(code, message)
                self.send_header("Date", self.date_time_string())

        app = DomainDispatcherApplication(create_backend_app)
        self.server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=OneServerHeader
        )
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    server = Moto()
    yield server
    server.close()


class Outage:
    """A TCP proxy to moto on a fixed port: ``down()`` cuts everything, ``up()`` restores it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(
            self._connected, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:  # aborted transports end every pipe; nothing needs cancelling
            await asyncio.wait(set(self._tasks), timeout=5)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            self._writers.add(upstream_writer)
            async with asyncio.TaskGroup() as group:
                group.create_task(_pipe(reader, upstream_writer))
                group.create_task(_pipe(upstream_reader, writer))
        except (OSError, ExceptionGroup):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


def _sqs_client(url: str) -> Any:
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    config = AioConfig(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=5
    )
    return get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=url, config=config, **CREDENTIALS
    )


def _message(job_id: int) -> str:
    return json.dumps(
        {
            "app": "snap",
            "job_id": job_id,
            "tags": "['chaos']",
            "created_at": "2018-01-01 20:40:00.800922+00:00",
            "final_state": "COMPLETE",
            "provider": 4,
            "email": "user@example.com",
            "document": {"id": job_id, "name": "bill.pdf"},
            "got_results": True,
        }
    )


class Sender:
    """WattzOn's side: sends each notification, retrying until the queue accepts it."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.sent: list[int] = []
        self.failures = 0

    async def send_all(self, job_ids: range, pause: float) -> None:
        for job_id in job_ids:
            while True:
                try:
                    await self.sqs.send_message(
                        QueueUrl=self.queue_url, MessageBody=_message(job_id)
                    )
                except Exception:  # any botocore or connection error: retry, as WattzOn does
                    self.failures += 1
                    await asyncio.sleep(0.1)
                else:
                    break
            self.sent.append(job_id)
            await asyncio.sleep(pause)


async def test_sqs_endpoint_outage_and_consumer_restart_lose_nothing(moto: Moto) -> None:
    total = 120
    recorder = Recorder()
    outage = Outage(moto.port)
    async with no_leaks() as ports:
        await outage.up()
        ports.append(outage.port)
        try:
            await _outage_run(outage, recorder, total)
        finally:
            await outage.down()


async def _outage_run(outage: Outage, recorder: Recorder, total: int) -> None:
    async with _sqs_client(outage.url) as sqs:
        queue_url = (await sqs.create_queue(QueueName=f"chaos-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
        sender = Sender(sqs, queue_url)
        consumer = NotificationConsumer(
            queue_url,
            region_name=REGION,
            endpoint_url=outage.url,
            wait_time_seconds=1,
            visibility_timeout=3,
            receive_backoff_max=0.5,
            delete_interval=0.05,
            stop_timeout=5,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        runner = asyncio.create_task(consumer.run(recorder))
        sending = asyncio.create_task(sender.send_all(range(1, total + 1), pause=0.02))

        # The consumer stops and starts again (same object, same process) mid-stream.
        await _until(lambda: len(recorder.handled) >= 20, 60, "first notifications")
        await consumer.stop()
        await runner
        runner = asyncio.create_task(consumer.run(recorder))

        # The endpoint goes away with messages in flight both ways, then comes back.
        await _until(lambda: len(recorder.handled) >= 50, 60, "notifications after restart")
        errors_before = consumer.stats.receive_errors
        await outage.down()
        await _until(lambda: consumer.stats.receive_errors > errors_before, 60, "errors seen")
        await _until(lambda: sender.failures > 0, 60, "the sender noticed")
        assert consumer.running
        await outage.up()

        await sending
        await _until(lambda: set(range(1, total + 1)) <= set(recorder.handled), 60, "all handled")
        mark = time.monotonic()  # receiving is healthy again: a receive succeeds after now
        await _until(lambda: (consumer.stats.last_receive_at or 0) > mark, 60, "receiving again")
        await consumer.stop()
        await runner
        remaining = await sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        await sqs.delete_queue(QueueUrl=queue_url)
    assert sender.sent == list(range(1, total + 1))
    assert set(recorder.handled) == set(range(1, total + 1))
    stats = consumer.stats
    assert stats.receive_errors > 0
    assert stats.handled >= total
    # Messages whose deletion was cut off come back and are handled or deduplicated later.
    attributes = remaining["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == 0


async def test_notifications_survive_an_outage_of_the_emulators_sqs() -> None:
    async with Emulator(processing_time=0.2, sqs=True) as emulator, emulator.client() as client:
        handled: Counter[int] = Counter()

        async def handle(notification: SnapNotification | LinkNotification) -> None:
            if isinstance(notification, SnapNotification):
                handled[notification.job_id] += 1

        async def create(count: int) -> list[int]:
            return [
                (
                    await client.jobs.create(
                        email="user@example.com", provider=4, document=PDF, name=f"outage-{i}.pdf"
                    )
                ).id
                for i in range(count)
            ]

        consumer = emulator.consumer(receive_backoff_max=0.5)
        worker = asyncio.create_task(consumer.run(handle))
        before = await create(5)
        await _until(lambda: set(before) <= set(handled), 60, "notifications before the outage")

        await emulator.stop_sqs()
        during = await create(5)

        async def all_final() -> bool:
            jobs = await asyncio.gather(*(client.jobs.get(i) for i in during))
            return all(job.is_final for job in jobs)

        async with asyncio.timeout(60):
            while not await all_final():  # noqa: ASYNC110 - a condition with a deadline
                await asyncio.sleep(0.05)
        await emulator.start_sqs()
        await _until(lambda: set(during) <= set(handled), 60, "notifications after the outage")
        await consumer.stop()
        await worker
        stats = await emulator.stats()
    assert stats["notification_errors"] == 0
    assert set(handled) == set(before) | set(during)
