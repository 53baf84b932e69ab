"""Who is calling, what to count, and which fault to inject, before any API route runs.

Every API request (the admin paths excepted) is attributed to the tenant of its client
certificate, delayed by the configured latency, checked against the tenant's token
bucket (429 with ``Retry-After``), possibly failed with a 500, and counted per endpoint
and status once answered. A response that never completed counts as ``dropped``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ADMIN_PREFIX", "ApiMiddleware", "tenant_of"]

#: Where the admin API lives: a path the real API does not use.
ADMIN_PREFIX = "/_emulator/"


@functools.lru_cache(maxsize=1024)
def _tenant_from_pem(pem: str) -> str:
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str) and names[0].value:
        return names[0].value
    return "sha256:" + hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def tenant_of(scope: Scope) -> str:
    """The tenant of a request: its client certificate's common name.

    Args:
        scope: The request's ASGI scope, with the TLS extension.

    Returns:
        The subject common name, or ``sha256:<fingerprint>`` for a certificate without one.

    Raises:
        LookupError: The request carries no client certificate.
    """
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        raise LookupError("no client certificate")
    return _tenant_from_pem(chain[0])


def _endpoint(scope: Scope) -> str:
    """``METHOD /route/template`` for counting, without the trailing slash."""
    router = scope["app"].router
    for route in router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return f"{scope['method']} {route.path.rstrip('/')}"
    return f"{scope['method']} (no route)"


async def _send_error(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class ApiMiddleware:
    """Tenant check, hold, latency, rate limit, random 500s and counting for the API paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request through the fault checks, counting its outcome."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        store = scope["app"].state.store
        outcome: dict[str, Any] = {"status": None, "complete": False}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                outcome["complete"] = True
            await send(message)

        endpoint = _endpoint(scope)
        try:
            await self._serve(store, scope, receive, counting_send)
        finally:
            status = str(outcome["status"]) if outcome["complete"] else "dropped"
            store.stats.record(endpoint, status)

    async def _serve(self, store: Any, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            tenant = tenant_of(scope)
        except LookupError:
            await _send_error(send, 401, "a client certificate is required", {})
            return
        faults = store.faults
        if faults.hold:
            stats = store.stats  # a reset while held replaces it: count down the same one
            stats.held += 1
            try:
                await store.hold_lifted.wait()
            finally:
                stats.held -= 1
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if store.limiter is not None:
            wait = store.limiter.acquire(tenant)
            if wait:
                retry_after = str(max(1, math.ceil(wait)))
                await _send_error(send, 429, "rate limit exceeded", {"Retry-After": retry_after})
                return
        if faults.error_rate and store.rng.random() < faults.error_rate:
            await _send_error(send, 500, "internal server error (injected)", {})
            return
        await self.app(scope, receive, send)
