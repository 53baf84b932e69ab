"""Give the app the client certificate: uvicorn's HTTP protocol plus the ASGI TLS extension.

The tenant of every request is its TLS client certificate, but uvicorn (0.54) does not
put the peer certificate in the ASGI scope. This protocol reads it from the connection's
SSL object when the connection is made, and adds ``scope["extensions"]["tls"]`` as the
ASGI TLS extension specifies (``client_cert_chain`` as PEM, ``client_cert_name``, the TLS
version and cipher) to every request on that connection.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TLSAwareProtocol", "tls_extension"]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection, or None when it is not TLS.

    Args:
        transport: The connection's transport.

    Returns:
        ``{"client_cert_chain": [pem], "client_cert_name": str | None, ...}``.
    """
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    peer: dict[str, Any] | None = ssl_object.getpeercert() if der else None
    if peer:
        parts = [f"{pair[0]}={pair[1]}" for rdn in peer.get("subject", ()) for pair in rdn]
        name = ",".join(reversed(parts)) or None
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        "cipher_name": cipher[0] if cipher else None,
    }


class TLSAwareProtocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension to each request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read the peer certificate once per connection and wrap the app to pass it on."""
        super().connection_made(transport)
        extension = tls_extension(transport)
        if extension is None:
            return
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = extension
            await inner(scope, receive, send)

        self.app = app
