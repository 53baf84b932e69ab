"""The shared store: what processes and machines sharing one WattzOn account agree through.

A store is named by a URL (``store=`` or ``WATTZON_STORE_URL``): ``sqlite:///path`` for
the processes of one machine, ``postgresql://user:password@host:5432/db`` (or libpq's
``?host=/socket/dir``) for a fleet. This package is the only one that touches a
database driver; the rest of the SDK sees the small ``Store`` interface. asyncpg is
imported only when a PostgreSQL store is made.
"""

from __future__ import annotations

from typing import Any

from ._base import SCHEMA_VERSION, ClaimState, KeyClaim, Store, StoredNotification
from ._url import DEFAULT_LEASE, StoreURL, parse_store_url, redact_url

__all__ = [
    "DEFAULT_LEASE",
    "SCHEMA_VERSION",
    "ClaimState",
    "KeyClaim",
    "Store",
    "StoreURL",
    "StoredNotification",
    "open_journal_backend",
    "open_store",
    "parse_store_url",
    "redact_url",
]


def open_store(url: object) -> Store:
    """The store a URL names; its connections are made on first use.

    Args:
        url: ``sqlite:///path/to/file.db`` or ``postgresql://user:password@host/db``;
            ``?lease=SECONDS`` sets how long a silent process's claims stay its own.

    Raises:
        ValidationError: The URL is not a store URL (the message shows it without its
            password).
        StoreError: A SQLite file that cannot be made, or asyncpg is not installed.
    """
    parsed = parse_store_url(url)
    if parsed.engine == "sqlite":
        from ._sqlite import SQLiteStore

        return SQLiteStore(parsed)
    from ._postgres import PostgresStore

    return PostgresStore(parsed)


def open_journal_backend(url: StoreURL) -> Any:
    """The rows of a batch journal kept in a PostgreSQL store (``url.batch`` names it).

    Raises:
        StoreError: asyncpg is not installed.
    """
    from ._pgjournal import PostgresJournal

    return PostgresJournal(url)
