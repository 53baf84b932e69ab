"""Real processes killed and interrupted mid-batch, then run again until they finish.

``wattzon submit --out`` and ``examples/batch_to_csv.py`` run as subprocesses against the
emulator. Each is SIGKILLed at random points of a 200-bill batch (points chosen by
what its journal holds, awaited, never slept for), rerun until it exits 0, and the
emulator must then hold exactly one job per bill; the same under injected faults.
SIGINT and SIGTERM must stop a run gently: a row for every bill, pending ones with
their job ids, an old results file replaced only by a complete one, and a rerun that
says what it resumes.
"""

from __future__ import annotations

import asyncio
import csv
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from wattzon_async.emulator import Emulator

from .conftest import PDF, child_environ, poll_until, reset_around

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "batch_to_csv.py"
EMAIL = "billing@example.com"
BILLS = 200
FAULTS: dict[str, Any] = {"error_rate": 0.1, "drop_after_create_rate": 0.05}


@pytest_asyncio.fixture
async def emulator(wattzon_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator, reset (its queue purged too) before and after the test."""
    async with reset_around(wattzon_emulator, purge_queue=True) as emu:
        yield emu


def environment(emu: Emulator) -> dict[str, str]:
    return child_environ(emu, WATTZON_SQS_WAIT_TIME_SECONDS="1")


def make_bills(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"bill-{i:03d}.pdf"
        path.write_bytes(PDF + f"% bill {i}\n".encode())
        paths.append(path)
    return paths


def cli_command(bills: list[Path], out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "wattzon_async", "submit", *map(str, bills),
        "--provider", "4", "--email", EMAIL, "--tag", "resume-test",
        "--concurrency", "8", "--out", str(out), *extra,
    ]  # fmt: skip


def example_command(folder: Path, out: Path) -> list[str]:
    return [
        sys.executable, str(EXAMPLE), str(folder), "--out", str(out), "--provider", "4",
        "--email", EMAIL, "--tag", "resume-test", "--concurrency", "8", "--timeout", "60",
    ]  # fmt: skip


def journal_states(journal: Path) -> Counter[str]:
    """Rows of the journal by state, read as another process would (empty while absent)."""
    if not journal.exists():
        return Counter()
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute("SELECT state, count(*) FROM journal_items GROUP BY state")
            return Counter(dict(rows.fetchall()))
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return Counter()


async def start(command: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr, cwd=ROOT
        )


async def run_until_killed(
    command: list[str], env: dict[str, str], journal: Path, log: Path, state: str, count: int
) -> bool:
    """Start the command and SIGKILL it once the journal has ``count`` rows in ``state``.

    Returns:
        True when it was killed, False when it finished first.
    """
    process = await start(command, env, log)

    async def reached() -> bool | None:
        if process.returncode is not None:
            return True
        states = journal_states(journal)
        total = sum(states.values()) if state == "any" else states[state]
        return True if total >= count else None

    try:
        await poll_until(reached, timeout=120, interval=0.005)
    finally:
        killed = process.returncode is None
        if killed:
            process.kill()
        await process.wait()
    return killed


async def run_to_the_end(command: list[str], env: dict[str, str], log: Path) -> int:
    process = await start(command, env, log)
    return await asyncio.wait_for(process.wait(), 300)


async def all_jobs_final(emu: Emulator) -> None:
    """Await every job the emulator made reaching its final state (one notification each)."""

    async def done() -> bool | None:
        stats = await emu.stats()
        return True if stats["notifications_sent"] >= stats["jobs_created"] else None

    await poll_until(done, timeout=60, interval=0.05)


def read_rows(out: Path) -> list[dict[str, str]]:
    with out.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


async def kill_and_rerun(
    emu: Emulator,
    command: list[str],
    journal: Path,
    log: Path,
    kill_points: list[tuple[str, int]],
) -> int:
    """SIGKILL the command at each point, then rerun it until it exits 0; the kills made."""
    env = environment(emu)
    kills = 0
    for state, count in kill_points:
        kills += await run_until_killed(command, env, journal, log, state, count)
        await all_jobs_final(emu)  # waits resume by a GET, not by a notification lost with it
    for _ in range(5):
        if await run_to_the_end(command, env, log) == 0:
            return kills
    raise AssertionError("the batch did not finish in 5 reruns:\n" + log.read_text()[-3000:])


def kill_points(seed: int, states: tuple[str, ...]) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    counts = sorted(rng.sample(range(5, BILLS - 5), len(states)))
    return list(zip(states, counts, strict=True))


def assert_one_job_per_bill(rows: list[dict[str, str]], bills: list[Path]) -> None:
    assert len(rows) == BILLS
    files = [Path(row["file"]).name for row in rows]
    assert sorted(files) == sorted(p.name for p in bills)  # every bill, none twice
    ids = [row["job_id"] for row in rows]
    assert all(ids), [row for row in rows if not row["job_id"]]
    assert len(set(ids)) == BILLS


@pytest.mark.parametrize("faults", [None, FAULTS], ids=["clean", "faults"])
async def test_sigkilled_cli_reruns_to_exactly_one_job_per_bill(
    emulator: Emulator, tmp_path: Path, faults: dict[str, Any] | None
) -> None:
    if faults:
        await emulator.set_faults(**faults, seed=5)
    bills = make_bills(tmp_path / "bills", BILLS)
    out = tmp_path / "results.csv"
    seed = random.randrange(1 << 30)
    points = kill_points(seed, ("any", "created"))  # a first run, then a resumed one
    log = tmp_path / "stderr.log"
    kills = await kill_and_rerun(
        emulator, cli_command(bills, out), Path(f"{out}.journal"), log, points
    )
    rows = read_rows(out)
    assert_one_job_per_bill(rows, bills)
    await emulator.set_faults()
    stats = await emulator.stats()
    assert stats["jobs_created"] == BILLS, (seed, points, kills)
    assert kills >= 1, (seed, points)
    assert "resuming from" in log.read_text()


@pytest.mark.parametrize("faults", [None, FAULTS], ids=["clean", "faults"])
async def test_sigkilled_example_reruns_to_exactly_one_job_per_bill(
    emulator: Emulator, tmp_path: Path, faults: dict[str, Any] | None
) -> None:
    if faults:
        await emulator.set_faults(**faults, seed=7)
    bills = make_bills(tmp_path / "bills", BILLS)
    out = tmp_path / "results.csv"
    seed = random.randrange(1 << 30)
    points = kill_points(seed, ("any", "created", "final"))
    log = tmp_path / "stderr.log"
    command = example_command(tmp_path / "bills", out)
    kills = await kill_and_rerun(emulator, command, Path(f"{out}.journal"), log, points)
    rows = read_rows(out)
    assert_one_job_per_bill(rows, bills)
    assert {row["status"] for row in rows} == {"COMPLETE"}
    assert all(row["Name"] for row in rows)  # transformed fields, read back for every bill
    await emulator.set_faults()
    stats = await emulator.stats()
    assert stats["jobs_created"] == BILLS, (seed, points, kills)
    assert kills >= 1, (seed, points)


SIGNALS = ["SIGINT", "SIGTERM"]


async def interrupt_when_waiting(
    command: list[str], env: dict[str, str], journal: Path, log: Path, name: str, created: int
) -> int:
    """Start the command, send signal ``name`` once ``created`` jobs exist; its exit code."""
    process = await start(command, env, log)

    async def enough() -> bool | None:
        return True if journal_states(journal)["created"] >= created else None

    await poll_until(enough, timeout=60, interval=0.005)
    process.send_signal(signal.Signals[name])
    return await asyncio.wait_for(process.wait(), 60)


@pytest.mark.parametrize("name", SIGNALS)
async def test_a_signal_stops_the_cli_gently_and_a_rerun_resumes(
    emulator: Emulator, tmp_path: Path, name: str
) -> None:
    await emulator.configure(processing_time=(1.5, 2.5))  # jobs still running at the signal
    bills = make_bills(tmp_path / "bills", 30)
    out = tmp_path / "results.csv"
    out.write_text("file,job_id,status,error\nolder.pdf,1,COMPLETE,\n")
    journal = Path(f"{out}.journal")
    log = tmp_path / "stderr.log"
    command = cli_command(bills, out, "--wait", "--poll-interval", "0.2", "--concurrency", "4")
    env = environment(emulator)

    code = await interrupt_when_waiting(command, env, journal, log, name, 8)

    assert code == 130, log.read_text()
    rows = read_rows(out)
    assert [Path(row["file"]).name for row in rows] == [p.name for p in bills]
    statuses = Counter(row["status"] for row in rows)
    assert statuses["PENDING"] >= 1, statuses
    assert set(statuses) <= {"PENDING", "NOT SUBMITTED", "COMPLETE"}, statuses
    for row in rows:
        assert bool(row["job_id"]) == (row["status"] != "NOT SUBMITTED"), row
    text = log.read_text()
    assert f"{name}: stopping" in text
    assert "Run the same command again to resume" in text
    created = (await emulator.stats())["jobs_created"]
    assert created == sum(1 for row in rows if row["job_id"])

    assert await run_to_the_end(command, env, log) == 0
    done, pending = statuses["COMPLETE"], statuses["PENDING"]
    unsent = statuses["NOT SUBMITTED"]
    # jobs that finished meanwhile are waited for too: a rerun cannot know without a GET
    assert f"resuming from {journal}: {done} done, {pending} waiting, {unsent} to submit" in (
        log.read_text()
    )
    assert {row["status"] for row in read_rows(out)} == {"COMPLETE"}
    assert (await emulator.stats())["jobs_created"] == 30


async def test_sigterm_stops_the_example_gently(emulator: Emulator, tmp_path: Path) -> None:
    name = "SIGTERM"  # what Kubernetes and systemd send; Ctrl-C takes the same path
    await emulator.configure(processing_time=(1.5, 2.5))
    bills = make_bills(tmp_path / "bills", 30)
    out = tmp_path / "results.csv"
    out.write_text("file,job_id,status,error\nolder.pdf,1,COMPLETE,\n")
    log = tmp_path / "stderr.log"
    command = example_command(tmp_path / "bills", out)
    env = environment(emulator)

    code = await interrupt_when_waiting(command, env, Path(f"{out}.journal"), log, name, 8)

    assert code == 130, log.read_text()
    rows = read_rows(out)
    assert [row["file"] for row in rows] == [p.name for p in bills]
    pending = [row for row in rows if row["status"] == "PENDING"]
    assert pending
    assert all(row["job_id"] for row in pending)
    assert f"Stopped by {name}" in log.read_text()
    assert await run_to_the_end(command, env, log) == 0
    assert {row["status"] for row in read_rows(out)} == {"COMPLETE"}
    assert (await emulator.stats())["jobs_created"] == 30
