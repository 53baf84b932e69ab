"""A stateless SQS worker for both apps: Snap results and Link bills, upserted into SQLite.

Usage::

    python examples/sqs_worker.py --db results.sqlite [--pdf-dir pdfs] [--concurrency 10]

WattzOn posts one SQS message when a Snap job reaches a final state, and one when a Link
extraction finishes. This worker reads the queue with ``NotificationConsumer.run(handler)``;
one handler serves both. For a Snap notification it reads the job with its transformed
results; for a Link notification, the profile's bills (and with ``--pdf-dir``, each
bill's PDF, saved as ``<pdf-dir>/<profile_id>/<bill_id>.pdf``). It upserts into:

* ``jobs``: one row per Snap job (``job_id`` is the key): status, provider, document name.
* ``fields``: one row per extracted field (``(job_id, name)`` is the key).
* ``link_jobs``: one row per Link job (``job_id`` is the key): profile, tags, bill count.
* ``link_bills``: one row per Link bill (``(profile_id, bill_id)`` is the key): the bill
  as JSON, and the path of its PDF when saved.

SQS delivers at least once, and a worker can die after writing but before the message
is deleted, so the same notification may be handled twice (or by two workers at once).
Every write is therefore an upsert keyed by the job (or the bill), and a PDF is written
to a temporary file renamed over its one path: handling a notification again rewrites
the same rows and files and never adds any. The worker keeps no state of its own between
messages, so any number of copies can run against one queue as competing consumers.

A message is deleted only after its handler returns. A job or profile that cannot be
read because it does not exist or belongs to another certificate (404, 403) is logged
and dropped; any other error (a PDF download included) leaves the message on the queue,
to be retried ``--retry-backoff`` seconds later (doubled per attempt) until the queue's
redrive policy dead-letters it.

Settings come from the environment: ``WATTZON_CERT``, ``WATTZON_KEY`` and the rest of
``WattzOnClient.from_env``, ``WATTZON_SQS_QUEUE_URL`` (required),
``WATTZON_SQS_ENDPOINT_URL`` (a non-AWS endpoint), ``WATTZON_SQS_WAIT_TIME_SECONDS``
(the long poll, default 20), and the usual AWS credentials and region. SIGINT or
SIGTERM stop the worker gracefully: running handlers finish, nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from wattzon_async import (
    Job,
    LinkBill,
    LinkNotification,
    NotFoundError,
    NotificationConsumer,
    PermissionDeniedError,
    SnapNotification,
    ValidationError,
    WattzOnClient,
    WattzOnError,
)
from wattzon_async.notifications import Handler

__all__ = ["SCHEMA", "ResultStore", "consumer_from_env", "main", "make_handler", "run"]

logger = logging.getLogger("sqs_worker")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id        INTEGER PRIMARY KEY,
    status        TEXT NOT NULL,
    provider      INTEGER NOT NULL,
    document_name TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    stored_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fields (
    job_id INTEGER NOT NULL REFERENCES jobs (job_id),
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS link_jobs (
    job_id     TEXT PRIMARY KEY,
    profile_id TEXT NOT NULL,
    tags       TEXT NOT NULL,
    bills      INTEGER NOT NULL,
    stored_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS link_bills (
    profile_id TEXT NOT NULL,
    bill_id    TEXT NOT NULL,
    bill       TEXT NOT NULL,
    pdf_path   TEXT,
    stored_at  TEXT NOT NULL,
    PRIMARY KEY (profile_id, bill_id)
);
"""

_UPSERT_JOB = """
INSERT INTO jobs (job_id, status, provider, document_name, created_at, stored_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET
    status = excluded.status,
    provider = excluded.provider,
    document_name = excluded.document_name,
    created_at = excluded.created_at,
    stored_at = excluded.stored_at
"""

_UPSERT_FIELD = """
INSERT INTO fields (job_id, name, value) VALUES (?, ?, ?)
ON CONFLICT (job_id, name) DO UPDATE SET value = excluded.value
"""

_UPSERT_LINK_JOB = """
INSERT INTO link_jobs (job_id, profile_id, tags, bills, stored_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET
    profile_id = excluded.profile_id,
    tags = excluded.tags,
    bills = excluded.bills,
    stored_at = excluded.stored_at
"""

_UPSERT_LINK_BILL = """
INSERT INTO link_bills (profile_id, bill_id, bill, pdf_path, stored_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (profile_id, bill_id) DO UPDATE SET
    bill = excluded.bill,
    pdf_path = COALESCE(excluded.pdf_path, link_bills.pdf_path),
    stored_at = excluded.stored_at
"""


def bill_id(bill: LinkBill) -> str:
    """A bill's key: its ``id``, else a digest of its fields (Link documents neither)."""
    if bill.extra.get("id") is not None:
        return str(bill.extra["id"])
    return hashlib.sha256(bill_json(bill).encode()).hexdigest()[:32]


def bill_json(bill: LinkBill) -> str:
    """A bill as canonical JSON: every field the API sent, ``pdf`` included."""
    return json.dumps({**bill.extra, "pdf": bill.pdf}, sort_keys=True, default=str)


def _path_part(value: str) -> str:
    """``value`` when it is a safe file name, else a digest of it (ids come from a queue)."""
    if value.replace("-", "").replace("_", "").isalnum() and len(value) <= 64:
        return value
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class ResultStore:
    """Jobs and their fields in one SQLite file, written only by idempotent upserts.

    Each operation opens its own connection in a worker thread, so the event loop is
    never blocked and several worker processes may share the file (WAL mode, with a
    busy timeout instead of "database is locked" errors).

    Args:
        path: The SQLite file (created when missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            with conn:  # one transaction: committed on success, rolled back on error
                yield conn
        finally:
            conn.close()

    def create(self) -> None:
        """Create the tables when missing and switch the file to WAL mode."""
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    async def save(self, job: Job) -> None:
        """Upsert a job and its fields (in one transaction); doing it again changes nothing.

        Args:
            job: A job in a final state, with transformed results when COMPLETE.
        """
        await asyncio.to_thread(self._save, job)

    def _save(self, job: Job) -> None:
        values = job.values()
        with self._connect() as conn:
            conn.execute(
                _UPSERT_JOB,
                (
                    job.id,
                    str(job.status),
                    job.provider,
                    job.document.name,
                    job.created_at.isoformat(),
                    datetime.now(UTC).isoformat(),
                ),
            )
            conn.executemany(_UPSERT_FIELD, [(job.id, k, v) for k, v in values.items()])

    async def save_link(
        self, notification: LinkNotification, bills: Sequence[LinkBill], pdfs: Mapping[str, Path]
    ) -> None:
        """Upsert a Link job and its profile's bills; doing it again changes nothing.

        Args:
            notification: The Link notification.
            bills: The profile's bills.
            pdfs: Saved PDF paths by bill id (a bill without one keeps any stored path).
        """
        await asyncio.to_thread(self._save_link, notification, bills, pdfs)

    def _save_link(
        self, notification: LinkNotification, bills: Sequence[LinkBill], pdfs: Mapping[str, Path]
    ) -> None:
        now = datetime.now(UTC).isoformat()
        rows = []
        for bill in bills:
            key = bill_id(bill)
            pdf = str(pdfs[key]) if key in pdfs else None
            rows.append((notification.profile_id, key, bill_json(bill), pdf, now))
        with self._connect() as conn:
            conn.execute(
                _UPSERT_LINK_JOB,
                (
                    notification.job_id,
                    notification.profile_id,
                    json.dumps(list(notification.tags)),
                    len(bills),
                    now,
                ),
            )
            conn.executemany(_UPSERT_LINK_BILL, rows)

    def link_bills(self, profile_id: str) -> dict[str, tuple[dict[str, object], str | None]]:
        """The stored bills of a profile: bill id to (the bill, its PDF path or None)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT bill_id, bill, pdf_path FROM link_bills WHERE profile_id = ?",
                (profile_id,),
            ).fetchall()
        return {str(key): (json.loads(bill), pdf) for key, bill, pdf in rows}

    def link_jobs(self, profile_id: str) -> list[str]:
        """The stored Link job ids of a profile."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT job_id FROM link_jobs WHERE profile_id = ? ORDER BY job_id", (profile_id,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def status(self, job_id: int) -> str | None:
        """The stored status of a job, or None when it is not stored."""
        with self._connect() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def fields(self, job_id: int) -> dict[str, str]:
        """The stored fields of a job."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, value FROM fields WHERE job_id = ? ORDER BY rowid", (job_id,)
            ).fetchall()
        return {str(name): str(value) for name, value in rows}

    def row_counts(self, job_id: int) -> tuple[int, int]:
        """How many ``jobs`` rows and ``fields`` rows are stored for a job."""
        with self._connect() as conn:
            jobs = conn.execute("SELECT COUNT(*) FROM jobs WHERE job_id = ?", (job_id,))
            n_jobs = int(jobs.fetchone()[0])
            fields = conn.execute("SELECT COUNT(*) FROM fields WHERE job_id = ?", (job_id,))
            n_fields = int(fields.fetchone()[0])
        return n_jobs, n_fields


def make_handler(
    client: WattzOnClient, store: ResultStore, *, pdf_dir: Path | None = None
) -> Handler:
    """The worker's notification handler: read the job or the profile's bills, upsert them.

    Args:
        client: The client to read jobs and bills with.
        store: Where results go.
        pdf_dir: Where Link bills' PDFs go (``<pdf_dir>/<profile_id>/<bill_id>.pdf``);
            None stores no PDFs.

    Returns:
        An async callable for ``NotificationConsumer.run``.
    """

    async def handle(notification: SnapNotification | LinkNotification) -> None:
        try:
            if isinstance(notification, LinkNotification):
                await _store_link(client, store, notification, pdf_dir)
            else:
                await _store_job(client, store, notification)
        except (NotFoundError, PermissionDeniedError) as exc:
            # No retry can make this readable: acknowledge, and say so.
            logger.warning("%s cannot be read, notification dropped: %s", _what(notification), exc)

    return handle


