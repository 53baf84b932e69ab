"""A batch journal kept in PostgreSQL: one batch shared by processes on many machines.

The batch journal (``_journal``) decides what a row means; this module only reads and
writes rows, the way its SQLite file does, in the tables ``wattzon_journal_meta`` and
``wattzon_journal_items`` of a PostgreSQL store, keyed by the batch's name
(``?batch=NAME``). A claim reads its row ``FOR UPDATE`` (or inserts it) and writes the
owner in the same transaction, so two machines never both take one key. Leases are
written from each machine's clock, as in a SQLite journal; machines of a fleet are
expected to keep their clocks in step (NTP) to well under the 30 s lease.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._postgres import PostgresStore
from ._url import StoreURL

__all__ = ["PostgresJournal"]

E = TypeVar("E")
_COLUMNS = "key, tag, state, job, owner, host, pid, lease"


class PostgresJournal(Generic[E]):
    """The rows of one batch journal in a PostgreSQL store (see ``_journal.Backend``).

    Args:
        url: The checked URL; ``url.batch`` names the batch.
    """

    def __init__(self, url: StoreURL) -> None:
        self._store = PostgresStore(url)
        self._batch = url.batch

    async def setup(self) -> str:
        """The batch's salt, made by the first process to open it."""

        async def setup(conn: Any) -> str:
            await conn.execute(
                "INSERT INTO wattzon_journal_meta (batch, name, value) VALUES ($1, 'salt', $2)"
                " ON CONFLICT DO NOTHING",
                self._batch,
                secrets.token_hex(16),
            )
            salt = await conn.fetchval(
                "SELECT value FROM wattzon_journal_meta WHERE batch = $1 AND name = 'salt'",
                self._batch,
            )
            return str(salt)

        return await self._store.run("opening the batch journal", setup)

    async def rows(self, keys: list[str]) -> list[tuple[Any, ...]]:
        """The rows of ``keys`` that exist."""

        async def select(conn: Any) -> list[tuple[Any, ...]]:
            records = await conn.fetch(
                f"SELECT {_COLUMNS} FROM wattzon_journal_items"
                " WHERE batch = $1 AND key = ANY($2::text[])",
                self._batch,
                keys,
            )
            return [tuple(r) for r in records]

        return await self._store.run("reading the batch journal", select)

    async def claim(
        self,
        key: str,
        tag: str,
        label: str,
        owner: tuple[str, str, int, float],
        judge: Callable[[tuple[Any, ...] | None], tuple[E, bool]],
    ) -> E:
        """Judge the row of ``key`` under a row lock; take it for ``owner`` if told."""

        async def claim(conn: Any) -> E:
            inserted = await conn.fetchval(
                "INSERT INTO wattzon_journal_items (batch, key, tag, label, state, owner,"
                " host, pid, lease, updated) VALUES ($1, $2, $3, $4, 'sending', $5, $6, $7,"
                " $8, $9) ON CONFLICT DO NOTHING RETURNING key",
                self._batch, key, tag, label, *owner, time.time(),
            )  # fmt: skip
            if inserted is not None:
                return judge(None)[0]
            record = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM wattzon_journal_items"
                " WHERE batch = $1 AND key = $2 FOR UPDATE",
                self._batch,
                key,
            )
            entry, take = judge(tuple(record))
            if take:
                await conn.execute(
                    "UPDATE wattzon_journal_items SET owner = $3, host = $4, pid = $5,"
                    " lease = $6, updated = $7 WHERE batch = $1 AND key = $2",
                    self._batch, key, *owner, time.time(),
                )  # fmt: skip
            return entry

        return await self._store.run("claiming a batch item", claim)

    async def record(self, key: str, state: str, job_id: int, job: str) -> None:
        """Write a key's job (not over a final state, unless ``state`` is final)."""
        guard = "" if state == "final" else " AND state != 'final'"
        sql = (
            "UPDATE wattzon_journal_items SET state = $3, job_id = $4, job = $5, owner = NULL,"
            " host = NULL, pid = NULL, lease = NULL, updated = $6"
            f" WHERE batch = $1 AND key = $2{guard}"
        )

        async def record(conn: Any) -> None:
            await conn.execute(sql, self._batch, key, state, job_id, job, time.time())

        await self._store.run("recording a job in the batch journal", record)

    async def release(self, key: str | None, token: str) -> None:
        """Give up the claim on ``key`` (None: every claim) that ``token`` holds."""
        sql = (
            "UPDATE wattzon_journal_items SET owner = NULL, host = NULL, pid = NULL,"
            " lease = NULL WHERE batch = $1 AND owner = $2 AND state = 'sending'"
        )

        async def release(conn: Any) -> None:
            if key is None:
                await conn.execute(sql, self._batch, token)
            else:
                await conn.execute(sql + " AND key = $3", self._batch, token, key)

        await self._store.run("releasing batch claims", release)

    async def forget(self, key: str, token: str) -> None:
        """Drop the claim row of ``key`` that ``token`` holds."""

        async def forget(conn: Any) -> None:
            await conn.execute(
                "DELETE FROM wattzon_journal_items WHERE batch = $1 AND key = $2"
                " AND owner = $3 AND state = 'sending'",
                self._batch,
                key,
                token,
            )

        await self._store.run("dropping a batch claim", forget)

    async def beat(self, token: str, lease_until: float) -> None:
        """Renew every claim ``token`` holds."""

        async def beat(conn: Any) -> None:
            await conn.execute(
                "UPDATE wattzon_journal_items SET lease = $2 WHERE owner = $1"
                " AND state = 'sending'",
                token,
                lease_until,
            )

        await self._store.run("renewing batch claims", beat)

    async def drop(self) -> None:
        """Forget the whole batch (``--fresh``): its rows and its salt."""

        async def drop(conn: Any) -> None:
            for table in ("wattzon_journal_items", "wattzon_journal_meta"):
                await conn.execute(f"DELETE FROM {table} WHERE batch = $1", self._batch)

        await self._store.run("dropping the batch journal", drop)

    async def close(self) -> None:
        """Close the connections."""
        await self._store.aclose()
