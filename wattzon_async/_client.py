"""WattzOnClient: owns the configuration, the one httpx.AsyncClient, the resources and waits.

This module exists to be the package's only composition root: it builds the
configuration, the one ``Sender`` (with the client's rate limiter and identity) and the
resources. ``client.jobs`` makes the job lifecycle's own parts (see ``jobs``);
``client.await_job`` is ``client.jobs.await_job``. Nothing below builds the client's
shared parts, which keeps the import graph a DAG (see docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ._config import (
    DEFAULT_LINK_URL,
    DEFAULT_SNAP_URL,
    MAX_DOCUMENT_SIZE,
    MAX_DOWNLOAD_SIZE,
    MAX_RESPONSE_SIZE,
    ClientConfig,
    RateLimitPolicy,
    RetryPolicy,
    Timeouts,
    WaitPolicy,
    env_settings,
)
from ._errors import ValidationError
from ._http import Sender
from ._httpx import httpx
from ._ratelimit import AdaptiveRateLimiter
from .jobs import Jobs
from .resources import Documents, Link, Utilities, Zips

if TYPE_CHECKING:
    from ._tls._context import CertificateInfo, CertSpec
    from .jobs._keyclaims import KeyClaims
    from .store import Store

__all__ = ["WattzOnClient"]

logger = logging.getLogger("wattzon_async")


def _without_userinfo(url: str) -> str:
    """``url`` with anything between ``//`` and ``@`` (a user name, a password) hidden."""
    scheme, sep, rest = url.partition("//")
    if not sep:
        return "***" if "@" in url else url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return scheme + sep + authority + slash + path


def _base_url(url: str, field: str) -> str:
    """Check a base URL setting: https, a host, and no user name or password in it.

    Credentials in a URL would be sent as Basic auth and end up in logs and messages;
    the API authenticates with the client certificate only. No message repeats them.
    """
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    shown = _without_userinfo(url) if isinstance(url, str) else url
    if parsed is not None and (parsed.userinfo or "@" in parsed.netloc.decode("ascii", "replace")):
        raise ValidationError(
            f"{field}: must not hold a user name or password (the API authenticates with "
            f"the client certificate), not {shown!r}",
            field=field,
        )
    if parsed is None or parsed.scheme != "https" or not parsed.host:
        raise ValidationError(
            f"{field}: must be an https:// URL (the API requires TLS), not {shown!r}",
            field=field,
        )
    return url if url.endswith("/") else url + "/"


