"""The SQS side of the emulator: a moto server in a process of its own.

Run as ``python -m wattzon_emulator._moto <ready-file>``. moto's server app
binds 127.0.0.1 on a free port; the port goes into the ready file once it is listening.
The process stops when its stdin closes (the parent went away or asked it to stop) or on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from ._ready import write_ready_file

__all__ = ["main"]


def _cheap_clock() -> None:
    """Give moto's SQS a clock read from ``time.time()`` instead of datetime arithmetic.

    moto reads the clock a few times per message in the queue on every send (each send
    computes the queue's attributes, which looks at every message), through
    ``datetime.now() - epoch``. With a thousand messages waiting that is most of a send's
    cost; ``time.time()`` gives the same seconds since the epoch about ten times cheaper.
    A time given explicitly still goes through moto's own conversion.
    """
    import moto.sqs.models as models

    convert = getattr(models, "unix_time")  # noqa: B009 - not exported

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(convert(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    setattr(models, "unix_time", unix_time)  # noqa: B010 - not exported
    setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010


def _serve_sqs(port: int = 0) -> tuple[Any, threading.Thread]:
    """The moto server app on ``port`` (0: a free one), sending one Server header.

    werkzeug's handler writes ``Server`` and moto adds its own; aiohttp's strict parser
    (used by aiobotocore in Python's dev mode) rejects such a response.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    _cheap_clock()

    class Handler(MotoRequestHandler):
        def send_response(self, code: int, message: str | None = None) -> None:
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> int:
    """Serve SQS on a port (default: a free one) until stdin closes or a signal arrives."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        print("usage: python -m wattzon_emulator._moto READY_FILE [PORT]", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server, thread = _serve_sqs(int(args[1]) if len(args) == 2 else 0)
    host, port = server.server_address[:2]
    threading.Thread(target=watch_stdin, daemon=True).start()
    write_ready_file(Path(args[0]), {"host": host, "port": port, "pid": os.getpid()})
    while not stop.wait(0.1):
        pass
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
