"""Streaming a response body into a file atomically: what every download shares.

``documents.download`` and ``link.download_pdf`` both save a server-named file. A
download never trusts the server's file name as a path: it keeps only a sanitised base
name. The body is written to a temporary file beside its final place, flushed to disk,
and moved into it (``os.replace``, or a hard link that cannot replace) only when
complete, so a failed or interrupted download leaves nothing half-written behind, and a
retried one starts over. A body longer than ``max_download_size`` (256 MiB by default)
is refused as soon as it passes the limit, and nothing is left on disk. A body shorter
(or longer) than its ``Content-Length`` is a broken connection
(:class:`APIConnectionError`, retried like one), whatever the transport let through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Mapping
from email.message import Message
from pathlib import Path

from .._bodies import bounded_chunks
from .._errors import APIConnectionError, ValidationError
from .._http import Retry, Sender
from .._httpx import httpx

__all__ = ["body_chunks", "check_destination", "safe_file_name", "save_to_path"]

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_file_name(name: str | None, fallback: str) -> str:
    """Reduce a server-given file name to a harmless base name, or use ``fallback``."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFKC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name or name in (".", ".."):
        return fallback
    stem, dot, ext = name.rpartition(".")
    if len(name) > 200:
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot else name[:200]
    return name


async def body_chunks(response: httpx.Response, limit: int | None) -> AsyncIterator[bytes]:
    """The chunks of a streamed body, then a check that all of it arrived.

    Args:
        response: The streamed response.
        limit: The most bytes a download may write (``max_download_size``; None: no
            limit).

    Raises:
        APIConnectionError: The body ended before (or after) its ``Content-Length``
            (checked when the body is not content-encoded, as then its length is the
            decoded length).
        UnexpectedResponseError: The body is larger than ``limit``.
    """
    received = 0
    async for chunk in bounded_chunks(response, limit, setting="max_download_size"):
        received += len(chunk)
        yield chunk
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if declared.isascii() and declared.isdigit() and not encoded and int(declared) != received:
        url = response.request.url.copy_with(query=None, fragment=None)
        raise APIConnectionError(
            f"the download from {url} broke off: {received:,} bytes arrived where its "
            f"Content-Length announced {int(declared):,}",
            request_sent=True,
        )


def _disposition_name(header: str | None) -> str | None:
    """The file name a ``Content-Disposition`` header gives (``filename*`` first), if any."""
    if not header:
        return None
    message = Message()
    message["content-disposition"] = header
    name = message.get_filename()
    return name if isinstance(name, str) else None


def _refuse_existing(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise FileExistsError(errno.EEXIST, "File exists", str(path))


def _move(part: str, target: Path, *, overwrite: bool) -> None:
    """Put the finished file in place: replacing, or never over a file that exists."""
    if overwrite:
        os.replace(part, target)
        return
    try:
        os.link(part, target)  # fails, atomically, when the target exists
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links
        _refuse_existing(target)
        os.replace(part, target)
    else:
        os.unlink(part)


def check_destination(dest: Path, *, overwrite: bool) -> Path:
    """Check ``dest`` before anything is sent; returns the folder the file goes in.

    Raises:
        ValidationError: The folder does not exist (``field="dest"``).
        FileExistsError: ``overwrite`` is false and ``dest`` is an existing file.
    """
    folder = dest if dest.is_dir() else dest.parent
    if not folder.is_dir():
        raise ValidationError(f"dest: no such directory: {folder}", field="dest")
    if not overwrite and not dest.is_dir():
        _refuse_existing(dest)
    return folder


async def save_to_path(
    sender: Sender,
    url: str,
    dest: Path,
    *,
    fallback: str,
    deadline: float,
    overwrite: bool,
    params: Mapping[str, str] | None = None,
) -> Path:
    """GET ``url`` through ``sender`` and stream its body into ``dest``, atomically.

    Retried like any GET (each attempt starts a fresh temporary file); the temporary
    file is removed on every failure, cancellation included.

    Args:
        sender: The client's send path.
        url: The absolute URL to read.
        dest: A directory (the file is named from ``Content-Disposition``, sanitised, or
            ``fallback``) or a file path.
        fallback: The file name when the server gives none (or only an unsafe one).
        deadline: The call's monotonic deadline, retries included.
        overwrite: Replace a file already at the path written (else FileExistsError).
        params: Query parameters.

    Returns:
        The path written.

    Raises:
        ValidationError: ``dest`` is in no existing directory (nothing is sent).
        FileExistsError: ``overwrite`` is false and the file exists (``.filename``).
        APIConnectionError: The body broke off on every attempt.
    """
    folder = check_destination(dest, overwrite=overwrite)

    async def attempt() -> Path:
        fd, part = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as file:
                async with sender.streaming("GET", url, params=params, deadline=deadline) as r:
                    target = dest
                    if dest.is_dir():
                        header = r.headers.get("content-disposition")
                        target = folder / safe_file_name(_disposition_name(header), fallback)
                    if not overwrite:
                        _refuse_existing(target)
                    async for chunk in body_chunks(r, sender.config.max_download_size):
                        file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
            _move(part, target, overwrite=overwrite)
            return target
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            raise

    return await sender.retrying(
        attempt, retry=Retry.IDEMPOTENT, deadline=deadline, what=f"GET {url}"
    )
