"""The demo: sample bills through a local emulator, showing what the SDK does with them.

Starts the emulator (Snap and Link over mutual TLS, and a real SQS API through moto),
names the utility provider of each sample bill from Link, submits the bills in
``examples/bills`` and waits for each twice: the way the SDK recommends (the job's SQS
notification racing sparse polls) and, for comparison, by polling every second alone.
It prints each bill as it finishes, the extracted fields, and the race: how long after
a job ended each way knew, and how many ``GET /jobs/{id}`` each made. It needs no
network and no account, takes about five seconds, and fits an 80-column terminal.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from attrs import define, field

from wattzon_async import JobError, WaitPolicy
from wattzon_async._httpx import httpx

from ._control import client_context
from ._handle import Emulator
from ._pdf import text_pdf

if TYPE_CHECKING:
    import ssl

    from wattzon_async import WattzOnClient
    from wattzon_async.models import Job
    from wattzon_async.notifications import ConsumerStats, NotificationConsumer

__all__ = ["run_demo"]

_BILLS = Path(__file__).resolve().parents[2] / "examples" / "bills"
#: Provider of each sample bill, by the start of its file name.
_PROVIDERS = {"pge": 4, "coned": 140, "palo-alto": 3150, "sdge": 27}
#: The fields shown, with their column headers.
_FIELDS = {"Name": "Name", "Account_number": "Account", "Amount_due": "Amount"}
#: The comparison: a brisk fixed schedule, one look a second.
_EVERY_SECOND = WaitPolicy(initial_delay=1.0, max_delay=1.0, multiplier=1.0, jitter=0.0)
_JOB_PATH = re.compile(r"/jobs/\d+/?$")
_WIDTH = 80
_INTRO = """\
WattzOn demo: the SDK against a local emulator (Snap and Link over mutual TLS,
notifications through a real SQS API served by moto). No account, no network."""


class _GetCounter(httpx.AsyncBaseTransport):
    """An mTLS transport that counts one client's ``GET /jobs/{id}`` requests."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=context)
        self.gets = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and _JOB_PATH.search(request.url.path):
            self.gets += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@define
class _Bill:
    """One sample bill, its job and what each way of waiting learned."""

    path: Path
    provider: int
    job_id: int = 0
    ends_at: datetime = field(factory=lambda: datetime.now(UTC))
    status: str = ""
    values: dict[str, str] = field(factory=dict)
    sqs_lag: float = 0.0
    poll_lag: float = 0.0


def _sample_bills(scratch: Path) -> list[_Bill]:
    """The sample bills: ``examples/bills`` when present, else two made on the spot."""
    found: list[Path] = []
    if _BILLS.is_dir():
        found = sorted(p for p in _BILLS.iterdir() if p.suffix.lower() in (".pdf", ".png"))
    if not found:
        for name, lines in (
            ("pge-sample.pdf", ["Pacific Gas and Electric Company", "DAVE SMITH"]),
            ("failed-sample.pdf", ["(unreadable)"]),
        ):
            (scratch / name).write_bytes(text_pdf(lines))
            found.append(scratch / name)
    return [_Bill(path, _provider_for(path)) for path in found]


def _provider_for(path: Path) -> int:
    for prefix, provider in _PROVIDERS.items():
        if path.name.startswith(prefix):
            return provider
    return 4


async def _introduce(client: WattzOnClient, bills: list[_Bill], say: Callable[[str], None]) -> None:
    """Say which providers the bills go to, as Link names them."""
    zipcode = await client.zips.get("94110")
    say(f"Link: zip {zipcode.zipcode} is {zipcode.city}, {zipcode.state}. Each bill goes to")
    say("the provider of its utility:")
    for bill in bills:
        utility = await client.utilities.get(bill.provider)
        say(f"  {bill.path.name:<23} {bill.provider:>4}  {utility.name}")


async def _submit(
    emu: Emulator, client: WattzOnClient, bills: list[_Bill], spread: tuple[float, float]
) -> None:
    """Create a job per bill, each with a known processing time (so its end is known)."""
    low, high = spread
    step = (high - low) / max(1, len(bills) - 1)
    for index, bill in enumerate(bills):
        seconds = low + step * index
        await emu.configure(processing_time=seconds)
        job = await client.jobs.create(
            email="demo@example.com", provider=bill.provider, document=bill.path, tags=["demo"]
        )
        bill.job_id = job.id
        bill.ends_at = job.created_at + timedelta(seconds=seconds)


