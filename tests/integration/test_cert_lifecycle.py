"""Certificate lifecycle: yearly expiry, renewal issued before it, and the swap in a live client.

* ``client.reload_certificate(...)`` switches new connections to the renewed certificate
  while requests in flight on the old one finish normally (observed on the server: the
  emulator counts jobs per certificate common name).
* A renewal with the same name (the vendor's normal case) keeps waits and jobs working,
  by new paths, by files replaced in place, and by the vendor's CSR flow.
* A renewal that cannot be used is refused and the old certificate stays in force.
* A certificate with fewer than 30 days left logs a warning when loaded.
* Automatic reload when the files change: the next request after a renewal is written.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattzon_async import CertificateError, JobStatus, RateLimitPolicy, WaitPolicy, WattzOnClient
from wattzon_async.certs import generate_csr
from wattzon_async.emulator import Emulator
from wattzon_async.models import Job

from .conftest import PDF, poll_until
from .test_soak import tcp_connections

pytestmark = pytest.mark.integration

FAST = WaitPolicy(initial_delay=0.05, max_delay=0.2, multiplier=1.5, jitter=0.1)


def _renewal(
    emu: Emulator, name: str, *, days: float = 365, **options: object
) -> tuple[Path, Path]:
    """Issue a certificate for ``name`` valid ``days`` more days, in files of its own.

    The emulator writes every certificate of one name to the same two files, so each is
    copied away at once: an old certificate and its renewal must coexist.
    """
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert, key = emu.issue_client_cert(
        name, not_before=start, not_after=start + timedelta(days=days), **options
    )
    stem = cert.parent / f"{cert.stem}-{uuid.uuid4().hex[:8]}"
    copies = (stem.with_suffix(".crt"), stem.with_suffix(".key"))
    shutil.copy2(cert, copies[0])
    shutil.copy2(key, copies[1])
    return copies


async def _create(client: WattzOnClient, tag: str) -> Job:
    return await client.jobs.create(
        email="user@example.com", provider=4, document=PDF, name="bill.pdf", tags=[tag]
    )


async def _held(emulator: Emulator, count: int) -> None:
    """Await ``count`` API requests held by the emulator's ``hold`` fault."""

    async def enough() -> bool | None:
        return True if (await emulator.stats())["held"] == count else None

    await poll_until(enough)


async def test_reload_switches_new_connections_and_spares_requests_in_flight(
    emulator: Emulator,
) -> None:
    old = _renewal(emulator, "acme-2025", days=20)
    new = _renewal(emulator, "acme-2026")
    # No slow start: the eight requests below must go out together.
    async with emulator.client(cert=old, rate_limit=RateLimitPolicy(initial_rate=None)) as client:
        # Eight pooled connections whose TLS handshake was made with the old certificate:
        # eight requests held in flight at once need eight connections.
        await emulator.set_faults(hold=True)
        warm = [asyncio.create_task(client.jobs.list()) for _ in range(8)]
        await _held(emulator, 8)
        await emulator.set_faults()
        await asyncio.gather(*warm)
        assert len(tcp_connections(emulator.port)) == 8
        await emulator.set_faults(hold=True)  # every request now stays in flight
        first = [asyncio.create_task(_create(client, "lifecycle")) for _ in range(8)]
        await _held(emulator, 8)  # all eight went out on the old connections
        info = client.reload_certificate(new)
        assert info.subject == "CN=acme-2026"
        assert not any(task.done() for task in first)  # they hold the 8 old connections
        second = [asyncio.create_task(_create(client, "lifecycle")) for _ in range(8)]
        await _held(emulator, 16)
        assert len(tcp_connections(emulator.port)) == 16
        await emulator.set_faults()
        jobs = await asyncio.gather(*first, *second)
        assert len(tcp_connections(emulator.port)) == 16
    assert all(job.status is JobStatus.ENQUEUED for job in jobs)
    stats = await emulator.stats()
    assert stats["jobs_created_by_tenant"] == {"acme-2025": 8, "acme-2026": 8}
    assert stats["responses"] == {"200": 8, "201": 16}


