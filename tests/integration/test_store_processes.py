"""One idempotency key across real processes sharing a store: SQLite and PostgreSQL.

Four processes create one bill with one key at the same instant (each waits for a file
to appear); a process SIGKILLed while it holds the key (its POST held in flight by the
emulator) is taken over after the lease by another one, which looks the key up first.
The emulator must hold exactly one job each time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from wattzon_async import IdempotencyConflictError, WattzOnClient, idempotency_tag
from wattzon_async.emulator import Emulator
from wattzon_async.store import ClaimState, open_store

from .conftest import PDF, child_environ, empty_store_url, poll_until
from .store_child import BILL

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("store_child.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store with a 2-second lease, on each engine."""
    return await empty_store_url(request, tmp_path / "fleet" / "store.db", "?lease=2")


class Child:
    """One process running store_child.py."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, emu: Emulator, store: str, key: str, mode: str, go: Path) -> Child:
        env = child_environ(emu, WATTZON_STORE_URL=store)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(CHILD), key, mode, str(go),
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 120)
        return raw.decode().strip()

    async def result(self) -> dict[str, Any]:
        line = await self.line()
        await asyncio.wait_for(self.process.wait(), 60)
        assert self.process.returncode == 0, line
        outcome: dict[str, Any] = json.loads(line)
        return outcome


async def jobs_with_key(emu: Emulator, key: str) -> list[int]:
    async with emu.client() as client:
        return [job.id for job in await client.jobs.list(tag=idempotency_tag(key))]


async def test_four_processes_one_key_same_instant_make_one_job(
    emulator: Emulator, store_url: str, tmp_path: Path
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    go = tmp_path / "go"
    children = [await Child.start(emulator, store_url, key, "create", go) for _ in range(4)]
    assert [await c.line() for c in children] == ["ready"] * 4
    go.touch()
    results = [await c.result() for c in children]
    ids = {r.get("job") for r in results}
    assert len(ids) == 1, results
    assert None not in ids, results
    assert await jobs_with_key(emulator, key) == list(ids)
    assert (await emulator.stats())["jobs_created"] == 1


async def test_a_sigkilled_holder_is_taken_over_and_still_one_job(
    emulator: Emulator, store_url: str, tmp_path: Path
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    go = tmp_path / "go"
    go.touch()
    await emulator.set_faults(hold=True)
    holder = await Child.start(emulator, store_url, key, "send", go)
    assert await holder.line() == "ready"

    async def posting() -> bool | None:  # its POST (no look-up: a fresh claim) is in flight
        return True if (await emulator.stats())["held"] >= 1 else None

    await poll_until(posting, timeout=60)
    holder.process.kill()
    await holder.process.wait()
    await emulator.set_faults()  # the dead process's request goes on: it may make a job
    taker = await Child.start(emulator, store_url, key, "send", go)
    assert await taker.line() == "ready"
    result = await taker.result()
    assert "job" in result, result
    assert await jobs_with_key(emulator, key) == [result["job"]]
    assert (await emulator.stats())["jobs_created"] == 1


async def test_the_key_of_a_job_made_elsewhere_returns_it_without_a_post(
    emulator: Emulator, store_url: str, tmp_path: Path
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    go = tmp_path / "go"
    go.touch()
    child = await Child.start(emulator, store_url, key, "create", go)
    assert await child.line() == "ready"
    first = await child.result()
    async with WattzOnClient.from_env(emulator.environ(), store=store_url) as client:
        again = await client.jobs.create(**BILL, idempotency_key=key)
    assert again.id == first["job"]
    assert (await emulator.stats())["requests"] == {
        "GET /api/v1/jobs": {"200": 1},  # the first process's look-up
        "POST /api/v1/jobs": {"201": 1},
        "GET /api/v1/jobs/{job_id}": {"200": 1},  # the second reads the job the store names
    }


async def test_another_bill_under_a_key_made_elsewhere_is_the_same_conflict(
    emulator: Emulator, store_url: str
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    env = emulator.environ()
    async with (
        WattzOnClient.from_env(env, store=store_url) as first,
        WattzOnClient.from_env(env, store=store_url) as second,
    ):
        made = await first.jobs.create(
            email="fleet@example.com", provider=4, document=PDF, name="a.pdf", idempotency_key=key
        )
        with pytest.raises(IdempotencyConflictError) as caught:
            await second.jobs.create(
                email="fleet@example.com",
                provider=5,
                document=PDF,
                name="a.pdf",
                idempotency_key=key,
            )
    assert caught.value.job is not None
    assert caught.value.job.id == made.id
    assert caught.value.differences == ("provider",)
    assert (await emulator.stats())["jobs_created"] == 1


async def test_a_closed_client_has_recorded_the_jobs_its_keys_made(
    emulator: Emulator, store_url: str
) -> None:
    key = f"order-{uuid.uuid4().hex}"
    async with WattzOnClient.from_env(emulator.environ(), store=store_url) as client:
        job = await client.jobs.create(
            email="fleet@example.com", provider=4, document=PDF, name="a.pdf", idempotency_key=key
        )
    store = open_store(store_url)
    try:
        claim = await store.claim_key(idempotency_tag(key), "someone-else")
    finally:
        await store.aclose()
    assert (claim.state, claim.job_id) == (ClaimState.DONE, job.id)
