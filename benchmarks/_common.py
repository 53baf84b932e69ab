"""What every benchmark shares: settings, statistics, rows of the table, and helpers.

Every figure in the table is a ratio (or a latency measured against a time the emulator
reports) of two things measured in the same run against the same emulator, with the
two sides alternated (A B B A ...) so that drift on a noisy machine hits both alike.
"""

from __future__ import annotations

import math
import os
import random
import ssl
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wattzon_async import Submission, WattzOnClient
from wattzon_async._httpx import httpx

__all__ = [
    "EMAIL",
    "PROVIDER",
    "ROOT",
    "BenchResult",
    "Row",
    "Settings",
    "child_environment",
    "chunks",
    "document",
    "median",
    "percentile",
    "python",
    "raw_client",
    "render_markdown",
    "render_table",
    "requests_to",
    "run_concurrently",
    "side_order",
    "sqs_settings",
    "ssl_context",
    "timed",
]

#: The repository root (the directory holding ``benchmarks/``).
ROOT = Path(__file__).resolve().parents[1]
EMAIL = "bench@example.com"
PROVIDER = 4


@dataclass(frozen=True)
class Settings:
    """The sizes of one run: the full run, or ``--quick`` for a smoke test."""

    quick: bool = False
    overhead_calls: int = 2000
    overhead_block: int = 100
    overhead_concurrencies: tuple[int, ...] = (1, 16, 64)
    upload_count: int = 32
    upload_size: int = 4_500_000
    upload_rounds: int = 3
    completion_jobs: int = 200
    completion_rounds: int = 1
    completion_spread: tuple[float, float] = (1.0, 3.0)
    ratelimit_submissions: int = 1000
    ratelimit_concurrency: int = 64
    ratelimit_rps: float = 50.0
    ratelimit_naive_wait: float = 1.0
    ratelimit_rounds: int = 2
    import_samples: int = 15
    stop_samples: int = 10
    journal_bills: int = 1000
    journal_rounds: int = 6
    processes_counts: tuple[int, ...] = (1, 4, 8)
    processes_bills: int = 100
    processes_concurrency: int = 16
    processes_rps: float = 40.0
    processes_rounds: int = 3
    waits_jobs: int = 2000
    sqs_messages: int = 1000
    fleet_creates: int = 300
    fleet_rounds: int = 4
    fleet_jobs: int = 100
    fleet_batch: int = 1000

    @classmethod
    def for_run(cls, quick: bool) -> Settings:
        """The full settings, or the quick ones."""
        if not quick:
            return cls()
        return cls(
            quick=True,
            overhead_calls=300,
            overhead_block=50,
            upload_count=8,
            upload_rounds=1,
            completion_jobs=30,
            ratelimit_submissions=150,
            ratelimit_rps=30.0,
            ratelimit_rounds=1,
            import_samples=5,
            stop_samples=3,
            journal_bills=150,
            journal_rounds=2,
            processes_counts=(1, 4),
            processes_bills=30,
            processes_rounds=1,
            waits_jobs=200,
            sqs_messages=200,
            fleet_creates=60,
            fleet_rounds=2,
            fleet_jobs=40,
            fleet_batch=200,
        )


@dataclass
class Row:
    """One line of the table: a measured figure, its target, and how it was measured.

    Attributes:
        bench: The benchmark's number and name, e.g. ``"1. Request overhead"``.
        metric: What the figure is.
        value: The figure.
        unit: How to print it: ``"x"`` (ratio), ``"%"`` (a fraction shown as a percentage),
            ``"ms"`` (seconds shown in milliseconds) or ``""`` (a plain number).
        target: The target as text (``"<= 1.05"``), or ``""`` when the row only reports.
        limit: The target's number, when there is one.
        higher_is_better: Whether the target is a floor (``>=``) rather than a ceiling.
        detail: The two sides measured, for the reader.
    """

    bench: str
    metric: str
    value: float
    unit: str = "x"
    limit: float | None = None
    higher_is_better: bool = False
    detail: str = ""

    @property
    def target(self) -> str:
        """The target as text."""
        if self.limit is None:
            return ""
        op = ">=" if self.higher_is_better else "<="
        return f"{op} {_format(self.limit, self.unit)}"

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None: no target)."""
        if self.limit is None or math.isnan(self.value):
            return None if self.limit is None else False
        if self.higher_is_better:
            return self.value >= self.limit
        return self.value <= self.limit

    def to_json(self) -> dict[str, Any]:
        """The row as JSON, with its verdict."""
        data = asdict(self)
        data["target"] = self.target
        data["met"] = self.met
        data["shown"] = _format(self.value, self.unit)
        return data


@dataclass
class BenchResult:
    """What one benchmark produced: its rows, and the raw measurements behind them."""

    name: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _format(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "x":
        return f"{value:.3f}"
    if unit == "%":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f}"


def render_table(rows: Sequence[Row]) -> list[list[str]]:
    """The table's cells, a header row first."""
    cells = [["Benchmark", "Metric", "Result", "Target", "Status", "Measured"]]
    for row in rows:
        verdict = {True: "met", False: "MISSED", None: "(report)"}[row.met]
        cells.append(
            [row.bench, row.metric, _format(row.value, row.unit), row.target, verdict, row.detail]
        )
    return cells


