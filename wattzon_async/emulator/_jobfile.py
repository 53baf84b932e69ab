"""The emulator's jobs on disk, so that ``wattzon emulator --dir`` keeps them across restarts.

An append-only file of JSON lines: ``{"job": {...}}`` when a job is made (its document
included) and ``{"notified": id}`` once its SQS notification is sent. Reading it back
gives the jobs as they were, each still ending at its creation time plus its processing
time, and tells which notifications are still owed. A line cut short by a crash is
skipped. Only the server process writes it, from its event loop.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._state import JobRecord

__all__ = ["JobFile"]

logger = logging.getLogger("wattzon_async.emulator")


class JobFile:
    """Jobs and sent notifications, one JSON line each, in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[list[JobRecord], set[int]]:
        """The jobs recorded so far, oldest first, and the ids already notified."""
        jobs: list[JobRecord] = []
        notified: set[int] = set()
        if not self.path.exists():
            return jobs, notified
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    entry = json.loads(line)
                    if "job" in entry:
                        jobs.append(_record(entry["job"]))
                    else:
                        notified.add(int(entry["notified"]))
                except (ValueError, KeyError, TypeError):
                    logger.warning("%s: line %d is not a job record; skipped", self.path, number)
        return jobs, notified

    def add(self, job: JobRecord) -> None:
        """Record a new job."""
        self._append({"job": _entry(job)})

    def notified(self, job_id: int) -> None:
        """Record that the notification of ``job_id`` was sent."""
        self._append({"notified": job_id})

    def clear(self) -> None:
        """Forget every job (the emulator was reset)."""
        self.path.write_text("", encoding="utf-8")

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def _entry(job: JobRecord) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant": job.tenant,
        "created_at": job.created_at.isoformat(),
        "duration": job.duration,
        "outcome": job.outcome,
        "email": job.email,
        "provider": job.provider,
        "tags": list(job.tags),
        "document_id": job.document_id,
        "document_name": job.document_name,
        "content": base64.b64encode(job.content).decode("ascii"),
    }


def _record(data: dict[str, Any]) -> JobRecord:
    created_at = datetime.fromisoformat(data["created_at"])
    age = (datetime.now(UTC) - created_at).total_seconds()
    return JobRecord(
        id=int(data["id"]),
        tenant=str(data["tenant"]),
        created_at=created_at,
        started=time.monotonic() - age,
        duration=float(data["duration"]),
        outcome=str(data["outcome"]),
        email=str(data["email"]),
        provider=int(data["provider"]),
        tags=tuple(data["tags"]),
        document_id=int(data["document_id"]),
        document_name=str(data["document_name"]),
        content=base64.b64decode(data["content"]),
    )
