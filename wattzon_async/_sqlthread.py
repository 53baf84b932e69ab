"""A SQLite connection owned by one thread, fed from asyncio, committing in groups.

sqlite3 connections belong to the thread that uses them, and every call blocks on disk.
Here one thread owns the connection; coroutines queue operations (functions of the
connection) and await their results. Operations queued while the thread works on a
transaction are run together in the next one, under one ``BEGIN IMMEDIATE``/``COMMIT``
(run again each in its own savepoint if one of them fails, so that a failure is only its
own): under load, hundreds of small writes cost one commit, and
the event loop never waits on disk. Handing work between the threads costs more than a
small SQLite write (each wake-up contends for the GIL), so the operations asked for in
one turn of the event loop are handed over together, and the results of a transaction
come back together. A future settles only after its transaction has committed, so
"awaited" means "on disk" (as far as the OS is concerned).
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


_Result = tuple[_Op[Any], Any, BaseException | None]


def _settle(results: list[_Result]) -> None:
    for op, value, error in results:
        if op.future.done():
            continue
        if error is not None:
            op.future.set_exception(error)
        else:
            op.future.set_result(value)


class SQLiteThread:
    """One thread, one connection to ``path`` (WAL, ``synchronous=NORMAL``).

    Args:
        path: The database file (created if missing).
        wrap: Turns a ``sqlite3.Error`` into the exception callers see.
    """

    def __init__(self, path: Path, wrap: Callable[[sqlite3.Error], Exception]) -> None:
        self.path = path
        self._wrap = wrap
        self._queue: queue.SimpleQueue[list[_Op[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="wattzon-sqlite", daemon=True)
        self._closed = False
        #: Operations asked for during this turn of the event loop, handed over together.
        self._pending: list[_Op[Any]] = []
        self._thread.start()

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn(connection)`` in a coming transaction; the future has its result.

        ``fn`` may run twice (when another operation of its group fails): it must act on
        the connection only.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(self._wrap(sqlite3.ProgrammingError(f"{self.path} is closed")))
            return future
        if not self._pending:
            loop.call_soon(self._hand_over)
        self._pending.append(_Op(fn, loop, future))
        return future

    def _hand_over(self) -> None:
        """One wake-up of the thread for everything asked for in one turn of the loop."""
        pending, self._pending = self._pending, []
        self._queue.put(pending)

    async def stop(self) -> None:
        """Finish what is queued, close the connection and end the thread."""
        if self._closed:
            return
        self._closed = True
        if self._pending:
            self._hand_over()
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            conn = _connect(self.path)
        except sqlite3.Error as exc:
            while (ops := self._queue.get()) is not None:
                _post([(op, None, self._wrap(exc)) for op in ops])
            return
        try:
            stop = False
            while not stop:
                group, stop = self._next_group()
                if group:
                    _post(self._execute(conn, group))
        finally:
            conn.close()

    def _next_group(self) -> tuple[list[_Op[Any]], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        group: list[_Op[Any]] = list(first)
        while len(group) < GROUP:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return group, True
            group.extend(more)
        return group, False

    def _execute(self, conn: sqlite3.Connection, group: list[_Op[Any]]) -> list[_Result]:
        """Run a group of operations in one transaction: the result of each.

        The group runs first as it is; only if an operation raises is it rolled back
        and run again with a savepoint around each operation, so that one failure fails
        only its own. (Statements cost the thread a GIL hand-over each; the savepoints
        would triple them.)
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                results: list[_Result] = [(op, op.fn(conn), None) for op in group]
            except Exception:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                results = self._one_by_one(conn, group)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            results = [(op, None, self._wrap(exc)) for op in group]
        return results

    def _one_by_one(self, conn: sqlite3.Connection, group: list[_Op[Any]]) -> list[_Result]:
        """Each operation of a group in its own savepoint: a failure undoes only its own."""
        results: list[_Result] = []
        for op in group:
            conn.execute("SAVEPOINT op")
            try:
                results.append((op, op.fn(conn), None))
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                failure = self._wrap(exc) if isinstance(exc, sqlite3.Error) else exc
                results.append((op, None, failure))
            conn.execute("RELEASE op")
        return results


def _post(results: list[_Result]) -> None:
    """Settle the futures of a group in their loop: one wake-up per loop and group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
    for result in results:
        by_loop.setdefault(result[0].loop, []).append(result)
    for loop, mine in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, mine)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn
