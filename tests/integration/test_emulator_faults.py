"""The emulator's admin API: fault injection, counters, reset, and the SQS notifications."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator, EmulatorError

from .conftest import create_body, emulator_sqs, mtls_context, poll_until

NOTIFICATION_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest_asyncio.fixture
async def emu(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator, reset, with its queue purged."""
    await clean_emulator.reset(purge_queue=True)
    yield clean_emulator


@pytest_asyncio.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    async with httpx.AsyncClient(verify=context, base_url=emu.base_url, timeout=30) as client:
        yield client


async def create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/jobs/", json=create_body(**body))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def receive(emu: Emulator, count: int, timeout: float = 60.0) -> list[str]:
    """Receive (and delete) at least ``count`` raw message bodies from the queue."""
    bodies: list[str] = []
    async with emulator_sqs(emu) as sqs:

        async def check() -> list[str] | None:
            reply = await sqs.receive_message(
                QueueUrl=emu.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in reply.get("Messages", []):
                bodies.append(message["Body"])
                await sqs.delete_message(
                    QueueUrl=emu.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            return bodies if len(bodies) >= count else None

        return await poll_until(check, timeout=timeout, interval=0.05)


# -- notifications -------------------------------------------------------------------------


async def test_notification_has_exactly_the_vendor_shape(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    job = await create(http)
    (body,) = await receive(emu, 1)
    message = json.loads(body)
    assert list(message) == [
        "app",
        "job_id",
        "tags",
        "created_at",
        "final_state",
        "provider",
        "email",
        "document",
        "got_results",
    ]
    assert message["app"] == "snap"
    assert message["job_id"] == job["id"]
    assert message["tags"] == "['sfid:12345', 'demo']"
    assert NOTIFICATION_TIME.match(message["created_at"])
    assert message["final_state"] == "COMPLETE"
    assert message["provider"] == 4
    assert message["email"] == "user@example.com"
    assert message["document"] == job["document"]
    assert message["got_results"] is True


async def test_final_states_other_than_complete_are_notified_without_results(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    failed = await create(http, name="failed.pdf")
    unsupported = await create(http, provider=9999)
    messages = {m["job_id"]: m for m in map(json.loads, await receive(emu, 2))}
    assert messages[failed["id"]]["final_state"] == "FAILED"
    assert messages[unsupported["id"]]["final_state"] == "UNSUPPORTED"
    assert not messages[failed["id"]]["got_results"]
    assert not messages[unsupported["id"]]["got_results"]


async def test_duplicate_notifications(emu: Emulator, http: httpx.AsyncClient) -> None:
    await emu.set_faults(duplicate_notification_rate=1.0)
    await create(http)
    bodies = await receive(emu, 2)
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    stats = await emu.stats()
    assert stats["notifications_sent"] == 1
    assert stats["duplicate_notifications_sent"] == 1
    assert stats["sqs_messages_sent"] == 2


async def test_malformed_notifications_come_besides_the_real_one(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    await emu.set_faults(malformed_notification_rate=1.0, seed=7)
    job = await create(http)
    bodies = await receive(emu, 2)
    real = [b for b in bodies if b.startswith(f'{{"app": "snap", "job_id": {job["id"]},')]
    assert len(real) == 1
    assert len(bodies) == 2
    assert (await emu.stats())["malformed_notifications_sent"] == 1


# -- HTTP faults ---------------------------------------------------------------------------------


async def test_rate_limit_is_per_tenant_with_retry_after(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    await emu.set_faults(rate_limit_rps=1, rate_limit_burst=2)
    statuses = [(await http.get("/link/4.0/zips/94110")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await http.get("/link/4.0/zips/94110")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert "rate limit" in limited.json()["error"]
    cert, key = emu.issue_client_cert("tenant-unlimited")
    context = mtls_context(emu.ca_cert, cert, key)
    async with httpx.AsyncClient(verify=context, base_url=emu.base_url) as other:
        assert (await other.get("/link/4.0/zips/94110")).status_code == 200


async def test_error_rate_answers_500(emu: Emulator, http: httpx.AsyncClient) -> None:
    await emu.set_faults(error_rate=1.0)
    response = await http.post("/api/v1/jobs/", json=create_body())
    assert response.status_code == 500
    assert "error" in response.json()
    stats = await emu.stats()
    assert stats["jobs_created"] == 0
    assert stats["requests"]["POST /api/v1/jobs"] == {"500": 1}


async def test_drop_after_create_creates_the_job_and_cuts_the_response(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    await emu.set_faults(drop_after_create_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/api/v1/jobs/", json=create_body(tags=["dropped:1"]))
    await emu.set_faults()
    listed = (await http.get("/api/v1/jobs/", params={"tag": "dropped:1"})).json()
    assert len(listed) == 1
    stats = await emu.stats()
    assert stats["jobs_created"] == 1
    assert stats["connections_dropped"] == 1
    assert stats["responses"]["dropped"] == 1


async def test_latency_delays_responses(emu: Emulator, http: httpx.AsyncClient) -> None:
    await emu.set_faults(latency=0.3)
    started = time.monotonic()
    assert (await http.get("/link/4.0/zips/94110")).status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_hold_keeps_requests_in_flight_until_lifted(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    async def held(count: int) -> bool | None:
        return True if (await emu.stats())["held"] == count else None

    await emu.set_faults(hold=True)
    answers = [asyncio.create_task(http.get("/link/4.0/zips/94110")) for _ in range(3)]
    await poll_until(lambda: held(3))
    assert not any(answer.done() for answer in answers)
    await emu.set_faults()
    assert [r.status_code for r in await asyncio.gather(*answers)] == [200] * 3
    await emu.set_faults(hold=True)
    last = asyncio.create_task(http.get("/link/4.0/zips/94110"))
    await poll_until(lambda: held(1))
    await emu.reset()  # lifts the hold too
    assert (await last).status_code == 200
    assert (await emu.stats())["held"] == 0


# -- stats, settings and reset ---------------------------------------------------------------------


async def test_stats_count_requests_responses_jobs_and_notifications(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    job = await create(http)
    await http.get(f"/api/v1/jobs/{job['id']}/")
    await http.get("/api/v1/jobs/99999999/")
    await http.get("/link/4.0/zips/94110")
    await receive(emu, 1)
    stats = await emu.stats()
    assert stats["requests"] == {
        "POST /api/v1/jobs": {"201": 1},
        "GET /api/v1/jobs/{job_id}": {"200": 1, "404": 1},
        "GET /link/4.0/zips/{zipcode}": {"200": 1},
    }
    assert stats["responses"] == {"201": 1, "200": 2, "404": 1}
    assert stats["jobs_created"] == 1
    assert stats["notifications_sent"] == 1


async def test_reset_forgets_jobs(emu: Emulator, http: httpx.AsyncClient) -> None:
    job = await create(http)
    await emu.reset()
    assert (await http.get(f"/api/v1/jobs/{job['id']}/")).status_code == 404
    assert (await emu.stats())["jobs_created"] == 0


async def test_configure_changes_the_lifecycle_until_reset(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    settings = await emu.configure(processing_time=(0.05, 0.1), failing_providers=[12])
    assert settings["processing_time"] == [0.05, 0.1]
    job = await create(http, provider=12)

    async def final() -> str | None:
        status: str = (await http.get(f"/api/v1/jobs/{job['id']}")).json()["status"]
        return status if status == "FAILED" else None

    await poll_until(final)
    await emu.reset()
    assert (await emu.configure())["failing_providers"] == []


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 1.5},
        {"latency": -1},
        {"rate_limit_rps": 0},
        {"error_rate": "x"},
        {"hold": 1},
    ],
)
async def test_bad_fault_settings_are_refused(emu: Emulator, faults: dict[str, Any]) -> None:
    with pytest.raises(EmulatorError, match="400"):
        await emu.set_faults(**faults)


async def test_admin_api_refuses_unknown_settings(emu: Emulator) -> None:
    with pytest.raises(EmulatorError, match="unknown"):
        await emu.configure(colour="blue")
