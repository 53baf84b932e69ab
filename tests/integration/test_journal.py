"""Journaled batches against the emulator: interrupted runs, faults, processes sharing a journal.

Every test counts jobs on the emulator itself (its ``jobs_created`` counter after a
reset, and a look-up of each bill's tag), so a duplicate anywhere fails it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from wattzon_async import BatchProgress, ResumeSummary, Submission, WattzOnClient
from wattzon_async.emulator import Emulator

from .conftest import PDF

pytestmark = pytest.mark.integration

EMAIL = "billing@example.com"


def make_bills(folder: Path, count: int) -> list[Path]:
    """``count`` distinct small PDFs (distinct content: distinct bills)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"bill-{i:03d}.pdf"
        path.write_bytes(PDF + f"% bill {i}\n".encode())
        paths.append(path)
    return paths


def submissions(paths: list[Path], tag: str) -> list[Submission]:
    return [Submission(email=EMAIL, provider=4, document=p, tags=[tag]) for p in paths]


async def interrupted_run(
    client: WattzOnClient, subs: list[Submission], journal: Path, after: int
) -> int:
    """Run the batch and cancel it once ``after`` outcomes came; return how many came."""
    seen = 0
    batch = client.jobs.submit_many(subs, concurrency=8, wait=True, timeout=60, journal=journal)
    try:
        async for _ in batch:
            seen += 1
            if seen >= after:
                break
    finally:
        await batch.aclose()
    return seen


async def test_an_interrupted_batch_under_faults_makes_one_job_per_bill(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    await clean_emulator.set_faults(error_rate=0.1, drop_after_create_rate=0.05, seed=11)
    subs = submissions(make_bills(tmp_path / "bills", 60), "journal-faults")
    journal = tmp_path / "batch.journal"
    async with clean_emulator.client() as client:
        for after in (7, 25):
            await interrupted_run(client, subs, journal, after)
        outcomes = []
        progress: list[BatchProgress] = []
        async for outcome in client.jobs.submit_many(
            subs,
            concurrency=8,
            wait=True,
            timeout=60,
            journal=journal,
            on_progress=progress.append,
        ):
            outcomes.append(outcome)
        resume = progress[0].resume
        assert resume is not None
        assert resume.resuming
        assert resume.done + resume.waiting + resume.unsure + resume.to_submit == 60
        assert len(outcomes) == 60
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if o.error]
        ids = [o.job.id for o in outcomes if o.job is not None]
        assert len(set(ids)) == 60
        await clean_emulator.set_faults()
        stats = await clean_emulator.stats()
        assert stats["jobs_created"] == 60
        for outcome in outcomes[:10]:
            assert outcome.job is not None
            tag = next(t for t in outcome.job.tags if t.startswith("idem:"))
            assert [j.id for j in await client.jobs.list(tag=tag)] == [outcome.job.id]


async def test_a_rerun_of_a_finished_batch_makes_no_request(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    subs = submissions(make_bills(tmp_path / "bills", 20), "journal-rerun")
    journal = tmp_path / "batch.journal"
    async with clean_emulator.client() as client:
        first = [o async for o in client.jobs.submit_many(subs, journal=journal)]
        before = await clean_emulator.stats()
        progress: list[BatchProgress] = []
        again = [
            o
            async for o in client.jobs.submit_many(
                subs, journal=journal, on_progress=progress.append
            )
        ]
        after = await clean_emulator.stats()
    assert after["requests"] == before["requests"]  # not one API request
    assert progress[0].resume == ResumeSummary(done=20)
    assert sorted(o.job.id for o in again if o.job) == sorted(o.job.id for o in first if o.job)


SHARED = """
import asyncio, sys
from pathlib import Path
from wattzon_async import Submission, WattzOnClient

async def main():
    paths = sorted(Path(sys.argv[1]).glob("*.pdf"))
    subs = [Submission(email="billing@example.com", provider=4, document=p) for p in paths]
    async with WattzOnClient.from_env() as client:
        ok = 0
        async for outcome in client.jobs.submit_many(subs, concurrency=4, journal=sys.argv[2]):
            ok += outcome.ok
    print(ok)

asyncio.run(main())
"""


async def test_processes_sharing_a_journal_send_each_bill_once(
    clean_emulator: Emulator, tmp_path: Path
) -> None:
    emu = clean_emulator
    make_bills(tmp_path / "bills", 40)
    env = {
        **os.environ,
        "WATTZON_CERT": str(emu.client_cert),
        "WATTZON_KEY": str(emu.client_key),
        "WATTZON_CA_BUNDLE": str(emu.ca_cert),
        "WATTZON_SNAP_URL": emu.snap_url,
        "WATTZON_LINK_URL": emu.link_url,
    }
    env.pop("WATTZON_KEY_PASSWORD", None)
    argv = ("-c", SHARED, str(tmp_path / "bills"), str(tmp_path / "shared.journal"))
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, *argv, env=env, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = [await p.communicate() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0]
    assert [int(out) for out, _ in outputs] == [40, 40, 40]  # each reports every bill
    assert (await emu.stats())["jobs_created"] == 40
