"""Shared fixtures of the integration suite: one emulator (with SQS) for the whole session.

The emulator fixtures come from the ``wattzon_async.testing`` plugin; they are imported
here so the suite also runs when the plugin is not registered as an entry point.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from tests.conftest import fresh_database
from tests.postgres import PostgresServer
from wattzon_async import WattzOnClient
from wattzon_async._httpx import httpx
from wattzon_async.emulator import Emulator
from wattzon_async.testing import wattzon_client, wattzon_consumer, wattzon_emulator

__all__ = ["wattzon_client", "wattzon_consumer", "wattzon_emulator"]

T = TypeVar("T")
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


async def poll_until(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 60.0, interval: float = 0.02
) -> T:
    """Call ``check`` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def emulator_sqs(emu: Emulator) -> Any:
    """An aiobotocore SQS client (an async context manager) for the emulator's queue."""
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    return get_session().create_client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=emu.sqs_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def create_jobs(client: WattzOnClient, count: int, name: str = "bill") -> list[int]:
    """Create ``count`` jobs at once (``<name>-<i>.pdf``); their ids, in order."""
    jobs = await asyncio.gather(
        *(
            client.jobs.create(
                email="user@example.com", provider=4, document=PDF, name=f"{name}-{i}.pdf"
            )
            for i in range(count)
        )
    )
    return [job.id for job in jobs]


async def all_final(client: WattzOnClient, ids: list[int]) -> bool | None:
    """True when every job of ``ids`` is final, else None (a ``poll_until`` check)."""
    jobs = await asyncio.gather(*(client.jobs.get(i) for i in ids))
    return True if all(job.is_final for job in jobs) else None


def mtls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """An SSL context trusting ``ca`` and presenting ``cert``/``key`` when given."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def create_body(
    *,
    name: str = "bill.pdf",
    content: bytes = PDF,
    provider: Any = 4,
    email: Any = "user@example.com",
    tags: Any = ("sfid:12345", "demo"),
) -> dict[str, Any]:
    """A job-create request body as the vendor documents it."""
    return {
        "email": email,
        "provider": provider,
        "tags": list(tags) if isinstance(tags, tuple) else tags,
        "document": {"name": name, "content": base64.b64encode(content).decode()},
    }


@contextlib.asynccontextmanager
async def reset_around(emu: Emulator, *, purge_queue: bool = False) -> AsyncIterator[Emulator]:
    """``emu`` reset (its queue purged too when asked) on entry and again on exit."""
    await emu.reset(purge_queue=purge_queue)
    try:
        yield emu
    finally:
        await emu.reset(purge_queue=purge_queue)


@pytest_asyncio.fixture
async def clean_emulator(wattzon_emulator: Emulator) -> AsyncIterator[Emulator]:
    """The session emulator with no faults and fresh counters, reset again afterwards."""
    async with reset_around(wattzon_emulator) as emu:
        yield emu


@pytest.fixture
def emulator(clean_emulator: Emulator) -> Emulator:
    """``clean_emulator`` under the short name most tests use (a module may define its own)."""
    return clean_emulator


async def empty_store_url(
    request: pytest.FixtureRequest, sqlite_path: Path, query: str = ""
) -> str:
    """The URL of an empty store on the engine ``request.param`` names, ``query`` appended.

    ``"sqlite"`` is a file at ``sqlite_path``; ``"postgresql"`` a fresh database on the
    session's PostgreSQL server (the test skips when there is none).
    """
    if request.param == "sqlite":
        return f"sqlite://{sqlite_path}{query}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await fresh_database(server) + query


def child_environ(emu: Emulator, **extra: str) -> dict[str, str]:
    """The environment of a child process talking to ``emu``: no key password, ``extra`` set."""
    env = {**os.environ, **emu.environ(), **extra}
    env.pop("WATTZON_KEY_PASSWORD", None)
    return env


@pytest_asyncio.fixture
async def http(wattzon_emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client for the default tenant, over mTLS."""
    emu = wattzon_emulator
    context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    async with httpx.AsyncClient(verify=context, base_url=emu.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def tenant_http(wattzon_emulator: Emulator, tmp_path: Path) -> Callable[[str], httpx.AsyncClient]:
    """Make an httpx client (to be closed by the caller) for a new tenant ``name``."""

    def make(name: str) -> httpx.AsyncClient:
        cert, key = wattzon_emulator.issue_client_cert(name)
        context = mtls_context(wattzon_emulator.ca_cert, cert, key)
        return httpx.AsyncClient(verify=context, base_url=wattzon_emulator.base_url, timeout=30)

    return make
