"""The FastAPI example under ``uvicorn --workers 2`` with a shared store: one key, one job.

A real uvicorn with two worker processes serves ``examples/fastapi_app.py`` with
``WATTZON_STORE_URL`` set (SQLite and PostgreSQL); twelve concurrent POSTs carrying one
``Idempotency-Key`` land on both workers and must all answer with the same job, and the
emulator must hold exactly one.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from wattzon_async import idempotency_tag
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator

from .conftest import PDF, child_environ, empty_store_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return await empty_store_url(request, tmp_path / "service" / "store.db")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest_asyncio.fixture
async def service(emulator: Emulator, store_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """``uvicorn --workers 2`` serving the example; its base URL once both workers run."""
    port = free_port()
    env = child_environ(emulator, WATTZON_STORE_URL=store_url)
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", "examples.fastapi_app:app", "--workers", "2",
            "--host", "127.0.0.1", "--port", str(port),
            env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            assert process.returncode is None, log.read_text()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_one_idempotency_key_across_two_workers_makes_one_job(
    emulator: Emulator, service: str
) -> None:
    key = f"order-{uuid.uuid4().hex}"

    async def post(http: httpx.AsyncClient) -> httpx.Response:
        return await http.post(
            "/bills",
            files={"file": ("bill.pdf", PDF, "application/pdf")},
            data={"provider": "4", "email": "fleet@example.com"},
            headers={"Idempotency-Key": key},
        )

    # A fresh connection each: the requests spread over both workers.
    async with httpx.AsyncClient(
        base_url=service, timeout=120, limits=httpx.Limits(max_keepalive_connections=0)
    ) as http:
        answers = await asyncio.gather(*(post(http) for _ in range(12)))
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    async with emulator.client() as client:
        assert len(await client.jobs.list(tag=idempotency_tag(key))) == 1
    assert (await emulator.stats())["jobs_created"] == 1
