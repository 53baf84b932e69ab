"""The per-attempt deadline of the send path (``_http._within``): what it cuts, what not."""

from __future__ import annotations

import asyncio

import pytest

from wattzon_async import APITimeoutError, RetryPolicy, WattzOnClient
from wattzon_async._httpx import httpx

from .conftest import SNAP, MakeClient, json_response, seed, wait_until

JOB = SNAP + "jobs/578/"
ONE_TRY = RetryPolicy(attempts=1, timeout=60.0)


def _hanging(started: list[str]) -> httpx.MockTransport:
    async def answer(request: httpx.Request) -> httpx.Response:
        started.append(str(request.url))
        await asyncio.Event().wait()  # never answers: only a cancellation ends it
        raise AssertionError("unreachable")

    return httpx.MockTransport(answer)


def _client(make_client: MakeClient, transport: httpx.MockTransport) -> WattzOnClient:
    return make_client(lambda r: json_response({}), retry=ONE_TRY, transport=transport)


async def test_an_attempt_past_its_deadline_raises_api_timeout_error(
    make_client: MakeClient,
) -> None:
    started: list[str] = []
    client = _client(make_client, _hanging(started))
    with pytest.raises(APITimeoutError, match="deadline passed") as caught:
        await client.jobs.get(578, timeout=0.2)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert started == [JOB]
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # the deadline's cancellation was taken back


async def test_a_cancellation_from_outside_is_not_a_timeout(make_client: MakeClient) -> None:
    started: list[str] = []
    client = _client(make_client, _hanging(started))
    call = asyncio.create_task(client.jobs.get(578, timeout=30))
    await wait_until(lambda: started == [JOB])
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_an_answer_before_the_deadline_leaves_nothing_pending(
    make_client: MakeClient,
) -> None:
    client = _client(
        make_client, httpx.MockTransport(lambda r: json_response(seed("job_raw.json")))
    )
    for _ in range(3):
        assert (await client.jobs.get(578, timeout=5)).id == 578
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
