"""A job's document: as JSON with base64 content, or streamed raw to a file.

Downloads to a path share ``_download`` with Link's bill PDFs: a sanitised server file
name, a temporary file renamed into place only when complete, a body checked against its
``Content-Length``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, overload

from .._errors import ValidationError
from .._http import Retry
from .._validation import check_job_id
from ..models import Document
from ._base import Resource
from ._download import body_chunks, safe_file_name, save_to_path

__all__ = ["Documents", "safe_file_name"]


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
        from .._serde._converter import structure_document

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
        return await save_to_path(
            self._sender,
            url,
            dest,
            fallback=f"job-{job_id}-document",
            deadline=deadline,
            overwrite=overwrite,
            params={"raw": "yes"},
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
                async for chunk in body_chunks(response, self._sender.config.max_download_size):
                    dest.write(chunk)
                    written += len(chunk)
            return written

        return await self._sender.retrying(
            attempt, retry=Retry.IDEMPOTENT, deadline=deadline, what=f"GET {url}"
        )
