"""A stateless SQS worker: each finished job's transformed results, upserted into SQLite.

Usage::

    python examples/sqs_worker.py --db results.sqlite [--concurrency 10]

WattzOn posts one SQS message when a job reaches a final state. This worker reads the
queue with ``NotificationConsumer.run(handler)``; for each Snap notification the handler
reads the job with its transformed results and upserts it into two tables:

* ``jobs``: one row per job (``job_id`` is the key): status, provider, document name.
* ``fields``: one row per extracted field (``(job_id, name)`` is the key).

SQS delivers at least once, and a worker can die after writing but before the message
is deleted, so the same notification may be handled twice (or by two workers at once).
Every write is therefore an upsert keyed by the job: handling a notification again
rewrites the same rows and never adds any. The worker keeps no state of its own between
messages, so any number of copies can run against one queue as competing consumers.

A message is deleted only after its handler returns. A job that cannot be read because
it does not exist or belongs to another certificate (404, 403) is logged and dropped;
any other error leaves the message on the queue, to be retried ``--retry-backoff``
seconds later (doubled per attempt) until the queue's redrive policy dead-letters it.
Link notifications are logged and acknowledged.

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


def make_handler(client: WattzOnClient, store: ResultStore) -> Handler:
    """The worker's notification handler: read the job, upsert it.

    Args:
        client: The client to read jobs with.
        store: Where results go.

    Returns:
        An async callable for ``NotificationConsumer.run``.
    """

    async def handle(notification: SnapNotification | LinkNotification) -> None:
        if isinstance(notification, LinkNotification):
            logger.info("Link job %s finished; nothing to store", notification.job_id)
            return
        try:
            job = await client.jobs.get(notification.job_id, results="transformed")
        except (NotFoundError, PermissionDeniedError) as exc:
            # No retry can make this job readable: acknowledge, and say so.
            logger.warning(
                "job %d cannot be read, notification dropped: %s", notification.job_id, exc
            )
            return
        if not job.is_final:
            # The notification ran ahead of the API: leave the message for a retry.
            raise RuntimeError(f"job {job.id} is {job.status}, not final yet")
        await store.save(job)
        logger.info("job %d %s: %d field(s) stored", job.id, job.status, len(job.values()))

    return handle


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


async def run(client: WattzOnClient, consumer: NotificationConsumer, db: Path) -> None:
    """Handle notifications into ``db`` until the consumer is stopped.

    Args:
        client: The client to read jobs with.
        consumer: The consumer to run (started here when it is not started yet).
        db: The SQLite file.
    """
    store = ResultStore(db)
    await asyncio.to_thread(store.create)
    await consumer.run(make_handler(client, store))


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
        await run(client, consumer, args.db)
    logger.info("worker stopped: %s", consumer.stats)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker until SIGINT or SIGTERM; returns the exit code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="sqs_worker.py",
        description="Store the results of finished WattzOn jobs in SQLite, from SQS.",
    )
    parser.add_argument("--db", type=Path, default=Path("results.sqlite"), help="SQLite file")
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
