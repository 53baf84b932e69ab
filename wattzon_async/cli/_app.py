"""The runner: parse, run the command, and turn every outcome into one line and an exit code.

This is the one place that catches exceptions. Each kind of SDK error has its exit code
(see the package docstring); its message is printed as ``wattzon: error: <message>``,
with settings named by their flags and email addresses masked, and the traceback only
under ``--debug``. Log records of the SDK (a certificate close to expiry, retries under
``--debug``) go to stderr for the duration of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence

from .._errors import (
    WattzOnError,
)
from .._redact import mask_emails
from ._context import ClientFactory, Context, default_client_factory, describe
from ._errors import CliError, ExitCode, exit_code
from ._output import Output, require_rich
from ._parser import UsageError, build_parser

__all__ = ["ClientFactory", "ExitCode", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wattzon`` command line and return its exit code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see the package docstring).
    """
    return run(argv)


def run(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Run one ``wattzon`` command line with an injectable environment and client maker.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        environ: Where WATTZON_* settings are read (default: ``os.environ``).
        client_factory: Makes the client from the environment and the flag overrides
            (default: ``WattzOnClient.from_env``).

    Returns:
        The exit code.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(args_list)
    except UsageError as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.OK
    ctx = Context(
        args=args,
        environ=os.environ if environ is None else environ,
        client_factory=client_factory or default_client_factory,
        out=Output(json_mode=bool(getattr(args, "json", False))),
    )
    debug = bool(getattr(args, "debug", False))
    with _sdk_logging(debug):
        try:
            return _dispatch(ctx)
        except BrokenPipeError:  # stdout closed early (| head): not worth a message
            _silence_stdout()
            return ExitCode.FAILED
        except KeyboardInterrupt:
            print("\nwattzon: interrupted", file=sys.stderr, flush=True)
            return ExitCode.INTERRUPTED
        except Exception as exc:
            return _report(exc, debug)


def _dispatch(ctx: Context) -> int:
    if not ctx.out.json_mode and getattr(ctx.args, "tables", True):
        require_rich()  # before any work, not after it
    result = ctx.args.handler(ctx)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result)


def _report(exc: Exception, debug: bool) -> int:
    code = exit_code(exc)
    known = isinstance(exc, CliError | WattzOnError | OSError)
    message = describe(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        message = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if not known:
        message = f"unexpected {type(exc).__name__}: {message}"
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    elif not known:
        message += " (run again with --debug for the traceback)"
    return _fail(message, code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _fail(message: str, code: ExitCode) -> int:
    print(f"wattzon: error: {message}", file=sys.stderr, flush=True)
    return code


class _LineFormatter(logging.Formatter):
    """``wattzon: warning: <message>``, email addresses masked like error lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"wattzon: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_emails(line)


@contextlib.contextmanager
def _sdk_logging(debug: bool) -> Iterator[None]:
    """Send the SDK's log records to stderr while a command runs."""
    logger = logging.getLogger("wattzon_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter())
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    previous = logger.level
    if debug:
        logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
