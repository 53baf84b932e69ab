"""The argparse tree of ``wattzon``: every command, option and help text in one place.

Connection flags, ``--json`` and ``--debug`` are accepted both before the command and
after it (``wattzon --json jobs list`` and ``wattzon jobs list --json``). A usage error is
raised as :class:`UsageError` instead of argparse's exit, so the runner can print it as
the one ``wattzon: error:`` line and return exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from . import _cert, _commands, _submit
from ._errors import exit_codes_help

__all__ = ["EPILOG", "SUBMIT_EPILOG", "UsageError", "build_parser"]

EPILOG = """\
settings: each flag wins over its variable: --cert over WATTZON_CERT, --key over
WATTZON_KEY, --key-password over WATTZON_KEY_PASSWORD, --ca-bundle over
WATTZON_CA_BUNDLE, --snap-url over WATTZON_SNAP_URL, --link-url over WATTZON_LINK_URL.
The certificate and its key are taken each on its own, so --cert alone pairs with
WATTZON_KEY and --key alone with WATTZON_CERT; for a combined PEM or .p12 file while
WATTZON_KEY is set, pass --key ''.

""" + exit_codes_help()


SUBMIT_EPILOG = """\
resuming:
  With --out FILE, the batch keeps a journal beside it, FILE.journal, which records
  each upload before it is sent, its job id right after, and how it ended. Running
  the same command again resumes: finished files are reported without being sent
  again, jobs still running are waited for, uploads whose answer was lost are looked
  up by their idempotency tag, and only files never sent are submitted; it says so
  ("resuming from FILE.journal: 38 done, 2 waiting, 10 to submit"). Files added to
  the command are submitted; --fresh deletes the journal and submits every file
  again, as new jobs. --journal URL keeps the journal elsewhere: in PostgreSQL
  (postgresql://USER:PASSWORD@HOST/DB?batch=NAME), the same command run on several
  machines shares the batch out, and a machine that dies leaves its files to the
  others (after a 30 s lease).

interrupting:
  Ctrl-C (SIGINT) or SIGTERM stops the batch: nothing more is uploaded, uploads in
  flight finish, and FILE is written with a row for every file (PENDING ones with
  their job ids, NOT SUBMITTED ones without), then the command exits 130 and says how
  to resume. A second Ctrl-C quits at once. FILE is only ever replaced whole.
"""


class UsageError(Exception):
    """A command line argparse rejected; the message names the command."""


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations: ``--ke=X`` would be "ambiguous", quoting X."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {_unrecognized(extras)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("wattzon").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message} (see '{self.prog} --help')")


def _unrecognized(extras: Sequence[str]) -> str:
    """Arguments argparse did not take, without the values of unknown options.

    The value after an option this command does not have (``cert csr --key-password X``)
    may be a secret, so it is never repeated: only the option's name is.
    """
    shown: list[str] = []
    after_option = False
    for token in extras:
        if token.startswith("-") and len(token) > 1:
            name, equals, _ = token.partition("=")
            shown.append(f"{name}=…" if equals else name)
            after_option = True
        else:
            shown.append("…" if after_option else token)
    return " ".join(shown)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text}")
    return value


def _interval(text: str) -> float:
    value = _seconds(text)
    if value < 0.01:
        raise argparse.ArgumentTypeError(f"must be at least 0.01 seconds: {text}")
    return value


def _common(defaults: Any) -> argparse.ArgumentParser:
    """Connection and output flags, with ``defaults`` (SUPPRESS on subcommands)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection (flags win over WATTZON_* variables)")
    group.add_argument("--cert", default=defaults, metavar="PATH", help="client certificate")
    group.add_argument("--key", default=defaults, metavar="PATH", help="its private key")
    group.add_argument(
        "--key-password",
        default=defaults,
        metavar="PASSWORD",
        help="password of the key or .p12 (prefer WATTZON_KEY_PASSWORD: flags show in ps)",
    )
    group.add_argument("--ca-bundle", default=defaults, metavar="PATH", help="CA to trust")
    group.add_argument("--snap-url", default=defaults, metavar="URL", help="Snap API base URL")
    group.add_argument("--link-url", default=defaults, metavar="URL", help="Link API base URL")
    _output_flags(parent, defaults)
    return parent


def _output_flags(parser: argparse.ArgumentParser, defaults: Any) -> None:
    flag = False if defaults is None else defaults
    parser.add_argument("--json", action="store_true", default=flag, help="print JSON")
    parser.add_argument(
        "--debug", action="store_true", default=flag, help="show tracebacks and debug logs"
    )


Handler = Callable[..., Any]


def _leaf(
    sub: Any, name: str, handler: Handler, help_text: str, parents: list[argparse.ArgumentParser]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=help_text, parents=parents
    )
    parser.set_defaults(handler=handler)
    return parser


def _group(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(title="commands", metavar="COMMAND", required=True)


def build_parser() -> argparse.ArgumentParser:
    """The ``wattzon`` parser; each command sets ``handler`` in the namespace."""
    parser = _Parser(
        prog="wattzon",
        description="Submit utility bills to WattzOn Snap and read the results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common(None)],
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"wattzon {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    api = [_common(argparse.SUPPRESS)]
    _add_submit(sub, api)
    _add_jobs(sub, api)
    _add_document(sub, api)
    _add_link(sub, api)
    _add_cert(sub)
    local = [_plain_flags()]
    emu = _leaf(sub, "emulator", _commands.emulator, "serve a local WattzOn API", local)
    emu.set_defaults(tables=False)
    emu.add_argument(
        "--dir",
        default=".wattzon-emulator",
        help="folder for its certificates, jobs and ports, all kept across restarts "
        "(queued SQS messages are not)",
    )
    emu.add_argument(
        "--port",
        type=int,
        default=0,
        help="port on 127.0.0.1 (default: the one used last time in --dir, else a free one)",
    )
    emu.add_argument(
        "--sqs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run an SQS queue (moto) for notifications (default: yes)",
    )
    emu.add_argument(
        "--processing-time", type=_seconds, default=5.0, metavar="S", help="seconds a job takes"
    )
    demo = _leaf(sub, "demo", _commands.demo, "run the demo against a local emulator", local)
    demo.set_defaults(tables=False)
    return parser


def _add_document(sub: Any, api: list[argparse.ArgumentParser]) -> None:
    docs = _group(sub, "document", "a job's document")
    download = _leaf(
        docs,
        "download",
        _commands.document_download,
        "save the document a job was created with; refuses to replace a file unless --force "
        "(exit code 2)",
        api,
    )
    download.add_argument(
        "id",
        type=_positive_int,
        metavar="JOB_ID",
        help="the job's id (the ID column of `wattzon jobs list`), not its document's id",
    )
    download.add_argument("--dest", default=".", help="directory or file (default: here)")
    download.add_argument("--force", action="store_true", help="replace an existing file")


def _plain_flags() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    return parent


def _add_submit(sub: Any, api: list[argparse.ArgumentParser]) -> None:
    submit = _leaf(sub, "submit", _submit.submit, "submit bills for extraction", api)
    submit.add_argument("files", nargs="+", metavar="FILE", help="bills (PDF or image)")
    submit.add_argument(
        "--provider", type=_positive_int, required=True, metavar="N", help="provider id"
    )
    submit.add_argument("--email", required=True, metavar="E", help="the customer's email")
    submit.add_argument("--tag", action="append", default=[], metavar="T", help="repeatable")
    submit.add_argument(
        "--wait",
        action="store_true",
        help="wait for each job to finish: by SQS notifications racing polls when "
        "WATTZON_SQS_QUEUE_URL is set, else by polling",
    )
    submit.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help="deadline of each wait; exit code 5 when timeouts are the only failures",
    )
    submit.add_argument(
        "--concurrency", type=_positive_int, default=8, metavar="N", help="uploads at once"
    )
    submit.add_argument(
        "--any-document",
        action="store_true",
        help="upload files that are no PDF or image too (by default each file's first "
        "bytes are checked, and one that is no bill is refused before anything is sent)",
    )
    submit.epilog = SUBMIT_EPILOG
    submit.formatter_class = argparse.RawDescriptionHelpFormatter
    submit.add_argument(
        "--out",
        metavar="FILE",
        help="one row per file: results.csv or results.jsonl; keeps FILE.journal beside "
        "it, so running the same command again resumes (see below)",
    )
    submit.add_argument(
        "--journal",
        metavar="URL",
        help="keep the journal there instead of FILE.journal: a file, sqlite:///PATH, or "
        "postgresql://USER:PASSWORD@HOST/DB?batch=NAME, which processes on several "
        "machines running the same command share (each file is submitted by one of them)",
    )
    submit.add_argument(
        "--fresh",
        action="store_true",
        help="delete the journal (FILE.journal, or --journal) first and submit every file again",
    )
    _results_flag(submit)
    _poll_flag(submit)


def _add_jobs(sub: Any, api: list[argparse.ArgumentParser]) -> None:
    jobs = _group(sub, "jobs", "Snap jobs")
    listing = _leaf(jobs, "list", _commands.jobs_list, "the most recent jobs", api)
    listing.add_argument("--tag", help="only jobs with this tag")
    get = _leaf(jobs, "get", _commands.jobs_get, "one job, with results", api)
    get.add_argument("id", type=_positive_int, metavar="ID", help="job id")
    _results_flag(get)
    wait = _leaf(jobs, "wait", _commands.jobs_wait, "wait for a job to finish", api)
    wait.add_argument("id", type=_positive_int, metavar="ID", help="job id")
    wait.add_argument(
        "--timeout", type=_seconds, metavar="S", help="give up after S seconds (exit code 5)"
    )
    _results_flag(wait)
    _poll_flag(wait)


def _add_link(sub: Any, api: list[argparse.ArgumentParser]) -> None:
    zips = _group(sub, "zips", "zip code look-ups")
    zip_get = _leaf(zips, "get", _commands.zips_get, "where a zip code is", api)
    zip_get.add_argument("zipcode", metavar="ZIP", help="5-digit zip code")
    utilities = _group(sub, "utilities", "utility providers")
    find = _leaf(utilities, "find", _commands.utilities_find, "find provider ids", api)
    find.add_argument("--zipcode", metavar="Z", help="zip code served")
    find.add_argument("--name", metavar="N", help="name to match")
    find.add_argument("--type", choices=("electric", "gas", "water"), help="kind of utility")
    util_get = _leaf(utilities, "get", _commands.utilities_get, "one provider", api)
    util_get.add_argument("id", type=_positive_int, metavar="ID", help="provider id")
    link = _group(sub, "link", "Link data")
    bills = _leaf(
        link,
        "bills",
        _commands.link_bills,
        "bills of a Link profile; with --pdf DIR, also each bill's PDF, never replacing a "
        "file unless --force (exit code 2)",
        api,
    )
    bills.add_argument("profile_id", metavar="PROFILE_ID", help="from a Link notification")
    bills.add_argument(
        "--pdf",
        metavar="DIR",
        help="save each bill's PDF into DIR (made, owner-only, if missing), named as the "
        "server names it; only from the Link or Snap host, never following a redirect",
    )
    bills.add_argument("--force", action="store_true", help="with --pdf: replace existing files")
    bills.add_argument(
        "--skip-existing",
        action="store_true",
        help="with --pdf: keep files already there and fetch only the missing PDFs (a rerun)",
    )


def _add_cert(sub: Any) -> None:
    cert = _group(sub, "cert", "client certificates")
    plain = argparse.ArgumentParser(add_help=False)
    _output_flags(plain, argparse.SUPPRESS)
    csr = _leaf(cert, "csr", _cert.cert_csr, "make a private key and a CSR for WattzOn", [plain])
    csr.add_argument("--common-name", required=True, metavar="CN", help="subject common name")
    csr.add_argument("--organization", metavar="O", help="subject organization")
    csr.add_argument("--email", metavar="E", help="subject contact email")
    csr.add_argument("--key", dest="key_out", default="client.key", help="key file to write")
    csr.add_argument("--csr", dest="csr_out", default="client.csr", help="CSR file to write")
    csr.add_argument("--force", action="store_true", help="replace existing files")
    check = _leaf(cert, "check", _cert.cert_check, "show a certificate's expiry", [plain])
    check.add_argument("path", nargs="?", metavar="PATH", help="default: WATTZON_CERT")
    check.add_argument(
        "--key-password",
        default=argparse.SUPPRESS,
        metavar="PASSWORD",
        help="password of a .p12 file (default: WATTZON_KEY_PASSWORD)",
    )


def _results_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", choices=("raw", "transformed"), default="raw", help="results form"
    )


def _poll_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval",
        type=_interval,
        metavar="S",
        help="seconds before the first poll, growing after (default 5)",
    )
