"""``wattzon emulator --dir`` keeps its jobs and its URLs across a restart; ``--port`` holds.

What the README promises a user who stops the emulator and starts it again with the same
folder: the ``export`` lines printed earlier still work (same ports, same certificates),
every job is still there with its results, a job that was still running finishes and
its notification reaches the queue, and new jobs get new ids.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from wattzon_async import NotificationConsumer, WaitPolicy, WattzOnClient

from .emulator_command import ROOT, emulator_command

pytestmark = pytest.mark.integration

BILL = ROOT / "examples" / "bills" / "pge-2015-11.pdf"
#: Never polls after the first look: a result can come only from the queue.
NEVER = WaitPolicy(initial_delay=3600, max_delay=3600, check_first=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_restart_keeps_jobs_urls_and_owed_notifications(tmp_path: Path) -> None:
    folder = tmp_path / "emulator"
    async with (
        emulator_command(folder, "--processing-time", "0.2") as first,
        WattzOnClient.from_env(first) as client,
    ):
        done = await client.jobs.create(email="user@example.com", provider=4, document=BILL)
        done = await client.await_job(done.id, timeout=30)
    async with (
        emulator_command(folder, "--processing-time", "2") as second,
        WattzOnClient.from_env(second) as client,
    ):
        running = await client.jobs.create(email="user@example.com", provider=4, document=BILL)
    # Stopped while `running` was not finished; started again with the same folder.
    async with (
        emulator_command(folder, "--processing-time", "2") as third,
        WattzOnClient.from_env(third) as client,
        NotificationConsumer.from_env(third) as consumer,
    ):
        assert third == first  # the exports printed before still point at it
        again = await client.jobs.get(done.id, results="transformed")
        assert again.status == "COMPLETE"
        assert again.values()["Name"]
        document = await client.documents.get(done.id)  # from its own file, not the job file
        assert document.content == BILL.read_bytes()
        assert "content" not in (folder / "jobs.jsonl").read_text()
        finished = await client.await_job(
            running.id, timeout=60, notifications=consumer, policy=NEVER
        )
        assert finished.status == "COMPLETE"
        new = await client.jobs.create(email="user@example.com", provider=4, document=BILL)
        assert new.id > running.id > done.id
        listed = {job.id for job in await client.jobs.list()}
        assert {done.id, running.id, new.id} <= listed


async def test_port_flag_sets_the_port(tmp_path: Path) -> None:
    port = free_port()
    async with emulator_command(tmp_path / "e", "--port", str(port), "--no-sqs") as exports:
        assert exports["WATTZON_SNAP_URL"] == f"https://127.0.0.1:{port}/api/v1/"
        async with WattzOnClient.from_env(exports) as client:
            assert await client.jobs.list() == []
