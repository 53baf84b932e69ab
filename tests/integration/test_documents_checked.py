"""A document that is no bill is refused before upload; forced through, the emulator fails it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattzon_async import JobFailedError, JobStatus, ValidationError
from wattzon_async.emulator import Emulator

pytestmark = pytest.mark.integration

BILLS = Path(__file__).resolve().parents[2] / "examples" / "bills"
EMAIL = "user@example.com"


async def test_a_text_file_named_pdf_is_refused_and_never_reaches_the_api(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.pdf"
    notes.write_text("Meeting notes: call the utility about the bill.\n")
    async with clean_emulator.client() as client:
        with pytest.raises(ValidationError, match=r"notes.pdf is not a PDF.*plain text"):
            await client.jobs.create(email=EMAIL, provider=4, document=notes)
    assert (await clean_emulator.stats())["jobs_created"] == 0


@pytest.mark.parametrize("content", [b"plain text, no bill", b"\x00\x01\x02 random bytes"])
async def test_the_emulator_ends_a_job_that_is_no_bill_failed_with_no_fields(
    wattzon_emulator: Emulator, content: bytes
) -> None:
    async with wattzon_emulator.client() as client:
        job = await client.jobs.create(
            email=EMAIL, provider=4, document=content, name="bill.pdf", check_document=False
        )
        with pytest.raises(JobFailedError) as caught:
            await client.await_job(job.id, timeout=60)
    assert caught.value.job.status is JobStatus.FAILED
    assert not caught.value.job.values()


async def test_a_bill_photo_completes(wattzon_emulator: Emulator) -> None:
    async with wattzon_emulator.client() as client:
        job = await client.jobs.create(
            email=EMAIL, provider=4, document=BILLS / "sdge-phone-photo.png"
        )
        done = await client.await_job(job.id, timeout=60)
    assert done.status is JobStatus.COMPLETE
    assert done.values()
