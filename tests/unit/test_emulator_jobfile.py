"""The emulator's job file: jobs, Link extractions and sent notifications survive a restart."""

from __future__ import annotations

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