class WattzOnClient:
    """An asyncio client for the WattzOn Snap API and the Link look-ups.

    One client holds one pool of keep-alive connections authenticated by a TLS client
    certificate; create it once and share it. Use it as an async context manager, or
    call ``aclose()``.

    Args:
        cert: The client certificate: a ``(cert, key)`` pair of PEM or DER files, one
            combined PEM file, a PKCS#12 ``.p12``/``.pfx`` file, or a ready
            ``ssl.SSLContext``.
        key_password: The password of an encrypted key or PKCS#12 file.
        ca_bundle: CA file to verify the server with (default: the system's trust).
        snap_url: Base URL of the Snap API.
        link_url: Base URL of the Link API.
        timeouts: Connect, read, write, pool and upload timeouts in seconds.
        retry: How requests are retried (attempts, overall deadline, backoff).
        wait: The default polling schedule of ``await_job``.
        rate_limit: The client-wide request rate and the polling budget.
        max_document_size: The largest document accepted before sending (bytes).
        max_connections: The size of the connection pool.
        max_response_size: The largest JSON answer read, in bytes (16 MiB): a longer
            one is refused with ``UnexpectedResponseError`` as soon as it is seen, before
            it can fill memory.
        max_download_size: The largest file a download writes, in bytes (256 MiB; None
            for no limit): a longer body is refused and nothing is left on disk.
        certificate_check_interval: How often (seconds, at most) a request checks whether
            the certificate files changed on disk, and switches to a renewal written over
            them; None turns that off (``reload_certificate()`` still works).
        transport: An httpx transport to use instead of the network (for tests).
        store: The URL of a store shared with other processes (``sqlite:///path`` on
            one machine, ``postgresql://user:password@host/db`` for a fleet): one
            idempotency key then makes one job across all of them. None (the default):
            keys hold within this process only.

    Attributes:
        config: What the client was configured with (a ``ClientConfig``).
        jobs: Snap jobs: create, get, list, wait for one, submit many.
        documents: Uploaded documents.
        zips: Zip code look-ups.
        utilities: Utility look-ups.
        link: The Link API.

    Raises:
        CertificateError: The certificate or key cannot be used; the message says why.
        ValidationError: A bad URL or setting (a store URL is shown without password).
        StoreError: The store cannot be used (a SQLite file that cannot be made, asyncpg
            missing); a PostgreSQL server is reached on first use.
    """

    def __init__(
        self,
        cert: CertSpec,
        *,
        key_password: str | bytes | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        snap_url: str = DEFAULT_SNAP_URL,
        link_url: str = DEFAULT_LINK_URL,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        wait: WaitPolicy | None = None,
        rate_limit: RateLimitPolicy | None = None,
        max_document_size: int = MAX_DOCUMENT_SIZE,
        max_connections: int = 100,
        max_response_size: int = MAX_RESPONSE_SIZE,
        max_download_size: int | None = MAX_DOWNLOAD_SIZE,
        certificate_check_interval: float | None = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        store: str | None = None,
    ) -> None:
        self._store: Store | None = None
        self._claims: KeyClaims | None = None
        if store is not None:  # the store machinery is imported only by a client that has one
            from .jobs._keyclaims import KeyClaims
            from .store import open_store

            self._store = open_store(store)
            self._claims = KeyClaims(self._store)
        self.config = ClientConfig(
            snap_url=_base_url(snap_url, "snap_url"),
            link_url=_base_url(link_url, "link_url"),
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            wait=wait or WaitPolicy(),
            rate_limit=rate_limit or RateLimitPolicy(),
            max_document_size=max_document_size,
            max_connections=max_connections,
            max_response_size=max_response_size,
            max_download_size=max_download_size,
        )
        from ._tls._context import ClientIdentity  # certificates are read here, not at import

        self._identity = ClientIdentity.load(cert, key_password=key_password, ca_bundle=ca_bundle)
        self._http = _http_client(self.config, self._identity.ssl_context, transport)
        self._sender = Sender(
            self._http,
            self.config,
            AdaptiveRateLimiter(self.config.rate_limit),
            identity=self._identity,
            check_interval=certificate_check_interval,
        )
        self.jobs = Jobs(self._sender, claims=self._claims)
        self.await_job = self.jobs.await_job
        """Wait until a job reaches a final state: ``client.jobs.await_job`` itself."""
        self.documents = Documents(self._sender)
        self.zips = Zips(self._sender)
        self.utilities = Utilities(self._sender)
        self.link = Link(self._sender)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build a client from WATTZON_* variables; keyword arguments take precedence.

        Reads WATTZON_CERT and WATTZON_KEY (a pair, or WATTZON_CERT alone for a
        combined PEM or PKCS#12 file), WATTZON_KEY_PASSWORD, WATTZON_CA_BUNDLE,
        WATTZON_SNAP_URL, WATTZON_LINK_URL and WATTZON_STORE_URL (the shared store).

        Raises:
            ValidationError: No certificate is configured.
        """
        settings: dict[str, Any] = dict(env_settings(environ))
        key = settings.pop("key", None)
        if "cert" in settings and key is not None:
            settings["cert"] = (settings["cert"], key)
        settings.update(overrides)
        if "cert" not in settings:
            raise ValidationError(
                "no client certificate: set WATTZON_CERT (and WATTZON_KEY) or pass cert=",
                field="WATTZON_CERT",
            )
        return cls(**settings)

    @property
    def certificate(self) -> CertificateInfo | None:
        """The client certificate in use (None when a ready SSLContext was given)."""
        return self._identity.info

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The SSLContext every connection of this client is made with."""
        return self._identity.ssl_context

    def reload_certificate(
        self, cert: CertSpec | None = None, *, key_password: str | bytes | None = None
    ) -> CertificateInfo:
        """Switch to a renewed certificate without failing requests in flight.

        The new certificate is checked fully first; on any problem the old one stays in
        force. Connections already open finish with the old certificate; new ones use
        the new. With no argument the original files are read again.

        Raises:
            CertificateError: The new certificate cannot be used.
        """
        info = self._identity.reload(cert, key_password=key_password)
        logger.info(
            "client certificate reloaded: %s, expires %s", info.safe_subject, info.not_after
        )
        return info

    async def aclose(self) -> None:
        """Stop pollers and close the connection pool. Nothing on the server is cancelled."""
        await self.jobs.aclose()
        await self._http.aclose()
        if self._claims is not None:
            await self._claims.aclose()
        if self._store is not None:
            await self._store.aclose()

    @property
    def store(self) -> str | None:
        """The URL of the shared store (its password removed), or None."""
        return None if self._store is None else self._store.url

    @property
    def is_closed(self) -> bool:
        """True once ``aclose()`` has run."""
        return self._http.is_closed

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"WattzOnClient(snap_url={self.config.snap_url!r}, "
            f"link_url={self.config.link_url!r}, certificate={self._identity!r}"
            + ("" if self._store is None else f", store={self._store.url!r}")
            + ")"
        )


def _http_client(
    config: ClientConfig, context: ssl.SSLContext, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The client's one connection pool: mutual TLS, its timeouts, no redirects."""
    t = config.timeouts
    return httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
        limits=httpx.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=min(config.max_connections, 20),
        ),
        follow_redirects=False,
        transport=transport,
    )
