"""One batch split across processes through a journal URL: SQLite file and PostgreSQL.

Three worker processes run the same 60-bill batch with one journal and share it out by
their claims: every bill is submitted exactly once. One worker SIGKILLed mid-batch
leaves its claims to the others, which finish its share. A rerun afterwards reports
every bill from the journal without a single request.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import fresh_database
from tests.postgres import PASSWORD, PostgresServer
from wattzon_async import Submission
from wattzon_async.emulator import Emulator

from .conftest import PDF, child_environ, empty_store_url

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("store_batch.py")
ROOT = Path(__file__).resolve().parents[2]
BILLS = 60


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await empty_store_url(request, tmp_path / "batch.journal", "?batch=march-bills")


@pytest.fixture
def bills(tmp_path: Path) -> Path:
    folder = tmp_path / "bills"
    folder.mkdir()
    for i in range(BILLS):
        (folder / f"bill-{i:03d}.pdf").write_bytes(PDF + f"% bill {i}\n".encode())
    return folder


def read_ids(out: Path) -> dict[str, str]:
    with out.open(encoding="utf-8", newline="") as file:
        return {row["file"]: row["job_id"] for row in csv.DictReader(file)}


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.created = 0

    @classmethod
    async def start(cls, emu: Emulator, bills: Path, journal: str, go: Path) -> Worker:
        env = child_environ(emu)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), str(bills), journal, str(go),
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def line(self) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), 300)).decode().strip()

    async def until_created(self, count: int) -> None:
        while self.created < count:
            line = await self.line()
            assert line.startswith("created "), line
            self.created += 1

    async def result(self) -> dict[str, Any]:
        while (line := await self.line()).startswith("created "):
            pass
        assert await asyncio.wait_for(self.process.wait(), 60) == 0
        outcome: dict[str, Any] = json.loads(line)
        return outcome


async def test_workers_share_a_batch_and_finish_a_killed_ones_share(
    emulator: Emulator, bills: Path, journal_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    workers = [await Worker.start(emulator, bills, journal_url, go) for _ in range(3)]
    assert [await w.line() for w in workers] == ["ready"] * 3
    go.touch()
    await workers[0].until_created(10)
    workers[0].process.kill()  # mid-batch: its claims in flight are left behind
    await workers[0].process.wait()
    results = [await w.result() for w in workers[1:]]
    for result in results:
        assert sorted(result["jobs"]) == sorted(p.name for p in bills.iterdir())
        assert all(isinstance(job, int) for job in result["jobs"].values()), result
    assert results[0]["jobs"] == results[1]["jobs"]  # one job per bill, the same for both
    assert len(set(results[0]["jobs"].values())) == BILLS
    assert (await emulator.stats())["jobs_created"] == BILLS

    before = await emulator.stats()
    rerun = await Worker.start(emulator, bills, journal_url, go)
    assert await rerun.line() == "ready"
    again = await rerun.result()
    assert again["jobs"] == results[0]["jobs"]
    assert again["resume"].startswith(f"{BILLS} done")
    assert (await emulator.stats())["requests"] == before["requests"]  # not one request


async def test_the_cli_shares_a_batch_through_a_postgresql_journal(
    emulator: Emulator, bills: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    journal = await fresh_database(postgres_server) + "?batch=cli"
    env = child_environ(emulator)
    files = sorted(str(p) for p in bills.iterdir())

    async def run(out: Path) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wattzon_async", "submit", *files, "--provider", "4",
            "--email", "fleet@example.com", "--concurrency", "4", "--out", str(out),
            "--journal", journal,
            env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 300)
        return await process.wait(), stderr.decode()

    outs = [tmp_path / "a.csv", tmp_path / "b.csv"]
    (code_a, err_a), (code_b, err_b) = await asyncio.gather(*(run(out) for out in outs))
    assert (code_a, code_b) == (0, 0), err_a + err_b
    tables = [read_ids(out) for out in outs]
    assert tables[0] == tables[1]
    assert len(set(tables[0].values())) == BILLS
    assert (await emulator.stats())["jobs_created"] == BILLS
    (code, again) = await run(tmp_path / "c.csv")
    assert code == 0
    assert "resuming from postgresql://wattzon:***@" in again
    assert f"{BILLS} done" in again
    assert PASSWORD not in err_a + err_b + again


async def test_a_postgresql_restart_mid_batch_loses_and_duplicates_nothing(
    emulator: Emulator, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wattzon_async.store")
    await emulator.set_faults(latency=0.05)  # the batch outlasts the restart
    journal = await fresh_database(postgres_server) + "?batch=restart"
    count = 200
    submissions = [
        Submission(
            email="fleet@example.com",
            provider=4,
            document=PDF + f"% restart {i}\n".encode(),
            name=f"r-{i:03d}.pdf",
        )
        for i in range(count)
    ]
    outcomes = []
    restart: asyncio.Task[None] | None = None
    async with emulator.client() as client:
        run = client.jobs.submit_many(submissions, concurrency=8, journal=journal)
        try:
            async for outcome in run:
                outcomes.append(outcome)
                if len(outcomes) == 50:  # the server goes away under the batch, and returns
                    restart = asyncio.create_task(asyncio.to_thread(postgres_server.restart))
        finally:
            await run.aclose()
    assert restart is not None
    await restart
    assert [o.error for o in outcomes if not o.ok] == []
    assert len({o.job.id for o in outcomes if o.job}) == count
    assert (await emulator.stats())["jobs_created"] == count
    assert "the connection was lost; trying again" in caplog.text  # it did go away
