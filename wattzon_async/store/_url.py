"""Store URLs: which engine, where, and the same URL with its password removed.

A store is named by one URL, from an argument or ``WATTZON_STORE_URL``. Everything that
shows a store (an error, a log line, a repr) shows ``StoreURL.safe``, never the URL as
given: a PostgreSQL URL often carries a password (``postgresql://user:pw@host/db``, or
libpq's ``?password=``). The SDK's own options ride in the query string
(``?lease=30``) and are taken out before the URL reaches a driver.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from attrs import field, frozen

from .._errors import ValidationError

__all__ = ["DEFAULT_LEASE", "StoreURL", "parse_store_url", "redact_url", "scrub"]

#: Seconds a claim (an idempotency key, a batch item) stays owned without a heartbeat.
DEFAULT_LEASE = 30.0
_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
_MASK = "***"
_PASSWORD_PARAM = re.compile(r"(?i)((?:^|[?&])password=)[^&]*")


@frozen
class StoreURL:
    """A checked store URL.

    Attributes:
        engine: ``"sqlite"`` or ``"postgresql"``.
        safe: The URL with its password removed: the only form ever shown.
        path: The SQLite database file (None for PostgreSQL).
        dsn: What the PostgreSQL driver connects to (None for SQLite); never shown.
        lease: Seconds a claim stays owned without a heartbeat.
        batch: The batch a journal URL names (``?batch=NAME``; ``"default"``): one
            PostgreSQL database holds many batch journals.
        password: The password in the URL (to scrub from driver messages), or None.
    """

    engine: Literal["sqlite", "postgresql"]
    safe: str
    path: Path | None = None
    dsn: str | None = field(default=None, repr=False)
    lease: float = DEFAULT_LEASE
    batch: str = "default"
    password: str | None = field(default=None, repr=False)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user part and the query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a store URL that cannot be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{_MASK}@{hostport}" if colon else netloc
    query = _PASSWORD_PARAM.sub(rf"\g<1>{_MASK}", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, password: str | None) -> str:
    """``text`` (a driver's message) with ``password`` replaced by ``***`` wherever it shows."""
    if password:
        text = text.replace(password, _MASK)
    return text


def _batch(params: dict[str, str], safe: str) -> str:
    name = params.pop("batch", "default")
    if not name.strip() or len(name) > 200:
        raise ValidationError(
            f"store: batch={name!r} in {safe} must be a name of 1 to 200 characters",
            field="store",
        )
    return name


def _lease(params: dict[str, str], safe: str) -> float:
    raw = params.pop("lease", None)
    if raw is None:
        return DEFAULT_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(
            f"store: lease={raw!r} in {safe} must be a positive number of seconds",
            field="store",
        )
    return value


def parse_store_url(url: object) -> StoreURL:
    """Check a store URL and say which engine serves it.

    ``sqlite:///path/to/file.db`` (the path after ``sqlite://``; ``sqlite:relative.db``
    for a path relative to the working directory) or ``postgresql://user:pw@host:5432/db``
    (``postgres://`` too, and libpq's ``?host=/socket/dir`` form). ``?lease=SECONDS``
    sets how long a claim of a process that stopped answering stays its own;
    ``?batch=NAME`` names the batch of a journal kept in PostgreSQL.

    Raises:
        ValidationError: Not a string, an unknown scheme, a SQLite URL without a path,
            or a bad option; the message shows the URL without its password.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(
            "store: must be a URL string (sqlite:///path/to/file.db or "
            f"postgresql://user:password@host/db), not {type(url).__name__}",
            field="store",
        )
    safe = redact_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError(f"store: {safe} is not a URL ({exc})", field="store") from None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _sqlite(parts.netloc, parts.path, params, safe)
    if scheme in _POSTGRES_SCHEMES:
        lease = _lease(params, safe)
        batch = _batch(params, safe)
        dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(params), ""))
        password = parts.password or params.get("password")
        return StoreURL("postgresql", safe, dsn=dsn, lease=lease, batch=batch, password=password)
    raise ValidationError(
        f"store: {safe} has the scheme {parts.scheme or '(none)'!r}; a store URL starts "
        "with sqlite:/// (one machine) or postgresql:// (a fleet)",
        field="store",
    )


def _sqlite(netloc: str, raw_path: str, params: dict[str, str], safe: str) -> StoreURL:
    if netloc:
        raise ValidationError(
            f"store: {safe} names a host; a SQLite store is a file: sqlite:///path/to/file.db",
            field="store",
        )
    lease = _lease(params, safe)
    params.pop("batch", None)  # a SQLite journal is one batch: its file
    if params:
        raise ValidationError(
            f"store: {safe} has unknown options {sorted(params)}; a SQLite store takes "
            "only lease=SECONDS (and batch=NAME, which a SQLite journal ignores)",
            field="store",
        )
    path = unquote(raw_path)
    if not path or path.endswith("/"):
        raise ValidationError(
            f"store: {safe} names no file; write sqlite:///path/to/file.db", field="store"
        )
    return StoreURL("sqlite", safe, path=Path(path), lease=lease)
