"""A small mTLS server that misbehaves on purpose, for the "trust no peer" tests.

``HostileServer`` requires a client certificate signed by the given CA (as the API
does), reads one request per connection and hands it to a ``respond`` function, which
writes whatever it likes to the socket: a 429 with an absurd ``Retry-After``, a body
that never ends, a huge ``Content-Length``. It counts what it sent, so that a test can
show the client stopped reading long before the server stopped sending.

``ThreadedTLSServer`` is the listening, threading part it shares with the other small TLS
server of the suite (``TLSServer`` in ``test_security.py``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Self

__all__ = [
    "HostileServer",
    "Request",
    "Respond",
    "ThreadedTLSServer",
    "json_response",
    "read_head",
    "stream_forever",
]


class Request:
    """One request the server read: its number (from 0), request line and raw head."""

    def __init__(self, number: int, line: str, head: bytes) -> None:
        self.number = number
        self.line = line
        self.head = head


#: Writes the answer to one request; returns the bytes it sent (for the server's count).
Respond = Callable[[Request, ssl.SSLSocket], int]


def json_response(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    """A complete HTTP/1.1 response with a JSON body, closing the connection."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    ).encode() + body


def stream_forever(conn: ssl.SSLSocket, head: bytes, *, chunked: bool, total: int) -> int:
    """Send ``head`` and then body bytes until ``total`` or until the client goes away."""
    sent = 0
    block = b"[" + b"1," * 32767 + b"1"  # 64 KiB of a JSON array that never closes
    try:
        conn.sendall(head)
        while sent < total:
            conn.sendall(b"%x\r\n%b\r\n" % (len(block), block) if chunked else block)
            sent += len(block)
            block = b"," + b"1," * 32767 + b"1"
    except OSError:
        pass
    return sent


class ThreadedTLSServer:
    """A TLS server on a free local port that answers each connection from a thread.

    Subclasses write ``_answer``, which gets each accepted socket (not yet wrapped).

    Args:
        cert: The server's certificate file.
        key: Its key file.
        client_ca: When given, a client certificate signed by this CA is required.
        name: The serving thread's name.
        timeout: Each connection's socket timeout, in seconds.
    """

    def __init__(
        self, cert: Path, key: Path, client_ca: Path | None, *, name: str, timeout: float
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        if client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(client_ca)
        self._timeout = timeout
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """The base URL to give a client as ``snap_url`` (and ``link_url``)."""
        return f"https://127.0.0.1:{self.port}/api/v1/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            with raw:
                raw.settimeout(self._timeout)
                self._answer(raw)

    def _answer(self, raw: socket.socket) -> None:
        raise NotImplementedError


def read_head(conn: ssl.SSLSocket) -> bytes | None:
    """What the client sent up to and including its head's blank line (None: it hung up)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


class HostileServer(ThreadedTLSServer):
    """Serves each connection's one request with ``respond``, from a thread, over mTLS.

    Args:
        cert: The server's certificate file.
        key: Its key file.
        client_ca: The CA a client certificate must be signed by.
        respond: Writes the answer to one request.
    """

    def __init__(self, cert: Path, key: Path, client_ca: Path, respond: Respond) -> None:
        super().__init__(cert, key, client_ca, name="hostile-server", timeout=10)
        self.respond = respond
        self.requests: list[Request] = []
        self.sent: list[int] = []

    def _answer(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                self._exchange(conn)
        except (ssl.SSLError, OSError):
            pass

    def _exchange(self, conn: ssl.SSLSocket) -> None:
        data = read_head(conn)
        if data is None:
            return
        head = data.partition(b"\r\n\r\n")[0]
        request = Request(len(self.requests), head.split(b"\r\n", 1)[0].decode(), head)
        self.requests.append(request)
        self.sent.append(self.respond(request, conn))
