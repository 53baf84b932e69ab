"""Idempotency keys: any string a caller has becomes one deterministic wire tag."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import attrs
import pytest

from wattzon_async import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    BadRequestError,
    IdempotencyConflictError,
    InternalServerError,
    RetryPolicy,
    Submission,
    ValidationError,
    WattzOnClient,
    WattzOnError,
    idempotency_tag,
)
from wattzon_async._httpx import httpx

from .conftest import PDF, SNAP, MakeClient, Router, json_response, seed, wait_until

FAST = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.001, wait_jitter=0)

WIRE_TAG = re.compile(r"^idem:[0-9a-f]{32}$")


def test_a_key_becomes_a_wire_tag() -> None:
    tag = idempotency_tag("order-77")
    assert WIRE_TAG.match(tag)
    assert idempotency_tag("order-77") == tag
    assert idempotency_tag("order-78") != tag
    assert idempotency_tag("Order-77") != tag
    assert idempotency_tag("order-77 ") != tag  # used exactly as given


def test_the_derivation_never_changes() -> None:
    # Jobs made by one version must be found by the next: the derivation is pinned.
    assert idempotency_tag("order-77") == "idem:33edd81e5af8acf24a1505c4eee38738"


def test_a_wire_tag_is_kept_as_it_is() -> None:
    raw = "idem:" + "0123456789abcdef" * 2
    assert idempotency_tag(raw) == raw
    upper = "idem:" + "0123456789ABCDEF" * 2  # not the wire form: hashed like any key
    assert idempotency_tag(upper) != upper
    assert WIRE_TAG.match(idempotency_tag(upper))


@pytest.mark.parametrize(
    "key",
    ["order-77", "bills/2024/march.pdf@" + "ab" * 32, "facture n°7 — été", "a,b", "k" * 255],
)
def test_any_printable_key_up_to_the_limit(key: str) -> None:
    assert WIRE_TAG.match(idempotency_tag(key))
    assert key not in idempotency_tag(key)
    assert MAX_IDEMPOTENCY_KEY_LENGTH == 255


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("", "empty"),
        ("\t ", "blank"),
        (None, "must be a string"),
        (7, "must be a string"),
        ("k" * 256, "256 characters"),
        ("a\rb", "control character"),
        ("a\x7fb", "control character"),
    ],
)
def test_bad_keys_are_refused(key: Any, text: str) -> None:
    with pytest.raises(ValidationError, match=text) as caught:
        idempotency_tag(key)
    assert caught.value.field == "idempotency_key"


def _created(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.read())
    return json_response(dict(seed("create_response.json"), tags=body["tags"]), 201)


def _lookup_url(key: str) -> str:
    return SNAP + "jobs/?tag=" + idempotency_tag(key).replace(":", "%3A")


def _sent_tags(router: Router) -> list[list[str]]:
    return [json.loads(r.read())["tags"] for r in router.requests if r.method == "POST"]


async def test_create_sends_the_tag_of_the_callers_key(
    make_client: MakeClient, router: Router
) -> None:
    client: WattzOnClient = make_client(router)
    router.add("POST", SNAP + "jobs/", _created)
    router.add(
        "GET",
        SNAP + "jobs/?tag=" + idempotency_tag("order-77").replace(":", "%3A"),
        json_response([]),
    )
    job = await client.jobs.create(
        email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key="order-77"
    )
    assert idempotency_tag("order-77") in job.tags
    assert "order-77" not in json.dumps(_sent_tags(router))


async def test_submission_key_is_passed_through(make_client: MakeClient, router: Router) -> None:
    client: WattzOnClient = make_client(router)
    router.add("POST", SNAP + "jobs/", _created)
    router.add(
        "GET", SNAP + "jobs/?tag=" + idempotency_tag("inv-1").replace(":", "%3A"), json_response([])
    )
    subs = [
        Submission(email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key="inv-1"),
        Submission(email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=""),
    ]
    outcomes = sorted([o async for o in client.jobs.submit_many(subs)], key=lambda o: o.index)
    assert outcomes[0].job is not None
    assert idempotency_tag("inv-1") in outcomes[0].job.tags
    assert isinstance(outcomes[1].error, ValidationError)
    assert outcomes[1].error.field == "idempotency_key"
    [sent] = _sent_tags(router)
    assert sent[0] == idempotency_tag("inv-1")
    assert sent[1].startswith("idem-fp:")


# -- look-up first, conflicts, single-flight: against a small in-memory Snap ----------------


class KeyedSnap(httpx.AsyncBaseTransport):
    """Creates and lists jobs (the 20 newest per filter, as the API guarantees).

    ``hold`` keeps every POST waiting until it is set, so tests can pile creates up.
    """

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.posts = 0
        self.gets = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.posts_waiting = 0
        self.posts_cancelled = 0
        self.refuse_next = False

    def add(self, *, tags: list[str], email: str = "a@b.co", provider: int = 4) -> int:
        """A job made by someone else (another process, or SDK 0.1)."""
        job = dict(seed("create_response.json"), id=1000 + len(self.jobs))
        job.update(tags=tags, email=email, provider=provider)
        self.jobs.append(job)
        return int(job["id"])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/api/v1/jobs/":
            self.gets += 1
            tag = request.url.params["tag"]
            found = [j for j in reversed(self.jobs) if tag in j["tags"]][:20]
            return json_response(found)
        assert request.method == "POST", f"unexpected {request.method} {request.url}"
        body = json.loads(await request.aread())
        self.posts += 1
        self.posts_waiting += 1
        try:
            await self.hold.wait()
        except asyncio.CancelledError:
            self.posts_cancelled += 1
            raise
        finally:
            self.posts_waiting -= 1
        if self.refuse_next:
            self.refuse_next = False
            return json_response({"error": "bad base64"}, 400)
        job_id = self.add(tags=body["tags"], email=body["email"], provider=body["provider"])
        return json_response(self.jobs[-1] | {"id": job_id}, 201)


@pytest.fixture
def snap() -> KeyedSnap:
    return KeyedSnap()


@pytest.fixture
def keyed(make_client: MakeClient, snap: KeyedSnap) -> WattzOnClient:
    return make_client(None, transport=snap)


BILL = b"%PDF-1.4 the March bill"


def _waiting(client: WattzOnClient, key: str = "order-77") -> int:
    """How many creates share the one in flight for ``key`` (0: none in flight)."""
    flight = client.jobs._creator._flights.get(idempotency_tag(key))
    return 0 if flight is None else flight.waiters


async def _create(client: WattzOnClient, key: str | None = "order-77", **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "email": "a@b.co",
        "provider": 4,
        "document": BILL,
        "name": "bill.pdf",
        "idempotency_key": key,
    }
    arguments.update(overrides)
    return await client.jobs.create(**arguments)


async def test_the_same_key_returns_the_same_job(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    first = await _create(keyed)
    again = await _create(keyed, tags=["retried"], name="renamed.pdf")  # same bill
    assert again.id == first.id
    assert snap.posts == 1
    assert snap.gets == 2  # one look-up per keyed create, nothing more


async def test_a_create_without_key_sends_no_look_up(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    await _create(keyed, key=None)
    await _create(keyed, key=None)
    assert (snap.posts, snap.gets) == (2, 0)


@pytest.mark.parametrize(
    ("overrides", "difference"),
    [
        ({"provider": 5}, "provider"),
        ({"email": "other@b.co"}, "email"),
        ({"document": BILL + b" (another month)"}, "document"),
    ],
)
async def test_a_key_reused_for_another_bill_conflicts(
    keyed: WattzOnClient, snap: KeyedSnap, overrides: dict[str, Any], difference: str
) -> None:
    first = await _create(keyed)
    with pytest.raises(IdempotencyConflictError) as caught:
        await _create(keyed, **overrides)
    error = caught.value
    assert error.differences == (difference,)
    assert error.job is not None
    assert error.job.id == first.id
    assert (error.idempotency_key, error.tag) == ("order-77", idempotency_tag("order-77"))
    assert difference in str(error)
    assert error.tag in str(error)
    assert "order-77" not in str(error)  # a key may hold personal data: only its tag is shown
    assert "b.co" not in str(error)
    assert isinstance(error, WattzOnError)
    assert snap.posts == 1


async def test_the_fingerprint_holds_only_hashes(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    job = await _create(keyed, email="dave.smith@example.com")
    [fingerprint] = [t for t in job.tags if t.startswith("idem-fp:")]
    assert re.fullmatch(r"idem-fp:[0-9a-f]{32}", fingerprint)
    other_key = await _create(keyed, key="order-78", email="dave.smith@example.com")
    # Bound to its key: the same bill under two keys cannot be linked by its fingerprint.
    assert fingerprint not in other_key.tags


async def test_a_raw_tag_key_is_used_as_it_is(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    raw = "idem:" + "5" * 32
    job = await _create(keyed, key=raw)
    assert raw in job.tags
    assert (await _create(keyed, key=raw)).id == job.id
    assert snap.posts == 1


async def test_jobs_made_by_0_1_keys_still_resolve(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    raw = "idem:" + "6" * 32
    old = snap.add(tags=["demo", raw])  # 0.1: the tag, no fingerprint
    assert (await _create(keyed, key=raw)).id == old
    other = b"%PDF-1.4 other content"
    assert (await _create(keyed, key=raw, document=other)).id == old  # cannot tell
    with pytest.raises(IdempotencyConflictError) as caught:
        await _create(keyed, key=raw, provider=9)  # provider and email are on the job
    assert caught.value.differences == ("provider",)
    assert snap.posts == 0


async def test_the_oldest_job_of_a_key_is_its_job(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    tag = idempotency_tag("order-77")
    ids = [snap.add(tags=[tag]) for _ in range(3)]  # a cross-process race made three
    assert (await _create(keyed)).id == ids[0]


async def test_a_failed_look_up_sends_no_create(make_client: MakeClient, router: Router) -> None:
    client = make_client(router, retry=FAST)
    router.add("GET", _lookup_url("order-77"), json_response({"error": "down"}, 503))
    with pytest.raises(InternalServerError):
        await _create(client)
    assert router.count("POST", SNAP + "jobs/") == 0


async def test_concurrent_creates_with_one_key_make_one_job(
    keyed: WattzOnClient, snap: KeyedSnap
) -> None:
    snap.hold.clear()
    creates = [asyncio.create_task(_create(keyed)) for _ in range(10)]
    await wait_until(lambda: snap.posts_waiting == 1 and _waiting(keyed) == 10)
    snap.hold.set()
    jobs = await asyncio.gather(*creates)
    assert {job.id for job in jobs} == {jobs[0].id}
    assert (snap.posts, snap.gets) == (1, 1)
    assert keyed.jobs._creator._flights == {}


async def test_a_concurrent_create_of_another_bill_conflicts_at_once(
    keyed: WattzOnClient, snap: KeyedSnap
) -> None:
    snap.hold.clear()
    first = asyncio.create_task(_create(keyed))
    await wait_until(lambda: snap.posts_waiting == 1)
    with pytest.raises(IdempotencyConflictError) as caught:
        await _create(keyed, email="other@b.co")
    assert caught.value.job is None
    assert caught.value.differences == ("email",)
    snap.hold.set()
    assert (await first).id == snap.jobs[0]["id"]
    assert snap.posts == 1


async def test_cancelling_one_waiter_leaves_the_create_to_the_others(
    keyed: WattzOnClient, snap: KeyedSnap
) -> None:
    snap.hold.clear()
    creates = [asyncio.create_task(_create(keyed)) for _ in range(3)]
    await wait_until(lambda: snap.posts_waiting == 1 and _waiting(keyed) == 3)
    creates[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await creates[0]
    snap.hold.set()
    jobs = await asyncio.gather(*creates[1:])
    assert jobs[0].id == jobs[1].id
    assert snap.posts == 1


async def test_when_every_waiter_is_cancelled_the_create_is_cancelled_and_awaited(
    keyed: WattzOnClient, snap: KeyedSnap
) -> None:
    snap.hold.clear()
    before = asyncio.all_tasks()
    creates = [asyncio.create_task(_create(keyed)) for _ in range(2)]
    await wait_until(lambda: snap.posts_waiting == 1 and _waiting(keyed) == 2)
    for create in creates:
        create.cancel()
    for create in creates:
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(60):  # a deadline for the condition, not a speed test
                await create
    assert asyncio.all_tasks() == before  # nothing left running
    assert keyed.jobs._creator._flights == {}
    assert (snap.posts_waiting, snap.posts_cancelled) == (0, 1)


async def test_a_failed_shared_create_fails_every_waiter_and_is_forgotten(
    keyed: WattzOnClient, snap: KeyedSnap
) -> None:
    snap.hold.clear()
    snap.refuse_next = True
    creates = [asyncio.create_task(_create(keyed)) for _ in range(3)]
    await wait_until(lambda: snap.posts_waiting == 1 and _waiting(keyed) == 3)
    snap.hold.set()
    results = await asyncio.gather(*creates, return_exceptions=True)
    assert all(isinstance(r, BadRequestError) for r in results)
    assert snap.posts == 1
    assert keyed.jobs._creator._flights == {}
    assert idempotency_tag("order-77") in (await _create(keyed)).tags  # a new attempt
    assert snap.posts == 2


async def test_submissions_with_one_key_make_one_job(keyed: WattzOnClient, snap: KeyedSnap) -> None:
    same = Submission(
        email="a@b.co", provider=4, document=BILL, name="b.pdf", idempotency_key="inv-9"
    )
    other = attrs.evolve(same, document=b"%PDF-1.4 another bill")
    # Two slots: the third item starts only once one of the first two has its job.
    outcomes = [o async for o in keyed.jobs.submit_many([same, same, other], concurrency=2)]
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].job is not None
    assert by_index[1].job is not None
    assert by_index[0].job.id == by_index[1].job.id
    assert isinstance(by_index[2].error, IdempotencyConflictError)
    assert snap.posts == 1


async def test_a_document_closed_by_its_owner_is_a_validation_error(
    keyed: WattzOnClient, snap: KeyedSnap, tmp_path: Any
) -> None:
    path = tmp_path / "bill.pdf"
    path.write_bytes(BILL)
    with path.open("rb") as file:
        creator = keyed.jobs._creator
        prepared = creator.prepare(
            Submission(email="a@b.co", provider=4, document=file, idempotency_key="order-77")
        )
    with pytest.raises(ValidationError, match="could not be read") as caught:
        await creator.send(prepared)
    assert caught.value.field == "document"
    assert snap.posts == 0
