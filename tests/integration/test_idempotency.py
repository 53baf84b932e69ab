"""Idempotency keys against the emulator: the same key, the same job; another bill, an error."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from wattzon_async import IdempotencyConflictError, WattzOnClient, idempotency_tag
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator

from .conftest import PDF, create_body

EMAIL = "user@example.com"


def _key() -> str:
    return f"order-{uuid.uuid4().hex[:8]}"


async def _create(client: WattzOnClient, key: str | bool | None, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "email": EMAIL,
        "provider": 4,
        "document": PDF,
        "name": "bill.pdf",
        "idempotency_key": key,
    }
    arguments.update(overrides)
    return await client.jobs.create(**arguments)


async def test_the_same_key_returns_the_same_job(
    clean_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    key = _key()
    first = await _create(wattzon_client, key)
    again = await _create(wattzon_client, key, tags=["retry"])
    assert again.id == first.id
    assert (await clean_emulator.stats())["jobs_created"] == 1
    listed = await wattzon_client.jobs.list(tag=idempotency_tag(key))
    assert [job.id for job in listed] == [first.id]


async def test_another_client_finds_the_job_by_the_key(
    clean_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    key = _key()
    first = await _create(wattzon_client, key)
    async with clean_emulator.client() as restarted:  # a new process would do the same
        assert (await _create(restarted, key)).id == first.id
    assert (await clean_emulator.stats())["jobs_created"] == 1


@pytest.mark.parametrize(
    ("overrides", "difference"),
    [
        ({"provider": 5}, "provider"),
        ({"email": "someone.else@example.com"}, "email"),
        ({"document": PDF + b"%another month"}, "document"),
    ],
)
async def test_a_key_reused_for_another_bill_raises(
    clean_emulator: Emulator,
    wattzon_client: WattzOnClient,
    overrides: dict[str, Any],
    difference: str,
) -> None:
    key = _key()
    first = await _create(wattzon_client, key)
    with pytest.raises(IdempotencyConflictError) as caught:
        await _create(wattzon_client, key, **overrides)
    assert caught.value.differences == (difference,)
    assert caught.value.job is not None
    assert caught.value.job.id == first.id
    assert (await clean_emulator.stats())["jobs_created"] == 1


async def test_a_raw_tag_from_0_1_finds_its_job(
    clean_emulator: Emulator, wattzon_client: WattzOnClient, http: httpx.AsyncClient
) -> None:
    raw = "idem:" + uuid.uuid4().hex
    made = await http.post("/api/v1/jobs/", json=create_body(email=EMAIL, tags=[raw]))
    assert made.status_code == 201  # what 0.1 sent: the tag, no fingerprint
    job = await _create(wattzon_client, raw)
    assert job.id == made.json()["id"]
    assert (await clean_emulator.stats())["jobs_created"] == 1


async def test_only_the_20_newest_jobs_of_a_tag_are_listed(
    clean_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    """More than 20 jobs on one tag (made here by hand): the key's job is the oldest listed.

    A tag filter lists the newest 20 jobs carrying it, so a used key is never taken for
    unused: the create still makes nothing new. It returns the oldest job of those 20,
    not the first of all 25.
    """
    raw = "idem:" + uuid.uuid4().hex
    ids = [(await _create(wattzon_client, False, tags=[raw])).id for _ in range(25)]
    listed = await wattzon_client.jobs.list(tag=raw)
    assert [job.id for job in listed] == ids[:4:-1]  # newest first, the first 5 left out
    assert (await _create(wattzon_client, raw)).id == ids[5]
    assert (await clean_emulator.stats())["jobs_created"] == 25


async def test_ten_concurrent_creates_with_one_key_make_one_job(
    clean_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    key = _key()
    jobs = await asyncio.gather(*(_create(wattzon_client, key) for _ in range(10)))
    assert len({job.id for job in jobs}) == 1
    assert (await clean_emulator.stats())["jobs_created"] == 1


async def test_one_job_when_the_shared_create_loses_its_answer(
    clean_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    await clean_emulator.set_faults(drop_after_create_rate=1.0)
    key = _key()
    jobs = await asyncio.gather(*(_create(wattzon_client, key) for _ in range(10)))
    assert len({job.id for job in jobs}) == 1
    stats = await clean_emulator.stats()
    assert (stats["jobs_created"], stats["connections_dropped"]) == (1, 1)
