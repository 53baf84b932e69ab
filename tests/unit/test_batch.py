"""submit_many over MockTransport: per-item errors, concurrency, waiting, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from wattzon_async import (
    BadRequestError,
    BatchProgress,
    RetryPolicy,
    Submission,
    SubmitOutcome,
    ValidationError,
    WaitPolicy,
)
from wattzon_async._httpx import httpx

from .conftest import MakeClient, Router, json_response, seed, wait_until

FAST = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.001, wait_jitter=0)


class FakeSnap:
    """A tiny in-memory Snap: creates jobs, reports them COMPLETE on the first GET."""

    def __init__(self) -> None:
        self.ids = itertools.count(1000)
        self.jobs: dict[int, dict[str, Any]] = {}
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()
        self.release.set()

    def job(self, request: httpx.Request) -> httpx.Response:
        job_id = int(request.url.path.rstrip("/").rsplit("/", 1)[-1])
        data = dict(self.jobs[job_id], status="COMPLETE", results={"Name": "DAVE SMITH"})
        return json_response(data)

    def create_sync(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        if body["document"]["name"].startswith("reject"):
            return json_response({"error": "bad document"}, 400)
        data = seed("create_response.json")
        data.update(id=next(self.ids), tags=body["tags"], document={"id": 1, "name": "x"})
        self.jobs[data["id"]] = data
        return json_response(data, 201)


class SlowTransport(httpx.AsyncBaseTransport):
    """Counts creates in flight, holding them until released."""

    def __init__(self, snap: FakeSnap) -> None:
        self.snap = snap

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            await request.aread()
            self.snap.in_flight += 1
            self.snap.peak = max(self.snap.peak, self.snap.in_flight)
            try:
                await self.snap.release.wait()
                return self.snap.create_sync(request)
            finally:
                self.snap.in_flight -= 1
        return self.snap.job(request)


def subs(tmp_path: Path, count: int, *, bad: tuple[int, ...] = ()) -> list[Submission]:
    items = []
    for i in range(count):
        path = tmp_path / f"bill-{i}.pdf"
        path.write_bytes(b"%PDF " + str(i).encode())
        email = "not-an-email" if i in bad else "user@example.com"
        items.append(Submission(email=email, provider=4, document=path, tags=[f"batch:{i}"]))
    return items


async def test_outcomes_for_every_item_bad_input_reported_first(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    client = make_client(router, retry=FAST, transport=SlowTransport(snap))
    progress: list[BatchProgress] = []
    items = subs(tmp_path, 6, bad=(2,))
    items.append(
        Submission(email="user@example.com", provider=4, document=b"%PDF-1.4", name="reject.pdf")
    )
    outcomes = [
        o
        async for o in client.jobs.submit_many(
            items,
            concurrency=3,
            on_progress=lambda p: progress.append(attrs.evolve(p)),
        )
    ]
    assert len(outcomes) == 7
    assert outcomes[0].index == 2
    assert isinstance(outcomes[0].error, ValidationError)
    by_index = {o.index: o for o in outcomes}
    assert isinstance(by_index[6].error, BadRequestError)
    assert {i for i, o in by_index.items() if o.ok} == {0, 1, 3, 4, 5}
    assert len(snap.jobs) == 5
    assert progress[-1].done == 5
    assert progress[-1].failed == 2


async def test_concurrency_bounds_uploads_in_flight(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    snap.release.clear()
    client = make_client(router, retry=FAST, transport=SlowTransport(snap))
    results: list[SubmitOutcome] = []

    async def consume() -> None:
        async for outcome in client.jobs.submit_many(subs(tmp_path, 20), concurrency=4):
            results.append(outcome)

    task = asyncio.create_task(consume())
    await wait_until(lambda: snap.in_flight == 4)
    snap.release.set()
    await asyncio.wait_for(task, 60)
    assert snap.peak == 4
    assert len(results) == 20
    assert all(o.ok for o in results)


async def test_wait_returns_complete_jobs(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    client = make_client(
        router,
        retry=FAST,
        wait=WaitPolicy(initial_delay=0.0, max_delay=0.01),
        transport=SlowTransport(snap),
    )
    outcomes = [o async for o in client.jobs.submit_many(subs(tmp_path, 5), wait=True)]
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3, 4]
    for outcome in outcomes:
        assert outcome.error is None
        assert outcome.job is not None
        assert outcome.job.status == "COMPLETE"
        assert outcome.job.values() == {"Name": "DAVE SMITH"}


async def test_closing_the_iterator_cancels_the_rest(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    client = make_client(router, retry=FAST, transport=SlowTransport(snap))
    snap.release.clear()
    before = asyncio.all_tasks()
    iterator = client.jobs.submit_many(subs(tmp_path, 50, bad=(0,)), concurrency=2)
    first = await anext(iterator)
    assert first.index == 0
    assert not first.ok
    await wait_until(lambda: snap.in_flight == 2)
    await iterator.aclose()
    assert asyncio.all_tasks() - before == set()
    assert snap.jobs == {}
    assert snap.in_flight == 0


async def test_concurrency_must_be_positive(make_client: MakeClient, router: Router) -> None:
    client = make_client(router)
    with pytest.raises(ValidationError, match="concurrency"):
        async for _ in client.jobs.submit_many([], concurrency=0):
            pass


def test_wait_policy_never_spins() -> None:
    policy = WaitPolicy(initial_delay=0.0, max_delay=5.0)
    assert policy.delay(0) == 0.0
    assert all(policy.delay(n) >= policy.min_delay for n in range(1, 10))


async def test_a_raising_progress_callback_never_stalls_the_batch(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    client = make_client(
        router,
        retry=FAST,
        wait=WaitPolicy(initial_delay=0.0, max_delay=0.01),
        transport=SlowTransport(snap),
    )

    def broken(progress: BatchProgress) -> None:
        raise KeyError("oops")

    outcomes = [
        o async for o in client.jobs.submit_many(subs(tmp_path, 4), wait=True, on_progress=broken)
    ]
    assert len(outcomes) == 4
    assert all(o.ok for o in outcomes)


async def test_a_failed_wait_keeps_the_created_job(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    snap = FakeSnap()
    snap.job = lambda request: json_response({"error": "gone"}, 404)  # type: ignore[method-assign]
    client = make_client(router, retry=FAST, transport=SlowTransport(snap))
    outcomes = [o async for o in client.jobs.submit_many(subs(tmp_path, 2), wait=True)]
    assert all(not o.ok and o.job is not None for o in outcomes)
    assert {o.job.id for o in outcomes if o.job} == set(snap.jobs)
