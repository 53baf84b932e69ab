"""Fixtures for the whole suite: a real PostgreSQL server, started once per test session.

Each pytest-xdist worker starts its own (``tests/postgres.py``: a fresh folder and port);
tests that need it are skipped, with the reason, on a machine without server binaries.
"""

from __future__ import annotations

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
