"""NotificationConsumer against a real SQS wire protocol: a moto server on a free port.

The ``moto_sqs`` fixture is self-contained: it serves moto's app from a thread of this
process on 127.0.0.1 and an ephemeral port, awaits readiness by polling with a deadline,
and shuts the server down (thread joined, socket closed) at the end of the session.
Every test gets a fresh queue. Credentials are dummies passed explicitly.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from wattzon_async._errors import NotificationError
from wattzon_async.models import LinkNotification, SnapNotification
from wattzon_async.notifications import ConsumerNotRunningError, NotificationConsumer

if TYPE_CHECKING:
    from types_aiobotocore_sqs.client import SQSClient

pytestmark = pytest.mark.integration

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
Notification = SnapNotification | LinkNotification


# -- the moto server -------------------------------------------------------------------


def _serve_moto() -> tuple[Any, threading.Thread]:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class OneServerHeader(MotoRequestHandler):
        """werkzeug and moto both send ``Server``; aiohttp's strict parser rejects two."""

        def send_response(self, code: int, message: str | None = None) -> None:
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=OneServerHeader)
    thread = threading.Thread(target=server.serve_forever, name="moto-sqs", daemon=True)
    thread.start()
    return server, thread


def _await_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def moto_sqs() -> Iterator[str]:
    """The endpoint URL of a moto server, with AWS config files kept out of the way."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server, thread = _serve_moto()
        host, port = server.server_address[:2]
        url = f"http://{host}:{port}"
        try:
            _await_ready(url)
            yield url
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
        assert not thread.is_alive()


@attrs.define
class Queue:
    """A fresh queue on the moto server, with helpers to send and inspect."""

    client: SQSClient
    endpoint_url: str
    url: str

    async def send(self, body: str | dict[str, Any]) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        reply = await self.client.send_message(QueueUrl=self.url, MessageBody=text)
        return reply["MessageId"]

    async def send_snap(self, job_id: int, **fields: Any) -> str:
        return await self.send(snap_body(job_id, **fields))

    async def counts(self) -> tuple[int, int]:
        """(visible, in flight) message counts."""
        reply = await self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        a = reply["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(
            a["ApproximateNumberOfMessagesNotVisible"]
        )

    async def receive_raw(self, wait: int = 1) -> list[str]:
        reply = await self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        return [m.get("Body", "") for m in reply.get("Messages", [])]

    def consumer(self, **overrides: Any) -> NotificationConsumer:
        options: dict[str, Any] = {
            "region_name": REGION,
            "endpoint_url": self.endpoint_url,
            "wait_time_seconds": 1,
            "delete_interval": 0.05,
            **CREDENTIALS,
        }
        options.update(overrides)
        return NotificationConsumer(self.url, **options)


def snap_body(job_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "app": "snap",
        "job_id": job_id,
        "tags": "['sfid:12345', 'demo']",
        "created_at": "2018-01-01 20:40:00.800922+00:00",
        "final_state": "COMPLETE",
        "provider": 4,
        "email": "user@example.com",
        "document": {"id": 259, "name": "bill.pdf"},
        "got_results": True,
        **fields,
    }


@pytest.fixture(scope="session")
async def sqs_client(moto_sqs: str) -> AsyncIterator[SQSClient]:
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    async with get_session().create_client(
        "sqs", region_name=REGION, endpoint_url=moto_sqs, **CREDENTIALS
    ) as client:
        yield client


async def make_queue(
    client: SQSClient, endpoint: str, *, visibility: int = 30, **attributes: str
) -> Queue:
    name = f"q-{uuid.uuid4().hex[:12]}"
    settings: dict[Any, str] = {"VisibilityTimeout": str(visibility), **attributes}
    reply = await client.create_queue(QueueName=name, Attributes=settings)
    return Queue(client, endpoint, reply["QueueUrl"])


@pytest.fixture
async def queue(sqs_client: SQSClient, moto_sqs: str) -> Queue:
    return await make_queue(sqs_client, moto_sqs)


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 60.0, what: str = ""
) -> None:
    """Await ``condition`` becoming true, polling, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def drained(q: Queue) -> bool:
    return await q.counts() == (0, 0)


class Recorder:
    """A worker-mode handler that records calls and can be held or made to fail."""

    def __init__(self) -> None:
        self.calls: list[Notification] = []
        self.gates: dict[int | str, asyncio.Event] = {}
        self.failures: dict[int | str, int] = {}

    def hold(self, job_id: int | str) -> asyncio.Event:
        self.gates[job_id] = asyncio.Event()
        return self.gates[job_id]

    def ids(self) -> list[int | str]:
        return [n.job_id for n in self.calls]

    async def __call__(self, notification: Notification) -> None:
        self.calls.append(notification)
        gate = self.gates.get(notification.job_id)
        if gate is not None:
            await gate.wait()
        if self.failures.get(notification.job_id, 0) > 0:
            self.failures[notification.job_id] -= 1
            raise RuntimeError("handler failed on purpose")


def start_worker(consumer: NotificationConsumer, handler: Recorder) -> asyncio.Task[None]:
    return asyncio.create_task(consumer.run(handler))


async def stop_worker(consumer: NotificationConsumer, task: asyncio.Task[None]) -> None:
    await consumer.stop()
    await asyncio.wait_for(task, 60)


# -- hub mode --------------------------------------------------------------------------


async def test_wait_for_before_arrival(queue: Queue) -> None:
    async with queue.consumer() as consumer:
        waiter = asyncio.create_task(consumer.wait_for(601))
        await queue.send_snap(601)
        notification = await asyncio.wait_for(waiter, 60)
        assert notification.job_id == 601
        await eventually(lambda: drained(queue), what="delivered message deleted")
        assert consumer.stats.delivered == 1


async def test_fast_job_is_held_then_claimed(queue: Queue) -> None:
    async with queue.consumer() as consumer:
        await queue.send_snap(602)
        await eventually(lambda: consumer.stats.received == 1, what="message received")
        assert await queue.counts() == (0, 1)  # held, not deleted
        notification = await asyncio.wait_for(consumer.wait_for(602), 60)
        assert notification.job_id == 602
        await eventually(lambda: drained(queue), what="claimed message deleted")
        again = await asyncio.wait_for(consumer.wait_for(602), 60)  # still within retention
        assert again == notification


async def test_concurrent_waiters_all_get_it(queue: Queue) -> None:
    async with queue.consumer() as consumer:
        waiters = [asyncio.create_task(consumer.wait_for(603)) for _ in range(3)]
        await asyncio.sleep(0)
        await queue.send_snap(603)
        results = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        assert {n.job_id for n in results} == {603}
        await eventually(lambda: drained(queue))


async def test_cancelled_waiter_leaves_nothing(queue: Queue) -> None:
    async with queue.consumer() as consumer:
        waiter = asyncio.create_task(consumer.wait_for(604))
        await asyncio.sleep(0)  # the waiter is registered
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await queue.send_snap(604)
        await eventually(lambda: consumer.stats.received == 1)
        assert await queue.counts() == (0, 1)  # nobody wanted it: held, not deleted
        assert consumer.stats.delivered == 0


async def test_duplicates_resolve_once_and_are_deleted(queue: Queue) -> None:
    async with queue.consumer() as consumer:
        waiter = asyncio.create_task(consumer.wait_for(605))
        await asyncio.sleep(0)
        await queue.send_snap(605)
        await asyncio.wait_for(waiter, 60)
        await queue.send_snap(605)  # the same notification, sent again
        await eventually(lambda: consumer.stats.duplicates == 1, what="duplicate seen")
        await eventually(lambda: drained(queue), what="duplicate deleted")
        assert consumer.stats.delivered == 1


