"""The demo: sample bills submitted to a local emulator and their extracted fields shown.

Starts the emulator with SQS on free ports, looks up the providers, submits the bills
in ``examples/bills`` concurrently through the SDK, waits for each (an SQS notification
raced against polling), and prints a table of what was extracted. It needs no network
and no account, and takes a few seconds.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .._config import WaitPolicy
from .._errors import JobError, WattzOnError
from ._handle import Emulator
from ._pdf import text_pdf

if TYPE_CHECKING:
    from .._client import WattzOnClient
    from ..notifications import NotificationConsumer

__all__ = ["run_demo"]

_BILLS = Path(__file__).resolve().parents[2] / "examples" / "bills"
#: Provider of each sample bill, by the start of its file name.
_PROVIDERS = {"pge": 4, "coned": 140, "palo-alto": 3150, "sdge": 27}
_COLUMNS = ("Name", "Account_number", "Bill_date", "Amount_due", "Elec_Usage", "Gas_Usage")
_POLICY = WaitPolicy(initial_delay=0.5, max_delay=2.0, multiplier=1.5, jitter=0.1)


def _sample_bills(scratch: Path) -> list[Path]:
    """The sample bills: ``examples/bills`` when present, else two made on the spot."""
    if _BILLS.is_dir():
        found = sorted(p for p in _BILLS.iterdir() if p.suffix.lower() in (".pdf", ".png"))
        if found:
            return found
    made = []
    for name, lines in (
        ("pge-sample.pdf", ["Pacific Gas and Electric Company", "DAVE SMITH"]),
        ("failed-sample.pdf", ["(unreadable)"]),
    ):
        path = scratch / name
        path.write_bytes(text_pdf(lines))
        made.append(path)
    return made


def _provider_for(path: Path) -> int:
    for prefix, provider in _PROVIDERS.items():
        if path.name.startswith(prefix):
            return provider
    return 4


async def _process(
    client: WattzOnClient, consumer: NotificationConsumer, path: Path
) -> tuple[str, ...]:
    """Submit one bill, wait for it, and return its table row."""
    job = await client.jobs.create(
        email="demo@example.com", provider=_provider_for(path), document=path, tags=["demo"]
    )
    try:
        done = await client.await_job(
            job.id, timeout=30, notifications=consumer, results="transformed", policy=_POLICY
        )
    except JobError as exc:
        return (path.name, str(job.id), str(exc.job.status), *("-" for _ in _COLUMNS))
    values = done.values()
    return (path.name, str(job.id), str(done.status), *(values.get(c, "-") for c in _COLUMNS))


def _print_table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    headers = ("Bill", "Job", "Status", *(c.replace("_", " ") for c in _COLUMNS))
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
        return
    table = Table(title="Extracted bill fields")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    Console(file=out, width=None if out.isatty() else 160).print(table)


async def run_demo(
    out: TextIO | None = None, *, processing_time: tuple[float, float] = (1.0, 2.5)
) -> int:
    """Run the demo end to end.

    Args:
        out: Where to print (default: stdout).
        processing_time: The range of seconds each job takes.

    Returns:
        0 when every bill reached its expected final state, 1 otherwise.
    """
    out = out or sys.stdout
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wattzon-demo-") as scratch:
        bills = _sample_bills(Path(scratch))
        print("Starting the WattzOn emulator (mutual TLS + SQS)...", file=out, flush=True)
        emu = Emulator(processing_time=processing_time, sqs=True)
        async with emu, emu.client() as client, emu.consumer() as consumer:
            zipcode = await client.zips.get("94110")
            ids = await client.utilities.find(zipcode="94110", type="electric")
            utility = await client.utilities.get(ids[0])
            print(
                f"Zip {zipcode.zipcode} is {zipcode.city}, {zipcode.state}; "
                f"electric utility: {utility.name} (provider {utility.id})",
                file=out,
            )
            print(f"Submitting {len(bills)} bills...", file=out, flush=True)
            try:
                rows = await asyncio.gather(*(_process(client, consumer, path) for path in bills))
            except WattzOnError as exc:
                print(f"Demo failed: {exc}", file=out)
                return 1
    _print_table(list(rows), out)
    ok = all(row[2] == ("FAILED" if row[0].startswith("failed") else "COMPLETE") for row in rows)
    print(f"Done in {time.monotonic() - started:.1f} s.", file=out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(run_demo()))
