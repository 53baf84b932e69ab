"""The SDK against the emulator: every call and error path over real mTLS and real SQS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.pki import CertificateAuthority
from wattzon_async import (
    BadRequestError,
    CertificateError,
    ExtractedField,
    JobFailedError,
    JobStatus,
    JobUnsupportedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    WattzOnClient,
)
from wattzon_async.emulator import Emulator, expected_results
from wattzon_async.notifications import NotificationConsumer

from .conftest import PDF

EMAIL = "user@example.com"


@pytest.fixture
def bill(tmp_path: Path) -> Path:
    path = tmp_path / "bill.pdf"
    path.write_bytes(PDF + tmp_path.name.encode())
    return path


@pytest_asyncio.fixture
async def faulty(clean_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator, reset before and after the test (faults off again)."""
    yield clean_emulator


async def test_create_await_and_read_results(
    wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer, bill: Path
) -> None:
    job = await wattzon_client.jobs.create(
        email=EMAIL, provider=4, document=bill, tags=["sdk:roundtrip", 7]
    )
    assert job.status is JobStatus.ENQUEUED
    assert job.document.name == "bill.pdf"
    assert {"sdk:roundtrip", "7"} <= set(job.tags)
    done = await wattzon_client.await_job(job.id, timeout=20, notifications=wattzon_consumer)
    assert done.status is JobStatus.COMPLETE
    expected = expected_results(bill.read_bytes(), 4)
    assert done.values() == expected
    assert done.results is not None
    field = done.results["Name"]
    assert isinstance(field, ExtractedField)
    assert len(field.tokens) == len(expected["Name"].split())
    transformed = await wattzon_client.jobs.get(job.id, results="transformed")
    assert transformed.results == expected


async def test_list_by_tag_newest_first(wattzon_client: WattzOnClient) -> None:
    ids = []
    for _ in range(3):
        job = await wattzon_client.jobs.create(
            email=EMAIL, provider=4, document=PDF, name="b.pdf", tags=["sdk:list"]
        )
        ids.append(job.id)
    listed = await wattzon_client.jobs.list(tag="sdk:list")
    assert [j.id for j in listed][:3] == ids[::-1]


async def test_documents_get_and_download(
    wattzon_client: WattzOnClient, bill: Path, tmp_path: Path
) -> None:
    job = await wattzon_client.jobs.create(email=EMAIL, provider=4, document=bill)
    document = await wattzon_client.documents.get(job.id)
    assert (document.id, document.name, document.content) == (
        job.document.id,
        "bill.pdf",
        bill.read_bytes(),
    )
    saved = await wattzon_client.documents.download(job.id, tmp_path / "copy.pdf")
    assert Path(saved).read_bytes() == bill.read_bytes()


async def test_failed_and_unsupported_jobs_raise(
    wattzon_client: WattzOnClient, wattzon_consumer: NotificationConsumer
) -> None:
    failed = await wattzon_client.jobs.create(
        email=EMAIL, provider=4, document=PDF, name="failed-scan.pdf"
    )
    with pytest.raises(JobFailedError) as failure:
        await wattzon_client.await_job(failed.id, timeout=20, notifications=wattzon_consumer)
    assert failure.value.job.status is JobStatus.FAILED
    unsupported = await wattzon_client.jobs.create(
        email=EMAIL, provider=9999, document=PDF, name="bill.pdf"
    )
    assert unsupported.status is JobStatus.UNSUPPORTED
    with pytest.raises(JobUnsupportedError):
        await wattzon_client.await_job(unsupported.id, timeout=20)


async def test_link_calls(wattzon_client: WattzOnClient) -> None:
    zipcode = await wattzon_client.zips.get("00007")
    assert zipcode.zipcode == "00007"
    assert 3150 in await wattzon_client.utilities.find(zipcode="00007")
    assert await wattzon_client.utilities.find(zipcode="94110", type="water") == [305]
    utility = await wattzon_client.utilities.get(3150)
    assert utility.id == 3150
    assert "electric" in utility.types
    bills = await wattzon_client.link.bills("1001")
    assert len(bills) == 3
    assert bills[0].pdf is not None
    assert bills[0]["provider_id"] == 4


async def test_not_found_errors(wattzon_client: WattzOnClient) -> None:
    with pytest.raises(NotFoundError):
        await wattzon_client.jobs.get(99999999)
    with pytest.raises(NotFoundError):
        await wattzon_client.documents.get(99999999)
    with pytest.raises(NotFoundError):
        await wattzon_client.zips.get("99999")
    with pytest.raises(NotFoundError):
        await wattzon_client.utilities.get(123456)
    with pytest.raises(NotFoundError):
        await wattzon_client.link.bills("nobody")


