"""How a ``wattzon`` command fails: its exit codes and the one-line error that carries one.

The one definition of the exit codes: their numbers, what each means (``wattzon --help``
prints :func:`exit_codes_help`) and which SDK error ends a command with which
(:func:`exit_code`). A leaf of the CLI: every other CLI module (the context, the output,
the commands, the runner) may import it, and it imports none of them.
"""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Mapping

from .._errors import (
    APIError,
    CertificateError,
    JobError,
    ValidationError,
    WaitTimeoutError,
    WattzOnError,
)

__all__ = ["CliError", "ExitCode", "exit_code", "exit_codes_help"]


class ExitCode(enum.IntEnum):
    """The exit codes of ``wattzon``; ``wattzon --help`` lists each with its meaning."""

    OK = 0
    FAILED = 1
    USAGE = 2
    CERTIFICATE = 3
    API = 4
    TIMEOUT = 5
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """What the code tells a script, as ``wattzon --help`` says it."""
        return _MEANINGS[self]


_MEANINGS: Mapping[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: (
        "a job failed or is unsupported, some submissions failed, or another failure"
    ),
    ExitCode.USAGE: (
        "usage or validation error, before anything is sent (bad arguments; a bill that is "
        "missing, too large, or no PDF or image; an output file or folder that cannot be "
        "written, or a file that exists without --force)"
    ),
    ExitCode.CERTIFICATE: (
        "certificate error (a certificate or key that is missing, unreadable, mismatched, "
        "expired or not yet valid, or a server certificate that is not trusted)"
    ),
    ExitCode.API: "API error (an error status, or the API could not be reached)",
    ExitCode.TIMEOUT: "a wait timed out (submit: when timeouts were the only failures)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl+C)",
}

#: SDK exceptions and their exit codes; the first match wins.
_FOR_ERRORS: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ValidationError, ExitCode.USAGE),
    (CertificateError, ExitCode.CERTIFICATE),
    (APIError, ExitCode.API),
    (JobError, ExitCode.FAILED),
    (WaitTimeoutError, ExitCode.TIMEOUT),
    (WattzOnError, ExitCode.FAILED),
    (OSError, ExitCode.USAGE),
)


class CliError(Exception):
    """A failure the command line reports as one line, with its own exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code for an exception that ended a command."""
    if isinstance(exc, CliError):
        return exc.code
    for kind, code in _FOR_ERRORS:
        if isinstance(exc, kind):
            return code
    return ExitCode.FAILED


def exit_codes_help() -> str:
    """The ``exit codes:`` section of ``wattzon --help``: one code a line, then its meaning."""
    lines = ["exit codes:"]
    for code in ExitCode:
        first = f"  {int(code):<5}"
        lines += textwrap.wrap(
            code.meaning, 86, initial_indent=first, subsequent_indent=" " * len(first)
        )
    return "\n".join(lines) + "\n"
