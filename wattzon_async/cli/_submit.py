"""``wattzon submit``: many bills at once, with live progress, a summary and a results file.

Built on ``client.jobs.submit_many``: uploads run concurrently, each create is safe to
retry, and one bad file does not stop the rest. Arguments shared by every bill (email,
provider, tags) and the files themselves are checked before anything is sent, so a
typo costs nothing. On a terminal the counts are live progress bars on stderr; otherwise
one line per finished bill. The ``--out`` file is written even when the run is
interrupted, with what had finished by then.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from attrs import define, field

from .._batch import BatchProgress
from .._errors import JobError, ValidationError, WaitTimeoutError
from .._serde import unstructure
from ..models import Submission
from ._commands import wait_settings
from ._context import Context, describe
from ._errors import CliError, ExitCode
from ._notify import notifications
from ._output import Output, rows_table, status_text
from ._results import write_results

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from .._batch import SubmitOutcome
    from .._client import WattzOnClient
    from ..notifications import NotificationConsumer

__all__ = ["Row", "outcome_code", "submit"]

_FAILED_STATUSES = frozenset({"FAILED", "UNSUPPORTED"})


@define
class Row:
    """What became of one file: the row of the summary and of the ``--out`` file."""

    index: int
    file: str
    job_id: int | None = None
    status: str = ""
    error: str = ""
    values: dict[str, str] = field(factory=dict)
    results: Any = None

    @property
    def ok(self) -> bool:
        """True when the bill was submitted (and, when waited for, completed)."""
        return not self.error and self.status not in _FAILED_STATUSES

    @classmethod
    def of(cls, outcome: SubmitOutcome, file: str) -> Row:
        """The row of one outcome of ``submit_many``."""
        row = cls(outcome.index, file)
        job = outcome.job
        if outcome.error is not None:
            row.error = describe(outcome.error)
            if isinstance(outcome.error, JobError | WaitTimeoutError):
                job = outcome.error.job or outcome.job
            row.status = "TIMEOUT" if isinstance(outcome.error, WaitTimeoutError) else "ERROR"
        if job is not None:
            row.job_id = job.id
            if not isinstance(outcome.error, WaitTimeoutError):
                row.status = str(job.status.value)
            row.values = job.values()
            row.results = unstructure(job.results)
        return row

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON data."""
        return {
            "index": self.index,
            "file": self.file,
            "job_id": self.job_id,
            "status": self.status,
            "error": self.error or None,
            "values": self.values,
            "results": self.results,
        }


async def submit(ctx: Context) -> int:
    """``wattzon submit FILES...``: submit bills, optionally wait, summarise, write --out."""
    args = ctx.args
    files = _checked_files(args.files)
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out(out)
    rows: list[Row] = []
    async with ctx.client(**wait_settings(ctx)) as client:
        _check_common(client, args.email, args.provider, args.tag)
        submissions = [
            Submission(email=args.email, provider=args.provider, document=f, tags=args.tag)
            for f in files
        ]
        try:
            async with notifications(ctx, wait=args.wait) as consumer:
                await _run_batch(ctx, client, submissions, files, rows, consumer)
            if args.wait and args.results == "transformed":
                await _transformed(client, rows, args.concurrency)
        finally:
            rows.sort(key=lambda r: r.index)
            if out is not None:
                write_results(out, rows)
    _summary(ctx.out, rows, out)
    return outcome_code(rows)


def outcome_code(rows: list[Row]) -> ExitCode:
    """0 when every bill succeeded, 5 when waits timing out were the only failures, else 1."""
    failed = [r for r in rows if not r.ok]
    if not failed:
        return ExitCode.OK
    if all(r.status == "TIMEOUT" for r in failed):
        return ExitCode.TIMEOUT
    return ExitCode.FAILED


async def _run_batch(
    ctx: Context,
    client: WattzOnClient,
    submissions: list[Submission],
    files: list[Path],
    rows: list[Row],
    consumer: NotificationConsumer | None,
) -> None:
    """Run submit_many with progress, appending a row per outcome as it comes."""
    args = ctx.args
    with _Progress(ctx.out, len(files), wait=args.wait) as progress:
        try:
            async for outcome in client.jobs.submit_many(
                submissions,
                concurrency=args.concurrency,
                wait=args.wait,
                timeout=args.timeout,
                notifications=consumer,
                on_progress=progress.update,
            ):
                row = Row.of(outcome, str(files[outcome.index]))
                rows.append(row)
                progress.finished(row)
        except BaseException:
            unreported = progress.counts.submitted - sum(1 for r in rows if r.job_id)
            if unreported > 0:
                where = f" --tag {shlex.quote(args.tag[0])}" if args.tag else ""
                ctx.out.warn(
                    f"{unreported} job(s) were created but not reported before the run "
                    f"stopped; they go on at WattzOn: see `wattzon jobs list{where}`"
                )
            raise


