"""``RetryPolicy.attempts`` is the most POSTs one create makes, whatever fails how.

One loop owns the retries of a create's POST (``Creator.post``); the send path makes
each POST once. Against a server that alternates 429 and 500 (a 500's key look-up
finding nothing), the count of POSTs is exactly ``attempts``.
"""

from __future__ import annotations

import itertools
import json

import pytest

from wattzon_async import InternalServerError, RateLimitError, RetryPolicy
from wattzon_async._httpx import httpx

from .conftest import MakeClient, seed

PDF = b"%PDF-1.4\n%%EOF\n"


class Alternating:
    """POST: 429, 500, 429, 500, ...; a look-up by tag finds no job."""

    def __init__(self) -> None:
        self.posts = 0
        self.lookups = 0
        self._answers = itertools.cycle([429, 500])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            status = next(self._answers)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return httpx.Response(status, json={"detail": "busy"}, headers=headers)
        self.lookups += 1
        return httpx.Response(200, json=[])


@pytest.mark.parametrize("attempts", [1, 2, 5])
@pytest.mark.parametrize("key", ["order-1", None])
async def test_attempts_is_the_number_of_posts(
    make_client: MakeClient, attempts: int, key: str | None
) -> None:
    server = Alternating()
    client = make_client(
        server, retry=RetryPolicy(attempts=attempts, wait_initial=0.0, wait_max=0.0)
    )
    with pytest.raises((RateLimitError, InternalServerError)) as caught:
        await client.jobs.create(
            email="a@b.co", provider=4, document=PDF, name="bill.pdf", idempotency_key=key
        )
    assert server.posts == attempts
    # the last answer is the one raised: 429 after an odd number of POSTs, 500 after even
    assert isinstance(caught.value, RateLimitError if attempts % 2 else InternalServerError)


async def test_a_post_after_429s_and_500s_makes_one_job(make_client: MakeClient) -> None:
    answers = iter([429, 500, 429])
    posts: list[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[])
        posts.append(1)
        status = next(answers, 201)
        if status == 201:
            job = {**seed("create_response.json"), "id": 7}
            job["tags"] = json.loads(request.content)["tags"]
            return httpx.Response(201, json=job)
        return httpx.Response(status, json={"detail": "busy"}, headers={"Retry-After": "0"})

    client = make_client(server, retry=RetryPolicy(attempts=4, wait_initial=0.0, wait_max=0.0))
    job = await client.jobs.create(email="a@b.co", provider=4, document=PDF, name="bill.pdf")
    assert job.id == 7
    assert len(posts) == 4
