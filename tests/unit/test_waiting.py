"""await_job over MockTransport: schedule, deadline, 429s, sharing, budget, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from wattzon_async import (
    ConsumerNotRunningError,
    JobFailedError,
    JobStatus,
    JobUnsupportedError,
    NotFoundError,
    RateLimitPolicy,
    RetryPolicy,
    SnapNotification,
    WaitPolicy,
    WaitTimeoutError,
    WattzOnClient,
)
from wattzon_async._httpx import httpx

from .conftest import SNAP, MakeClient, Router, json_response, seed, wait_until

QUICK = WaitPolicy(initial_delay=0.01, max_delay=0.02, multiplier=1.5, jitter=0.1)
FAST_RETRY = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.001, wait_jitter=0)


def job_json(job_id: int, status: str) -> dict[str, Any]:
    data: dict[str, Any] = seed("job_raw.json")
    data["id"] = job_id
    data["status"] = status
    if status != "COMPLETE":
        del data["results"]
    return data


def statuses(job_id: int, *sequence: str) -> list[httpx.Response]:
    return [json_response(job_json(job_id, status)) for status in sequence]


@pytest.fixture
def client(make_client: MakeClient, router: Router) -> WattzOnClient:
    return make_client(router, wait=QUICK, retry=FAST_RETRY)


def url(job_id: int) -> str:
    return SNAP + f"jobs/{job_id}/"


async def test_polls_until_complete(client: WattzOnClient, router: Router) -> None:
    router.add("GET", url(7), *statuses(7, "ENQUEUED", "PROCESSING", "NEW_STAGE", "COMPLETE"))
    job = await client.await_job(7, timeout=5)
    assert job.status is JobStatus.COMPLETE
    assert job.values()["Elec_Usage"] == "89"
    assert router.count("GET", url(7)) == 4


async def test_transformed_results(client: WattzOnClient, router: Router) -> None:
    router.add(
        "GET", url(578) + "?results=transformed", json_response(seed("job_transformed.json"))
    )
    job = await client.await_job(578, results="transformed", timeout=5)
    assert job.results is not None
    assert job.results["Name"] == "DAVE SMITH"


@pytest.mark.parametrize(
    ("status", "error"), [("FAILED", JobFailedError), ("UNSUPPORTED", JobUnsupportedError)]
)
async def test_final_states_other_than_complete_raise(
    client: WattzOnClient, router: Router, status: str, error: type[Exception]
) -> None:
    router.add("GET", url(8), *statuses(8, "PROCESSING", status))
    with pytest.raises(error) as caught:
        await client.await_job(8, timeout=5)
    assert caught.value.job.status == status  # type: ignore[attr-defined]


async def test_deadline_raises_with_the_last_job_seen(
    client: WattzOnClient, router: Router
) -> None:
    router.add("GET", url(9), *statuses(9, "PROCESSING"))
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await client.await_job(9, timeout=0.2)
    assert time.monotonic() - started >= 0.2  # not before its deadline
    assert caught.value.job is not None
    assert caught.value.job.status is JobStatus.PROCESSING
    assert isinstance(caught.value, TimeoutError)


async def test_429_slows_down_instead_of_failing(make_client: MakeClient, router: Router) -> None:
    client = make_client(router, wait=QUICK, retry=RetryPolicy(attempts=1, timeout=5.0))
    limited = json_response({"error": "slow down"}, 429, **{"Retry-After": "0.2"})
    router.add("GET", url(10), limited, limited, *statuses(10, "COMPLETE"))
    started = time.monotonic()
    job = await client.await_job(10, timeout=5)
    assert job.is_final
    assert time.monotonic() - started >= 0.4


async def test_transient_errors_keep_waiting(make_client: MakeClient, router: Router) -> None:
    client = make_client(router, wait=QUICK, retry=RetryPolicy(attempts=1, timeout=5.0))
    router.add("GET", url(11), json_response({"error": "down"}, 503), *statuses(11, "COMPLETE"))
    assert (await client.await_job(11, timeout=5)).is_final


async def test_not_found_ends_the_wait(client: WattzOnClient, router: Router) -> None:
    router.add("GET", url(12), json_response({"error": "no such job"}, 404))
    with pytest.raises(NotFoundError):
        await client.await_job(12, timeout=5)


async def test_concurrent_waits_share_one_poller(client: WattzOnClient, router: Router) -> None:
    router.add("GET", url(13), *statuses(13, "PROCESSING", "PROCESSING", "COMPLETE"))
    jobs = await asyncio.gather(*(client.await_job(13, timeout=5) for _ in range(25)))
    assert {j.id for j in jobs} == {13}
    assert router.count("GET", url(13)) == 3


async def test_polling_stays_within_the_client_budget(
    make_client: MakeClient, router: Router
) -> None:
    budget = 40.0
    client = make_client(
        router,
        wait=WaitPolicy(initial_delay=0.0, max_delay=0.01, jitter=0.0),
        retry=FAST_RETRY,
        rate_limit=RateLimitPolicy(poll_rate=budget),
    )
    for job_id in range(100, 140):
        router.add("GET", url(job_id), *statuses(job_id, "PROCESSING", "COMPLETE"))
    started = time.monotonic()
    await asyncio.gather(*(client.await_job(i, timeout=10) for i in range(100, 140)))
    polls = len(router.requests)
    assert polls == 80
    assert time.monotonic() - started >= (polls - 1) / budget * 0.95


async def test_cancelling_leaves_nothing_behind(client: WattzOnClient, router: Router) -> None:
    router.add("GET", url(14), *statuses(14, "PROCESSING"))
    before = asyncio.all_tasks()
    task = asyncio.create_task(client.await_job(14))
    await wait_until(lambda: router.count("GET", url(14)) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() - before == set()
    assert client.jobs._waiter._watches == {}
    assert not any(r.method != "GET" for r in router.requests)


class FakeConsumer:
    """Stands in for NotificationConsumer.wait_for in unit tests."""

    running = True

    def __init__(self) -> None:
        self.arrived: dict[int, asyncio.Event] = {}

    def deliver(self, job_id: int) -> None:
        self.arrived.setdefault(job_id, asyncio.Event()).set()

    async def wait_for(self, job_id: int) -> SnapNotification:
        await self.arrived.setdefault(job_id, asyncio.Event()).wait()
        return SnapNotification(
            job_id=job_id,
            final_state=JobStatus.COMPLETE,
            created_at=seed_time(),
        )


def seed_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2018, 1, 1, 20, 40, tzinfo=UTC)


async def test_notification_is_confirmed_by_one_get(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST_RETRY)
    consumer = FakeConsumer()
    router.add("GET", url(15), *statuses(15, "PROCESSING", "COMPLETE"))
    slow = WaitPolicy(initial_delay=30.0, max_delay=60.0)
    task = asyncio.create_task(
        client.await_job(15, timeout=10, notifications=consumer, policy=slow)  # type: ignore[arg-type]
    )
    await wait_until(lambda: router.count("GET", url(15)) == 1)
    consumer.deliver(15)
    job = await asyncio.wait_for(task, 60)
    assert job.is_final
    assert router.count("GET", url(15)) == 2


async def test_notification_that_came_first_is_used(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST_RETRY)
    consumer = FakeConsumer()
    consumer.deliver(16)
    router.add("GET", url(16), *statuses(16, "COMPLETE"))
    no_look = WaitPolicy(initial_delay=30.0, check_first=False)
    job = await client.await_job(
        16,
        timeout=5,
        notifications=consumer,  # type: ignore[arg-type]
        policy=no_look,
    )
    assert job.id == 16
    assert router.count("GET", url(16)) == 1


async def test_a_final_job_answers_at_once(make_client: MakeClient, router: Router) -> None:
    client = make_client(router, retry=FAST_RETRY)
    router.add("GET", url(18), *statuses(18, "COMPLETE"))
    router.add("GET", url(19), json_response({"error": "no such job"}, 404))
    later = WaitPolicy(initial_delay=300.0, max_delay=300.0)
    assert (await client.await_job(18, timeout=5, policy=later)).is_final
    with pytest.raises(NotFoundError):
        await client.await_job(19, timeout=5, policy=later)
    assert router.count("GET", url(18)) == 1


async def test_polling_is_the_fallback_when_no_notification_comes(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST_RETRY)
    consumer = FakeConsumer()
    router.add("GET", url(17), *statuses(17, "PROCESSING", "COMPLETE"))
    job = await client.await_job(
        17,
        timeout=5,
        notifications=consumer,  # type: ignore[arg-type]
        policy=QUICK,
    )
    assert job.is_final
    assert router.count("GET", url(17)) == 2


async def test_a_stopped_consumer_is_refused(client: WattzOnClient) -> None:
    consumer = FakeConsumer()
    consumer.running = False
    with pytest.raises(ConsumerNotRunningError, match="async with"):
        await client.await_job(1, notifications=consumer)  # type: ignore[arg-type]


async def test_notifications_skip_the_polling_queue(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST_RETRY, rate_limit=RateLimitPolicy(poll_rate=1.0))
    consumer = FakeConsumer()
    ids = range(200, 220)

    def by_state(request: httpx.Request) -> httpx.Response:
        job_id = int(request.url.path.rstrip("/").rsplit("/", 1)[-1])
        done = job_id in consumer.arrived and consumer.arrived[job_id].is_set()
        return json_response(job_json(job_id, "COMPLETE" if done else "PROCESSING"))

    for job_id in ids:
        router.add("GET", url(job_id), by_state)
    waits = [
        asyncio.create_task(client.await_job(i, timeout=8, notifications=consumer))  # type: ignore[arg-type]
        for i in ids
    ]
    await wait_until(lambda: len(router.requests) >= 1)
    for job_id in ids:
        consumer.deliver(job_id)
    jobs = await asyncio.gather(*waits)  # through the 1/s budget they would time out
    assert all(j.is_final for j in jobs)
    assert len(router.requests) <= 2 + len(ids)


async def test_closing_the_client_fails_waits_with_a_wattzon_error(
    make_client: MakeClient, router: Router
) -> None:
    from wattzon_async import APIConnectionError

    client = make_client(router, wait=QUICK, retry=FAST_RETRY)
    router.add("GET", url(30), *statuses(30, "PROCESSING"))
    task = asyncio.create_task(client.await_job(30))
    await wait_until(lambda: router.count("GET", url(30)) >= 2)
    await client.aclose()
    with pytest.raises(APIConnectionError, match="closed"):
        await task
    assert not task.cancelled()
    with pytest.raises(APIConnectionError, match="closed"):
        await client.jobs.get(30)


async def test_a_second_policy_gets_its_own_poller(make_client: MakeClient, router: Router) -> None:
    client = make_client(router, retry=FAST_RETRY)
    router.add("GET", url(31), *statuses(31, "PROCESSING", "PROCESSING", "COMPLETE"))
    slow = WaitPolicy(initial_delay=300.0, max_delay=300.0)
    slow_wait = asyncio.create_task(client.await_job(31, timeout=10, policy=slow))
    job = await client.await_job(31, timeout=10, policy=QUICK)
    assert job.is_final
    slow_wait.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow_wait


async def test_cancelling_while_a_poller_stops_is_not_swallowed(
    client: WattzOnClient, router: Router
) -> None:
    router.add("GET", url(32), *statuses(32, "PROCESSING"))
    task = asyncio.create_task(client.await_job(32, timeout=10))
    await wait_until(lambda: router.count("GET", url(32)) >= 1)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


def _held_answer(
    consumer: FakeConsumer, started: list[int], release: asyncio.Event, hold: Callable[[int], bool]
) -> Answer:
    """Answers a job GET (noted in ``started``): COMPLETE once its notification arrived.

    A GET that ``hold`` picks (asked after it is noted) waits for ``release`` first.
    """

    async def answer(request: httpx.Request) -> httpx.Response:
        job_id = int(request.url.path.rstrip("/").rsplit("/", 1)[-1])
        started.append(job_id)
        if hold(job_id):
            await release.wait()
        done = job_id in consumer.arrived and consumer.arrived[job_id].is_set()
        return json_response(job_json(job_id, "COMPLETE" if done else "PROCESSING"))

    return answer


def _start_waits(
    client: WattzOnClient,
    router: Router,
    consumer: FakeConsumer,
    ids: range,
    answer: Answer,
    timeout: float,
) -> dict[int, asyncio.Task[Any]]:
    """``answer`` routed for every job of ``ids``, and one ``await_job`` task on each."""
    for job_id in ids:
        router.add("GET", url(job_id), answer)  # type: ignore[arg-type]
    return {
        i: asyncio.create_task(client.await_job(i, timeout=timeout, notifications=consumer))  # type: ignore[arg-type]
        for i in ids
    }


async def _cancel_all(waits: dict[int, asyncio.Task[Any]]) -> None:
    for task in waits.values():
        task.cancel()
    await asyncio.wait(set(waits.values()))


async def test_a_notification_overtakes_first_looks_queued_before_it(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(
        router,
        retry=FAST_RETRY,
        max_connections=1,
        rate_limit=RateLimitPolicy(poll_rate=1000.0),
    )
    consumer = FakeConsumer()
    release = asyncio.Event()
    started: list[int] = []
    answer = _held_answer(consumer, started, release, hold=lambda job_id: job_id == 401)
    ids = range(401, 406)
    waits = _start_waits(client, router, consumer, ids, answer, timeout=30)
    lanes = client.jobs._waiter._lanes
    await wait_until(lambda: started == [401] and lanes.waiting(urgent=False) == 4)
    consumer.deliver(405)
    await wait_until(lambda: lanes.waiting(urgent=True) == 1)
    release.set()
    assert (await waits[405]).is_final
    assert started[:2] == [401, 405]  # ahead of the first looks of 402-404
    await _cancel_all(waits)


async def test_thousands_of_first_looks_do_not_hold_up_a_confirmation(
    make_client: MakeClient, router: Router
) -> None:
    # 2,000 waits, a polling budget of 1 GET/s and one GET in flight: every first look
    # but one queues. The last wait's notification is confirmed by the next GET.
    client = make_client(
        router, retry=FAST_RETRY, max_connections=1, rate_limit=RateLimitPolicy(poll_rate=1.0)
    )
    consumer = FakeConsumer()
    release = asyncio.Event()
    started: list[int] = []
    answer = _held_answer(consumer, started, release, hold=lambda _: len(started) == 1)
    ids = range(1000, 3000)
    waits = _start_waits(client, router, consumer, ids, answer, timeout=60)
    await wait_until(lambda: len(started) == 1)
    last = ids[-1]
    consumer.deliver(last)
    await wait_until(
        lambda: client.jobs._waiter._lanes.waiting(urgent=True) == 1 or last in started
    )
    release.set()
    assert (await waits[last]).is_final
    assert started[1] == last
    await _cancel_all(waits)
