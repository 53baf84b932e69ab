"""A small mTLS server that misbehaves on purpose, for the "trust no peer" tests.

``HostileServer`` requires a client certificate signed by the given CA (as the API
does), reads one request per connection and hands it to a ``respond`` function, which
writes whatever it likes to the socket: a 429 with an absurd ``Retry-After``, a body
that never ends, a huge ``Content-Length``. It counts what it sent, so that a test can
show the client stopped reading long before the server stopped sending.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["HostileServer", "Request", "Respond", "json_response", "stream_forever"]


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


class HostileServer:
    """Serves each connection's one request with ``respond``, from a thread, over mTLS.

    Args:
        cert: The server's certificate file.
        key: Its key file.
        client_ca: The CA a client certificate must be signed by.
        respond: Writes the answer to one request.
    """

    def __init__(self, cert: Path, key: Path, client_ca: Path, respond: Respond) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_verify_locations(client_ca)
        self.respond = respond
        self.requests: list[Request] = []
        self.sent: list[int] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-server", daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give a client as ``snap_url`` (and ``link_url``)."""
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}/api/v1/"

    def __enter__(self) -> HostileServer:
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
                raw.settimeout(10)
                try:
                    with self.context.wrap_socket(raw, server_side=True) as conn:
                        self._exchange(conn)
                except (ssl.SSLError, OSError):
                    continue

    def _exchange(self, conn: ssl.SSLSocket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head = data.partition(b"\r\n\r\n")[0]
        request = Request(len(self.requests), head.split(b"\r\n", 1)[0].decode(), head)
        self.requests.append(request)
        self.sent.append(self.respond(request, conn))
