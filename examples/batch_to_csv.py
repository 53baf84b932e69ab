"""Submit a folder of bills and write their transformed results to a CSV file.

Usage::

    python examples/batch_to_csv.py FOLDER --out results.csv \\
        --provider 4 --email billing@example.com [--concurrency 8] [--timeout 900] [--fresh]

Every ``.pdf``, ``.png``, ``.jpg`` and ``.jpeg`` file in FOLDER is uploaded (at most
``--concurrency`` at a time), each job is awaited, and one CSV row per file is written:
``file``, ``job_id``, ``status``, ``error`` and then one column per extracted field.
A bill that fails does not stop the others; the exit code is 0 when every bill is
COMPLETE, 1 when some are not, 2 for bad arguments or settings (no certificate, an SQS
queue without a region or credentials), and 130 when interrupted.

The batch is durable: its journal, ``results.csv.journal`` beside the CSV, records each
upload before it is sent and its job right after. Running the same command again
resumes where the last run stopped, whatever stopped it (a crash, ``kill -9``, Ctrl-C):
finished bills are read back (one GET each) instead of being sent again, jobs still
running are waited for, and only bills never sent are uploaded. ``--fresh`` deletes the
journal and starts over with new jobs. ``--journal URL`` keeps the journal elsewhere:
``postgresql://USER:PASSWORD@HOST/DB?batch=NAME`` lets the same command, run on
several machines, share one batch (each bill is submitted by one of them; a machine
that dies leaves its bills to the others).

Ctrl-C or SIGTERM stops the batch gently: nothing more is uploaded, uploads in flight
finish, and the CSV is written with a row for every bill: PENDING ones with their job
ids, NOT SUBMITTED ones without. A second Ctrl-C quits at once.

Settings come from the environment (see ``WattzOnClient.from_env``): ``WATTZON_CERT``,
``WATTZON_KEY``, ``WATTZON_KEY_PASSWORD``, ``WATTZON_CA_BUNDLE``, ``WATTZON_SNAP_URL``,
``WATTZON_LINK_URL``. When ``WATTZON_SQS_QUEUE_URL`` is also set (with
``WATTZON_SQS_ENDPOINT_URL`` for a non-AWS endpoint, and the usual AWS credentials and
region), each wait races the job's SQS notification against polling, so results arrive
as soon as they are ready; without it, waits poll on the client's schedule. With
``WATTZON_STORE_URL`` too, the script shares the queue with other programs using that
store (a web service, another batch) without taking their notifications, or losing its
own to them.

Progress goes to stderr; the CSV is written to a temporary file, flushed to disk and
renamed into place, so a half-written CSV never appears under the ``--out`` name and an
existing one is only ever replaced by a complete one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from wattzon_async import (
    BatchProgress,
    BatchRun,
    BatchStoppedError,
    CertificateError,
    ConsumerError,
    JobError,
    NotificationConsumer,
    Submission,
    SubmitOutcome,
    ValidationError,
    WattzOnClient,
    WattzOnError,
)
from wattzon_async.store import redact_url

__all__ = [
    "BILL_SUFFIXES",
    "BatchResult",
    "ProgressPrinter",
    "Row",
    "SettingsError",
    "consumer_from_env",
    "find_bills",
    "journal_for",
    "main",
    "run",
    "write_csv",
]

#: The file types uploaded from the folder.
BILL_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg"})
#: The columns every row has, before the extracted fields.
FIXED_COLUMNS = ("file", "job_id", "status", "error")


@dataclass
class Row:
    """The outcome of one bill: its job and fields, or why there are none."""

    file: str
    job_id: int | None = None
    status: str = ""
    error: str = ""
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass
class BatchResult:
    """What a batch did: one row per bill, in file-name order, and what stopped it."""

    rows: list[Row]
    stopped: str | None = None

    @property
    def complete(self) -> int:
        """Bills whose job is COMPLETE."""
        return sum(1 for row in self.rows if row.status == "COMPLETE")

    @property
    def ok(self) -> bool:
        """True when every bill is COMPLETE."""
        return self.complete == len(self.rows)


class ProgressPrinter:
    """An ``on_progress`` callback that prints running counts to a stream.

    On a terminal the line is rewritten in place; elsewhere (a log file, a CI job) a
    line is printed each time a bill finishes. A batch that resumes an earlier run says
    so first, with what its journal already knew.

    Args:
        stream: Where to print, usually ``sys.stderr``.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last_finished = -1
        self._announced = False

    def __call__(self, progress: BatchProgress) -> None:
        """Print the counts when they are worth printing."""
        if not self._announced and progress.resume is not None:
            self._announced = True
            if progress.resume.resuming:
                print(f"Resuming: {progress.resume}", file=self._stream, flush=True)
        if not self._tty and progress.finished == self._last_finished:
            return
        self._last_finished = progress.finished
        line = (
            f"{progress.finished}/{progress.total} finished "
            f"({progress.done} ok, {progress.failed} failed), "
            f"{progress.submitted} uploaded, {progress.processing} processing"
        )
        if self._tty:
            end = "\n" if progress.finished == progress.total else ""
            print("\r" + line, end=end, file=self._stream, flush=True)
        else:
            print(line, file=self._stream, flush=True)


