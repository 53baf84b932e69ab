"""The OpenAI SDK as a peer in benchmark 1: the same GET through another typed SDK.

The OpenAI Python SDK (a dev-only dependency) is a widely used asyncio SDK with retries,
typed responses and per-request options, built on an httpx-style stack of its own
(``httpx2``). Pointed at the emulator with the same client certificate, it sends the
same GET of the same COMPLETE job (``client.get(path, cast_to=object)``: its whole send
path, the JSON decoded, no model). Its cost is measured the way ours is, against a raw
client of its own stack, so the two ratios compare SDKs and not HTTP stacks.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["peer_gets"]

Call = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def peer_gets(
    base_url: str, path: str, context: ssl.SSLContext, connections: int
) -> AsyncIterator[tuple[Call, Call] | None]:
    """The GET of ``path`` through the OpenAI SDK and through raw httpx2 (None if absent).

    Args:
        base_url: The API's base URL (the emulator's ``snap_url``).
        path: The job's path under it (``jobs/<id>/``).
        context: The SSLContext with the client certificate.
        connections: The pool size of both clients.
    """
    try:
        import httpx2
        import openai
    except ImportError:
        yield None
        return
    limits = httpx2.Limits(
        max_connections=connections, max_keepalive_connections=min(connections, 20)
    )
    async with (
        httpx2.AsyncClient(verify=context, limits=limits, timeout=120.0) as raw,
        httpx2.AsyncClient(verify=context, limits=limits, timeout=120.0) as http,
        openai.AsyncOpenAI(
            api_key="benchmark", base_url=base_url, http_client=http, max_retries=2
        ) as peer,
    ):
        url = base_url + path

        async def peer_call() -> None:
            data: Any = await peer.get(path, cast_to=object)
            assert data["id"]

        async def raw_call() -> None:
            response = await raw.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            response.json()

        yield peer_call, raw_call
