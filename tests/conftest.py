"""Fixtures for the whole suite: a real PostgreSQL server, started once per test session.

Each pytest-xdist worker starts its own (``tests/postgres.py``: a fresh folder and port);
tests that need it are skipped, with the reason, on a machine without server binaries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.postgres import PostgresServer, running_server


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