def find_bills(folder: Path) -> list[Path]:
    """The bills in ``folder`` (not its subfolders), sorted by file name.

    Raises:
        ValidationError: ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder", field="folder")
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in BILL_SUFFIXES),
        key=lambda p: p.name,
    )


def consumer_from_env(
    environ: Mapping[str, str] | None = None, *, wait_time_seconds: int = 2
) -> NotificationConsumer | None:
    """A NotificationConsumer for ``WATTZON_SQS_QUEUE_URL``, or None when it is not set.

    Args:
        environ: The variables to read (default: ``os.environ``).
        wait_time_seconds: The long poll, unless ``WATTZON_SQS_WAIT_TIME_SECONDS`` says
            otherwise. Leaving the consumer waits for the long poll in flight, so a
            short-lived script wants a short one.
    """
    env = os.environ if environ is None else environ
    queue_url = env.get("WATTZON_SQS_QUEUE_URL")
    if not queue_url:
        return None
    return NotificationConsumer(
        queue_url,
        endpoint_url=env.get("WATTZON_SQS_ENDPOINT_URL") or None,
        wait_time_seconds=int(env.get("WATTZON_SQS_WAIT_TIME_SECONDS") or wait_time_seconds),
        store=env.get("WATTZON_STORE_URL") or None,
    )


def _row(path: Path, outcome: SubmitOutcome) -> Row:
    """The CSV row of one outcome: its job and fields, or why there are none."""
    error = outcome.error
    job = getattr(error, "job", None) or outcome.job  # JobError, BatchStoppedError carry it
    if error is None and job is not None:
        return Row(path.name, job.id, str(job.status), "", job.values())
    if isinstance(error, BatchStoppedError):
        status = "PENDING" if job is not None else "NOT SUBMITTED"
        return Row(path.name, job.id if job else None, status, str(error))
    if isinstance(error, JobError):
        return Row(path.name, error.job.id, str(error.job.status), str(error))
    kind = "INVALID" if isinstance(error, ValidationError) else "ERROR"
    return Row(path.name, job.id if job else None, kind, f"{type(error).__name__}: {error}")


def journal_for(out: Path) -> Path:
    """The journal kept beside the CSV: ``results.csv`` -> ``results.csv.journal``."""
    return out.with_name(out.name + ".journal")


async def run(
    client: WattzOnClient,
    folder: Path,
    out: Path,
    *,
    provider: int,
    email: str,
    tags: Sequence[str] = (),
    concurrency: int = 8,
    timeout: float | None = 900.0,
    notifications: NotificationConsumer | None = None,
    progress: TextIO | None = None,
    journal: Path | str | None = None,
    stop_on_signals: bool = False,
) -> BatchResult:
    """Submit every bill in ``folder``, wait for each, and write the CSV to ``out``.

    Args:
        client: The client to submit with.
        folder: Where the bills are.
        out: The CSV file to write (replaced, whole, when it exists).
        provider: The utility provider id of every bill.
        email: The customer email address sent with every bill.
        tags: Tags for every job (the idempotency tag is added per job by the SDK).
        concurrency: Uploads in flight at once.
        timeout: Seconds to wait for each job after its upload (None: no limit).
        notifications: A running consumer to race each wait against.
        progress: Where to print progress (None: nowhere).
        journal: The batch's journal, a file or a store URL (None: not durable); the
            same journal resumes.
        stop_on_signals: Stop gently on SIGINT/SIGTERM (from the main thread only).

    Returns:
        The rows written, in file-name order, and the signal that stopped the batch.

    Raises:
        ValidationError: ``folder`` is not a folder.
    """
    bills = find_bills(folder)
    submissions = [
        Submission(email=email, provider=provider, document=path, tags=tuple(tags))
        for path in bills
    ]
    rows: list[Row] = [Row(path.name, status="INTERRUPTED") for path in bills]
    printer = ProgressPrinter(progress) if progress is not None else None
    batch = client.jobs.submit_many(
        submissions,
        concurrency=concurrency,
        wait=True,
        notifications=notifications,
        timeout=timeout,
        results="transformed",  # the CSV wants each field as one string
        on_progress=printer,
        journal=journal,
    )
    signals = _Signals(batch) if stop_on_signals else contextlib.nullcontext(None)
    try:
        with signals as stopper:
            async for outcome in batch:
                rows[outcome.index] = _row(bills[outcome.index], outcome)
    finally:
        write_csv(rows, out)
    return BatchResult(rows, stopped=stopper.received if stopper is not None else None)


class _Signals:
    """The first SIGINT/SIGTERM stops the batch gently; a second one cancels it at once."""

    def __init__(self, batch: BatchRun) -> None:
        self.batch = batch
        self.received: str | None = None
        self.forced = False
        self._task = asyncio.current_task()
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> _Signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        if self.forced and isinstance(exc, asyncio.CancelledError):
            raise KeyboardInterrupt from None  # the second signal: quit at once

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.received is None:
            self.received = sig.name
            self.batch.stop()
            print(
                f"\n{sig.name}: stopping (uploads in flight finish; Ctrl-C again quits at once)",
                file=sys.stderr,
                flush=True,
            )
        elif not self.forced and self._task is not None:
            self.forced = True
            self._task.cancel()


def write_csv(rows: Sequence[Row], out: Path) -> None:
    """Write the rows to ``out`` atomically (a complete temporary file renamed into place).

    The field columns follow the fixed ones, in the order they first appear.
    """
    columns = list(FIXED_COLUMNS)
    for row in rows:
        columns.extend(name for name in row.values if name not in columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {
                        "file": row.file,
                        "job_id": "" if row.job_id is None else row.job_id,
                        "status": row.status,
                        "error": row.error,
                        **row.values,
                    }
                )
            f.flush()
            os.fsync(f.fileno())  # on disk before it replaces the old CSV
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batch_to_csv.py",
        description="Submit a folder of bills to WattzOn Snap and write their fields to a CSV.",
    )
    parser.add_argument("folder", type=Path, help="folder of .pdf/.png/.jpg bills")
    parser.add_argument("--out", type=Path, default=Path("results.csv"), help="CSV to write")
    parser.add_argument("--provider", type=int, required=True, help="utility provider id")
    parser.add_argument("--email", required=True, help="customer email sent with every bill")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        help="tag every job (repeatable; default: batch:<UTC time>)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="uploads at once")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each job")
    parser.add_argument(
        "--journal",
        help="keep the journal there instead of OUT.journal: a file, sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST/DB?batch=NAME (shared by several machines)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="delete the journal (OUT.journal) and submit every bill again; without it, "
        "running the same command again resumes",
    )
    return parser


class SettingsError(Exception):
    """The environment's settings cannot make a client or a consumer (exit code 2)."""