def _checked_files(names: list[str]) -> list[Path]:
    paths = [Path(name) for name in names]
    for path in paths:
        if not path.exists():
            raise CliError(f"no such file: {path}", ExitCode.USAGE)
        if not path.is_file():
            raise CliError(f"not a file: {path}", ExitCode.USAGE)
    return paths


def _check_out(out: Path) -> None:
    if out.suffix.lower() not in (".csv", ".jsonl"):
        raise CliError(
            f"--out: the file must end in .csv or .jsonl, not {out.name}", ExitCode.USAGE
        )
    if not out.parent.is_dir():
        raise CliError(f"--out: no such directory: {out.parent}", ExitCode.USAGE)


def _check_common(client: WattzOnClient, email: str, provider: int, tags: list[str]) -> None:
    """Check what every submission shares once, so a typo fails before any upload."""
    try:
        client.jobs.prepare(
            email=email,
            provider=provider,
            document=b"%",
            name="check.pdf",
            tags=tags,
            idempotency_key=False,
        )
    except ValidationError as exc:
        raise CliError(describe(exc), ExitCode.USAGE) from None


async def _transformed(client: WattzOnClient, rows: list[Row], concurrency: int) -> None:
    """Replace the raw results of completed rows with transformed ones."""
    slots = asyncio.Semaphore(concurrency)

    async def fetch(row: Row) -> None:
        assert row.job_id is not None
        async with slots:
            try:
                job = await client.jobs.get(row.job_id, results="transformed")
            except Exception as exc:  # a WattzOnError or OSError; the row records it
                row.error = f"results: {describe(exc)}"
                return
        row.values, row.results = job.values(), unstructure(job.results)

    await asyncio.gather(*(fetch(r) for r in rows if r.ok and r.status == "COMPLETE"))


def _summary(out: Output, rows: list[Row], path: Path | None) -> None:
    failed = sum(1 for r in rows if not r.ok)
    data = {
        "total": len(rows),
        "succeeded": len(rows) - failed,
        "failed": failed,
        "out": path,
        "results": [r.as_dict() for r in rows],
    }

    def render() -> list[Any]:
        table = rows_table(
            ("File", "Job", "Status", "Error"),
            [(r.file, r.job_id or "", status_text(r.status), r.error) for r in rows],
            title=f"Submitted {len(rows)} file(s)",
        )
        line = f"{len(rows) - failed} succeeded, {failed} failed"
        return [table, line + (f"; results written to {path}" if path else "")]

    out.show(data, render)


class _Progress:
    """Live bars on a terminal (stderr), else one plain line per finished bill."""

    def __init__(self, out: Output, total: int, *, wait: bool) -> None:
        self.total = total
        self.count = 0
        self.wait = wait
        self.counts = BatchProgress(total)
        self.bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        if sys.stderr.isatty():
            self._start_bars(out)

    def _start_bars(self, out: Output) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bars = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=out.err_console,
        )
        names = (
            ("submitted", "processing", "done", "failed")
            if self.wait
            else ("submitted", "done", "failed")
        )
        for name in names:
            self.tasks[name] = self.bars.add_task(name, total=self.total)

    def __enter__(self) -> _Progress:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bars is not None:
            self.bars.stop()

    def update(self, progress: BatchProgress) -> None:
        """The ``on_progress`` callback: move the bars to the new counts."""
        self.counts = progress
        if self.bars is None:
            return
        for name, task in self.tasks.items():
            self.bars.update(task, completed=getattr(progress, name))

    def finished(self, row: Row) -> None:
        """One bill has an outcome: a plain line when there are no bars."""
        self.count += 1
        if self.bars is not None:
            return
        what = f"error: {row.error}" if row.error and not row.job_id else row.error
        what = what or f"job {row.job_id} {row.status}"
        print(f"[{self.count}/{self.total}] {row.file}: {what}", file=sys.stderr, flush=True)
