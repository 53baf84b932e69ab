"""Zero configuration against the emulator: what ``wattzon emulator`` prints is enough.

A new user runs ``wattzon emulator``, pastes its ``export`` lines into a shell, and runs
plain code: a ``WattzOnClient.from_env()``, a ``NotificationConsumer(queue_url)`` with no
endpoint, region or credentials (botocore reads them from the printed variables), the
``wattzon`` command. These tests do exactly that, in processes whose environment holds
only what the emulator printed (and no AWS configuration files).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wattzon_async.cli import main
from wattzon_async.emulator import Emulator

from .emulator_command import ROOT, clean_environment, emulator_command

pytestmark = pytest.mark.integration

BILL = ROOT / "examples" / "bills" / "pge-2015-11.pdf"


@pytest.fixture
async def exported(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The exports of a ``wattzon emulator`` running for the test (jobs take 0.2 s)."""
    async with emulator_command(tmp_path / "emulator", "--processing-time", "0.2") as exports:
        yield exports


async def test_emulator_prints_what_botocore_needs(exported: dict[str, str]) -> None:
    assert exported["AWS_ENDPOINT_URL_SQS"] == exported["WATTZON_SQS_ENDPOINT_URL"]
    assert exported["AWS_DEFAULT_REGION"] == "us-east-1"
    assert exported["AWS_ACCESS_KEY_ID"]
    assert exported["AWS_SECRET_ACCESS_KEY"]
    assert exported["WATTZON_SQS_WAIT_TIME_SECONDS"] == "1"


PLAIN_CONSUMER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from wattzon_async import NotificationConsumer, WaitPolicy, WattzOnClient

    NEVER = WaitPolicy(initial_delay=3600, max_delay=3600, check_first=False)

    async def main() -> None:
        queue_url = os.environ["WATTZON_SQS_QUEUE_URL"]
        consumer = NotificationConsumer(queue_url, wait_time_seconds=1)  # nothing else
        if sys.argv[1] == "from_env":
            consumer = NotificationConsumer.from_env(wait_time_seconds=1)
        async with WattzOnClient.from_env() as client, consumer:
            job = await client.jobs.create(
                email="user@example.com", provider=4, document=Path(sys.argv[2])
            )
            done = await client.await_job(
                job.id, timeout=60, notifications=consumer, policy=NEVER
            )
        print(done.status.value, consumer.stats.delivered)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("how", ["plain", "from_env"])
def test_a_consumer_needs_only_the_printed_variables(
    exported: dict[str, str], how: str, tmp_path: Path
) -> None:
    script = tmp_path / "consumer.py"
    script.write_text(PLAIN_CONSUMER)
    done = subprocess.run(
        [sys.executable, str(script), how, str(BILL)],
        capture_output=True,
        text=True,
        env=clean_environment(**exported),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Polling never ran (NEVER): the notification came through the emulator's queue.
    assert done.stdout.split() == ["COMPLETE", "1"]


@pytest.fixture
async def slow_jobs(clean_emulator: Emulator) -> Emulator:
    """The session emulator with 2-second jobs (reset afterwards)."""
    await clean_emulator.configure(processing_time=2.0)
    return clean_emulator


def test_submit_wait_uses_the_queue_when_configured(
    slow_jobs: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in slow_jobs.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WATTZON_KEY_PASSWORD", raising=False)
    # The first poll would come after 60 s, past the 30 s deadline: only the queue can
    # tell the job finished in time.
    code = main(
        [
            "submit",
            str(BILL),
            "--provider",
            "4",
            "--email",
            "user@example.com",
            "--wait",
            "--poll-interval",
            "60",
            "--timeout",
            "30",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    queue = slow_jobs.queue_url
    assert f"wattzon: waiting by SQS notifications from {queue}, racing polls" in captured.err
    assert "1 succeeded, 0 failed" in captured.out
