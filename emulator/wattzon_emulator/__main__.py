"""``python -m wattzon_emulator``: serve the emulator until interrupted.

Writes the CA and a client certificate into a folder (reused on the next run), prints
``export WATTZON_...=`` lines for a shell to ``eval``, and serves until Ctrl+C or
SIGTERM. The ``wattzon emulator`` command runs the same :func:`serve_forever`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import TextIO

from ._data import LINK_PROFILES, sample_profiles
from ._handle import Emulator

__all__ = ["exports", "link_hint", "main", "serve_forever"]


def exports(emulator: Emulator) -> list[str]:
    """The shell ``export`` lines of ``emulator.environ()``.

    Args:
        emulator: A running emulator.

    Returns:
        One ``export NAME=value`` line per variable (values shell-quoted).
    """
    return [f"export {name}={shlex.quote(value)}" for name, value in emulator.environ().items()]


def link_hint(emulator: Emulator) -> str:
    """How to start a Link extraction from a shell that ran the export lines.

    Args:
        emulator: A running emulator.

    Returns:
        A sentence ending with a ``curl`` command of the admin API (the same as
        ``Emulator.start_link``).
    """
    body = json.dumps({"profile_id": next(iter(LINK_PROFILES)), "tags": ["demo"]})
    return (
        "Start a Link extraction (its Link message reaches the queue when it completes): "
        'curl --cert "$WATTZON_CERT" --key "$WATTZON_KEY" --cacert "$WATTZON_CA_BUNDLE" '
        f"-d {shlex.quote(body)} {emulator.base_url}/_emulator/link"
    )


async def _serve(emulator: Emulator, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with emulator:
            print("\n".join(exports(emulator)), file=out, flush=True)
            print(
                f"# Link sample profiles: {sample_profiles()}; "
                f"try: wattzon link bills {next(iter(LINK_PROFILES))}",
                file=out,
                flush=True,
            )
            print(f"# {link_hint(emulator)}", file=out, flush=True)
            print(
                f"# WattzOn emulator running; Ctrl+C to stop. Jobs are kept in "
                f"{emulator.state_dir} across restarts (queued SQS messages are not).",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def serve_forever(
    directory: str | Path,
    port: int = 0,
    sqs: bool = True,
    processing_time: float | tuple[float, float] = 5.0,
    *,
    out: TextIO | None = None,
) -> None:
    """Run the emulator until SIGINT or SIGTERM, printing the exports first.

    Args:
        directory: Where ``ca.crt``, ``client.crt`` and ``client.key`` go (created if
            missing; an existing CA there is reused), and the jobs and ports, so that a
            restart serves the same jobs at the same URLs.
        port: The port on 127.0.0.1 (0: the one used last time, if free, else a free one).
        sqs: Also run a moto SQS server and send notifications to a queue on it.
        processing_time: Seconds a job takes, or a ``(min, max)`` range.
        out: Where the export lines go (default: stdout).
    """
    emulator = Emulator(
        state_dir=Path(directory), port=port, sqs=sqs, processing_time=processing_time
    )
    asyncio.run(_serve(emulator, out or sys.stdout))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m wattzon_emulator",
        description="Serve a local WattzOn API (mutual TLS) and SQS queue.",
    )
    parser.add_argument(
        "--dir", default=".wattzon-emulator", help="certificates, jobs and ports, kept"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (0: the last one, else free)"
    )
    parser.add_argument("--no-sqs", action="store_true", help="do not start the SQS server")
    parser.add_argument("--processing-time", type=float, default=5.0, help="seconds a job takes")
    args = parser.parse_args(argv)
    serve_forever(args.dir, args.port, not args.no_sqs, args.processing_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
