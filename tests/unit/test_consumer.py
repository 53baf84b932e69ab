"""NotificationConsumer pieces: the hub's rules, backoff, arguments, and SQS error handling.

The hub is tested with a hand-driven clock. The parts that talk to SQS run against the
moto server fixture of ``tests/integration/test_consumer.py`` (the real wire protocol).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from tests.integration.test_consumer import (
    CREDENTIALS,
    REGION,
    eventually,
    make_queue,
    moto_sqs,
    snap_body,
    sqs_client,
)
from wattzon_async._errors import NotificationError, ValidationError, WattzOnError
from wattzon_async._retry import Backoff
from wattzon_async.models import LinkNotification
from wattzon_async.notifications import (
    ConsumerError,
    ConsumerNotRunningError,
    NotificationConsumer,
    parse_notification,
)
from wattzon_async.notifications._deleter import DeleteBatcher
from wattzon_async.notifications._hub import Hub, Notification, Verdict, dedup_key
from wattzon_async.notifications._sqs import QueueSettings, SQSQueue, WireMessage

__all__ = ["moto_sqs", "sqs_client"]  # fixtures shared with the integration suite

QUEUE_URL = "https://sqs.eu-west-2.amazonaws.com/123456789012/notifications"


def wire(message_id: str, job_id: int = 1, state: str = "COMPLETE") -> tuple[WireMessage, Any]:
    notification = parse_notification(snap_body(job_id, final_state=state))
    return WireMessage(message_id, f"rh-{message_id}", "{}", 1), notification


def make_hub(**overrides: Any) -> Hub:
    options = {"retention": 10.0, "max_retained": 100, "dedup_window": 60.0, **overrides}
    return Hub(**options)


# -- the hub ---------------------------------------------------------------------------


def test_new_then_duplicate_by_id_and_by_key() -> None:
    hub = make_hub()
    w, n = wire("m1")
    assert hub.classify(w, n, 0.0) is Verdict.NEW
    delivery = hub.admit(w, n, 0.0)
    hub.settle(delivery, seen=True, now=1.0)
    assert hub.classify(w, n, 2.0) is Verdict.DUPLICATE
    w2, n2 = wire("m2")
    assert hub.classify(w2, n2, 2.0) is Verdict.DUPLICATE
    w3, n3 = wire("m3", state="FAILED")
    assert hub.classify(w3, n3, 2.0) is Verdict.NEW
    assert hub.classify(w2, n2, 62.0) is Verdict.NEW  # the dedup window has passed


def test_a_wait_marks_a_delivery_being_handed_over_as_claimed() -> None:
    hub = make_hub()
    w, n = wire("m1", job_id=7)
    handing_over = hub.admit(w, n, 0.0)  # not held: its hand-over to a store runs
    w2, n2 = wire("m2", job_id=8)
    other = hub.admit(w2, n2, 0.0)
    other.held = True
    assert hub.held_for(7) == []
    assert handing_over.claimed  # if the store refuses it, the message is deleted anyway
    assert not other.claimed
    assert hub.held_for(8) == [other]


def test_copy_of_held_is_duplicate_copy_of_running_is_left() -> None:
    hub = make_hub()
    w, n = wire("m1")
    held = hub.admit(w, n, 0.0)
    held.held = True
    w2, n2 = wire("m2")
    assert hub.classify(w2, n2, 0.0) is Verdict.DUPLICATE
    held.held = False  # as if a handler were running it
    assert hub.classify(w2, n2, 0.0) is Verdict.IN_PROGRESS


def test_redelivery_updates_the_receipt_handle() -> None:
    hub = make_hub()
    w, n = wire("m1")
    delivery = hub.admit(w, n, 0.0)
    again = WireMessage("m1", "rh-new", "{}", 2)
    assert hub.classify(again, n, 1.0) is Verdict.REDELIVERED
    assert delivery.wire.receipt_handle == "rh-new"


def test_recent_within_retention_only() -> None:
    hub = make_hub(retention=5.0)
    w, n = wire("m1", job_id=7)
    hub.admit(w, n, 0.0)
    assert hub.recent(7, 4.0) == n
    assert hub.recent(7, 6.0) is None
    assert hub.recent(8, 1.0) is None


def test_expired_by_age_and_by_count() -> None:
    hub = make_hub(retention=5.0, max_retained=2)
    deliveries = []
    for index in range(3):
        w, n = wire(f"m{index}", job_id=index)
        d = hub.admit(w, n, float(index))
        d.held = True
        deliveries.append(d)
    assert hub.expired(3.0) == [deliveries[0]]  # over the count bound
    hub.settle(deliveries[0], seen=False, now=3.0)
    assert hub.expired(6.5) == [deliveries[1]]  # over retention
    assert hub.recent(0, 3.0) is None  # the released one is no longer claimable


def test_held_for_and_settle() -> None:
    hub = make_hub()
    w, n = wire("m1", job_id=9)
    d = hub.admit(w, n, 0.0)
    assert hub.held_for(9) == []
    d.held = True
    assert hub.held_for(9) == [d]
    hub.settle(d, seen=True, now=0.0)
    assert hub.held_for(9) == []
    assert hub.active == []


async def test_waiters_resolve_and_fail() -> None:
    hub = make_hub()
    loop = asyncio.get_running_loop()
    first: asyncio.Future[Notification] = loop.create_future()
    second: asyncio.Future[Notification] = loop.create_future()
    gone: asyncio.Future[Notification] = loop.create_future()
    for future in (first, second, gone):
        hub.add_waiter(5, future)
    hub.remove_waiter(5, gone)
    _, n = wire("m1", job_id=5)
    assert len(hub.resolve(n)) == 2
    assert first.result() == n
    assert second.result() == n
    assert not gone.done()
    assert hub.resolve(n) == []
    hub.add_waiter(6, gone)
    hub.fail_waiters(ConsumerNotRunningError("stopped"))
    with pytest.raises(ConsumerNotRunningError):
        gone.result()


async def test_link_notifications_are_recent_and_resolve_by_profile() -> None:
    hub = make_hub(retention=5.0)
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Notification] = loop.create_future()
    hub.add_waiter(("link", "1001"), waiter)
    first = parse_notification({"app": "link", "profile_id": "1001", "job_id": "j1"})
    assert isinstance(first, LinkNotification)
    delivery = hub.admit(WireMessage("m1", "rh1", "{}", 1), first, 0.0)
    assert len(hub.resolve(first)) == 1
    assert waiter.result() == first
    assert hub.recent(("link", "1001"), 4.0) == first
    assert hub.recent(1001, 4.0) is None  # a Snap job id is another key
    second = parse_notification({"app": "link", "profile_id": "1001", "job_id": "j2"})
    held = hub.admit(WireMessage("m2", "rh2", "{}", 1), second, 1.0)
    held.held = True
    assert hub.recent(("link", "1001"), 4.0) == second  # the latest extraction's
    assert hub.held_for(("link", "1001")) == [held]
    hub.settle(delivery, seen=False, now=2.0)  # the older one, released
    assert hub.recent(("link", "1001"), 4.0) == second


def test_dedup_key() -> None:
    _, n = wire("m", job_id=3, state="FAILED")
    assert dedup_key(n) == "snap:3:FAILED"
    link = parse_notification({"app": "link", "profile_id": "p", "job_id": "j"})
    assert dedup_key(link) == "link:j:p"


def test_backoff_grows_is_capped_and_never_zero() -> None:
    backoff = Backoff.equal_jitter(0.5, 30.0)  # the receive loop's, with a 30 s cap
    for attempt in range(1, 60):
        delay = backoff.wait(attempt)
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
        assert delay >= 0.25


# -- arguments and state ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("wait_time_seconds", 21),
        ("wait_time_seconds", -1),
        ("wait_time_seconds", 1.5),
        ("max_messages", 0),
        ("max_messages", 11),
        ("max_messages", True),
        ("visibility_timeout", 0),
        ("visibility_timeout", 43201),
        ("concurrency", 0),
        ("retention", -1.0),
        ("retention", float("nan")),
        ("max_retained", 0),
        ("dedup_window", float("inf")),
        ("retry_backoff", 0),
        ("delete_interval", 0),
        ("receive_backoff_max", "10"),
        ("stop_timeout", -1),
        ("on_invalid", "print"),
    ],
)
def test_bad_arguments_name_the_field(field: str, value: object) -> None:
    arguments: dict[str, Any] = {field: value}
    with pytest.raises(ValidationError) as info:
        NotificationConsumer(QUEUE_URL, **arguments)
    assert info.value.field == field
    assert field in str(info.value)


def test_bad_queue_url() -> None:
    with pytest.raises(ValidationError) as info:
        NotificationConsumer("  ")
    assert info.value.field == "queue_url"


def test_region_is_read_from_the_queue_url() -> None:
    consumer = NotificationConsumer(QUEUE_URL)
    assert consumer._settings.region_name == "eu-west-2"
    assert NotificationConsumer(QUEUE_URL, region_name="us-west-1")._settings.region_name == (
        "us-west-1"
    )


def test_from_env_reads_the_variables_the_emulator_prints() -> None:
    env = {
        "WATTZON_SQS_QUEUE_URL": "http://127.0.0.1:4566/123456789012/q",
        "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4566",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WATTZON_SQS_WAIT_TIME_SECONDS": "1",
    }
    consumer = NotificationConsumer.from_env(env)
    assert consumer.queue_url == env["WATTZON_SQS_QUEUE_URL"]
    assert consumer._settings.endpoint_url == "http://127.0.0.1:4566"
    assert consumer._settings.region_name == "us-east-1"
    assert consumer._options.wait_time_seconds == 1
    assert consumer._settings.aws_access_key_id is None  # botocore's chain decides
    keys = {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "secret"}
    settings = NotificationConsumer.from_env(keys)._settings
    assert (settings.aws_access_key_id, settings.aws_secret_access_key) == ("testing", "secret")
    own = {**env, "WATTZON_SQS_ENDPOINT_URL": "http://localhost:9324"}
    assert NotificationConsumer.from_env(own)._settings.endpoint_url == "http://localhost:9324"
    assert NotificationConsumer.from_env(own, wait_time_seconds=5)._options.wait_time_seconds == 5


@pytest.mark.parametrize("value", ["soon", "-1", "2.5", "21"])
def test_from_env_names_a_bad_wait_time_variable(value: str) -> None:
    env = {"WATTZON_SQS_QUEUE_URL": QUEUE_URL, "WATTZON_SQS_WAIT_TIME_SECONDS": value}
    with pytest.raises(ValidationError) as info:
        NotificationConsumer.from_env(env)
    assert info.value.field == "WATTZON_SQS_WAIT_TIME_SECONDS"
    assert value in str(info.value)


def test_secrets_stay_out_of_repr() -> None:
    settings = QueueSettings(QUEUE_URL, aws_secret_access_key="s3cr3t", aws_session_token="t0k")
    assert "s3cr3t" not in repr(settings)
    assert "t0k" not in repr(settings)
    assert repr(NotificationConsumer(QUEUE_URL)).endswith("stopped>")


async def test_not_running() -> None:
    consumer = NotificationConsumer(QUEUE_URL)
    with pytest.raises(ConsumerNotRunningError) as info:
        await consumer.wait_for(1)
    assert isinstance(info.value, WattzOnError)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(ValidationError):
        await consumer.wait_for("1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        await consumer.wait_for(0)
    assert caught.value.field == "job_id"
    with pytest.raises(ValidationError) as caught:
        await consumer.run("handler")  # type: ignore[arg-type]
    assert str(caught.value) == "handler: must be an async callable, not 'handler'"
    await consumer.stop()  # a no-op
    assert not consumer.running
    assert consumer.last_receive_at is None


@pytest.mark.parametrize(
    ("profile_id", "timeout", "field"),
    [
        ("", None, "profile_id"),
        ("  ", None, "profile_id"),
        (True, None, "profile_id"),
        (1.5, None, "profile_id"),
        ("1001", 0, "timeout"),
        ("1001", -1.0, "timeout"),
        ("1001", float("nan"), "timeout"),
    ],
)
async def test_wait_for_link_checks_its_arguments_first(
    profile_id: object, timeout: object, field: str
) -> None:
    consumer = NotificationConsumer(QUEUE_URL)  # not running: the checks come before that
    with pytest.raises(ValidationError) as info:
        await consumer.wait_for_link(profile_id, timeout=timeout)  # type: ignore[arg-type]
    assert info.value.field == field
    with pytest.raises(ConsumerNotRunningError):
        await consumer.wait_for_link(1001, timeout=1)


# -- against the moto server -------------------------------------------------------------


def consumer_for(endpoint: str, url: str, **overrides: Any) -> NotificationConsumer:
    options: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": endpoint,
        "wait_time_seconds": 1,
        **CREDENTIALS,
        **overrides,
    }
    return NotificationConsumer(url, **options)


async def test_start_on_a_missing_queue_raises_consumer_error(moto_sqs: str) -> None:
    consumer = consumer_for(moto_sqs, f"{moto_sqs}/123456789012/no-such-queue")
    with pytest.raises(ConsumerError, match="no-such-queue") as info:
        await consumer.start()
    assert info.value.__cause__ is None
    assert not consumer.running


async def test_start_on_an_unreachable_endpoint_raises_consumer_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    consumer = consumer_for(endpoint, f"{endpoint}/123456789012/q")
    with pytest.raises(ConsumerError):
        await consumer.start()


async def test_start_twice_and_restart(sqs_client: Any, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs)
    consumer = queue.consumer()
    async with consumer:
        with pytest.raises(ConsumerError):
            await consumer.start()
        assert consumer.running
    async with consumer:  # a stopped consumer starts again
        await queue.send_snap(901)
        assert (await asyncio.wait_for(consumer.wait_for(901), 60)).job_id == 901


async def test_receive_errors_back_off_and_recover(
    sqs_client: Any, moto_sqs: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = await make_queue(sqs_client, moto_sqs)
    name = queue.url.rsplit("/", 1)[1]
    consumer = queue.consumer(receive_backoff_max=1.0)
    async with consumer:
        await eventually(lambda: consumer.last_receive_at is not None)
        await sqs_client.delete_queue(QueueUrl=queue.url)
        started = time.monotonic()
        await eventually(lambda: consumer.stats.receive_errors >= 2, what="errors counted")
        elapsed = time.monotonic() - started
        assert consumer.stats.receive_errors <= 2 + elapsed / 0.25  # no hot loop
        assert consumer.running
        await sqs_client.create_queue(QueueName=name)
        mark = time.monotonic()
        await eventually(
            lambda: (consumer.last_receive_at or 0) > mark, what="receiving again after errors"
        )
        await queue.send_snap(902)
        assert (await asyncio.wait_for(consumer.wait_for(902), 60)).job_id == 902
    assert "receiving notifications failed" in caplog.text


class CountingQueue(SQSQueue):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.batches: list[int] = []

    async def delete(self, handles: Any) -> list[str]:
        self.batches.append(len(handles))
        return await super().delete(handles)


async def test_deletes_are_coalesced(sqs_client: Any, moto_sqs: str) -> None:
    queue = await make_queue(sqs_client, moto_sqs)
    for job_id in range(25):
        await queue.send_snap(job_id)
    handles: list[str] = []
    while len(handles) < 25:
        reply = await sqs_client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
        handles += [m["ReceiptHandle"] for m in reply.get("Messages", [])]
    sqs = CountingQueue(QueueSettings(queue.url, REGION, moto_sqs, **CREDENTIALS))
    await sqs.open()
    deleted: list[int] = []
    batcher = DeleteBatcher(sqs, interval=0.2, on_deleted=deleted.append)
    batcher.start()
    try:
        for handle in handles[:3]:
            batcher.add(handle)
        await eventually(lambda: sum(deleted) == 3, what="a partial batch after the interval")
        assert sqs.batches == [3]
        for handle in handles[3:]:
            batcher.add(handle)
        await eventually(lambda: sum(deleted) == 25, what="full batches at once")
        assert sqs.batches == [3, 10, 10, 2]
    finally:
        await batcher.close()
        await sqs.close()
    assert await queue.counts() == (0, 0)


async def test_invalid_callback_errors_are_contained_and_bodies_not_logged(
    sqs_client: Any, moto_sqs: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wattzon_async.notifications")
    queue = await make_queue(sqs_client, moto_sqs)
    calls: list[tuple[str, NotificationError]] = []

    def on_invalid(body: str, error: NotificationError) -> None:
        calls.append((body, error))
        raise RuntimeError("callback broke")

    async with queue.consumer(on_invalid=on_invalid) as consumer:
        await queue.send("private@example.com is not json")
        await queue.send_snap(903, email="someone@example.com")
        assert (await asyncio.wait_for(consumer.wait_for(903), 60)).job_id == 903
        await eventually(lambda: len(calls) >= 1)
        assert calls[0][0] == "private@example.com is not json"
        assert consumer.running
    assert "callback broke" in caplog.text
    assert "private@example.com" not in caplog.text
    assert "someone@example.com" not in caplog.text