async def test_waiters_fail_when_the_consumer_stops(queue: Queue) -> None:
    consumer = queue.consumer()
    with pytest.raises(ConsumerNotRunningError):
        await consumer.wait_for(606)
    async with consumer:
        waiter = asyncio.create_task(consumer.wait_for(606))
        await asyncio.sleep(0)  # the waiter is registered
    with pytest.raises(ConsumerNotRunningError):
        await waiter


async def test_unclaimed_message_released_after_retention(queue: Queue) -> None:
    async with queue.consumer(retention=0.5, visibility_timeout=30) as consumer:
        await queue.send_snap(607)
        await eventually(lambda: consumer.stats.released >= 1, what="released")
        # Visible again long before its 30 s visibility timeout: received once more.
        await eventually(lambda: consumer.stats.received >= 2, what="received again")
        notification = await asyncio.wait_for(consumer.wait_for(607), 60)
        assert notification.job_id == 607
        await eventually(lambda: drained(queue))


async def test_held_message_visibility_is_extended(sqs_client: SQSClient, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=2)
    async with queue.consumer(retention=60) as consumer:
        await queue.send_snap(608)
        await eventually(lambda: consumer.stats.received == 1)
        # Five empty 1 s long polls (SQS answers an empty one only when its wait is over)
        # span more than two visibility timeouts: the message never became visible.
        for _ in range(5):
            assert await queue.receive_raw(wait=1) == []
        assert consumer.stats.received == 1
        assert (await consumer.wait_for(608)).job_id == 608
        await eventually(lambda: drained(queue))


async def test_stop_releases_held_messages(sqs_client: SQSClient, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=60)
    async with queue.consumer() as consumer:
        await queue.send_snap(609)
        await eventually(lambda: consumer.stats.received == 1)
    assert await queue.counts() == (1, 0)
    assert consumer.stats.released == 1


# -- stopping ----------------------------------------------------------------------------


class Requests:
    """Counts SQS requests sent and answered, through botocore's events on a session."""

    def __init__(self) -> None:
        from aiobotocore.session import get_session

        self.sent: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.session = get_session()
        self.session.register("before-send.sqs", self._count(self.sent))
        self.session.register("after-call.sqs", self._count(self.answered))

    @staticmethod
    def _count(counter: Counter[str]) -> Callable[..., None]:
        def handler(event_name: str, **kwargs: Any) -> None:
            counter[event_name.rsplit(".", 1)[-1]] += 1

        return handler


async def test_stop_cancels_a_long_poll_and_loses_nothing(
    sqs_client: SQSClient, moto_sqs: str
) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=1)
    requests = Requests()
    consumer = queue.consumer(wait_time_seconds=20, session=requests.session)
    await consumer.start()
    await eventually(lambda: requests.sent["ReceiveMessage"] == 1, what="long poll sent")
    await consumer.stop()
    # stop() returned while the 20 s poll was still open: it was cancelled, not awaited.
    assert requests.answered["ReceiveMessage"] == 0
    assert consumer.stats.polls_cancelled == 1
    assert not consumer.running
    # SQS (and moto) may hand the next message to the abandoned poll: it is not lost, it
    # returns after the visibility timeout (1 s here) and the next consumer gets it.
    await queue.send_snap(901)
    async with queue.consumer() as second:
        assert (await asyncio.wait_for(second.wait_for(901), 60)).job_id == 901
    assert consumer.stats.deleted == 0


async def test_stop_lets_a_short_poll_finish_and_releases_what_it_brings(queue: Queue) -> None:
    requests = Requests()
    consumer = queue.consumer(wait_time_seconds=1, session=requests.session)
    await consumer.start()
    await eventually(lambda: requests.sent["ReceiveMessage"] >= 1, what="poll sent")
    stopping = asyncio.create_task(consumer.stop())
    await queue.send_snap(902)  # may arrive in the poll in flight, while stopping
    await stopping
    assert consumer.stats.polls_cancelled == 0
    assert requests.answered["ReceiveMessage"] == requests.sent["ReceiveMessage"]
    assert consumer.stats.deleted == 0
    assert consumer.stats.released == consumer.stats.received  # 0 or 1: never kept
    assert await queue.counts() == (1, 0)  # visible at once either way


