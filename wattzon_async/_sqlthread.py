"""A SQLite connection owned by one thread, fed from asyncio, committing in groups.

sqlite3 connections belong to the thread that uses them, and every call blocks on disk.
Here one thread owns the connection; coroutines queue operations (functions of the
connection) and await their results. Operations queued while the thread works on a
transaction are run together in the next one, each in its own savepoint, under one
``BEGIN IMMEDIATE``/``COMMIT``: under load, hundreds of small writes cost one commit, and
the event loop never waits on disk. A future settles only after its transaction has
committed, so "awaited" means "on disk" (as far as the OS is concerned).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from attrs import define

__all__ = ["SQLiteThread"]

T = TypeVar("T")

#: The most operations committed together.
GROUP = 256


@define
class _Op(Generic[T]):
    fn: Callable[[sqlite3.Connection], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]

    def settle(self, value: T | None, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self.loop.call_soon_threadsafe(_settle, self.future, value, error)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class SQLiteThread:
    """One thread, one connection to ``path`` (WAL, ``synchronous=NORMAL``).

    Args:
        path: The database file (created if missing).
        wrap: Turns a ``sqlite3.Error`` into the exception callers see.
    """

    def __init__(self, path: Path, wrap: Callable[[sqlite3.Error], Exception]) -> None:
        self.path = path
        self._wrap = wrap
        self._queue: queue.SimpleQueue[_Op[Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wattzon-sqlite", daemon=True)
        self._closed = False
        self._thread.start()

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn(connection)`` in the next transaction; the future has its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(self._wrap(sqlite3.ProgrammingError(f"{self.path} is closed")))
        else:
            self._queue.put(_Op(fn, loop, future))
        return future

    async def stop(self) -> None:
        """Finish what is queued, close the connection and end the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            conn = _connect(self.path)
        except sqlite3.Error as exc:
            while (op := self._queue.get()) is not None:
                op.settle(None, self._wrap(exc))
            return
        try:
            stop = False
            while not stop:
                group, stop = self._next_group()
                if group:
                    self._execute(conn, group)
        finally:
            conn.close()

    def _next_group(self) -> tuple[list[_Op[Any]], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        group: list[_Op[Any]] = [first]
        while len(group) < GROUP:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is None:
                return group, True
            group.append(op)
        return group, False

    def _execute(self, conn: sqlite3.Connection, group: list[_Op[Any]]) -> None:
        """Run a group of operations in one transaction; each settles its own future."""
        results: list[tuple[_Op[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in group:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((op, op.fn(conn), None))
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    failure = self._wrap(exc) if isinstance(exc, sqlite3.Error) else exc
                    results.append((op, None, failure))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            results = [(op, None, self._wrap(exc)) for op in group]
        for op, value, error in results:
            op.settle(value, error)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn
