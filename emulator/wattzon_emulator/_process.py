"""Start, await and stop one emulator child process, leaving nothing behind.

A child gets a pipe as stdin (it exits when that closes, so it never outlives its
parent), a log file for its output, the package on its ``PYTHONPATH`` and dummy AWS
credentials in its environment (and no ``~/.aws``). Readiness is a ready file the child
writes once it serves, polled with a deadline while checking that the child is alive.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from wattzon_async._private import open_private

from ._ready import read_ready_file

__all__ = ["ChildProcess", "EmulatorError", "child_environment"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_POLL = 0.02


class EmulatorError(RuntimeError):
    """The emulator could not start, or its admin API refused a request."""


def child_environment() -> dict[str, str]:
    """The environment for a child: ours, plus the package path and dummy AWS settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN")
    }
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = _PACKAGE_ROOT + (os.pathsep + path if path else "")
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONUNBUFFERED="1",
    )
    return env


class ChildProcess:
    """One child: ``python -m <module> <argument>``, with its log and ready file."""

    def __init__(
        self,
        name: str,
        module: str,
        argument: Path,
        ready_file: Path,
        log: Path,
        *,
        extra: tuple[str, ...] = (),
    ):
        self.name = name
        self.module = module
        self.argument = argument
        self.extra = extra
        self.ready_file = ready_file
        self.log_path = log
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the child (it is not ready yet)."""
        self._log = os.fdopen(open_private(self.log_path, os.O_WRONLY | os.O_TRUNC), "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module, str(self.argument), *self.extra],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            cwd=self.log_path.parent,
            start_new_session=True,
        )

    async def wait_ready(self, deadline: float) -> dict[str, Any]:
        """Wait until the child has written its ready file.

        Args:
            deadline: A ``time.monotonic()`` value after which to give up.

        Returns:
            The ready file's contents.

        Raises:
            EmulatorError: The child exited, or the deadline passed.
        """
        assert self._process is not None
        while True:
            ready = read_ready_file(self.ready_file)
            if ready is not None:
                return ready
            code = self._process.poll()
            if code is not None:
                raise EmulatorError(f"the {self.name} exited with {code}:\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise EmulatorError(f"the {self.name} did not start in time:\n{self.log_tail()}")
            await asyncio.sleep(_POLL)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the child's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    async def stop(self, grace: float = 5.0) -> None:
        """Ask the child to exit (close its stdin), then SIGTERM, then SIGKILL."""
        process = self._process
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            if not await self._exited(time.monotonic() + grace):
                process.terminate()
                if not await self._exited(time.monotonic() + 3.0):
                    process.kill()
            process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _exited(self, deadline: float) -> bool:
        assert self._process is not None
        while self._process.poll() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL)
        return True
