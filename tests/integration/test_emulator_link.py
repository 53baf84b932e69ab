"""Link extractions in the emulator: the seed's Link message, its faults, the bills after.

``Emulator.start_link`` (and ``POST /_emulator/link``, the curl line ``wattzon emulator``
prints, run in test_cli) plays the user who links a utility account; the queue then gets
the message of the vendor's notification page, byte for byte in its shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from wattzon_async import LinkNotification, NotFoundError, parse_notification
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator, EmulatorError, LinkJob, start_link

from .conftest import mtls_context
from .test_emulator_faults import receive

pytestmark = pytest.mark.integration

LINK_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest_asyncio.fixture
async def emu(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator, reset, with its queue purged."""
    await clean_emulator.reset(purge_queue=True)
    yield clean_emulator


def seed_body(job: LinkJob, created_at: str) -> str:
    """The Link message the vendor documents, for ``job``, as JSON text."""
    return json.dumps(
        {
            "app": "link",
            "profile_id": job.profile_id,
            "job_id": job.job_id,
            "tags": repr(list(job.tags)),
            "created_at": created_at,
        }
    )


async def test_the_link_message_has_exactly_the_seed_shape(emu: Emulator) -> None:
    job = await emu.start_link(profile_id="1001", tags=["sfid:12345", "demo"])
    (body,) = await receive(emu, 1)
    message = json.loads(body)
    assert list(message) == ["app", "profile_id", "job_id", "tags", "created_at"]
    assert LINK_TIME.match(message["created_at"])
    assert body == seed_body(job, message["created_at"])
    assert message["tags"] == "['sfid:12345', 'demo']"
    assert isinstance(message["job_id"], str)
    assert message["job_id"] == job.job_id
    assert message["profile_id"] == "1001"
    parsed = parse_notification(body)
    assert isinstance(parsed, LinkNotification)
    assert (parsed.profile_id, parsed.job_id, parsed.tags) == ("1001", job.job_id, job.tags)
    stats = await emu.stats()
    assert (stats["link_extractions_started"], stats["notifications_sent"]) == (1, 1)


async def test_a_new_profile_has_its_bills_once_extracted(emu: Emulator) -> None:
    async with emu.client() as client:
        job = await emu.start_link(tags=[7], provider=140, bills=4)
        assert (job.profile_id, job.tags, job.provider, job.bills) == ("3001", ("7",), 140, 4)
        (body,) = await receive(emu, 1)
        assert json.loads(body)["tags"] == "['7']"
        bills = await client.link.bills(job.profile_id)
        assert [b["id"] for b in bills] == [300104, 300103, 300102, 300101]
        assert {b["provider_id"] for b in bills} == {140}
        second = await emu.start_link(job.profile_id)
        assert second.job_id != job.job_id
        assert (second.provider, second.bills) == (140, 4)


async def test_bills_and_pdfs_of_a_started_profile_are_the_tenants_own(
    emu: Emulator, tmp_path: Path
) -> None:
    job = await emu.start_link(bills=1)
    await receive(emu, 1)
    cert, key = emu.issue_client_cert("another-tenant")
    other = mtls_context(emu.ca_cert, cert, key)
    mine = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    path = f"/link/4.0/data/bills/{job.profile_id}"
    async with httpx.AsyncClient(verify=other, base_url=emu.base_url) as http:
        assert (await http.get(path)).status_code == 403
        assert (await http.get(f"{path}/{job.profile_id}01.pdf")).status_code == 403
        assert (await http.get("/link/4.0/data/bills/1001")).status_code == 200
        refused = await http.post("/_emulator/link", json={"profile_id": job.profile_id})
        assert refused.status_code == 403
        assert "belongs to another client" in refused.json()["error"]
    async with httpx.AsyncClient(verify=mine, base_url=emu.base_url) as http:
        (bill,) = (await http.get(path)).json()["data"]
        pdf = await http.get(bill["pdf"])
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")


async def test_an_unknown_profile_is_a_404_until_an_extraction_starts(emu: Emulator) -> None:
    async with emu.client() as client:
        with pytest.raises(NotFoundError, match="1001 \\(3 bills\\)"):
            await client.link.bills("4242")
        await emu.start_link("4242", bills=2)
        await receive(emu, 1)
        assert len(await client.link.bills("4242")) == 2


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"profile_id": "abc"}, "profile_id must be digits"),
        ({"profile_id": "1001", "provider": 12}, "profile 1001 exists"),
        ({"bills": 25}, "bills must be an integer from 0 to 24"),
        ({"provider": 0}, "provider must be a positive integer"),
        ({"tags": ["a,b"]}, "tags must not contain commas"),
    ],
)
async def test_bad_extraction_requests_are_refused(
    emu: Emulator, arguments: dict[str, object], error: str
) -> None:
    with pytest.raises(EmulatorError, match=error):
        await emu.start_link(**arguments)  # type: ignore[arg-type]
    assert (await emu.stats())["link_extractions_started"] == 0


async def test_link_messages_get_the_snap_faults(emu: Emulator) -> None:
    await emu.set_faults(duplicate_notification_rate=1.0, malformed_notification_rate=1.0, seed=3)
    job = await emu.start_link("1002", tags=["x"])
    bodies = await receive(emu, 3)
    real = [b for b in bodies if b.startswith('{"app": "link", "profile_id": "1002",')]
    assert len(real) == 2
    assert real[0] == real[1]
    assert json.loads(real[0])["job_id"] == job.job_id
    stats = await emu.stats()
    assert stats["duplicate_notifications_sent"] == 1
    assert stats["malformed_notifications_sent"] == 1
    assert stats["sqs_messages_sent"] == 3


async def test_a_link_extraction_survives_an_sqs_outage_and_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    async with Emulator(processing_time=1.0, sqs=True, state_dir=folder) as first:
        await first.stop_sqs()
        job = await first.start_link(tags=["outage"])
        await first.start_sqs()
        (body,) = await receive(first, 1)
        assert json.loads(body)["job_id"] == job.job_id
        running = await first.start_link(job.profile_id, tags=["restart"])
    # Stopped before `running` completed: a restart with the same folder still sends it.
    async with Emulator(processing_time=1.0, sqs=True, state_dir=folder) as second:
        (body,) = await receive(second, 1, timeout=30)
        assert body == seed_body(running, json.loads(body)["created_at"])
        async with second.client() as client:
            assert len(await client.link.bills(job.profile_id)) == 3
        again = await second.start_link(tags=["new"])
        assert int(again.job_id) > int(running.job_id)
        assert again.profile_id != job.profile_id


async def test_start_link_reaches_an_emulator_through_its_exports(emu: Emulator) -> None:
    job = await start_link(tags=["env"], environ=emu.environ())
    (body,) = await receive(emu, 1)
    assert body == seed_body(job, json.loads(body)["created_at"])
    with pytest.raises(EmulatorError, match="set WATTZON_CERT, WATTZON_KEY"):
        await start_link(environ={"WATTZON_LINK_URL": emu.link_url})
    with pytest.raises(EmulatorError, match="not the emulator's"):
        await start_link(environ={**emu.environ(), "WATTZON_LINK_URL": "https://x/"})
