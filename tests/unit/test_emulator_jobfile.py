"""The emulator's job file: jobs and sent notifications survive a restart, torn lines don't."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattzon_async.emulator._jobfile import JobFile
from wattzon_async.emulator._state import JobRecord


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
    log.notified(1000)
    jobs, notified = JobFile(tmp_path / "jobs.jsonl").load()
    assert notified == {1000}
    assert [j.id for j in jobs] == [1000, 1001]
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
    assert [j.id for j in jobs] == [1000]
    assert "line 2 is not a job record" in caplog.text
    log.clear()
    assert log.load() == ([], set())