async def test_stop_of_a_worker_cancels_its_long_poll(queue: Queue) -> None:
    handler = Recorder()
    requests = Requests()
    consumer = queue.consumer(wait_time_seconds=20, session=requests.session)
    task = start_worker(consumer, handler)
    await queue.send_snap(903)
    await eventually(lambda: handler.ids() == [903], what="handled")
    await eventually(lambda: requests.sent["ReceiveMessage"] == 2, what="next poll sent")
    await stop_worker(consumer, task)
    assert consumer.stats.polls_cancelled == 1
    assert requests.answered["ReceiveMessage"] == 1
    assert consumer.stats.deleted == 1
    await eventually(lambda: drained(queue), what="the handled message deleted")


# -- invalid messages --------------------------------------------------------------------


async def test_malformed_message_goes_to_on_invalid(sqs_client: SQSClient, moto_sqs: str) -> None:
    dead = await make_queue(sqs_client, moto_sqs)
    arn = (await sqs_client.get_queue_attributes(QueueUrl=dead.url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "2"})
    queue = await make_queue(sqs_client, moto_sqs, visibility=1, RedrivePolicy=redrive)
    seen: list[tuple[str, NotificationError]] = []

    async def on_invalid(body: str, error: NotificationError) -> None:
        seen.append((body, error))

    async with queue.consumer(on_invalid=on_invalid) as consumer:
        await queue.send("this is not json")
        await queue.send({"app": "billing", "job_id": 1})
        await queue.send_snap(610)
        assert (await asyncio.wait_for(consumer.wait_for(610), 60)).job_id == 610
        await eventually(lambda: len({body for body, _ in seen}) == 2, what="both invalid")
        assert all(isinstance(error, NotificationError) for _, error in seen)
        # Left to the redrive policy: after two receives both land in the dead-letter queue.
        await eventually(lambda: _has(dead, 2), what="dead-lettered")
        assert consumer.running
    assert consumer.stats.invalid >= 2


async def _has(q: Queue, count: int) -> bool:
    visible, in_flight = await q.counts()
    return visible + in_flight == count


# -- worker mode -------------------------------------------------------------------------


async def test_worker_has_no_batch_barrier(queue: Queue) -> None:
    handler = Recorder()
    gate = handler.hold(701)
    consumer = queue.consumer(concurrency=3)
    task = start_worker(consumer, handler)
    await queue.send_snap(701)
    await eventually(lambda: 701 in handler.ids(), what="slow handler started")
    for job_id in range(702, 708):
        await queue.send_snap(job_id)
    await eventually(
        lambda: set(range(702, 708)) <= set(handler.ids()), what="others ran past the slow one"
    )
    assert not gate.is_set()
    await eventually(lambda: _has(queue, 1), what="only the slow one left")
    gate.set()
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)
    assert consumer.stats.handled == 7
    assert consumer.stats.deleted == 7


async def test_delete_only_after_success(queue: Queue) -> None:
    handler = Recorder()
    gate = handler.hold(711)
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(711)
    await eventually(lambda: 711 in handler.ids())
    assert await queue.counts() == (0, 1)
    gate.set()
    await eventually(lambda: drained(queue), what="deleted after success")
    await stop_worker(consumer, task)


async def test_failed_handler_is_redelivered(sqs_client: SQSClient, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=1)
    handler = Recorder()
    handler.failures[721] = 1
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(721)
    await eventually(lambda: handler.ids() == [721, 721], what="redelivered after failure")
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)
    assert consumer.stats.handler_errors == 1
    assert consumer.stats.handled == 1


