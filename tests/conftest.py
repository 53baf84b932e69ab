"""Settings and fixtures for the whole suite: the event loop, and a real PostgreSQL server.

``WATTZON_TEST_LOOP=uvloop`` runs every async test on uvloop, the loop ``uvicorn[standard]``
brings and many services run on (``make test-uvloop``); by default tests run on asyncio's.

The PostgreSQL server is started once per test session: each pytest-xdist worker starts its
own (``tests/postgres.py``: a fresh folder and port); tests that need it are skipped, with
the reason, on a machine without server binaries.

Every test under ``tests/integration`` carries the ``integration`` marker (a hook below),
so that ``-m "not integration"`` runs the unit tests alone.
"""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, running_server

if os.environ.get("WATTZON_TEST_LOOP", "asyncio") == "uvloop":
    import uvloop

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Every async test and fixture on uvloop."""
        return {"uvloop": uvloop.new_event_loop}


INTEGRATION = Path(__file__).parent / "integration"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/integration`` ``integration`` (before ``-m`` selects)."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the session (skips the test when there is none)."""
    try:
        with running_server() as server:
            yield server
    except LookupError as exc:
        pytest.skip(str(exc))


async def fresh_database(server: PostgresServer) -> str:
    """A new, empty database on ``server``: its URL (with the password)."""
    import asyncpg  # type: ignore[import-untyped, unused-ignore]

    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(server.url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def file_mode(path: Path) -> int:
    """The permission bits of ``path`` (``0o600`` for a file only its owner reads)."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask 022 for the test (the one that makes new files world-readable)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)