async def test_another_tenant_gets_permission_denied(
    wattzon_emulator: Emulator, wattzon_client: WattzOnClient
) -> None:
    job = await wattzon_client.jobs.create(email=EMAIL, provider=4, document=PDF, name="b.pdf")
    cert = wattzon_emulator.issue_client_cert("sdk-tenant-b")
    async with wattzon_emulator.client(cert=(str(cert[0]), str(cert[1]))) as other:
        with pytest.raises(PermissionDeniedError) as denied:
            await other.jobs.get(job.id)
        assert denied.value.status_code == 403
        with pytest.raises(PermissionDeniedError):
            await other.documents.get(job.id)
        assert job.id not in [j.id for j in await other.jobs.list()]


async def test_server_side_400s(wattzon_emulator: Emulator) -> None:
    limit = 5 * 1024 * 1024
    async with wattzon_emulator.client(max_document_size=2 * limit) as client:
        with pytest.raises(BadRequestError) as too_large:
            await client.jobs.create(
                email=EMAIL, provider=4, document=PDF + b"x" * limit, name="big.pdf"
            )
        assert too_large.value.status_code == 400
        assert "limit" in too_large.value.message
        with pytest.raises(BadRequestError):
            await client.jobs.create(
                email="user@under_score.example", provider=4, document=PDF, name="b.pdf"
            )


async def test_client_without_certificate_is_refused(wattzon_emulator: Emulator) -> None:
    context = ssl.create_default_context(cafile=str(wattzon_emulator.ca_cert))
    fast = RetryPolicy(attempts=1, timeout=10)
    async with wattzon_emulator.client(cert=context, retry=fast) as client:
        with pytest.raises(CertificateError, match="refused the client certificate"):
            await client.zips.get("94110")


async def test_certificate_from_another_ca_is_refused(
    wattzon_emulator: Emulator, tmp_path: Path
) -> None:
    cert, key = CertificateAuthority.create("Other CA").issue("x").write(tmp_path, "x")
    fast = RetryPolicy(attempts=1, timeout=10)
    async with wattzon_emulator.client(cert=(str(cert), str(key)), retry=fast) as client:
        with pytest.raises(CertificateError, match="signed by WattzOn"):
            await client.zips.get("94110")


# -- recovery from injected faults -----------------------------------------------------------


async def test_create_recovers_from_a_dropped_response(faulty: Emulator) -> None:
    await faulty.set_faults(drop_after_create_rate=1.0)
    async with faulty.client() as client:
        job = await client.jobs.create(
            email=EMAIL, provider=4, document=PDF, name="b.pdf", tags=["sdk:dropped"]
        )
        await faulty.set_faults()
        listed = await client.jobs.list(tag="sdk:dropped")
    assert [j.id for j in listed] == [job.id]
    stats = await faulty.stats()
    assert stats["jobs_created"] == 1
    assert stats["connections_dropped"] == 1


async def test_calls_survive_500s_and_429s(faulty: Emulator) -> None:
    await faulty.set_faults(error_rate=0.5, seed=3)
    async with faulty.client(retry=RetryPolicy(attempts=10, wait_initial=0.01)) as client:
        for _ in range(3):
            job = await client.jobs.create(email=EMAIL, provider=4, document=PDF, name="b.pdf")
            assert (await client.jobs.get(job.id)).id == job.id
        assert (await faulty.stats())["jobs_created"] == 3
        await faulty.set_faults(rate_limit_rps=5, rate_limit_burst=1)
        for _ in range(2):
            assert (await client.zips.get("94110")).city == "San Francisco"
    stats = await faulty.stats()
    assert stats["responses"]["500"] >= 1
    assert stats["responses"].get("429", 0) >= 1


async def test_attempts_counts_the_posts_of_a_rate_limited_create(faulty: Emulator) -> None:
    """``RetryPolicy.attempts`` is the most POSTs of one create: 3 here, not 3 x 3."""
    policy = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, max_retry_after=0.01)
    async with faulty.client(retry=policy) as client:
        await faulty.set_faults(rate_limit_rps=0.001, rate_limit_burst=1)
        assert (await client.zips.get("94110")).city == "San Francisco"  # the one token
        with pytest.raises(RateLimitError):
            await client.jobs.create(email=EMAIL, provider=4, document=PDF, name="b.pdf")
    stats = await faulty.stats()
    posts = {k: v for k, v in stats["requests"].items() if k.startswith("POST /api/v1/jobs")}
    assert posts, stats["requests"]
    assert sum(_count(v) for v in posts.values()) == 3
    assert stats["jobs_created"] == 0


def _count(value: object) -> int:
    """A request counter of the emulator's stats: a number, or a number per status."""
    if isinstance(value, dict):
        return sum(value.values())
    assert isinstance(value, int)
    return value
