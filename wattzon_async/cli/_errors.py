"""How a ``wattzon`` command fails: its exit codes and the one-line error that carries one.

A leaf module: every other CLI module (the context, the output, the commands) may import
it, and it imports none of them.
"""

from __future__ import annotations

import enum

__all__ = ["CliError", "ExitCode"]


class ExitCode(enum.IntEnum):
    """The exit codes of ``wattzon`` (see the package docstring)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CERTIFICATE = 3
    API = 4
    TIMEOUT = 5
    INTERRUPTED = 130


class CliError(Exception):
    """A failure the command line reports as one line, with its own exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code