async def test_retry_backoff_delays_redelivery(sqs_client: SQSClient, moto_sqs: str) -> None:
    # The queue's own visibility timeout is 12 hours (SQS's most): the failed message
    # comes back within the test only if the consumer set its visibility to the backoff.
    queue = await make_queue(sqs_client, moto_sqs, visibility=12 * 3600)
    handler = Recorder()
    handler.failures[722] = 1
    consumer = queue.consumer(retry_backoff=1.0)
    task = start_worker(consumer, handler)
    await queue.send_snap(722)
    await eventually(lambda: handler.ids() == [722, 722])
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)
    assert consumer.stats.handler_errors == 1


async def test_worker_duplicate_handled_once(queue: Queue) -> None:
    handler = Recorder()
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(731)
    await eventually(lambda: drained(queue))
    await queue.send_snap(731)
    await eventually(lambda: consumer.stats.duplicates == 1)
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)
    assert handler.ids() == [731]


async def test_worker_handles_link_and_serves_waiters(queue: Queue) -> None:
    handler = Recorder()
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await eventually(lambda: consumer.running)
    waiter = asyncio.create_task(consumer.wait_for(741))
    await queue.send({"app": "link", "profile_id": "p1", "job_id": "j1", "tags": "_tags_"})
    await queue.send_snap(741)
    assert (await asyncio.wait_for(waiter, 60)).job_id == 741
    await eventually(lambda: sorted(map(str, handler.ids())) == ["741", "j1"])
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)


async def test_heartbeat_extends_visibility(sqs_client: SQSClient, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=2)
    handler = Recorder()
    gate = handler.hold(751)
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(751)
    await eventually(lambda: 751 in handler.ids())
    for _ in range(5):  # five empty 1 s long polls: more than two visibility timeouts
        assert await queue.receive_raw(wait=1) == []
    gate.set()
    await eventually(lambda: drained(queue))
    await stop_worker(consumer, task)
    assert handler.ids() == [751]


async def test_stop_cancels_late_handlers_and_releases(
    sqs_client: SQSClient, moto_sqs: str
) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=60)
    handler = Recorder()
    handler.hold(761)
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(761)
    await eventually(lambda: 761 in handler.ids())
    await consumer.stop(timeout=0.2)
    await asyncio.wait_for(task, 60)
    assert await queue.counts() == (1, 0)  # released at once, not after 60 s
    assert not consumer.running


async def test_run_after_start_hands_held_messages_to_the_handler(queue: Queue) -> None:
    handler = Recorder()
    async with queue.consumer() as consumer:
        await queue.send_snap(781)
        await eventually(lambda: consumer.stats.received == 1, what="held in hub mode")
        task = start_worker(consumer, handler)
        await eventually(lambda: handler.ids() == [781], what="handed to the handler")
        await eventually(lambda: drained(queue), what="deleted once handled")
        await stop_worker(consumer, task)


async def test_cancelling_run_drains(queue: Queue) -> None:
    handler = Recorder()
    consumer = queue.consumer()
    task = start_worker(consumer, handler)
    await queue.send_snap(771)
    await eventually(lambda: drained(queue))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not consumer.running
    assert handler.ids() == [771]


async def test_restart_mid_stream_loses_nothing(sqs_client: SQSClient, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs, visibility=60)
    wanted = set(range(800, 820))
    for job_id in sorted(wanted):
        await queue.send_snap(job_id)
    seen: set[int | str] = set()

    async def slow(notification: Notification) -> None:
        await asyncio.sleep(0.05)  # some work
        seen.add(notification.job_id)

    async with AsyncExitStack() as stack:
        first = queue.consumer(concurrency=2, max_messages=2)
        stack.push_async_callback(first.stop)
        task = asyncio.create_task(first.run(slow))
        await eventually(lambda: len(seen) >= 5, what="first consumer made progress")
        await first.stop(timeout=0)  # in flight: cancelled and released
        await task
    second = queue.consumer(concurrency=4)
    task = asyncio.create_task(second.run(slow))
    await eventually(lambda: seen == wanted, what="every job handled")
    await eventually(lambda: drained(queue))
    await second.stop()
    await task
