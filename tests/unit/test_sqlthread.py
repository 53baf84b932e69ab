"""The SQLite thread: operations asked for together commit together; a failure is its own."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from wattzon_async._sqlthread import SQLiteThread


class Wrapped(Exception):
    pass


def insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return op


async def test_a_failing_operation_undoes_only_its_own_writes(tmp_path: Path) -> None:
    db = SQLiteThread(tmp_path / "db", lambda exc: Wrapped(str(exc)))
    try:
        await db.call(lambda conn: conn.execute("CREATE TABLE t (v INTEGER UNIQUE)"))

        def half_then_fail(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (v) VALUES (10)")
            raise ValueError("judged bad")

        # Asked for in one turn of the loop: one group, one transaction.
        results = await asyncio.gather(
            db.call(insert(1)),
            db.call(half_then_fail),
            db.call(insert(1)),  # a duplicate: a SQLite error, wrapped
            db.call(insert(2)),
            return_exceptions=True,
        )
        assert results[0] == 1
        assert isinstance(results[1], ValueError)
        assert isinstance(results[2], Wrapped)
        assert results[3] == 2
        rows = await db.call(lambda conn: conn.execute("SELECT v FROM t ORDER BY v").fetchall())
        assert rows == [(1,), (2,)]
    finally:
        await db.stop()


async def test_a_closed_thread_refuses_operations(tmp_path: Path) -> None:
    db = SQLiteThread(tmp_path / "db", lambda exc: Wrapped(str(exc)))
    await db.stop()
    with pytest.raises(Wrapped):
        await db.call(lambda conn: conn.execute("SELECT 1"))
