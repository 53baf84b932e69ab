"""The read commands: jobs, documents and the Link look-ups, plus the emulator and the demo.

Each command opens one client (``async with``), makes its SDK call, and hands the result
to the output: a table, or the same data as JSON with ``--json``. Errors are not handled
here; they travel up to the runner, which turns each kind into its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._config import WaitPolicy
from .._emulator_missing import EMULATOR_MISSING, is_emulator_missing
from .._errors import (
    APIStatusError,
    JobError,
    NotFoundError,
    ValidationError,
    WaitTimeoutError,
    WattzOnError,
)
from .._private import private_dir
from .._serde import unstructure
from ._context import Context, describe
from ._errors import CliError, ExitCode
from ._output import job_detail, jobs_table, record_table, rows_table

if TYPE_CHECKING:
    from .._client import WattzOnClient
    from ..models import LinkBill, Utility

__all__ = [
    "NAME_LOOKUPS",
    "demo",
    "document_download",
    "emulator",
    "jobs_get",
    "jobs_list",
    "jobs_wait",
    "link_bills",
    "utilities_find",
    "utilities_get",
    "wait_settings",
    "zips_get",
]

#: How many provider names ``utilities find`` reads at once.
NAME_LOOKUPS = 8


def wait_settings(ctx: Context) -> dict[str, Any]:
    """The client's ``wait`` policy when ``--poll-interval`` sets the first poll's delay."""
    first = ctx.option("poll_interval")
    if first is None:
        return {}
    default = WaitPolicy()
    return {"wait": WaitPolicy(initial_delay=first, max_delay=max(first, default.max_delay))}


async def jobs_list(ctx: Context) -> int:
    """``wattzon jobs list [--tag T]``: the most recent jobs."""
    async with ctx.client() as client:
        jobs = await client.jobs.list(tag=ctx.args.tag)
    ctx.out.show(jobs, lambda: jobs_table(jobs))
    return ExitCode.OK


async def jobs_get(ctx: Context) -> int:
    """``wattzon jobs get ID [--results raw|transformed]``: one job, with its results."""
    async with ctx.client() as client:
        job = await client.jobs.get(ctx.args.id, results=ctx.args.results)
    ctx.out.show(job, lambda: job_detail(job))
    return ExitCode.OK


async def jobs_wait(ctx: Context) -> int:
    """``wattzon jobs wait ID [--timeout S]``: wait for a final state, show the job.

    A FAILED or UNSUPPORTED job, or a timeout, still shows the last state seen before
    the error line and its exit code.
    """
    args = ctx.args
    async with ctx.client(**wait_settings(ctx)) as client:
        try:
            # the wait looks once at once: a finished (or missing) job answers now
            job = await client.await_job(args.id, timeout=args.timeout, results=args.results)
        except (JobError, WaitTimeoutError) as exc:
            last = exc.job
            if last is not None:
                ctx.out.show(last, lambda: job_detail(last))
            raise
    ctx.out.show(job, lambda: job_detail(job))
    return ExitCode.OK


async def document_download(ctx: Context) -> int:
    """``wattzon document download JOB_ID [--dest PATH] [--force]``: save a job's document.

    An existing file is replaced only with ``--force`` (else exit code 2, as ``cert csr``).
    """
    args = ctx.args
    async with ctx.client() as client:
        try:
            path = await client.documents.download(args.id, Path(args.dest), overwrite=args.force)
        except FileExistsError as exc:
            raise CliError(
                f"{exc.filename} already exists; pass --force to replace it, or --dest "
                "another file or folder",
                ExitCode.USAGE,
            ) from None
        except NotFoundError as exc:
            if exc.hint is not None:  # not the API's answer: a wrong base URL
                raise
            raise CliError(await _missing_job(client, args.id, exc), ExitCode.API) from None
    size = path.stat().st_size
    data = {"job_id": args.id, "path": path, "size": size}
    ctx.out.show(data, lambda: f"Saved the document of job {args.id} to {path} ({size:,} bytes)")
    return ExitCode.OK


async def _missing_job(client: WattzOnClient, job_id: int, exc: NotFoundError) -> str:
    """Why ``document download`` found no job: often a document id was given."""
    message = describe(exc)
    with contextlib.suppress(WattzOnError):
        for job in await client.jobs.list():
            if job.document.id == job_id:
                return (
                    f"{message}; {job_id} is the id of the document of job {job.id}: "
                    f"download takes the job's id (wattzon document download {job.id})"
                )
    return f"{message}; give the job's id (the ID column of `wattzon jobs list`)"


async def zips_get(ctx: Context) -> int:
    """``wattzon zips get ZIP``: where a zip code is."""
    async with ctx.client() as client:
        zipcode = await client.zips.get(ctx.args.zipcode)
    pairs = [
        ("Zip code", zipcode.zipcode),
        ("City", zipcode.city),
        ("County", zipcode.county),
        ("State", zipcode.state),
        ("Latitude", zipcode.latitude),
        ("Longitude", zipcode.longitude),
    ]
    return _show_record(ctx, zipcode, pairs, zipcode.extra, f"Zip code {zipcode.zipcode}")


async def utilities_find(ctx: Context) -> int:
    """``wattzon utilities find [--zipcode Z] [--name N] [--type T]``: ids and names.

    The API's search answers ids only; each provider's name and types are read with
    ``utilities.get``, at most :data:`NAME_LOOKUPS` at once. A provider that cannot be
    read (an error status) is listed with no name rather than failing the search.
    """
    args = ctx.args
    async with ctx.client() as client:
        ids = await client.utilities.find(zipcode=args.zipcode, name=args.name, type=args.type)
        slots = asyncio.Semaphore(NAME_LOOKUPS)

        async def look_up(provider_id: int) -> Utility | None:
            async with slots:
                try:
                    return await client.utilities.get(provider_id)
                except APIStatusError:
                    return None

        found = await asyncio.gather(*(look_up(i) for i in ids))
    pairs = list(zip(ids, found, strict=True))
    providers = [
        {"id": i, "name": u.name if u else None, "types": list(u.types) if u else []}
        for i, u in pairs
    ]
    data = {"provider_ids": ids, "providers": providers}
    rows = [(i, u.name if u else "(unknown)", ", ".join(u.types) if u else "") for i, u in pairs]
    ctx.out.show(data, lambda: rows_table(("Provider ID", "Name", "Types"), rows, "Providers"))
    return ExitCode.OK


async def utilities_get(ctx: Context) -> int:
    """``wattzon utilities get ID``: one utility provider."""
    async with ctx.client() as client:
        utility = await client.utilities.get(ctx.args.id)
    pairs = [
        ("Provider ID", utility.id),
        ("Name", utility.name),
        ("Types", ", ".join(utility.types)),
        ("LSE id", utility.lseid),
        ("Home page", utility.homepage_url),
    ]
    return _show_record(ctx, utility, pairs, utility.extra, utility.name)


def _show_record(
    ctx: Context,
    model: object,
    pairs: list[tuple[str, Any]],
    extra: Mapping[str, Any],
    title: str,
) -> int:
    """Show one model: its JSON, or a table of ``pairs`` and its undocumented fields."""
    rows = [*pairs, *sorted((str(k), v) for k, v in extra.items())]
    ctx.out.show(model, lambda: record_table(rows, title=title))
    return ExitCode.OK


async def link_bills(ctx: Context) -> int:
    """``wattzon link bills PROFILE_ID [--pdf DIR [--force|--skip-existing]]``: bills, PDFs.

    With ``--pdf`` each bill's PDF is saved into DIR (made, owner-only, when it does not
    exist), one after the other, and each row gains ``pdf_file`` (None for a bill without
    a PDF). A file that exists is replaced only with ``--force``; ``--skip-existing``
    keeps it and fetches only the PDFs that are missing (a rerun after an interruption).
    A ``pdf`` URI on another host is refused: the other PDFs are still saved, the bills
    shown, and then the command names what it left alone and exits 2, as ``document
    download`` does.
    """
    args = ctx.args
    folder = _pdf_folder(args.pdf, args.force, args.skip_existing)
    existing: list[str] = []
    refused: list[str] = []
    async with ctx.client() as client:
        bills = await client.link.bills(args.profile_id)
        rows: list[dict[str, Any]] = unstructure(bills)
        if folder is not None:
            folder = private_dir(folder)  # bills are personal data: owner only
            for bill, row in zip(bills, rows, strict=True):
                before = len(existing)
                path = await _save_pdf(client, bill, folder, args.force, existing, refused)
                if args.skip_existing and len(existing) > before:  # kept, body never read
                    path, row["pdf_skipped"] = Path(existing.pop()), True
                row["pdf_file"] = None if path is None else str(path)

    def render() -> list[Any]:
        if not rows:
            return [f"No bills for profile {args.profile_id}"]
        tables: list[Any] = [
            record_table(list(row.items()), title=f"Bill {n} of {len(rows)}")
            for n, row in enumerate(rows, 1)
        ]
        return tables + [_saved_line(row) for row in rows if row.get("pdf_file")]

    ctx.out.show(rows, render)
    if existing or refused:
        raise CliError(_left_alone(existing, refused), ExitCode.USAGE)
    return ExitCode.OK


def _pdf_folder(pdf: str | None, force: bool, skip: bool) -> Path | None:
    """``--pdf DIR`` checked before anything is sent (``--force``, ``--skip-existing`` too).

    DIR may not exist yet (it is made when the bills have been read), but it may not be
    something other than a folder, nor under a file.
    """
    if force and skip:
        raise CliError("--force and --skip-existing: choose one", ExitCode.USAGE)
    if pdf is None:
        if force or skip:
            flag = "--force" if force else "--skip-existing"
            raise CliError(f"{flag}: needs --pdf (it is about PDFs saved before)", ExitCode.USAGE)
        return None
    folder = Path(pdf)
    blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise CliError(f"--pdf: not a directory: {blocking}", ExitCode.USAGE)
    return folder


def _saved_line(row: dict[str, Any]) -> str:
    """``Saved <file> (<n> bytes)``, or ``Kept ...`` for a PDF ``--skip-existing`` kept."""
    path = Path(row["pdf_file"])
    size = f"{path.stat().st_size:,} bytes"
    if row.get("pdf_skipped"):
        return f"Kept {path} ({size}, already there)"
    return f"Saved {path} ({size})"


async def _save_pdf(
    client: WattzOnClient,
    bill: LinkBill,
    folder: Path,
    force: bool,
    existing: list[str],
    refused: list[str],
) -> Path | None:
    """Save one bill's PDF into ``folder``; a file left alone is noted, not raised."""
    if not bill.pdf:
        return None
    try:
        return await client.link.download_pdf(bill, folder, overwrite=force)
    except FileExistsError as exc:
        existing.append(str(exc.filename))
    except ValidationError as exc:
        bill_id = bill.extra.get("id")
        refused.append(str(exc) if bill_id is None else f"bill {bill_id}: {exc}")
    return None


