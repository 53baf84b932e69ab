"""The emulator's jobs on disk, so that ``wattzon emulator --dir`` keeps them across restarts.

An append-only file of JSON lines: ``{"job": {...}}`` when a job is made,
``{"link": {...}}`` when a Link extraction starts, and ``{"notified": id}``
(``{"link_notified": job_id}``) once its SQS notification is sent. Reading it back
gives the jobs and extractions as they were, each still ending at its creation time
plus its processing time, and tells which notifications are still owed. A line cut
short by a crash is skipped. Only the server process writes it, from its event loop.

The lines hold metadata only: each uploaded document is a file of its own (owner-only,
``documents/<document id>`` beside the job file), written before its job's line, so that
the job file stays small however many bills went through it. A job whose line has its
document inline (base64 ``content``, as the emulator of 0.2 wrote them) still loads.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattzon_async._private import open_private, private_dir

from ._link import LinkRecord
from ._state import JobRecord

__all__ = ["JobFile"]

logger = logging.getLogger("wattzon_async.emulator")


class JobFile:
    """Jobs and sent notifications, one JSON line each, in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.documents = path.parent / "documents"

    def load(self) -> tuple[list[JobRecord | LinkRecord], set[str]]:
        """The jobs and extractions recorded so far, oldest first, and the keys notified."""
        records: list[JobRecord | LinkRecord] = []
        notified: set[str] = set()
        if not self.path.exists():
            return records, notified
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    entry = json.loads(line)
                    if "job" in entry:
                        records.append(_record(entry["job"], self.documents))
                    elif "link" in entry:
                        records.append(_link_record(entry["link"]))
                    elif "link_notified" in entry:
                        notified.add(f"link:{entry['link_notified']}")
                    else:
                        notified.add(f"snap:{int(entry['notified'])}")
                except (ValueError, KeyError, TypeError, OSError):
                    logger.warning("%s: line %d is not a job record; skipped", self.path, number)
        return records, notified

    def add(self, record: JobRecord | LinkRecord) -> None:
        """Record a new job or Link extraction."""
        if isinstance(record, LinkRecord):
            self._append({"link": _link_entry(record)})
        else:
            self._save_document(record)
            self._append({"job": _entry(record)})

    def notified(self, record: JobRecord | LinkRecord) -> None:
        """Record that the notification of ``record`` was sent."""
        if isinstance(record, LinkRecord):
            self._append({"link_notified": record.job_id})
        else:
            self._append({"notified": record.id})

    def clear(self) -> None:
        """Forget every job and its document (the emulator was reset)."""
        os.close(open_private(self.path, os.O_WRONLY | os.O_TRUNC))
        if self.documents.is_dir():
            for document in self.documents.iterdir():
                document.unlink(missing_ok=True)

    def _save_document(self, job: JobRecord) -> None:
        """Write the job's document to its own owner-only file."""
        private_dir(self.documents)
        path = self.documents / str(job.document_id)
        fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(fd, "wb") as out:
            out.write(job.content)

    def _append(self, entry: dict[str, Any]) -> None:
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)  # emails: owner only
        with os.fdopen(fd, "a", encoding="utf-8") as out:
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
    }


def _started(created_at: datetime) -> float:
    """The monotonic time a record made at ``created_at`` (in an earlier run) started."""
    return time.monotonic() - (datetime.now(UTC) - created_at).total_seconds()


def _content(data: dict[str, Any], documents: Path) -> bytes:
    """A job's document: its own file, or inline in a line written by the 0.2 emulator."""
    if "content" in data:
        return base64.b64decode(data["content"])
    return (documents / str(int(data["document_id"]))).read_bytes()


def _record(data: dict[str, Any], documents: Path) -> JobRecord:
    created_at = datetime.fromisoformat(data["created_at"])
    return JobRecord(
        id=int(data["id"]),
        tenant=str(data["tenant"]),
        created_at=created_at,
        started=_started(created_at),
        duration=float(data["duration"]),
        outcome=str(data["outcome"]),
        email=str(data["email"]),
        provider=int(data["provider"]),
        tags=tuple(data["tags"]),
        document_id=int(data["document_id"]),
        document_name=str(data["document_name"]),
        content=_content(data, documents),
    )


def _link_entry(record: LinkRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "profile_id": record.profile_id,
        "tenant": record.tenant,
        "tags": list(record.tags),
        "created_at": record.created_at.isoformat(),
        "duration": record.duration,
        "provider": record.provider,
        "bills": record.bills,
        "sample": record.sample,
    }


def _link_record(data: dict[str, Any]) -> LinkRecord:
    created_at = datetime.fromisoformat(data["created_at"])
    return LinkRecord(
        job_id=str(data["job_id"]),
        profile_id=str(data["profile_id"]),
        tenant=str(data["tenant"]),
        tags=tuple(str(tag) for tag in data["tags"]),
        created_at=created_at,
        started=_started(created_at),
        duration=float(data["duration"]),
        provider=int(data["provider"]),
        bills=int(data["bills"]),
        sample=bool(data["sample"]),
    )
