"""The emulator's job file: jobs, Link extractions and sent notifications survive a restart."""

from __future__ import annotations

import base64
import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattzon_emulator._jobfile import JobFile
from wattzon_emulator._link import LinkRecord
from wattzon_emulator._state import JobRecord


def record(job_id: int, *, age: float = 0.0, duration: float = 5.0) -> JobRecord:
    return JobRecord(
        id=job_id,
        tenant="emulator-client",
        created_at=datetime.now(UTC) - timedelta(seconds=age),
        started=time.monotonic() - age,
        duration=duration,
        outcome="COMPLETE",
        email="user@example.com",
        provider=4,
        tags=("demo", "idem:0123"),
        document_id=5000 + job_id,
        document_name="bill.pdf",
        content=b"%PDF-1.4 \x00\xff",
    )


def test_jobs_and_notifications_read_back(tmp_path: Path) -> None:
    log = JobFile(tmp_path / "jobs.jsonl")
    assert log.load() == ([], set())
    old, new = record(1000, age=60.0), record(1001, age=1.0)
    log.add(old)
    log.add(new)
    log.notified(old)
    kept, notified = JobFile(tmp_path / "jobs.jsonl").load()
    assert notified == {"snap:1000"}
    jobs = [j for j in kept if isinstance(j, JobRecord)]
    assert jobs == kept
    assert [j.key for j in jobs] == ["snap:1000", "snap:1001"]
    assert jobs[0].content == old.content
    assert jobs[0].tags == old.tags
    assert jobs[0].created_at == old.created_at
    assert jobs[0].status() == "COMPLETE"  # ended 55 s ago
    assert jobs[1].status() in ("ENQUEUED", "PROCESSING")  # 4 s still to go


def test_a_torn_line_is_skipped_and_clear_forgets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = JobFile(tmp_path / "jobs.jsonl")
    log.add(record(1000))
    with log.path.open("a") as out:
        out.write('{"job": {"id": 1001, "ten')  # the process died mid-write
    jobs, _ = log.load()
    assert [j.key for j in jobs] == ["snap:1000"]
    assert "line 2 is not a job record" in caplog.text
    log.clear()
    assert log.load() == ([], set())


def link(job_id: str, *, age: float, duration: float = 5.0) -> LinkRecord:
    return LinkRecord(
        job_id=job_id,
        profile_id="3001",
        tenant="emulator-client",
        tags=("demo",),
        created_at=datetime.now(UTC) - timedelta(seconds=age),
        started=time.monotonic() - age,
        duration=duration,
        provider=140,
        bills=4,
    )


def test_link_extractions_read_back_beside_jobs(tmp_path: Path) -> None:
    log = JobFile(tmp_path / "jobs.jsonl")
    log.add(record(1000))
    done, running = link("50001", age=60.0), link("50002", age=1.0)
    log.add(done)
    log.add(running)
    log.notified(done)
    kept, notified = JobFile(tmp_path / "jobs.jsonl").load()
    assert notified == {"link:50001"}
    assert [r.key for r in kept] == ["snap:1000", "link:50001", "link:50002"]
    assert isinstance(kept[2], LinkRecord)
    assert (kept[2].profile_id, kept[2].tags, kept[2].bills) == ("3001", ("demo",), 4)
    assert kept[1].notification()["job_id"] == "50001"
    assert isinstance(kept[1], LinkRecord)
    assert kept[1].visible_bills() == 4  # ended 55 s ago
    assert kept[2].visible_bills() < 4  # 4 s still to go


def test_documents_are_files_of_their_own_and_the_lines_metadata_only(tmp_path: Path) -> None:
    log = JobFile(tmp_path / "jobs.jsonl")
    big = record(1000)
    big.content = b"%PDF-1.4 " + bytes(range(256)) * 4096  # 1 MiB of every byte value
    log.add(big)
    log.add(record(1001))
    document = tmp_path / "documents" / str(big.document_id)
    assert document.read_bytes() == big.content
    assert stat.S_IMODE(document.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "documents").stat().st_mode) == 0o700
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert all("content" not in line["job"] for line in lines)
    assert log.path.stat().st_size < 2_000  # two lines of metadata, not a MiB of base64
    kept, _ = JobFile(tmp_path / "jobs.jsonl").load()
    assert [j.content for j in kept if isinstance(j, JobRecord)] == [
        big.content,
        b"%PDF-1.4 \x00\xff",
    ]
    log.clear()
    assert list((tmp_path / "documents").iterdir()) == []


def test_a_job_line_with_its_document_inline_still_loads(tmp_path: Path) -> None:
    old = record(1000)
    line = {
        "id": old.id,
        "tenant": old.tenant,
        "created_at": old.created_at.isoformat(),
        "duration": old.duration,
        "outcome": old.outcome,
        "email": old.email,
        "provider": old.provider,
        "tags": list(old.tags),
        "document_id": old.document_id,
        "document_name": old.document_name,
        "content": base64.b64encode(old.content).decode("ascii"),
    }
    (tmp_path / "jobs.jsonl").write_text(json.dumps({"job": line}) + "\n")
    kept, _ = JobFile(tmp_path / "jobs.jsonl").load()
    assert [j.content for j in kept if isinstance(j, JobRecord)] == [old.content]


def test_a_job_whose_document_file_is_gone_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = JobFile(tmp_path / "jobs.jsonl")
    gone, kept_job = record(1000), record(1001)
    log.add(gone)
    log.add(kept_job)
    (tmp_path / "documents" / str(gone.document_id)).unlink()
    kept, _ = log.load()
    assert [j.key for j in kept] == ["snap:1001"]
    assert "line 1 is not a job record" in caplog.text