async def test_same_name_renewal_keeps_waits_and_jobs_working(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    old = _renewal(emulator, "acme-same", days=10)
    renewed = _renewal(emulator, "acme-same")
    caplog.set_level(logging.INFO, logger="wattzon_async")
    await emulator.configure(processing_time=1.0)
    async with emulator.client(cert=old, wait=FAST) as client:
        before = client.certificate
        jobs = [await _create(client, "same-name") for _ in range(4)]
        waits = [asyncio.create_task(client.await_job(j.id, timeout=30)) for j in jobs]
        client.reload_certificate(renewed)
        jobs += [await _create(client, "same-name") for _ in range(4)]
        waits += [asyncio.create_task(client.await_job(j.id, timeout=30)) for j in jobs[4:]]
        done = await asyncio.gather(*waits)
        assert [j.status for j in done] == [JobStatus.COMPLETE] * 8
        assert len(await client.jobs.list(tag="same-name")) == 8
        after = client.certificate
    assert before is not None
    assert after is not None
    assert after.serial_number != before.serial_number
    assert after.not_after > before.not_after
    assert any("certificate reloaded" in r.getMessage() for r in caplog.records)


async def test_files_replaced_in_place_are_read_again(emulator: Emulator, tmp_path: Path) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    for source, target in zip(_renewal(emulator, "acme-files", days=15), (cert, key), strict=True):
        shutil.copy(source, target)
    async with emulator.client(cert=(cert, key)) as client:
        first = client.certificate
        await _create(client, "files")
        for source, target in zip(_renewal(emulator, "acme-files"), (cert, key), strict=True):
            shutil.copy(source, target)
        info = client.reload_certificate()
        await _create(client, "files")
    assert first is not None
    assert info.serial_number != first.serial_number
    assert info.days_left >= 364


async def test_renewal_through_the_vendors_csr_flow(emulator: Emulator, tmp_path: Path) -> None:
    old = _renewal(emulator, "acme-csr", days=25, key_type="rsa")
    key_pem, csr_pem = generate_csr("acme-csr")
    (tmp_path / "client.key").write_bytes(key_pem)
    (tmp_path / "client.crt").write_bytes(emulator.sign_csr(csr_pem))
    async with emulator.client(cert=old) as client:
        job = await _create(client, "csr")
        client.reload_certificate((tmp_path / "client.crt", tmp_path / "client.key"))
        assert (await client.jobs.get(job.id)).id == job.id
        await _create(client, "csr")
    stats = await emulator.stats()
    assert stats["jobs_created_by_tenant"] == {"acme-csr": 2}


async def test_unusable_renewal_is_refused_and_the_old_certificate_stays(
    emulator: Emulator, tmp_path: Path
) -> None:
    current = _renewal(emulator, "acme-keep")
    expired = emulator.issue_client_cert(
        "acme-keep-old", not_before=datetime.now(UTC) - timedelta(days=400), valid_days=365
    )
    other_key = _renewal(emulator, "acme-other")[1]
    rsa = _renewal(emulator, "acme-keep", key_type="rsa")
    async with emulator.client(cert=current) as client:
        before = client.certificate
        with pytest.raises(CertificateError, match="expired"):
            client.reload_certificate(expired)
        with pytest.raises(CertificateError, match="does not belong"):
            client.reload_certificate((current[0], other_key))
        with pytest.raises(CertificateError, match=r"key type|RSA"):
            client.reload_certificate(rsa)
        with pytest.raises(CertificateError, match="does not exist"):
            client.reload_certificate((tmp_path / "missing.crt", tmp_path / "missing.key"))
        assert client.certificate == before
        await _create(client, "kept")
    assert (await emulator.stats())["jobs_created_by_tenant"] == {"acme-keep": 1}


@pytest.mark.parametrize(("days", "warns"), [(10, True), (29.5, True), (31, False), (365, False)])
async def test_warning_at_start_when_under_30_days_remain(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, days: float, warns: bool
) -> None:
    cert = _renewal(emulator, f"acme-{days}", days=days)
    caplog.set_level(logging.WARNING, logger="wattzon_async")
    async with emulator.client(cert=cert) as client:
        await client.jobs.list()
    warnings = [r for r in caplog.records if "expires in" in r.getMessage()]
    assert bool(warnings) is warns
    if warns:
        assert warnings[0].levelno == logging.WARNING
        assert f"CN=acme-{days}" in warnings[0].getMessage()
        assert "renew" in warnings[0].getMessage()


async def test_reload_to_a_certificate_near_expiry_warns(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with emulator.client(cert=_renewal(emulator, "acme-w")) as client:
        caplog.set_level(logging.WARNING, logger="wattzon_async")
        client.reload_certificate(_renewal(emulator, "acme-w", days=5))
    assert any("expires in 4 days" in r.getMessage() for r in caplog.records)


async def test_certificate_files_changing_are_picked_up_automatically(
    emulator: Emulator, tmp_path: Path
) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    for source, target in zip(_renewal(emulator, "acme-auto", days=15), (cert, key), strict=True):
        shutil.copy(source, target)
    # Every request checks the files (the interval between checks is unit-tested).
    async with emulator.client(cert=(cert, key), certificate_check_interval=0) as client:
        first = client.certificate
        assert first is not None
        await client.jobs.list()
        assert client.certificate == first
        for source, target in zip(_renewal(emulator, "acme-auto"), (cert, key), strict=True):
            shutil.copy(source, target)
        await client.jobs.list()  # the next request picks the renewal up
        current = client.certificate
        assert current is not None
        assert current.serial_number != first.serial_number