def render_markdown(rows: Sequence[Row]) -> str:
    """The table as Markdown."""
    cells = render_table(rows)
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in line) + " |" for line in cells[1:]]
    return "\n".join(lines)


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def side_order(block: int) -> tuple[bool, bool]:
    """A B B A A B B A ...: whether the SDK side goes first in block ``block``."""
    first = block % 4 in (0, 3)
    return (first, not first)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    """Seconds ``call`` took."""
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def run_concurrently(
    call: Callable[[], Awaitable[object]], count: int, concurrency: int
) -> None:
    """Make ``count`` calls, at most ``concurrency`` at once (a worker pool)."""
    import asyncio

    remaining = iter(range(count))

    async def worker() -> None:
        for _ in remaining:
            await call()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


#: One GET of the same job: the unit both sides of an overhead ratio repeat.
Call = Callable[[], Awaitable[None]]
ACCEPT_JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class FinishedJobGets:
    """A COMPLETE job, and its GET through the SDK and through raw httpx."""

    job_id: int
    url: str
    sdk: Call
    raw: Call


async def finished_job_gets(
    emu: Any, client: WattzOnClient, raw: httpx.AsyncClient
) -> FinishedJobGets:
    """Make a COMPLETE job; its GET through the SDK, and through raw httpx (GET, status, json).

    Sets a long processing time afterwards, so that nothing else finishes while the two
    sides are timed.
    """
    from wattzon_async import WaitPolicy

    await emu.configure(processing_time=0.0)
    job = await client.jobs.create(
        email=EMAIL, provider=PROVIDER, document=document(20_000, 1), name="bill.pdf"
    )
    await emu.configure(processing_time=3600.0)
    await client.await_job(job.id, timeout=30, policy=WaitPolicy(initial_delay=0.05))
    url = f"{emu.snap_url}jobs/{job.id}/"

    async def sdk_call() -> None:
        await client.jobs.get(job.id)

    async def raw_call() -> None:
        response = await raw.get(url, headers=ACCEPT_JSON)
        response.raise_for_status()
        response.json()

    return FinishedJobGets(job.id, url, sdk_call, raw_call)


def raw_client(client: WattzOnClient, *, timeout: float = 120.0) -> httpx.AsyncClient:
    """A bare httpx client with the SDK client's SSLContext and connection pool limits."""
    connections = client.config.max_connections
    return httpx.AsyncClient(
        verify=client.ssl_context,
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=min(connections, 20)
        ),
        timeout=timeout,
        follow_redirects=False,
    )


def ssl_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """A client SSLContext from PEM files (for code that must not build an SDK client)."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context


def document(size: int, seed: int) -> bytes:
    """``size`` bytes that look like a PDF (a header, then seeded random bytes)."""
    header = b"%PDF-1.4\n"
    return header + random.Random(seed).randbytes(max(0, size - len(header)))


def requests_to(stats: Mapping[str, Any], prefix: str) -> int:
    """How many requests the emulator counted for endpoints starting with ``prefix``."""
    per_endpoint: Mapping[str, Mapping[str, int]] = stats.get("requests", {})
    return sum(
        sum(statuses.values())
        for endpoint, statuses in per_endpoint.items()
        if endpoint.startswith(prefix)
    )


def sqs_settings(emu: Any) -> dict[str, Any]:
    """Client settings for the emulator's SQS, from the variables it exports."""
    env = emu.environ()
    return {
        "region_name": env["AWS_DEFAULT_REGION"],
        "endpoint_url": env["AWS_ENDPOINT_URL_SQS"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def child_environment() -> dict[str, str]:
    """The environment for a child Python: ours, with the repository root on the path."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = (path + os.pathsep if path else "") + str(ROOT)
    return env


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def python() -> str:
    """The interpreter running the benchmarks (children use the same one)."""
    return sys.executable


async def released_together(
    module: str, config: Mapping[str, Any], count: int, timeout: float
) -> tuple[float, list[dict[str, Any]]]:
    """Start ``count`` children ``python -m module CONFIG``, release them at once, read reports.

    Each child prints ``ready`` once it is set up and waits for a line on stdin; all are then
    told to go together. Returns the wall-clock time of the release and each child's last
    line of output, parsed as JSON.
    """
    import asyncio
    import json

    children = [
        await asyncio.create_subprocess_exec(
            python(),
            "-m",
            module,
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=child_environment(),
        )
        for _ in range(count)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), timeout)
            if line.strip() != b"ready":
                raise RuntimeError(f"a benchmark child did not start: {line!r}")
        go = time.time()
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            await child.stdin.drain()
        outputs = await asyncio.wait_for(
            asyncio.gather(*(child.communicate() for child in children)), timeout
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    return go, [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]


async def batch_when_released(
    client: WattzOnClient, submissions: Sequence[Submission], **options: Any
) -> dict[str, Any]:
    """The child's side of :func:`released_together`: ready, wait for go, run, tally.

    Returns what the parent reads: bills ``ok`` and ``failed``, up to three errors, and the
    wall-clock time the batch ``finished``.
    """
    import asyncio

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    ok = failed = 0
    errors: list[str] = []
    async for outcome in client.jobs.submit_many(submissions, **options):
        if outcome.ok:
            ok += 1
        else:
            failed += 1
            if len(errors) < 3:
                errors.append(repr(outcome.error))
    return {"ok": ok, "failed": failed, "errors": errors, "finished": time.time()}
