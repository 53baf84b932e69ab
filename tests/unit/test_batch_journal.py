"""Journaled submit_many over MockTransport: reruns, lost answers, stop(), shared keys."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from wattzon_async import (
    BadRequestError,
    BatchProgress,
    BatchStoppedError,
    ResumeSummary,
    RetryPolicy,
    Submission,
    SubmitOutcome,
    ValidationError,
    WaitPolicy,
    WattzOnClient,
    idempotency_tag,
)
from wattzon_async._httpx import httpx

from .conftest import MakeClient, json_response, seed, wait_until

FAST = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.001, wait_jitter=0)
QUICK_WAIT = WaitPolicy(initial_delay=0.0, max_delay=0.01)


class FakeSnap:
    """An in-memory Snap that counts requests; creates can be held before or after creating."""

    def __init__(self) -> None:
        self.ids = itertools.count(1000)
        self.jobs: dict[int, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.gate = asyncio.Event()
        self.gate.set()
        self.hold_after_create = False
        self.in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1/").rstrip("/")
        if request.method == "POST":
            self.requests["POST"] += 1
            return await self.create(json.loads(await request.aread()))
        if path == "jobs":
            self.requests["LIST"] += 1
            tag = request.url.params.get("tag")
            found = [j for j in self.jobs.values() if tag in j["tags"]]
            return json_response(sorted(found, key=lambda j: -j["id"])[:20])
        self.requests["GET"] += 1
        data = dict(self.jobs[int(path.rsplit("/", 1)[-1])])
        if data["status"] != "FAILED":
            data.update(status="COMPLETE", results={"Name": "DAVE SMITH"})
        return json_response(data)

    async def create(self, body: dict[str, Any]) -> httpx.Response:
        if body["document"]["name"].startswith("reject"):
            return json_response({"error": "bad document"}, 400)
        self.in_flight += 1
        try:
            if not self.hold_after_create:
                await self.gate.wait()
            data = seed("create_response.json")
            status = "FAILED" if body["document"]["name"].startswith("failed") else "NEW"
            data.update(id=next(self.ids), tags=body["tags"], status=status)
            data["document"] = {"id": 1, "name": body["document"]["name"]}
            self.jobs[data["id"]] = data
            await self.gate.wait()
            return json_response(data, 201)
        finally:
            self.in_flight -= 1

    def reset_counts(self) -> None:
        self.requests.clear()


@pytest.fixture
def snap() -> FakeSnap:
    return FakeSnap()


@pytest.fixture
def client(make_client: MakeClient, snap: FakeSnap) -> WattzOnClient:
    transport = httpx.MockTransport(snap)
    return make_client(
        lambda r: httpx.Response(500), retry=FAST, wait=QUICK_WAIT, transport=transport
    )


def bills(folder: Path, count: int, *, prefix: str = "bill") -> list[Submission]:
    folder.mkdir(exist_ok=True)
    items = []
    for i in range(count):
        path = folder / f"{prefix}-{i}.pdf"
        path.write_bytes(b"%PDF-1.4 " + f"{prefix} {i}".encode())
        items.append(Submission(email="user@example.com", provider=4, document=path))
    return items


async def run(
    client: WattzOnClient, items: list[Submission], journal: Path, **options: Any
) -> tuple[list[SubmitOutcome], list[BatchProgress]]:
    progress: list[BatchProgress] = []
    outcomes = [
        o
        async for o in client.jobs.submit_many(
            items, journal=journal, on_progress=progress.append, **options
        )
    ]
    return sorted(outcomes, key=lambda o: o.index), progress


def job_ids(outcomes: list[SubmitOutcome]) -> list[int]:
    return [o.job.id for o in outcomes if o.job is not None]


async def test_a_rerun_of_a_finished_batch_sends_no_request(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 5)
    first, _ = await run(client, items, tmp_path / "j")
    assert snap.requests == Counter(POST=5)
    snap.reset_counts()
    again, progress = await run(client, items, tmp_path / "j")
    assert snap.requests == Counter()
    assert job_ids(again) == job_ids(first)
    assert all(o.ok for o in again)
    assert progress[0].resume == ResumeSummary(done=5)
    assert len(snap.jobs) == 5


async def test_a_rerun_with_wait_reads_each_finished_job_once(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 5)
    first, _ = await run(client, items, tmp_path / "j", wait=True)
    assert all(o.ok for o in first)
    snap.reset_counts()
    again, progress = await run(client, items, tmp_path / "j", wait=True, results="transformed")
    assert snap.requests == Counter(GET=5)
    assert [o.job.values() for o in again if o.job] == [{"Name": "DAVE SMITH"}] * 5
    assert job_ids(again) == job_ids(first)
    assert progress[0].resume == ResumeSummary(done=5)


async def test_created_jobs_are_waited_for_again_not_created_again(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 4)
    first, _ = await run(client, items, tmp_path / "j")  # no wait: jobs created, not final
    snap.reset_counts()
    again, progress = await run(client, items, tmp_path / "j", wait=True)
    assert progress[0].resume == ResumeSummary(waiting=4)
    assert snap.requests["POST"] == 0
    assert snap.requests["LIST"] == 0
    assert job_ids(again) == job_ids(first)
    assert all(o.ok and o.job and o.job.status.value == "COMPLETE" for o in again)


@pytest.mark.parametrize("created", [False, True], ids=["never-created", "answer-lost"])
async def test_an_interrupted_upload_is_looked_up_once_then_sent_only_if_missing(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path, created: bool
) -> None:
    items = bills(tmp_path / "in", 6)
    snap.gate.clear()
    snap.hold_after_create = created
    batch = client.jobs.submit_many(items, concurrency=2, journal=tmp_path / "j")
    consumer = asyncio.create_task(anext(batch))
    await wait_until(lambda: snap.in_flight == 2)
    consumer.cancel()  # the process "dies" with two uploads in flight
    await asyncio.wait({consumer})
    await batch.aclose()
    assert len(snap.jobs) == (2 if created else 0)
    snap.gate.set()
    snap.reset_counts()

    outcomes, progress = await run(client, items, tmp_path / "j")

    assert progress[0].resume == ResumeSummary(unsure=2, to_submit=4)
    assert snap.requests["LIST"] == 2
    assert snap.requests["POST"] == (4 if created else 6)
    assert len(snap.jobs) == 6
    assert sorted(job_ids(outcomes)) == sorted(snap.jobs)


async def test_stop_reports_every_submission_and_a_rerun_resumes(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 6)
    snap.gate.clear()
    batch = client.jobs.submit_many(items, concurrency=2, wait=True, journal=tmp_path / "j")
    collected: list[SubmitOutcome] = []

    async def consume() -> None:
        collected.extend([o async for o in batch])

    consumer = asyncio.create_task(consume())
    await wait_until(lambda: snap.in_flight == 2)
    batch.stop()
    snap.gate.set()  # uploads in flight finish: their job ids are known
    await asyncio.wait_for(consumer, 60)

    assert len(collected) == 6
    assert all(isinstance(o.error, BatchStoppedError) for o in collected)
    with_jobs = [o for o in collected if o.job is not None]
    assert len(with_jobs) == 2
    assert all(o.error.job == o.job for o in with_jobs)  # type: ignore[union-attr]
    snap.reset_counts()
    outcomes, progress = await run(client, items, tmp_path / "j", wait=True)
    assert progress[0].resume == ResumeSummary(waiting=2, to_submit=4)
    assert snap.requests["POST"] == 4
    assert all(o.ok for o in outcomes)
    assert len(snap.jobs) == 6


async def test_the_same_bill_twice_is_one_job(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 the same")
    items = [Submission(email="user@example.com", provider=4, document=path)] * 2
    outcomes, _ = await run(client, items, tmp_path / "j")
    assert snap.requests["POST"] == 1
    assert [o.index for o in outcomes] == [0, 1]
    assert job_ids(outcomes)[0] == job_ids(outcomes)[1]


async def test_documents_as_bytes_and_files_are_keyed_and_sent_whole(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    stream = io.BytesIO(b"skipped %PDF-1.4 from a stream")
    stream.seek(8)
    items = [
        Submission(email="user@example.com", provider=4, document=b"%PDF-1.4 bytes", name="a.pdf"),
        Submission(email="user@example.com", provider=4, document=stream, name="b.pdf"),
    ]
    outcomes, _ = await run(client, items, tmp_path / "j")
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    stream.seek(8)  # a file is read from its current position, as jobs.create reads it
    again, progress = await run(client, items, tmp_path / "j")
    assert progress[0].resume == ResumeSummary(done=2)
    assert job_ids(again) == job_ids(outcomes)
    assert snap.requests["POST"] == 2


async def test_a_new_journal_starts_over_with_new_keys(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 3)
    first, _ = await run(client, items, tmp_path / "a")
    fresh, progress = await run(client, items, tmp_path / "b")
    assert progress[0].resume == ResumeSummary(to_submit=3)
    assert len(snap.jobs) == 6
    assert not set(job_ids(first)) & set(job_ids(fresh))


async def test_a_callers_key_is_looked_up_before_it_is_sent(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    existing = seed("create_response.json")
    existing.update(id=77, tags=[idempotency_tag("order-77")])
    snap.jobs[77] = existing
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 order 77")
    items = [
        Submission(email="user@example.com", provider=4, document=path, idempotency_key=key)
        for key in ("order-77", "order-78")
    ]
    outcomes, _ = await run(client, items, tmp_path / "j")
    assert job_ids(outcomes)[0] == 77
    assert snap.requests == Counter(LIST=2, POST=1)
    assert idempotency_tag("order-78") in snap.jobs[job_ids(outcomes)[1]]["tags"]


async def test_a_refused_create_leaves_no_claim_behind(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = [Submission(email="user@example.com", provider=4, document=b"%PDF", name="reject.pdf")]
    outcomes, _ = await run(client, items, tmp_path / "j")
    assert isinstance(outcomes[0].error, BadRequestError)
    conn = sqlite3.connect(tmp_path / "j")
    assert conn.execute("SELECT count(*) FROM journal_items").fetchone() == (0,)
    conn.close()
    snap.reset_counts()
    _, progress = await run(client, items, tmp_path / "j")
    assert progress[0].resume == ResumeSummary(to_submit=1)
    assert snap.requests == Counter(POST=1, LIST=0)


async def test_a_failed_job_is_final_in_the_journal(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    items = bills(tmp_path / "in", 2, prefix="failed")
    first, _ = await run(client, items, tmp_path / "j", wait=True)
    assert all(o.error is not None and o.job is not None for o in first)
    snap.reset_counts()
    again, progress = await run(client, items, tmp_path / "j", wait=True)
    assert progress[0].resume == ResumeSummary(done=2)
    assert snap.requests["POST"] == 0
    assert [type(o.error).__name__ for o in again] == ["JobFailedError"] * 2


async def test_a_journal_in_no_folder_is_refused_at_once(
    client: WattzOnClient, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="no such folder") as caught:
        client.jobs.submit_many([], journal=tmp_path / "missing" / "j")
    assert caught.value.field == "journal"


async def test_stop_before_anything_ran_sends_nothing(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    batch = client.jobs.submit_many(bills(tmp_path / "in", 3), journal=tmp_path / "j")
    batch.stop()
    outcomes = [o async for o in batch]
    assert [type(o.error) for o in outcomes] == [BatchStoppedError] * 3
    assert snap.requests == Counter()


async def test_a_journaled_create_is_tagged_as_a_create_with_its_key(
    client: WattzOnClient, snap: FakeSnap, tmp_path: Path
) -> None:
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 tagged")
    item = Submission(email="user@example.com", provider=4, document=path, tags=("mine",))
    [outcome], _ = await run(client, [item], tmp_path / "j")
    assert outcome.job is not None
    [key] = [t for t in outcome.job.tags if re.fullmatch(r"idem:[0-9a-f]{32}", t)]
    [fingerprint] = [t for t in outcome.job.tags if t.startswith("idem-fp:")]
    assert outcome.job.tags == ("mine", key, fingerprint)
    # The same bill created with that key outside the batch is the same create.
    again = await client.jobs.create(
        email="user@example.com", provider=4, document=path, tags=["mine"], idempotency_key=key
    )
    assert again.id == outcome.job.id
    assert snap.requests["POST"] == 1
