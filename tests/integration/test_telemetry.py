"""OpenTelemetry against the emulator: span trees, retried attempts, metrics, no personal data.

The OpenTelemetry SDK records in memory (``tests.otel_support``) for each test only.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.otel_support import Recorded, installed
from wattzon_async import (
    NotFoundError,
    RateLimitPolicy,
    RetryPolicy,
    Submission,
    WaitPolicy,
    idempotency_tag,
)
from wattzon_async.emulator import Emulator
from wattzon_async.models import LinkNotification, SnapNotification

from .conftest import poll_until

BILL = b"%PDF-1.4\n% a bill for telemetry\n"
#: So sparse that a wait that ends quickly was ended by its notification.
NEVER = WaitPolicy(initial_delay=300.0, max_delay=300.0, check_first=False)


@pytest.fixture
async def fresh(wattzon_emulator: Emulator) -> AsyncIterator[Emulator]:
    await wattzon_emulator.reset(purge_queue=True)
    yield wattzon_emulator
    await wattzon_emulator.reset(purge_queue=True)


@pytest.fixture
def otel() -> Iterator[Recorded]:
    with installed() as recorded:
        yield recorded


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    matching = [s for s in spans if s.name == name]
    assert len(matching) == 1, [s.name for s in spans]
    return matching[0]


def attrs(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


async def test_create_await_and_notification_make_one_tree(fresh: Emulator, otel: Recorded) -> None:
    async with fresh.client() as client, fresh.consumer() as consumer:
        job = await client.jobs.create(
            email="user@example.com",
            provider=4,
            document=BILL,
            name="bill.pdf",
            idempotency_key=f"order-{uuid.uuid4()}",
        )
        done = await client.await_job(job.id, notifications=consumer, policy=NEVER, timeout=30)
    assert done.status.value == "COMPLETE"

    create = one(otel.spans(), "jobs.create")
    assert create.parent is None
    assert attrs(create)["wattzon.job.id"] == job.id
    assert attrs(create)["wattzon.idempotency.outcome"] == "created"
    look_up, post = otel.children(create)
    assert look_up.name == "jobs.list"
    (look_up_get,) = otel.children(look_up)
    assert attrs(look_up_get)["url.template"] == "/api/v1/jobs/"
    assert post.name == "POST /api/v1/jobs/"
    assert post.kind is SpanKind.CLIENT
    assert attrs(post) | {"server.port": 0} == {
        "http.request.method": "POST",
        "url.template": "/api/v1/jobs/",
        "server.address": "127.0.0.1",
        "server.port": 0,
        "http.response.status_code": 201,
    }

    wait = one(otel.spans(), "await_job")
    assert attrs(wait) == {
        "wattzon.job.id": job.id,
        "wattzon.wait.polls": 1,
        "wattzon.wait.resolved_by": "notification",
        "wattzon.job.status": "COMPLETE",
    }
    (confirm,) = otel.children(wait)
    assert confirm.name == "jobs.get"
    (get,) = otel.children(confirm)
    assert attrs(get)["url.template"] == "/api/v1/jobs/{job_id}/"
    assert attrs(get)["http.response.status_code"] == 200

    process = [s for s in otel.spans() if s.name.startswith("process ")]
    (resolving,) = [s for s in process if attrs(s).get("wattzon.job.id") == job.id]
    assert resolving.kind is SpanKind.CONSUMER
    assert attrs(resolving)["messaging.system"] == "aws_sqs"
    assert attrs(resolving)["messaging.operation.type"] == "process"
    assert attrs(resolving)["wattzon.notification.verdict"] == "new"
    assert attrs(resolving)["wattzon.message.receive_count"] == 1
    # The notification's span links to the wait it ended or, when it came first, the
    # wait links to it.
    links = [(link.context.span_id, resolving.context.span_id) for link in resolving.links]
    links += [(wait.context.span_id, link.context.span_id) for link in wait.links]
    assert links == [(wait.context.span_id, resolving.context.span_id)]
    assert resolving.parent is not None
    receive = next(s for s in otel.spans() if s.context.span_id == resolving.parent.span_id)
    assert receive.name.startswith("receive ")
    assert attrs(receive)["messaging.operation.type"] == "receive"
    assert attrs(receive)["messaging.batch.message_count"] >= 1  # type: ignore[operator]


async def test_a_wait_after_its_notification_links_to_it(fresh: Emulator, otel: Recorded) -> None:
    async with fresh.client() as client, fresh.consumer() as consumer:
        job = await client.jobs.create(
            email="user@example.com", provider=4, document=BILL, name="bill.pdf"
        )
        await poll_until(lambda: _value(consumer.stats.received >= 1), timeout=30)
        await client.await_job(job.id, notifications=consumer, policy=NEVER, timeout=30)
    wait = one(otel.spans(), "await_job")
    assert attrs(wait)["wattzon.wait.resolved_by"] == "notification"
    (process,) = [
        s
        for s in otel.spans()
        if s.name.startswith("process ") and attrs(s).get("wattzon.job.id") == job.id
    ]
    assert not process.links
    assert [link.context.span_id for link in wait.links] == [process.context.span_id]


async def test_a_retried_get_shows_each_attempt(fresh: Emulator, otel: Recorded) -> None:
    retry = RetryPolicy(attempts=12, wait_initial=0.01, wait_max=0.05)
    async with fresh.client(retry=retry) as client:
        job = await client.jobs.create(
            email="user@example.com", provider=4, document=BILL, name="bill.pdf"
        )
        await fresh.set_faults(error_rate=0.5, seed=7)
        otel.exporter.clear()
        for _ in range(40):
            await client.jobs.get(job.id)
            retried = [s for s in otel.named("jobs.get") if len(otel.children(s)) > 1]
            if retried:
                break
        await fresh.set_faults()
    assert retried, "no jobs.get was retried with error_rate=0.5 in 40 calls"
    call = retried[0]
    attempts = otel.children(call)
    assert [attrs(a).get("http.request.resend_count", 0) for a in attempts] == list(
        range(len(attempts))
    )
    assert [attrs(a)["http.response.status_code"] for a in attempts] == [500] * (
        len(attempts) - 1
    ) + [200]
    assert all(attrs(a)["error.type"] == "500" for a in attempts[:-1])
    assert all(a.status.status_code is StatusCode.ERROR for a in attempts[:-1])
    assert attrs(call)["wattzon.attempts"] == len(attempts)
    assert call.status.status_code is StatusCode.UNSET
    assert [e.name for e in call.events] == ["wattzon.retry"] * (len(attempts) - 1)
    retries = {
        labels["error.type"]: n
        for labels, n in otel.metrics()["wattzon.client.retries"]
        if labels["wattzon.operation"] == "jobs.get"
    }
    assert retries["500"] >= len(attempts) - 1


async def test_a_batch_is_one_parent_with_a_child_per_submission(
    fresh: Emulator, otel: Recorded
) -> None:
    subs = [
        Submission(email="user@example.com", provider=4, document=BILL, name=f"b{i}.pdf")
        for i in range(3)
    ]
    async with fresh.client() as client:
        outcomes = [o async for o in client.jobs.submit_many(subs, wait=True, timeout=30)]
    assert all(o.ok for o in outcomes)
    batch = one(otel.spans(), "submit_many")
    assert attrs(batch) == {
        "wattzon.batch.size": 3,
        "wattzon.batch.done": 3,
        "wattzon.batch.failed": 0,
    }
    children = otel.children(batch)
    assert sorted(attrs(c)["wattzon.batch.index"] for c in children) == [0, 1, 2]  # type: ignore[type-var]
    for child in children:
        assert [c.name for c in otel.children(child)] == ["jobs.create", "await_job"]
        job_id = attrs(child)["wattzon.job.id"]
        assert attrs(otel.children(child)[1])["wattzon.job.id"] == job_id


async def test_metrics_of_calls_waits_and_notifications(fresh: Emulator, otel: Recorded) -> None:
    await fresh.set_faults(duplicate_notification_rate=1.0, malformed_notification_rate=1.0)
    paced = RateLimitPolicy(max_rate=50.0)
    async with fresh.client(rate_limit=paced) as client, fresh.consumer() as consumer:
        job = await client.jobs.create(
            email="user@example.com", provider=4, document=BILL, name="bill.pdf"
        )
        await client.await_job(job.id, notifications=consumer, policy=NEVER, timeout=30)
        with pytest.raises(NotFoundError):
            await client.jobs.get(987654321)

        async def settled() -> bool | None:
            stats = consumer.stats
            return True if stats.duplicates >= 1 and stats.invalid >= 1 else None

        await poll_until(settled, timeout=30)
        rates = otel.metrics()["wattzon.client.rate_limit"]
    assert rates == [({"server.address": "127.0.0.1"}, 50.0)]
    assert "wattzon.client.rate_limit" not in otel.metrics()  # closed clients: none
    metrics = otel.metrics()
    durations = {
        tuple(sorted(labels.items())): n
        for labels, n in metrics["wattzon.client.operation.duration"]
    }
    assert durations[(("wattzon.operation", "jobs.create"), ("wattzon.status_class", "2xx"))] == 1
    assert durations[(("wattzon.operation", "jobs.get"), ("wattzon.status_class", "4xx"))] == 1
    assert metrics["wattzon.await_job.polls"] == [({"wattzon.wait.resolved_by": "notification"}, 1)]
    assert metrics["wattzon.job.duration"] == [({"wattzon.job.status": "COMPLETE"}, 1)]
    verdicts = {
        labels["wattzon.notification.verdict"]: n
        for labels, n in metrics["wattzon.consumer.messages"]
    }
    assert verdicts["new"] == 1
    assert verdicts["duplicate"] >= 1
    assert verdicts["malformed"] >= 1


async def test_worker_handlers_have_spans_and_metrics(fresh: Emulator, otel: Recorded) -> None:
    handled: list[SnapNotification | LinkNotification] = []

    async def handler(notification: SnapNotification | LinkNotification) -> None:
        handled.append(notification)
        if len(handled) == 1:
            raise RuntimeError("first call fails")

    async with fresh.client() as client:
        job = await client.jobs.create(
            email="user@example.com", provider=4, document=BILL, name="bill.pdf"
        )
    consumer = fresh.consumer(retry_backoff=0.1)
    worker = asyncio.create_task(consumer.run(handler))
    try:
        await poll_until(lambda: _value(len(handled) >= 2), timeout=30)
    finally:
        await consumer.stop()
        await worker
    handles = otel.named("handle notification")
    assert [attrs(h)["wattzon.handler.outcome"] for h in handles] == ["error", "ok"]
    assert all(attrs(h)["wattzon.job.id"] == job.id for h in handles)
    process = [s for s in otel.spans() if s.context.span_id == handles[1].parent.span_id]  # type: ignore[union-attr]
    assert attrs(process[0])["wattzon.message.receive_count"] == 2
    assert attrs(process[0])["wattzon.message.redelivered"] is True
    metrics = otel.metrics()
    assert sum(n for _, n in metrics["wattzon.consumer.handlers.active"]) == 0
    outcomes = {
        labels["wattzon.handler.outcome"]: n
        for labels, n in metrics["wattzon.consumer.handler.duration"]
    }
    assert outcomes == {"error": 1, "ok": 1}


async def _value(condition: bool) -> bool | None:
    return True if condition else None


async def test_no_personal_data_in_any_span_or_metric(
    fresh: Emulator, otel: Recorded, tmp_path: Path
) -> None:
    # Every value below holds letters that no hex id, UUID or number can contain.
    email = "jane.qwzx@example.org"
    tags = ["customer:Jane Qwzx", "acct-qwzx-7766"]
    key = "order-jane-qwzx"
    password = "hunter-qwzx-pass"
    document = b"%PDF-1.4\n% private bill content of Jane Qwzx\n"
    cert, key_file = fresh.issue_client_cert(
        f"otel-{uuid.uuid4().hex[:6]}", key_password=password.encode()
    )
    secret_aws = "aws-secret-qwzx"
    secrets = [email, *tags, key, idempotency_tag(key), password, secret_aws, "jane", "qwzx"]
    secrets.append(base64.b64encode(document).decode()[:24])
    async with (
        fresh.client(cert=(cert, key_file), key_password=password) as client,
        fresh.consumer(
            aws_access_key_id="AKIAOTELSCAN", aws_secret_access_key=secret_aws
        ) as consumer,
    ):
        for _ in range(2):  # the second create finds the first's job by its key
            job = await client.jobs.create(
                email=email,
                provider=4,
                document=document,
                name="jane-bill.pdf",
                tags=tags,
                idempotency_key=key,
            )
        await client.await_job(job.id, notifications=consumer, timeout=30)
        await client.jobs.list(tag=tags[0])
        await client.documents.get(job.id)
        await client.documents.download(job.id, tmp_path)
        await client.zips.get("94110")
        await client.utilities.find(name="Jane Qwzx Electric")
        with pytest.raises(NotFoundError):
            await client.link.bills("jane-profile-qwzx")
        subs = [
            Submission(email=email, provider=4, document=document, tags=tags, name="jane-bill.pdf")
        ]
        outcomes = [o async for o in client.jobs.submit_many(subs, wait=True, timeout=30)]
        assert outcomes[0].ok
    texts = [s.to_json() for s in otel.spans()]
    data = otel.reader.get_metrics_data()
    assert data is not None
    texts.append(data.to_json())
    names = {s.name for s in otel.spans()}
    assert {"jobs.create", "documents.download", "zips.get", "link.bills"} <= names
    for secret in secrets:
        found = [t[:200] for t in texts if secret.lower() in t.lower()]
        assert not found, f"{secret!r} found in telemetry: {found}"
    assert any("wattzon.job.id" in t and str(job.id) in t for t in texts)