def _what(notification: SnapNotification | LinkNotification) -> str:
    if isinstance(notification, LinkNotification):
        return f"Link profile {notification.profile_id} (job {notification.job_id})"
    return f"job {notification.job_id}"


async def _store_job(
    client: WattzOnClient, store: ResultStore, notification: SnapNotification
) -> None:
    job = await client.jobs.get(notification.job_id, results="transformed")
    if not job.is_final:
        # The notification ran ahead of the API: leave the message for a retry.
        raise RuntimeError(f"job {job.id} is {job.status}, not final yet")
    await store.save(job)
    logger.info("job %d %s: %d field(s) stored", job.id, job.status, len(job.values()))


async def _store_link(
    client: WattzOnClient, store: ResultStore, notification: LinkNotification, pdf_dir: Path | None
) -> None:
    bills = await client.link.bills(notification.profile_id)
    pdfs: dict[str, Path] = {}
    if pdf_dir is not None:
        folder = pdf_dir / _path_part(notification.profile_id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        for bill in bills:
            if bill.pdf:
                key = bill_id(bill)
                target = folder / f"{_path_part(key)}.pdf"
                pdfs[key] = await client.link.download_pdf(bill, target, overwrite=True)
    await store.save_link(notification, bills, pdfs)
    logger.info(
        "Link job %s: %d bill(s) and %d PDF(s) of profile %s stored",
        notification.job_id,
        len(bills),
        len(pdfs),
        notification.profile_id,
    )


def consumer_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    concurrency: int = 10,
    retry_backoff: float | None = None,
) -> NotificationConsumer:
    """A worker-mode NotificationConsumer for ``WATTZON_SQS_QUEUE_URL``.

    Args:
        environ: The variables to read (default: ``os.environ``).
        concurrency: Handlers running at once.
        retry_backoff: Seconds before a failed message returns (doubled per attempt).

    Raises:
        ValidationError: ``WATTZON_SQS_QUEUE_URL`` is not set.
    """
    env = os.environ if environ is None else environ
    queue_url = env.get("WATTZON_SQS_QUEUE_URL")
    if not queue_url:
        raise ValidationError("set WATTZON_SQS_QUEUE_URL", field="WATTZON_SQS_QUEUE_URL")
    return NotificationConsumer(
        queue_url,
        endpoint_url=env.get("WATTZON_SQS_ENDPOINT_URL") or None,
        wait_time_seconds=int(env.get("WATTZON_SQS_WAIT_TIME_SECONDS") or 20),
        concurrency=concurrency,
        retry_backoff=retry_backoff,
    )


async def run(
    client: WattzOnClient, consumer: NotificationConsumer, db: Path, *, pdf_dir: Path | None = None
) -> None:
    """Handle notifications into ``db`` until the consumer is stopped.

    Args:
        client: The client to read jobs and bills with.
        consumer: The consumer to run (started here when it is not started yet).
        db: The SQLite file.
        pdf_dir: Where Link bills' PDFs go; None stores no PDFs.
    """
    store = ResultStore(db)
    await asyncio.to_thread(store.create)
    await consumer.run(make_handler(client, store, pdf_dir=pdf_dir))


async def _main(args: argparse.Namespace) -> None:
    consumer = consumer_from_env(concurrency=args.concurrency, retry_backoff=args.retry_backoff)
    stopping: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        logger.info("stopping: running handlers finish; the long poll in flight is cancelled")
        stopping.add(loop.create_task(consumer.stop()))

    async with WattzOnClient.from_env() as client, consumer:
        # Started before the signal handlers go in, so that a signal is never lost.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        logger.info("worker started on %s, writing to %s", consumer.queue_url, args.db)
        await run(client, consumer, args.db, pdf_dir=args.pdf_dir)
    logger.info("worker stopped: %s", consumer.stats)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until SIGINT or SIGTERM; returns the exit code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="sqs_worker.py",
        description="Store the results of finished Snap jobs and Link bills in SQLite, from SQS.",
    )
    parser.add_argument("--db", type=Path, default=Path("results.sqlite"), help="SQLite file")
    parser.add_argument(
        "--pdf-dir",
        type=Path,
        metavar="DIR",
        help="also save each Link bill's PDF, as DIR/<profile_id>/<bill_id>.pdf",
    )
    parser.add_argument("--concurrency", type=int, default=10, help="handlers at once")
    parser.add_argument(
        "--retry-backoff",
        type=float,
        default=5.0,
        help="seconds before a failed message is retried (doubled per attempt)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        asyncio.run(_main(args))
    except WattzOnError as exc:
        print(f"sqs_worker.py: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValidationError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
