"""A job's document: as JSON with base64 content, or streamed raw to a file.

A download never trusts the server's file name as a path: it keeps only a sanitised base
name, and the file is written beside its final place and renamed into it only when
complete, so a failed download leaves nothing half-written behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import unicodedata
from email.message import Message
from pathlib import Path
from typing import BinaryIO, overload

from .._errors import ValidationError
from .._http import Retry
from .._serde import structure_document
from .._validation import check_job_id
from ..models import Document
from ._base import Resource

__all__ = ["Documents", "safe_file_name"]

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


def _disposition_name(header: str | None) -> str | None:
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


class Documents(Resource):
    """``client.documents``: the document a job was created with."""

    async def get(self, job_id: int | str, *, timeout: float | None = None) -> Document:
        """Read a job's document with its content decoded to bytes.

        For large documents prefer ``download``, which streams.

        Raises:
            NotFoundError: No such job. PermissionDeniedError: another client's job.
        """
        jid = check_job_id(job_id)
        data = await self._sender.request(
            "GET", self._snap("jobs", jid, "document"), deadline=self._sender.deadline(timeout)
        )
        return structure_document(data)

    @overload
    async def download(
        self,
        job_id: int | str,
        dest: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        overwrite: bool = True,
    ) -> Path: ...

    @overload
    async def download(
        self, job_id: int | str, dest: BinaryIO, *, timeout: float | None = None
    ) -> int: ...

    async def download(
        self,
        job_id: int | str,
        dest: str | os.PathLike[str] | BinaryIO,
        *,
        timeout: float | None = None,
        overwrite: bool = True,
    ) -> Path | int:
        """Stream a job's raw document (``?raw=yes``) to a path or a binary file.

        Args:
            job_id: The job.
            dest: A directory (the file is named after the document, sanitised), a file
                path, or a binary file object.
            timeout: Overall deadline of this call in seconds, retries included.
            overwrite: Replace a file already at the path written. When false, an
                existing file is left alone and ``FileExistsError`` raised: before
                anything is sent for a file path, as soon as the server has named the
                document for a directory, and atomically at the end either way.

        Returns:
            The path written, or the number of bytes written to a file object.

        Raises:
            FileExistsError: ``overwrite`` is false and the file exists (``.filename``).
        """
        jid = check_job_id(job_id)
        deadline = self._sender.deadline(timeout)
        url = self._snap("jobs", jid, "document")
        if hasattr(dest, "write"):
            return await self._to_stream(url, dest, deadline)  # type: ignore[arg-type]
        return await self._to_path(url, Path(dest), jid, deadline, overwrite)

    async def _to_path(
        self, url: str, dest: Path, job_id: int, deadline: float, overwrite: bool
    ) -> Path:
        folder = dest if dest.is_dir() else dest.parent
        if not folder.is_dir():
            raise ValidationError(f"dest: no such directory: {folder}", field="dest")
        if not overwrite and not dest.is_dir():
            _refuse_existing(dest)

        async def attempt() -> Path:
            fd, part = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
            try:
                with os.fdopen(fd, "wb") as file:
                    async with self._sender.streaming(
                        "GET", url, params={"raw": "yes"}, deadline=deadline
                    ) as response:
                        target = dest
                        if dest.is_dir():
                            header = response.headers.get("content-disposition")
                            name = safe_file_name(
                                _disposition_name(header), f"job-{job_id}-document"
                            )
                            target = folder / name
                        if not overwrite:
                            _refuse_existing(target)
                        async for chunk in response.aiter_bytes():
                            file.write(chunk)
                _move(part, target, overwrite=overwrite)
                return target
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(part)
                raise

        return await self._sender.retrying(
            attempt, retry=Retry.IDEMPOTENT, deadline=deadline, what=f"GET {url}"
        )

    async def _to_stream(self, url: str, dest: BinaryIO, deadline: float) -> int:
        seekable = getattr(dest, "seekable", lambda: False)()
        start = dest.tell() if seekable else 0
        written = 0

        async def attempt() -> int:
            nonlocal written
            if written:
                if not seekable:
                    raise ValidationError(
                        "dest: the download broke off and the file cannot be rewound",
                        field="dest",
                    )
                dest.seek(start)
                dest.truncate()
                written = 0
            async with self._sender.streaming(
                "GET", url, params={"raw": "yes"}, deadline=deadline
            ) as response:
                async for chunk in response.aiter_bytes():
                    dest.write(chunk)
                    written += len(chunk)
            return written

        return await self._sender.retrying(
            attempt, retry=Retry.IDEMPOTENT, deadline=deadline, what=f"GET {url}"
        )
