"""The emulator's TLS termination: one asyncio protocol per connection, public APIs only.

A production TLS terminator (nginx, a cloud load balancer) that refuses a client
certificate sends OpenSSL's alert ("certificate required", "unknown CA") before it
closes, and the SDK turns that alert into a ``CertificateError`` with a hint. asyncio's
own TLS layer (``create_server(ssl=...)``) drops the alert on a failed handshake, so a
refused client would only see a bare disconnect. This module terminates TLS itself with
``ssl.SSLObject`` over two ``ssl.MemoryBIO``: after a failed handshake it writes out what
OpenSSL queued for the peer, half-closes, and reads until the client hangs up (a
lingering close, so no TCP reset can overtake the alert).

Once the handshake succeeds, the HTTP protocol (uvicorn's) is connected to a small
transport that encrypts what it writes and receives what was decrypted; its extra info
carries ``ssl_object`` and ``sslcontext`` as asyncio's TLS transports do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any, cast

__all__ = ["TLSServerProtocol", "server_context"]

#: How long a client may take to finish its handshake, and to hang up after a refusal.
HANDSHAKE_TIMEOUT = 30.0
LINGER_TIMEOUT = 30.0
_READ_SIZE = 256 * 1024
_TLS_EXTRAS = frozenset({"ssl_object", "sslcontext", "peercert", "cipher", "compression"})


def server_context(certfile: str, keyfile: str, ca_certs: str) -> ssl.SSLContext:
    """A server context that requires a client certificate issued by ``ca_certs``.

    Args:
        certfile: The server's certificate (PEM).
        keyfile: The server's private key (PEM).
        ca_certs: The CA that client certificates must chain to (PEM).

    Returns:
        The context, with ``verify_mode`` ``CERT_REQUIRED``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    context.load_verify_locations(ca_certs)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class TLSServerProtocol(asyncio.Protocol):
    """The server side of TLS for one connection, in front of an application protocol.

    Args:
        context: The server context.
        app_factory: Makes the application protocol once the handshake succeeds.
    """

    def __init__(self, context: ssl.SSLContext, app_factory: Callable[[], asyncio.Protocol]):
        self._context = context
        self._app_factory = app_factory
        self._app: asyncio.Protocol | None = None
        self._app_transport: _DecryptedTransport | None = None
        self._transport: asyncio.Transport | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslobj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._closing = False

    # -- the socket side -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake clock."""
        # A stream transport, though not always an asyncio.Transport instance: uvloop's
        # TCPTransport has the same methods without that base class.
        self._transport = cast(asyncio.Transport, transport)
        self._timer = asyncio.get_running_loop().call_later(
            HANDSHAKE_TIMEOUT, self._transport.abort
        )

    def data_received(self, data: bytes) -> None:
        """Feed the TLS engine; hand what it decrypted to the application."""
        if self._refused or self._closing:
            return
        self._incoming.write(data)
        if self._app is None and not self._handshake():
            return
        self._read_application_data()
        self._flush()

    def eof_received(self) -> bool | None:
        """The peer stopped sending: tell the application (it may still answer)."""
        if self._app is not None and not self._closing:
            return self._app.eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Pass the loss on to the application, if it was ever connected."""
        self._cancel_timer()
        self._closing = True
        if self._app is not None:
            app, self._app = self._app, None
            app.connection_lost(exc)

    def pause_writing(self) -> None:
        """The socket's write buffer is full: the application should stop writing."""
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        """The socket's write buffer drained."""
        if self._app is not None:
            self._app.resume_writing()

    # -- TLS -------------------------------------------------------------------------------

    def _handshake(self) -> bool:
        """Advance the handshake; True once it is complete and the application connected."""
        assert self._transport is not None
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except ssl.SSLError:
            self._refuse()
            return False
        self._cancel_timer()
        self._flush()
        self._app = self._app_factory()
        self._app_transport = _DecryptedTransport(self, self._transport)
        self._app.connection_made(self._app_transport)
        return True

    def _refuse(self) -> None:
        """Send the alert OpenSSL queued, half-close, and wait for the client to hang up."""
        assert self._transport is not None
        self._refused = True
        self._flush()
        self._cancel_timer()
        transport = self._transport
        self._timer = asyncio.get_running_loop().call_later(LINGER_TIMEOUT, transport.abort)
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def _read_application_data(self) -> None:
        while self._app is not None and not self._closing:
            try:
                chunk = self._sslobj.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError:
                self.abort()
                return
            if not chunk:  # the peer's close_notify
                if not self._app.eof_received():
                    self.close()
                return
            self._app.data_received(chunk)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- used by the application's transport -----------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send application data."""
        if self._closing:
            return
        view = memoryview(data)
        while view:
            view = view[self._sslobj.write(view) :]
        self._flush()

    def close(self) -> None:
        """Send close_notify, then close the socket once what was written is sent."""
        if self._closing or self._transport is None:
            return
        self._closing = True
        # The peer's close_notify is not awaited (unwrap raises SSLWantReadError for it).
        with contextlib.suppress(ssl.SSLError):
            self._sslobj.unwrap()
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        """Close the socket now, dropping anything unsent."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def is_closing(self) -> bool:
        """Whether close() or abort() was called, or the connection was lost."""
        return self._closing

    def extra(self, name: str) -> Any:
        """The TLS details of the connection, as asyncio's TLS transports report them."""
        if name == "ssl_object":
            return self._sslobj
        if name == "sslcontext":
            return self._context
        if name == "peercert":
            return self._sslobj.getpeercert()
        if name == "cipher":
            return self._sslobj.cipher()
        return self._sslobj.compression()


class _DecryptedTransport(asyncio.Transport):
    """What the application protocol sees: a transport of plain bytes over the TLS one."""

    def __init__(self, tls: TLSServerProtocol, raw: asyncio.Transport) -> None:
        super().__init__()
        self._tls = tls
        self._raw = raw

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in _TLS_EXTRAS:
            return self._tls.extra(name)
        return self._raw.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tls.write(data)

    def close(self) -> None:
        self._tls.close()

    def abort(self) -> None:
        self._tls.abort()

    def is_closing(self) -> bool:
        return self._tls.is_closing()

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._raw.resume_reading()

    def is_reading(self) -> bool:
        return self._raw.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._raw.set_write_buffer_limits(high, low)
