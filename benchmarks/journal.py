"""7. Durable batches: what a journal costs a batch, and what a rerun of a finished one sends.

* Wall time: the same 1,000 bills (small distinct files on disk) submitted with
  ``submit_many(concurrency=16)``, with ``journal=`` (a new journal each time: every
  document hashed, every key claimed before its upload, every job recorded after it)
  and without. The two sides alternate (A B B A ...); the figure is the ratio of
  the two medians (each run's pair ratio is in the details: on a shared machine a
  single pair moves by +-30%). Submitting only (no waits) is where the journal weighs
  most: with waits it is the same cost over a longer run. The client's own CPU time in
  the same runs (the emulator works in its own process) is reported beside it: it
  moves far less with the machine's load.
* Requests of a rerun: a 1,000-bill journaled batch is run to the end (waiting for
  every job), then run again with the same journal, once without waiting (no request
  is needed) and once waiting for results (one GET per bill is the most allowed). The
  emulator counts the requests.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from wattzon_async import RateLimitPolicy, Submission, WaitPolicy, WattzOnClient
from wattzon_async.emulator import Emulator

from ._common import EMAIL, PROVIDER, BenchResult, Row, Settings, document, median, side_order

__all__ = ["run"]

NAME = "7. Durable batches"
_WALL_TARGET = 1.05
_CONCURRENCY = 16
_SIZE = 20_000


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure the journal's cost in wall time, then the requests of reruns."""
    result = BenchResult(NAME)
    folder = Path(tempfile.mkdtemp(prefix="wattzon-bench-journal-"))
    try:
        subs = _bills(folder / "bills", settings.journal_bills)
        await _wall_time(emu, settings, subs, folder, result)
        await _reruns(emu, subs, folder, result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def _bills(folder: Path, count: int) -> list[Submission]:
    folder.mkdir(parents=True)
    subs = []
    for i in range(count):
        path = folder / f"bill-{i:05d}.pdf"
        path.write_bytes(document(_SIZE, seed=i))
        subs.append(Submission(email=EMAIL, provider=PROVIDER, document=path))
    return subs


async def _batch(
    client: WattzOnClient, subs: list[Submission], **options: Any
) -> tuple[float, float]:
    """Run a batch to the end: its wall time and this process's CPU time, in seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    failed = 0
    async for outcome in client.jobs.submit_many(subs, concurrency=_CONCURRENCY, **options):
        failed += not outcome.ok
    if failed:
        raise RuntimeError(f"{failed} submissions failed")
    return time.perf_counter() - started, time.process_time() - cpu


async def _wall_time(
    emu: Emulator, settings: Settings, subs: list[Submission], folder: Path, result: BenchResult
) -> None:
    times: dict[str, list[float]] = {"journal": [], "plain": []}
    cpu: dict[str, list[float]] = {"journal": [], "plain": []}
    async with emu.client() as client:
        await _batch(client, subs[:50])  # connections, imports and caches warm for both
        for pair in range(settings.journal_rounds):
            journal_first, _ = side_order(pair)
            for side in ("journal", "plain") if journal_first else ("plain", "journal"):
                await emu.reset()
                await emu.configure(processing_time=3600.0)
                path = folder / f"wall-{pair}.journal"
                options = {"journal": path} if side == "journal" else {}
                wall, used = await _batch(client, subs, **options)
                times[side].append(wall)
                cpu[side].append(used)
    ratios = [j / p for j, p in zip(times["journal"], times["plain"], strict=True)]
    result.details.update(wall_seconds=times, cpu_seconds=cpu, pair_ratios=ratios)
    result.rows.append(
        Row(
            NAME,
            f"Wall time, journaled / plain batch ({len(subs)} bills, concurrency {_CONCURRENCY}, "
            "submit only)",
            median(times["journal"]) / median(times["plain"]),
            limit=_WALL_TARGET,
            detail=f"median journal {median(times['journal']):.2f} s, plain "
            f"{median(times['plain']):.2f} s over {len(ratios)} alternated pairs; pair ratios "
            f"{', '.join(f'{r:.2f}' for r in ratios)}",
        )
    )
    result.rows.append(
        Row(
            NAME,
            "Client CPU time, journaled / plain batch (the same runs)",
            median(cpu["journal"]) / median(cpu["plain"]),
            detail=f"median journal {median(cpu['journal']):.2f} s, plain "
            f"{median(cpu['plain']):.2f} s of this process (hashing, SQLite thread included)",
        )
    )


async def _reruns(emu: Emulator, subs: list[Submission], folder: Path, result: BenchResult) -> None:
    journal = folder / "rerun.journal"
    await emu.reset()
    await emu.configure(processing_time=0.05)
    fast = {
        "wait": WaitPolicy(initial_delay=0.1, max_delay=0.5),
        "rate_limit": RateLimitPolicy(poll_rate=500.0),
    }
    async with emu.client(**fast) as client:
        await _batch(client, subs, wait=True, timeout=300, journal=journal)
        counts = {}
        for label, options in (("plain", {}), ("results", {"wait": True, "timeout": 300})):
            before = await emu.stats()
            await _batch(client, subs, journal=journal, **options)
            after = await emu.stats()
            counts[label] = _delta(before["requests"], after["requests"])
    result.details["rerun_requests"] = counts
    n = len(subs)
    result.rows.append(
        Row(
            NAME,
            f"Requests sent by a rerun of a finished {n}-bill batch, without results",
            sum(counts["plain"].values()),
            unit="",
            limit=0.0,
            detail=_detail(counts["plain"]),
        )
    )
    gets = sum(v for k, v in counts["results"].items() if k.startswith("GET"))
    result.rows.append(
        Row(
            NAME,
            f"Requests per bill of a rerun of a finished {n}-bill batch, with results",
            sum(counts["results"].values()) / n,
            unit="",
            limit=1.0,
            detail=f"{gets} GETs for {n} bills; {_detail(counts['results'])}",
        )
    )


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, int]:
    """Requests per endpoint made between two snapshots of the emulator's counters."""
    return {
        endpoint: sum(statuses.values()) - sum(before.get(endpoint, {}).values())
        for endpoint, statuses in after.items()
        if sum(statuses.values()) != sum(before.get(endpoint, {}).values())
    }


def _detail(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {endpoint}" for endpoint, n in sorted(counts.items())) or "none"