async def _race(
    bill: _Bill,
    client: WattzOnClient,
    poller: WattzOnClient,
    consumer: NotificationConsumer,
    report: Callable[[_Bill], None],
) -> None:
    """Wait for one job both ways; report it as soon as the SDK's way knows."""

    async def by_sqs() -> None:
        job = await _final(
            client.await_job(bill.job_id, timeout=30, notifications=consumer, results="transformed")
        )
        bill.sqs_lag = _lag(bill.ends_at)
        bill.status, bill.values = str(job.status), job.values()
        report(bill)

    async def by_polling() -> None:
        await _final(poller.await_job(bill.job_id, timeout=30))
        bill.poll_lag = _lag(bill.ends_at)

    await asyncio.gather(by_sqs(), by_polling())


async def _final(waiting: Awaitable[Job]) -> Job:
    try:
        return await waiting
    except JobError as exc:  # FAILED or UNSUPPORTED: still a final state
        return exc.job


def _lag(ends_at: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - ends_at).total_seconds())


def _fields_table(bills: list[_Bill], out: TextIO) -> None:
    headers = ("Bill", "Status", *_FIELDS.values())
    rows = [(b.path.name, b.status, *(b.values.get(n, "-") for n in _FIELDS)) for b in bills]
    try:
        from rich import box
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
        return
    table = Table(
        title="Extracted fields (transformed results)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for header in headers:
        table.add_column(header, overflow="fold")  # wrap a long cell, never cut it
    for row in rows:
        table.add_row(*row)
    width = min(_WIDTH, Console(file=out).width) if out.isatty() else _WIDTH
    Console(file=out, width=width, highlight=False).print(table)


def _race_summary(bills: list[_Bill], sqs_gets: int, poll_gets: int) -> list[str]:
    n = len(bills)
    sqs = statistics.median(b.sqs_lag for b in bills) * 1000
    poll = statistics.median(b.poll_lag for b in bills) * 1000
    return [
        f"The race, over {n} jobs: median time from a job's end until await_job returned.",
        f"  SQS notification racing sparse polls   {sqs:6.0f} ms   {sqs_gets / n:.1f} GETs per job",
        f"  polling every second, alone            {poll:6.0f} ms   "
        f"{poll_gets / n:.1f} GETs per job",
        "A real job takes 30 s or more: polling every second would cost 30 GETs or more",
        "per job; with SQS it stays near 2 (a look at once, one to confirm the message).",
    ]


async def _run(
    bills: list[_Bill],
    processing_time: tuple[float, float],
    say: Callable[[str], None],
    started: float,
) -> tuple[int, int, ConsumerStats]:
    """Start the emulator, submit the bills, race the two ways; GETs of each, SQS stats."""
    emu = Emulator(sqs=True)
    async with emu:
        say(f"Emulator ready in {time.monotonic() - started:.1f} s at {emu.base_url}.")
        context = client_context(emu.ca_cert, emu.client_cert, emu.client_key)
        sqs_gets, poll_gets = _GetCounter(context), _GetCounter(context)
        async with (
            emu.client(transport=sqs_gets) as client,
            emu.client(transport=poll_gets, wait=_EVERY_SECOND) as poller,
            emu.consumer() as consumer,
        ):
            await _introduce(client, bills, say)
            say(f"Submitting {len(bills)} bills; each is waited for by its SQS notification")
            say("racing polls, and for comparison by polling every second alone.")
            await _submit(emu, client, bills, processing_time)
            finished: list[_Bill] = []

            def report(bill: _Bill) -> None:
                finished.append(bill)
                count = f"[{len(finished)}/{len(bills)}]"
                lag = f"{bill.sqs_lag * 1000:.0f} ms after it ended"
                say(f"  {count} {bill.path.name:<24} {bill.status:<9}{lag}")

            await asyncio.gather(*(_race(b, client, poller, consumer, report) for b in bills))
    return sqs_gets.gets, poll_gets.gets, consumer.stats


async def run_demo(
    out: TextIO | None = None, *, processing_time: tuple[float, float] = (1.0, 2.2)
) -> int:
    """Run the demo end to end.

    Args:
        out: Where to print (default: stdout).
        processing_time: The shortest and the longest job; the others are spread between.

    Returns:
        0 when every bill reached its expected final state, 1 otherwise.
    """
    out = out or sys.stdout
    started = time.monotonic()

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say(_INTRO)
    with tempfile.TemporaryDirectory(prefix="wattzon-demo-") as scratch:
        bills = _sample_bills(Path(scratch))
        sqs_gets, poll_gets, stats = await _run(bills, processing_time, say, started)
    _fields_table(bills, out)
    for line in _race_summary(bills, sqs_gets, poll_gets):
        say(line)
    say(
        f"SQS: {stats.received} messages received, {stats.delivered} handed to waiters, "
        f"{stats.deleted} deleted."
    )
    say(f"Done in {time.monotonic() - started:.1f} s.")
    expected = ["FAILED" if b.path.name.startswith("failed") else "COMPLETE" for b in bills]
    return 0 if [b.status for b in bills] == expected else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(run_demo()))
