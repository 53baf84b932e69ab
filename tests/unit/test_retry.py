"""Safe retries: GETs retry transient failures; a create is never sent twice blindly."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from wattzon_async import (
    AmbiguousSubmitError,
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    WattzOnClient,
)
from wattzon_async._httpx import httpx

from .conftest import PDF, SNAP, MakeClient, Router, json_response, seed

FAST = RetryPolicy(attempts=4, timeout=5.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0)
JOB = SNAP + "jobs/578/"


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.fixture
def fast_client(make_client: MakeClient, router: Router) -> WattzOnClient:
    return make_client(router, retry=FAST)


@pytest.mark.parametrize(
    "failure",
    [
        _raise(httpx.ConnectError("refused")),
        _raise(httpx.ConnectTimeout("slow")),
        _raise(httpx.ReadTimeout("slow")),
        _raise(httpx.RemoteProtocolError("dropped")),
        json_response({"error": "busy"}, 500),
        json_response({"error": "busy"}, 503),
        json_response({"error": "slow down"}, 429),
    ],
)
async def test_get_retries_transient_failures(
    fast_client: WattzOnClient, router: Router, failure: object
) -> None:
    router.add("GET", JOB, failure, failure, json_response(seed("job_raw.json")))  # type: ignore[arg-type]
    job = await fast_client.jobs.get(578)
    assert job.id == 578
    assert router.count("GET", JOB) == 3


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (403, PermissionDeniedError), (404, NotFoundError)],
)
async def test_client_errors_are_never_retried(
    fast_client: WattzOnClient, router: Router, status: int, cls: type[Exception]
) -> None:
    router.add("GET", JOB, json_response({"error": "nope"}, status))
    with pytest.raises(cls, match="nope"):
        await fast_client.jobs.get(578)
    assert router.count("GET", JOB) == 1


async def test_attempts_are_bounded(fast_client: WattzOnClient, router: Router) -> None:
    router.add("GET", JOB, json_response({"error": "down"}, 502))
    with pytest.raises(InternalServerError, match="down"):
        await fast_client.jobs.get(578)
    assert router.count("GET", JOB) == FAST.attempts


async def test_connection_errors_become_sdk_errors(
    fast_client: WattzOnClient, router: Router
) -> None:
    router.add("GET", JOB, _raise(httpx.ReadTimeout("slow")))
    with pytest.raises(APITimeoutError):
        await fast_client.jobs.get(578)


async def test_retry_after_is_honoured(make_client: MakeClient, router: Router) -> None:
    policy = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.0, wait_jitter=0)
    router.add(
        "GET",
        JOB,
        json_response({"error": "slow down"}, 429, **{"Retry-After": "0.3"}),
        json_response(seed("job_raw.json")),
    )
    client = make_client(router, retry=policy)
    started = time.monotonic()
    await client.jobs.get(578)
    assert time.monotonic() - started >= 0.3


async def test_retry_after_past_the_deadline_gives_up_at_once(
    make_client: MakeClient, router: Router
) -> None:
    policy = RetryPolicy(attempts=5, timeout=1.0, wait_initial=0.0, wait_jitter=0)
    router.add("GET", JOB, json_response({"error": "later"}, 429, **{"Retry-After": "60"}))
    client = make_client(router, retry=policy)
    with pytest.raises(RateLimitError) as caught:
        await client.jobs.get(578)
    # The 429 itself, not a timeout after waiting for the deadline or the Retry-After.
    assert caught.value.retry_after == 60
    assert router.count("GET", JOB) == 1


async def test_a_429_pauses_the_whole_client_for_its_retry_after(
    make_client: MakeClient, router: Router
) -> None:
    router.add("GET", JOB, json_response({"error": "later"}, 429, **{"Retry-After": "60"}))
    client = make_client(router, retry=RetryPolicy(attempts=1))
    with pytest.raises(RateLimitError) as caught:
        await client.jobs.get(578)
    assert caught.value.retry_after == 60
    assert 30 < client._sender.limiter.paused_for <= 60  # the same value, read once


async def test_per_call_timeout_bounds_retries(make_client: MakeClient, router: Router) -> None:
    policy = RetryPolicy(attempts=100, timeout=60.0, wait_initial=0.05, wait_jitter=0)
    router.add("GET", JOB, json_response({"error": "down"}, 500))
    client = make_client(router, retry=policy)
    with pytest.raises(InternalServerError):
        await client.jobs.get(578, timeout=0.5)
    # 100 attempts with 0.05 s or more between them would take 5 s: the 0.5 s deadline
    # stopped them well before (fewer attempts still under load, never more).
    assert router.count("GET", JOB) < 50


# --- POST /jobs/: never blindly repeated -------------------------------------------------


def _created(request: httpx.Request) -> httpx.Response:
    import json

    answer = seed("create_response.json")
    answer["tags"] = json.loads(request.read())["tags"]
    return json_response(answer, 201)


async def test_create_retries_when_the_request_never_left(
    fast_client: WattzOnClient, router: Router
) -> None:
    router.add("POST", SNAP + "jobs/", _raise(httpx.ConnectError("refused")), _created)
    job = await fast_client.jobs.create(email="a@b.co", provider=4, document=PDF, name="b.pdf")
    assert job.id == 513
    assert router.count("POST", SNAP + "jobs/") == 2


async def test_create_retries_after_429(fast_client: WattzOnClient, router: Router) -> None:
    router.add("POST", SNAP + "jobs/", json_response({"error": "slow"}, 429), _created)
    job = await fast_client.jobs.create(email="a@b.co", provider=4, document=PDF, name="b.pdf")
    assert job.id == 513


async def test_create_dropped_after_sending_is_recovered_by_lookup(
    fast_client: WattzOnClient, router: Router
) -> None:
    created: list[dict[str, object]] = []

    def create_then_drop(request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(request.read())
        answer = seed("create_response.json")
        answer["tags"] = body["tags"]
        created.append(answer)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    def lookup(request: httpx.Request) -> httpx.Response:
        tag = request.url.params["tag"]
        return json_response([c for c in created if tag in c["tags"]])  # type: ignore[operator]

    key = "idem:" + "c" * 32
    router.add("POST", SNAP + "jobs/", create_then_drop)
    router.add("GET", SNAP + "jobs/?tag=idem%3A" + "c" * 32, lookup)
    job = await fast_client.jobs.create(
        email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=key
    )
    assert job.id == 513
    assert key in job.tags
    assert len(created) == 1
    assert router.count("POST", SNAP + "jobs/") == 1
    assert router.count("GET", SNAP + "jobs/?tag=idem%3A" + "c" * 32) == 2  # first, then recovery


async def test_create_500_not_found_by_lookup_is_retried(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST)
    key = "idem:" + "a" * 32
    router.add("POST", SNAP + "jobs/", json_response({"error": "boom"}, 500), _created)
    router.add("GET", SNAP + "jobs/?tag=idem%3A" + "a" * 32, json_response([]))
    job = await client.jobs.create(
        email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=key
    )
    assert key in job.tags
    assert router.count("POST", SNAP + "jobs/") == 2
    assert router.count("GET", SNAP + "jobs/?tag=idem%3A" + "a" * 32) == 2  # first, then recovery


async def test_a_create_that_keeps_failing_is_posted_as_often_as_the_policy_allows(
    make_client: MakeClient, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(router, retry=FAST)
    key = "idem:" + "d" * 32
    router.add("POST", SNAP + "jobs/", json_response({"error": "boom"}, 500))
    router.add("GET", SNAP + "jobs/?tag=idem%3A" + "d" * 32, json_response([]))
    caplog.set_level("INFO", logger="wattzon_async")
    with pytest.raises(InternalServerError):
        await client.jobs.create(
            email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=key
        )
    assert router.count("POST", SNAP + "jobs/") == FAST.attempts
    # the look-up before the first POST, then one after each POST, before it is repeated
    assert router.count("GET", SNAP + "jobs/?tag=idem%3A" + "d" * 32) == 1 + FAST.attempts
    again = [r for r in caplog.records if "posting the create again" in r.getMessage()]
    assert len(again) == FAST.attempts - 1


async def test_create_that_cannot_be_decided_is_ambiguous(
    make_client: MakeClient, router: Router
) -> None:
    client = make_client(router, retry=FAST)
    key = "idem:" + "b" * 32
    router.add("POST", SNAP + "jobs/", _raise(httpx.ReadTimeout("no answer")))
    router.add(
        "GET",
        SNAP + "jobs/?tag=idem%3A" + "b" * 32,
        json_response([]),  # the look-up before the create: nothing yet
        json_response({"error": "x"}, 503),  # the look-up after it: failing
    )
    with pytest.raises(AmbiguousSubmitError) as caught:
        await client.jobs.create(
            email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=key
        )
    assert caught.value.idempotency_key == key
    assert key in str(caught.value)
    assert router.count("POST", SNAP + "jobs/") == 1


async def test_create_without_key_is_not_repeated(
    fast_client: WattzOnClient, router: Router
) -> None:
    router.add("POST", SNAP + "jobs/", json_response({"error": "boom"}, 500))
    with pytest.raises(AmbiguousSubmitError) as caught:
        await fast_client.jobs.create(
            email="a@b.co", provider=4, document=PDF, name="b.pdf", idempotency_key=False
        )
    assert caught.value.idempotency_key is None
    assert router.count("POST", SNAP + "jobs/") == 1


async def test_create_400_is_final(fast_client: WattzOnClient, router: Router) -> None:
    router.add("POST", SNAP + "jobs/", json_response({"error": "bad base64"}, 400))
    with pytest.raises(BadRequestError, match="bad base64"):
        await fast_client.jobs.create(email="a@b.co", provider=4, document=PDF, name="b.pdf")
    assert router.count("POST", SNAP + "jobs/") == 1


async def test_connection_refused_everywhere(fast_client: WattzOnClient, router: Router) -> None:
    router.add("POST", SNAP + "jobs/", _raise(httpx.ConnectError("refused")))
    with pytest.raises(APIConnectionError) as caught:
        await fast_client.jobs.create(email="a@b.co", provider=4, document=PDF, name="b.pdf")
    assert caught.value.request_sent is False
    assert router.count("POST", SNAP + "jobs/") == FAST.attempts


class SlowCreate(httpx.AsyncBaseTransport):
    """Creates the job, then answers far too late; lists jobs by tag at once."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.created: list[dict[str, object]] = []
        self.answer = answer
        self.events: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio
        import json

        if request.method == "POST":
            self.events.append("create")
            job = seed("create_response.json")
            job["tags"] = json.loads(await request.aread())["tags"]
            self.created.append(job)
            if self.answer is not None:
                return httpx.Response(201, content=self.answer)
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.events.append("create cut")
                raise
        self.events.append("look-up")
        tag = request.url.params["tag"]
        return json_response([j for j in self.created if tag in j["tags"]])  # type: ignore[operator]