async def _main(args: argparse.Namespace) -> int:
    tags = args.tag or [datetime.now(UTC).strftime("batch:%Y%m%dT%H%M%SZ")]
    journal: Path | str = args.journal or journal_for(args.out)
    if args.fresh and isinstance(journal, str):
        print("--fresh: with --journal, start a new batch name instead", file=sys.stderr)
        return 2
    if args.fresh and isinstance(journal, Path):
        for suffix in ("", "-wal", "-shm"):
            journal.with_name(journal.name + suffix).unlink(missing_ok=True)
    shown = redact_url(journal) if isinstance(journal, str) else journal
    started = time.monotonic()
    # an earlier run's journal file: this run goes on from it (a shared journal's progress
    # is reported once the batch has read it)
    resuming = isinstance(journal, Path) and journal.exists()
    async with contextlib.AsyncExitStack() as stack:
        client, consumer = await _connect(stack)
        print(
            f"{'Resuming' if resuming else 'Submitting'} bills from {args.folder} with tags "
            f"{', '.join(tags)} (waiting by {'SQS and polling' if consumer else 'polling'}; "
            f"journal {shown}{', --fresh starts over' if resuming else ''})",
            file=sys.stderr,
        )
        result = await run(
            client,
            args.folder,
            args.out,
            provider=args.provider,
            email=args.email,
            tags=tags,
            concurrency=args.concurrency,
            timeout=args.timeout,
            notifications=consumer,
            progress=sys.stderr,
            journal=journal,
            stop_on_signals=True,
        )
    if result.stopped is not None:
        pending = sum(1 for row in result.rows if row.status == "PENDING")
        print(
            f"Stopped by {result.stopped}: {result.complete} COMPLETE, {pending} pending "
            f"(their job ids are in {args.out}). Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    print(
        f"{result.complete} of {len(result.rows)} bills COMPLETE; wrote {args.out} "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0 if result.ok else 1


async def _connect(
    stack: contextlib.AsyncExitStack,
) -> tuple[WattzOnClient, NotificationConsumer | None]:
    """The client and the consumer the environment describes; SettingsError if it cannot."""
    try:
        client = await stack.enter_async_context(WattzOnClient.from_env())
        consumer = consumer_from_env()
        if consumer is not None:
            await stack.enter_async_context(consumer)
    except (ValidationError, CertificateError, ConsumerError) as exc:
        raise SettingsError(f"{type(exc).__name__}: {exc}") from exc
    return client, consumer


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script; returns the exit code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
    """
    args = _parser().parse_args(argv)
    try:
        if not find_bills(args.folder):
            print(f"batch_to_csv.py: error: no bills in {args.folder}", file=sys.stderr)
            return 2
        return asyncio.run(_main(args))
    except (ValidationError, SettingsError) as exc:
        print(f"batch_to_csv.py: error: {exc}", file=sys.stderr)
        return 2
    except WattzOnError as exc:
        print(f"batch_to_csv.py: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"batch_to_csv.py: interrupted; {args.out} has what finished. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
