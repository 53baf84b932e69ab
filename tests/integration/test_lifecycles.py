"""Processes that use a NotificationConsumer stop at once, whatever their long poll.

The SQS worker and the FastAPI app run as real subprocesses against the session emulator
with a 20-second long poll, and are stopped by a signal the way a terminal or a process
manager stops them. Instead of timing the stop, each test checks that the consumer
cancelled the poll in flight rather than waiting it out, and that nothing was lost.

Each test reads a queue of its own on the emulator's moto server: a cancelled long poll
can still take a message that arrives before its wait time ends (as SQS does), and such
a message must not be one that another test waits for.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wattzon_async.emulator import Emulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: Show INFO records of every logger on stderr (uvicorn's own config shows only its own).
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
}


@pytest.fixture
async def own_queue(wattzon_emulator: Emulator) -> AsyncIterator[tuple[str, Any]]:
    """A fresh queue on the emulator's SQS server: its URL and a client to use it."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    env = wattzon_emulator.environ()
    async with get_session().create_client(
        "sqs",
        region_name=env["AWS_DEFAULT_REGION"],
        endpoint_url=env["AWS_ENDPOINT_URL_SQS"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ) as sqs:
        reply = await sqs.create_queue(QueueName=f"lifecycle-{uuid.uuid4().hex[:12]}")
        url = reply["QueueUrl"]
        try:
            yield url, sqs
        finally:
            await sqs.delete_queue(QueueUrl=url)


def environment(emulator: Emulator, queue_url: str) -> dict[str, str]:
    return {
        **os.environ,
        **emulator.environ(),
        "WATTZON_SQS_QUEUE_URL": queue_url,
        "WATTZON_SQS_WAIT_TIME_SECONDS": "20",
        "PYTHONPATH": str(ROOT),
    }


async def read_until(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    """Read lines into ``seen`` until one contains ``text`` (fails at end of stream)."""
    async with asyncio.timeout(60):
        while True:
            line = (await stream.readline()).decode()
            assert line, f"the process ended before printing {text!r}: {''.join(seen)}"
            seen.append(line)
            if text in line:
                return


async def stop(process: asyncio.subprocess.Process, signum: int, seen: list[str]) -> str:
    """Send ``signum``, wait for the exit, return everything the process wrote to stderr."""
    process.send_signal(signum)
    async with asyncio.timeout(60):
        _, rest = await process.communicate()
    return "".join(seen) + rest.decode()


async def test_sqs_worker_stops_on_sigterm_without_waiting_out_its_poll(
    wattzon_emulator: Emulator, own_queue: tuple[str, Any], tmp_path: Path
) -> None:
    queue_url, sqs = own_queue
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "sqs_worker.py"),
        "--db",
        str(tmp_path / "results.sqlite"),
        stderr=asyncio.subprocess.PIPE,
        env=environment(wattzon_emulator, queue_url),
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        await read_until(process.stderr, "worker started", seen)
        link = {"app": "link", "job_id": "lifecycle-1", "profile_id": "1001"}
        await sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(link))
        # The handler runs once the next long poll has been started.
        await read_until(process.stderr, "Link job lifecycle-1: 3 bill(s)", seen)
    finally:
        output = await stop(process, signal.SIGTERM, seen)
    assert process.returncode == 0, output
    assert "polls_cancelled=1" in output
    assert "deleted=1" in output  # the handled message, and nothing else


async def test_fastapi_app_stops_on_ctrl_c_without_waiting_out_its_poll(
    wattzon_emulator: Emulator, own_queue: tuple[str, Any], tmp_path: Path
) -> None:
    queue_url, _ = own_queue
    log_config = tmp_path / "logging.json"
    log_config.write_text(json.dumps(LOG_CONFIG))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "examples.fastapi_app:app",
        "--port",
        "0",
        "--log-config",
        str(log_config),
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=environment(wattzon_emulator, queue_url),
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        # The consumer starts in the lifespan; its first long poll is open once the
        # server listens.
        await read_until(process.stderr, "Uvicorn running on", seen)
    finally:
        output = await stop(process, signal.SIGINT, seen)
    assert process.returncode == 0, output
    assert "cancelled the long poll in flight (20 s)" in output
    assert "Application shutdown complete" in output
