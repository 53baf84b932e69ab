"""``wattzon submit``: many bills at once, with live progress, a summary and a results file.

Built on ``client.jobs.submit_many``: uploads run concurrently, each create is safe to
retry, and one bad file does not stop the rest. Arguments shared by every bill (email,
provider, tags) and the files themselves are checked before anything is sent, so a
typo costs nothing. On a terminal the counts are live progress bars on stderr; otherwise
one line per finished bill.

With ``--out FILE`` the batch is durable: its journal, ``FILE.journal``, records every
upload before it is sent, so running the same command again resumes (finished bills
are not sent again) and ``--fresh`` starts over. Ctrl-C or SIGTERM stops the batch
gently (see ``_signals``); ``FILE`` is then written with a row for every file, pending
ones with their job ids, and is only ever replaced whole (a complete temporary file
renamed over it).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from attrs import define, field

from .._errors import BatchStoppedError, JobError, WaitTimeoutError
from .._serde import unstructure
from ..jobs._batch import BatchProgress
from ..jobs._journal import drop_journal
from ..models import Submission
from ..store import redact_url
from ._commands import wait_settings
from ._context import Context, describe
from ._errors import CliError, ExitCode
from ._notify import notifications
from ._output import Output, rows_table, status_text
from ._results import write_results
from ._signals import Interrupts
from ._submit_checks import check_common, check_documents, check_out, checked_files

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from .._client import WattzOnClient
    from ..jobs._batch import SubmitOutcome
    from ..notifications import NotificationConsumer

__all__ = ["Row", "journal_path", "outcome_code", "submit"]

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
        error, job = outcome.error, outcome.job
        if isinstance(error, JobError | WaitTimeoutError | BatchStoppedError):
            job = error.job or job
        if job is not None:
            row.job_id = job.id
            row.status = str(job.status.value)
            row.values = job.values()
            row.results = unstructure(job.results)
        if error is not None:
            row.error = describe(error)
            if isinstance(error, WaitTimeoutError):
                row.status = "TIMEOUT"
            elif isinstance(error, BatchStoppedError):
                row.status = "PENDING" if job is not None else "NOT SUBMITTED"
            elif job is None:
                row.status = "ERROR"
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
    files = checked_files(args.files)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out(out)
    elif args.fresh and not args.journal:
        raise CliError(
            "--fresh: needs --out (the journal is kept beside it) or --journal", ExitCode.USAGE
        )
    journal: Path | str | None = args.journal or (journal_path(out) if out is not None else None)
    reported: dict[int, Row] = {}
    async with ctx.client(**wait_settings(ctx)) as client:
        check_common(client, args.email, args.provider, args.tag)
        check_documents(client, files, check=not args.any_document)
        if journal is not None and args.fresh:
            await drop_journal(journal)
        submissions = [
            Submission(
                email=args.email,
                provider=args.provider,
                document=f,
                tags=args.tag,
                check_document=not args.any_document,
            )
            for f in files
        ]
        try:
            async with notifications(ctx, wait=args.wait) as consumer:
                stopped = await _run_batch(
                    ctx, client, submissions, files, reported, journal, consumer
                )
        finally:
            rows = _every_row(files, reported)
            if out is not None:
                write_results(out, rows)
    _summary(ctx.out, rows, out, stopped)
    if stopped is not None:
        _stopped_hint(ctx.out, rows, out, journal)
        return ExitCode.INTERRUPTED
    return outcome_code(rows)


def journal_path(out: Path) -> Path:
    """Where the journal of a batch writing ``out`` lives: ``out`` + ``.journal``."""
    return out.with_name(out.name + ".journal")


def shown(journal: Path | str | None) -> str:
    """A journal as messages show it: a URL without its password."""
    return redact_url(journal) if isinstance(journal, str) else str(journal)


def _every_row(files: list[Path], reported: dict[int, Row]) -> list[Row]:
    """A row per file, in input order; a file whose outcome never came says so."""
    missing = "the run was interrupted before this file's outcome was known"
    return [
        reported.get(i) or Row(i, str(path), status="INTERRUPTED", error=missing)
        for i, path in enumerate(files)
    ]


def _stopped_hint(
    out: Output, rows: list[Row], path: Path | None, journal: Path | str | None
) -> None:
    """After a stop: what is where, and how to go on."""
    pending = sum(1 for r in rows if r.status == "PENDING")
    unsent = sum(1 for r in rows if r.status in ("NOT SUBMITTED", "INTERRUPTED"))
    counts = f"{len(rows) - pending - unsent} finished, {pending} pending, {unsent} not submitted"
    if journal is None or path is None:
        out.warn(
            f"stopped: {counts}; the pending jobs' ids are in the output above. Without "
            "--out there is no journal: running the command again submits every file again"
        )
        return
    out.warn(
        f"stopped: {counts}; {path} has a row for every file, pending ones with their job "
        f"ids. Run the same command again to resume from {shown(journal)} (nothing is sent "
        "twice)"
    )


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
    reported: dict[int, Row],
    journal: Path | str | None,
    consumer: NotificationConsumer | None,
) -> str | None:
    """Run submit_many with progress, a row per outcome as it comes; the stopping signal."""
    args = ctx.args
    progress = _Progress(ctx.out, len(files), wait=args.wait, journal=journal)
    run = client.jobs.submit_many(
        submissions,
        concurrency=args.concurrency,
        wait=args.wait,
        timeout=args.timeout,
        notifications=consumer,
        results=args.results,
        on_progress=progress.update,
        journal=journal,
    )
    with progress, Interrupts(run) as interrupts:
        try:
            async for outcome in run:
                row = Row.of(outcome, str(files[outcome.index]))
                reported[outcome.index] = row
                progress.finished(row)
        except BaseException:
            _unreported(ctx, run.progress.submitted, reported, journal)
            raise
    return interrupts.received


def _unreported(
    ctx: Context, submitted: int, reported: dict[int, Row], journal: Path | str | None
) -> None:
    """After a hard stop: say where the jobs that were made but not reported are."""
    unreported = submitted - sum(1 for r in reported.values() if r.job_id)
    if unreported <= 0:
        return
    if journal is not None:
        ctx.out.warn(
            f"{unreported} job(s) were created but not reported before the run stopped; "
            f"{shown(journal)} has them: run the same command again to resume"
        )
        return
    where = f" --tag {shlex.quote(ctx.args.tag[0])}" if ctx.args.tag else ""
    ctx.out.warn(
        f"{unreported} job(s) were created but not reported before the run stopped; "
        f"they go on at WattzOn: see `wattzon jobs list{where}`"
    )


_PENDING = frozenset({"PENDING"})
_UNSENT = frozenset({"NOT SUBMITTED", "INTERRUPTED"})
#: The most pending job ids the summary line lists (the table and --out have them all).
_IDS_SHOWN = 20


def _counts_line(rows: list[Row]) -> tuple[str, dict[str, int]]:
    """The summary's counts: a stopped batch's pending and unsent files are not failures."""
    pending = [r for r in rows if r.status in _PENDING]
    unsent = sum(1 for r in rows if r.status in _UNSENT)
    failed = sum(1 for r in rows if not r.ok) - len(pending) - unsent
    counts = {
        "succeeded": sum(1 for r in rows if r.ok),
        "failed": failed,
        "pending": len(pending),
        "not_submitted": unsent,
    }
    line = f"{counts['succeeded']} succeeded, {failed} failed"
    if pending:
        ids = [str(r.job_id) for r in pending if r.job_id is not None]
        more = len(ids) - _IDS_SHOWN
        shown = ", ".join(ids[:_IDS_SHOWN]) + (f" and {more} more" if more > 0 else "")
        line += f", {len(pending)} pending (still processing at WattzOn: job ids {shown})"
    if unsent:
        line += f", {unsent} not submitted"
    return line, counts


def _summary(out: Output, rows: list[Row], path: Path | None, stopped: str | None) -> None:
    line, counts = _counts_line(rows)
    data = {
        "total": len(rows),
        **counts,
        "stopped_by": stopped,
        "out": path,
        "results": [r.as_dict() for r in rows],
    }

    def render() -> list[Any]:
        table = rows_table(
            ("File", "Job", "Status", "Error"),
            [(r.file, r.job_id or "", status_text(r.status), r.error) for r in rows],
            title=f"Submitted {len(rows)} file(s)",
        )
        return [table, line + (f"; results written to {path}" if path else "")]

    out.show(data, render)


class _Progress:
    """Live bars on a terminal (stderr), else one plain line per finished bill."""

    def __init__(self, out: Output, total: int, *, wait: bool, journal: Path | str | None) -> None:
        self.total = total
        self.journal = shown(journal)
        self.announced = False
        self.count = 0
        self.wait = wait
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
        if not self.announced and progress.resume is not None:
            self.announced = True
            if progress.resume.resuming:
                print(
                    f"wattzon: resuming from {self.journal}: {progress.resume} "
                    "(--fresh starts over)",
                    file=sys.stderr,
                    flush=True,
                )
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
