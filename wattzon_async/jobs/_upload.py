"""A document to upload, checked up front and streamed as base64 inside the JSON body.

The create-job body is ``{"email": ..., "document": {"name": ..., "content": "<base64>"}}``.
Building it with one ``json.dumps`` holds the file, its base64 and the JSON text in memory
at once (about 4x the file). Here the JSON around the content is written once, and the
content is read and encoded in chunks as the request is sent, with an exact
Content-Length, so an upload in flight holds about one chunk. Each attempt re-reads the
source, so a retried upload costs no extra memory either. A document is also checked by
its first bytes to be a PDF or a bill photo (``_doctype``), unless the caller opts out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from .._doctype import HEAD_SIZE, check_document_kind
from .._errors import DocumentTooLargeError, ValidationError

__all__ = ["DocumentSource", "DocumentInput"]

#: A multiple of 3, so that chunks encode to base64 without padding in the middle.
CHUNK = 3 * 64 * 1024

DocumentInput = Path | str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


@frozen
class DocumentSource:
    """A checked document: its file name, its size in bytes, and how to read it again."""

    name: str
    size: int
    path: Path | None = None
    data: bytes | None = None
    stream: BinaryIO | None = None
    offset: int = 0

    @classmethod
    def of(
        cls, document: DocumentInput, *, name: str | None, limit: int, check_kind: bool = True
    ) -> DocumentSource:
        """Check a document (exists, not empty, within ``limit``) without reading it all.

        Args:
            document: A path, bytes or a binary file (read from its current position).
            name: The file name sent (None: the path's or the file's).
            limit: The largest size accepted, in bytes.
            check_kind: Also check by its first bytes that it is a PDF or a bill photo
                (``_doctype.check_document_kind``).

        Raises:
            ValidationError: Missing, unreadable, empty, too large, or not a bill.
        """
        source = cls._of(document, name=name, limit=limit)
        if check_kind:
            check_document_kind(source.head(), name=source.name)
        return source

    @classmethod
    def _of(cls, document: DocumentInput, *, name: str | None, limit: int) -> DocumentSource:
        if isinstance(document, str | os.PathLike):
            return cls._of_path(Path(document), name=name, limit=limit)
        if isinstance(document, bytes | bytearray | memoryview):
            data = bytes(document)
            return cls(size=_checked(len(data), limit), name=_name(name, None), data=data)
        if hasattr(document, "read"):
            return cls._of_stream(document, name=name, limit=limit)
        raise ValidationError(
            f"document: must be a path, bytes or a binary file, not {type(document).__name__}",
            field="document",
        )

    @classmethod
    def _of_path(cls, path: Path, *, name: str | None, limit: int) -> DocumentSource:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ValidationError(f"document: no such file: {path}", field="document") from None
        except OSError as exc:
            raise ValidationError(
                f"document: cannot read {path}: {exc.strerror}", field="document"
            ) from None
        if not path.is_file():
            raise ValidationError(f"document: not a regular file: {path}", field="document")
        if not os.access(path, os.R_OK):
            raise ValidationError(f"document: no permission to read {path}", field="document")
        return cls(size=_checked(stat.st_size, limit), name=_name(name, path.name), path=path)

    @classmethod
    def _of_stream(cls, stream: BinaryIO, *, name: str | None, limit: int) -> DocumentSource:
        file_name = getattr(stream, "name", None)
        default = Path(file_name).name if isinstance(file_name, str) else None
        seekable = getattr(stream, "seekable", lambda: False)()
        if not seekable:
            data = stream.read(limit + 1)
            if not isinstance(data, bytes):
                raise ValidationError("document: the file must be opened in binary mode")
            return cls(size=_checked(len(data), limit), name=_name(name, default), data=data)
        offset = stream.tell()
        size = stream.seek(0, io.SEEK_END) - offset
        stream.seek(offset)
        return cls(
            size=_checked(size, limit), name=_name(name, default), stream=stream, offset=offset
        )

    def head(self) -> bytes:
        """The first ``HEAD_SIZE`` bytes of the content (a stream is put back where it was)."""
        try:
            if self.data is not None:
                return self.data[:HEAD_SIZE]
            if self.path is not None:
                with self.path.open("rb") as file:
                    return file.read(HEAD_SIZE)
            assert self.stream is not None
            self.stream.seek(self.offset)
            head = self.stream.read(HEAD_SIZE)
            self.stream.seek(self.offset)
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"document: {self.name} could not be read "
                f"({getattr(exc, 'strerror', None) or exc})",
                field="document",
            ) from exc
        return head if isinstance(head, bytes) else b""

    def encoded_size(self) -> int:
        """Length of the base64 text of the content."""
        return 4 * ((self.size + 2) // 3)

    def chunks(self) -> Iterator[bytes]:
        """Read the raw content in chunks, from the start, checking it did not change size."""
        read = 0
        for chunk in self._raw_chunks():
            read += len(chunk)
            if read > self.size:
                break
            yield chunk
        if read != self.size:
            raise ValidationError(
                f"document: {self.name} changed size while it was being uploaded",
                field="document",
            )

    def _raw_chunks(self) -> Iterator[bytes]:
        try:
            yield from self._read()
        except (OSError, ValueError) as exc:  # ValueError: a file closed by its owner
            raise ValidationError(
                f"document: {self.name} could not be read while it was being uploaded "
                f"({getattr(exc, 'strerror', None) or exc})",
                field="document",
            ) from exc

    def _read(self) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, self.size, CHUNK):
                yield bytes(view[start : start + CHUNK])
        elif self.path is not None:
            with self.path.open("rb") as file:
                yield from iter(lambda: file.read(CHUNK), b"")
        elif self.stream is not None:
            self.stream.seek(self.offset)
            yield from iter(lambda: self.stream.read(CHUNK) if self.stream else b"", b"")

    def sha256(self) -> str:
        """The SHA-256 of the content (hex), read in chunks: never the whole file at once.

        Blocking file I/O: call it from a worker thread in async code.
        """
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        if self.stream is not None:
            self.stream.seek(self.offset)  # where it was: the upload reads it from there
        return digest.hexdigest()

    def body(self, prefix: bytes, suffix: bytes) -> tuple[int, AsyncIterator[bytes]]:
        """The request body: ``prefix``, the base64 content in chunks, ``suffix``."""
        length = len(prefix) + self.encoded_size() + len(suffix)

        async def stream() -> AsyncIterator[bytes]:
            yield prefix
            for chunk in self.chunks():
                yield base64.b64encode(chunk)
            yield suffix

        return length, stream()


def _name(explicit: str | None, default: str | None) -> str:
    name = explicit if explicit is not None else default
    if not name or not name.strip():
        raise ValidationError(
            "name: a file name with an extension is required when the document is bytes "
            "or a file without a name",
            field="name",
        )
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ValidationError(f"name: must be a file name, not a path: {name!r}", field="name")
    return name


def _checked(size: int, limit: int) -> int:
    if size == 0:
        raise ValidationError("document: the document is empty", field="document")
    if size > limit:
        raise DocumentTooLargeError(size, limit)
    return size