def _left_alone(existing: list[str], refused: list[str]) -> str:
    """The error line of ``link bills --pdf`` naming each PDF it did not save."""
    parts = list(refused)
    if existing:
        one = len(existing) == 1
        parts.insert(
            0,
            f"{', '.join(existing)} already exist{'s' if one else ''}; pass --force to "
            f"replace {'it' if one else 'them'}, or --pdf another folder",
        )
    return "; ".join(parts)


def emulator(ctx: Context) -> int:
    """``wattzon emulator``: serve the local emulator until Ctrl+C, printing the exports."""
    serve_forever = _emulator_part("__main__").serve_forever
    args = ctx.args
    serve_forever(args.dir, args.port, args.sqs, args.processing_time)
    return ExitCode.OK


def demo(ctx: Context) -> int:
    """``wattzon demo``: sample bills through a local emulator, fields printed."""
    return int(asyncio.run(_emulator_part("demo").run_demo()))


def _emulator_part(name: str) -> Any:
    """A module of the emulator distribution, or a one-line error naming the extra.

    Raises:
        CliError: ``wattzon-async-emulator`` is not installed (exit code 1, as for the
            other missing extras).
    """
    try:
        return importlib.import_module(f"wattzon_emulator.{name}")
    except ImportError as exc:
        if is_emulator_missing(exc):
            raise CliError(EMULATOR_MISSING, ExitCode.FAILED) from None
        raise
