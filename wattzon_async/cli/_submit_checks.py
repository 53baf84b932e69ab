"""What ``wattzon submit`` checks before anything is sent: files, shared arguments, bills.

A typo costs nothing: the email, provider and tags every submission shares are checked
once, and every bill is checked (it exists, is within the size limit, and is a PDF or an
image by its first bytes) before the first upload. Any problem is a usage error (exit
code 2), as ``wattzon --help`` says.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import ValidationError
from ..models import Submission
from ._context import describe
from ._errors import CliError, ExitCode

if TYPE_CHECKING:
    from .._client import WattzOnClient

__all__ = ["check_common", "check_documents", "check_out", "checked_files"]


def checked_files(names: list[str]) -> list[Path]:
    """The bills named on the command line as paths; each must be an existing file."""
    paths = [Path(name) for name in names]
    for path in paths:
        if not path.exists():
            raise CliError(f"no such file: {path}", ExitCode.USAGE)
        if not path.is_file():
            raise CliError(f"not a file: {path}", ExitCode.USAGE)
    return paths


def check_out(out: Path) -> None:
    """Check ``--out``: a ``.csv`` or ``.jsonl`` file in an existing folder."""
    if out.suffix.lower() not in (".csv", ".jsonl"):
        raise CliError(
            f"--out: the file must end in .csv or .jsonl, not {out.name}", ExitCode.USAGE
        )
    if not out.parent.is_dir():
        raise CliError(f"--out: no such directory: {out.parent}", ExitCode.USAGE)


def check_common(client: WattzOnClient, email: str, provider: int, tags: list[str]) -> None:
    """Check what every submission shares once, so a typo fails before any upload."""
    try:
        client.jobs._creator.prepare(
            Submission(
                email=email,
                provider=provider,
                document=b"%",
                name="check.pdf",
                tags=tags,
                check_document=False,
            ),
            keyed=False,
        )
    except ValidationError as exc:
        raise CliError(describe(exc), ExitCode.USAGE) from None


def check_documents(client: WattzOnClient, files: list[Path], *, check: bool) -> None:
    """Check every bill (size, and by its first bytes that it is one) before any upload.

    A bad file is a usage error (exit 2) like a bad email, named with what is wrong.
    """
    problems: list[str] = []
    for path in files:
        try:
            client.jobs._creator.prepare(
                Submission(
                    email="check@example.com",
                    provider=1,
                    document=path,
                    check_document=check,
                ),
                keyed=False,
            )
        except ValidationError as exc:
            problems.append(f"{path}: {describe(exc)}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CliError(f"{problems[0]}{more}; nothing was sent", ExitCode.USAGE)