async def test_a_create_cut_at_its_deadline_is_still_looked_up(make_client: MakeClient) -> None:
    from wattzon_async import Timeouts

    transport = SlowCreate()
    client = make_client(
        transport, retry=FAST, timeouts=Timeouts(read=0.4, upload=10), transport=transport
    )
    job = await client.jobs.create(
        email="a@b.co", provider=4, document=PDF, name="b.pdf", timeout=1.0
    )
    assert job.id == 513
    assert len(transport.created) == 1
    # Cut at its 1 s deadline (not answered after 30 s), then looked up.
    assert transport.events[:2] == ["create", "create cut"]
    assert "look-up" in transport.events[2:]


@pytest.mark.parametrize("answer", [b"<html>oops</html>", b'{"id": "not a job"}'])
async def test_a_created_job_with_an_unreadable_answer_is_read_back(
    make_client: MakeClient, answer: bytes
) -> None:
    transport = SlowCreate(answer)
    client = make_client(transport, retry=FAST, transport=transport)
    job = await client.jobs.create(email="a@b.co", provider=4, document=PDF, name="b.pdf")
    assert job.id == 513
    assert len(transport.created) == 1


async def test_an_undecodable_body_is_an_unexpected_response(
    fast_client: WattzOnClient, router: Router
) -> None:
    from wattzon_async import UnexpectedResponseError

    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"})

    router.add("GET", JOB, garbled)
    with pytest.raises(UnexpectedResponseError, match="decoded"):
        await fast_client.jobs.get(578)
