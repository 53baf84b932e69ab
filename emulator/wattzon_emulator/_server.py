"""The emulator's server process: uvicorn behind mutual TLS, started by the Emulator handle.

Run as ``python -m wattzon_emulator._server <config.json>``. It binds its socket
itself (port 0 picks a free one), and only when it is listening (and, with SQS, when the
queue exists) does it write a ready file holding its port and queue URL, which the
parent polls for. It exits when its stdin closes (the parent went away or asked it to
stop), on SIGTERM or on SIGINT, always through uvicorn's graceful shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import uvicorn
from starlette.applications import Starlette

from ._admin import lifecycle_from_json
from ._app import create_app
from ._jobfile import JobFile
from ._protocol import TLSAwareProtocol
from ._ready import read_ready_file, write_ready_file
from ._sqs import SqsPublisher
from ._state import Lifecycle, Store
from ._tlsserver import TLSServerProtocol, server_context

__all__ = ["main", "serve"]


async def _wait_for_moto(ready_file: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        ready = read_ready_file(ready_file)
        if ready is not None:
            return f"http://127.0.0.1:{ready['port']}"
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the SQS server did not start ({ready_file} never appeared)")


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that reports its port in a file once it is listening."""

    def __init__(self, config: uvicorn.Config, ready_file: Path, info: dict[str, Any]) -> None:
        super().__init__(config)
        self.ready_file = ready_file
        self.info = info

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            port = sockets[0].getsockname()[1]
            write_ready_file(self.ready_file, {**self.info, "port": port, "pid": os.getpid()})


def _lifespan(store: Store, settings: dict[str, Any], info: dict[str, Any]) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        publisher = None
        if settings.get("moto_ready_file"):
            deadline = time.monotonic() + float(settings.get("startup_timeout", 30))
            endpoint = await _wait_for_moto(Path(settings["moto_ready_file"]), deadline)
            publisher = SqsPublisher(endpoint, settings.get("queue_name", "wattzon-snap"))
            info["queue_url"] = await publisher.start()
            info["sqs_endpoint_url"] = endpoint
            store.publisher = publisher
        store.resume()
        try:
            yield
        finally:
            await store.close()
            if publisher is not None:
                await publisher.close()

    return lifespan


def _watch_stdin(server: uvicorn.Server) -> None:
    """Stop the server when stdin reaches EOF: the parent closed it or died."""
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(1024):
            pass
    server.should_exit = True


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP, and without it every response waits out a delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(False)
    return sock


def _https(context: ssl.SSLContext) -> type[asyncio.Protocol]:
    """The protocol factory given to uvicorn: TLS terminated here, then its HTTP protocol."""

    def protocol(
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> asyncio.Protocol:
        def http() -> asyncio.Protocol:
            return TLSAwareProtocol(
                config=config, server_state=server_state, app_state=app_state, _loop=_loop
            )

        return TLSServerProtocol(context, http)

    # uvicorn calls whatever it is given as ``http`` with these keyword arguments.
    return cast("type[asyncio.Protocol]", protocol)


def serve(settings: dict[str, Any]) -> None:
    """Serve until told to stop.

    Args:
        settings: ``host``, ``port``, ``certfile``, ``keyfile``, ``ca_certs``,
            ``ready_file``, ``lifecycle`` (as the admin API's config), and optionally
            ``moto_ready_file``, ``queue_name``, ``startup_timeout`` and ``jobs_file``
            (where jobs are kept across restarts).
    """
    lifecycle = lifecycle_from_json(settings.get("lifecycle", {}), Lifecycle())
    jobs_file = settings.get("jobs_file")
    store = Store(lifecycle, log=JobFile(Path(jobs_file)) if jobs_file else None)
    info: dict[str, Any] = {"queue_url": None, "sqs_endpoint_url": None}
    app = create_app(store, lifespan=_lifespan(store, settings, info))
    context = server_context(settings["certfile"], settings["keyfile"], settings["ca_certs"])
    config = uvicorn.Config(
        app,
        http=_https(context),
        lifespan="on",
        log_level=settings.get("log_level", "warning"),
        access_log=False,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
    )
    server = _ReadyServer(config, Path(settings["ready_file"]), info)
    sock = _bind(settings.get("host", "127.0.0.1"), int(settings.get("port", 0)))
    threading.Thread(target=_watch_stdin, args=(server,), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the settings file named on the command line and serve."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wattzon_emulator._server SETTINGS.json", file=sys.stderr)
        return 2
    serve(json.loads(Path(args[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
