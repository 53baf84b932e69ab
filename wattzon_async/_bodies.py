"""Reading a response body within a limit: what a peer sends cannot take our memory.

The send path (``_http``) reads every JSON answer through :func:`read_bounded` and every
error body through :func:`read_head`; downloads (``resources._download``) stream through
:func:`bounded_chunks`. A ``Content-Length`` over the limit is refused before anything
is read, an endless body as soon as it passes the limit, and the error names the limit
and the setting that holds it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncGenerator

from ._errors import UnexpectedResponseError
from ._httpx import httpx

__all__ = ["ERROR_BODY_LIMIT", "bounded_chunks", "read_bounded", "read_head"]

_DIGITS = re.compile(r"[0-9]+")
#: How much of an error body is read: its message is cut to 500 characters anyway.
ERROR_BODY_LIMIT = 64 * 1024


def _size_text(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _too_large(response: httpx.Response, limit: int, setting: str) -> UnexpectedResponseError:
    url = response.request.url.copy_with(query=None, fragment=None)
    return UnexpectedResponseError(
        f"the answer from {url} is larger than the limit of {_size_text(limit)} "
        f"({setting}={limit}); it was not read further"
    )


async def bounded_chunks(
    response: httpx.Response, limit: int | None, *, setting: str
) -> AsyncGenerator[bytes, None]:
    """The chunks of a streamed body, refused as soon as they add up to more than ``limit``.

    A ``Content-Length`` over the limit is refused before anything is read, an endless
    body once the limit is passed: memory (or disk) stays bounded whatever the peer sends.

    Args:
        response: A streamed response.
        limit: The most bytes (decoded) accepted; None for no limit.
        setting: The setting that holds the limit, named in the error.

    Raises:
        UnexpectedResponseError: The body is (or announces to be) larger than ``limit``.
    """
    if limit is not None:
        declared = response.headers.get("content-length", "").strip()
        if _DIGITS.fullmatch(declared) and (len(declared) > 18 or int(declared) > limit):
            raise _too_large(response, limit, setting)
    received = 0
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if limit is not None and received > limit:
            raise _too_large(response, limit, setting)
        yield chunk


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """A whole body of at most ``limit`` bytes (see ``bounded_chunks``).

    Raises:
        UnexpectedResponseError: The body is larger (``max_response_size`` is named).
    """
    chunks = bounded_chunks(response, limit, setting="max_response_size")
    async with contextlib.aclosing(chunks):
        return b"".join([chunk async for chunk in chunks])


async def read_head(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of a body (an error's message); the rest is never read."""
    data = bytearray()
    chunks = response.aiter_bytes()
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            data += chunk
            if len(data) >= limit:
                break
    return bytes(data[:limit])
