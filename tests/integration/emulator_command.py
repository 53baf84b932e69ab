"""Run ``wattzon emulator`` as a user does: a process of its own, its exports parsed.

Shared by the tests that follow the README from a fresh shell: they start the command,
take the ``export`` lines it prints, and run code in processes whose environment holds
only those (no AWS configuration files, no inherited AWS or WattzOn variables).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["ROOT", "clean_environment", "emulator_command"]

ROOT = Path(__file__).resolve().parents[2]
_INHERITED = ("AWS_", "WATTZON_", "BOTO")


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without AWS or WattzOn settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED)}
    env.update(
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def emulator_command(directory: Path, *args: str) -> AsyncIterator[dict[str, str]]:
    """Run ``wattzon emulator --dir DIRECTORY ARGS`` until the block ends; yield its exports.

    The command is stopped with SIGINT (Ctrl+C) and must exit 0.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wattzon_async",
        "emulator",
        "--dir",
        str(directory),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_environment(),
    )
    assert process.stdout is not None
    try:
        exports: dict[str, str] = {}
        async with asyncio.timeout(60):
            while True:
                line = (await process.stdout.readline()).decode()
                assert line, "the emulator ended before printing its exports"
                if not line.startswith("export "):
                    break  # the exports come first, then comments
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
        yield exports
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
