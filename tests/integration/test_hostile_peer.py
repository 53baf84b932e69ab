"""Trust no peer: the client against a real mTLS server that misbehaves on purpose.

Each test here failed on 0.x main before issue 26: an absurd ``Retry-After`` stopped a
client for good, a body that never ends took all memory, a dot segment left its path.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from wattzon_async import RateLimitError, RetryPolicy
from wattzon_async.emulator import Emulator

from .hostile import HostileServer, Request, Respond, json_response

pytestmark = pytest.mark.integration

ABSURD_RETRY_AFTER = [
    "1000000000",
    "1e308",
    "Fri, 01 Jan 2100 00:00:00 GMT",
    "9" * 400,
]


@pytest.fixture(scope="module")
def server_cert(wattzon_emulator: Emulator) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 from the emulator's CA (so clients trust it)."""
    return wattzon_emulator.issue_client_cert("127.0.0.1", server_names=("127.0.0.1",))


@pytest.fixture
def hostile(
    wattzon_emulator: Emulator, server_cert: tuple[Path, Path]
) -> Callable[[Respond], HostileServer]:
    """Make a ``HostileServer`` with ``respond``: ``with hostile(respond) as server``."""
    cert, key = server_cert
    return functools.partial(HostileServer, cert, key, wattzon_emulator.ca_cert)


# -- Retry-After is capped ------------------------------------------------------------------


@pytest.mark.parametrize("absurd", ABSURD_RETRY_AFTER)
async def test_an_absurd_retry_after_pauses_the_client_no_longer_than_its_cap(
    wattzon_emulator: Emulator,
    hostile: Callable[[Respond], HostileServer],
    absurd: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def respond(request: Request, conn: ssl.SSLSocket) -> int:
        if request.number < 2:
            answer = json_response(
                b'{"error": "slow down"}', "429 Too Many Requests", f"Retry-After: {absurd}\r\n"
            )
        else:
            answer = json_response(b"[]")
        conn.sendall(answer)
        return len(answer)

    policy = RetryPolicy(attempts=2, wait_initial=0.01, max_retry_after=0.2)
    caplog.set_level(logging.WARNING, logger="wattzon_async")
    with hostile(respond) as server:
        client = wattzon_emulator.client(snap_url=server.url, link_url=server.url, retry=policy)
        async with client:
            with pytest.raises(RateLimitError) as caught:
                await client.jobs.list(timeout=30)
            # Two absurd answers, then one that works: the client is not stopped for good.
            assert await client.jobs.list(timeout=30) == []
    assert caught.value.retry_after == 120.0
    assert caught.value.retry_after_asked is not None
    assert caught.value.retry_after_asked > 120.0
    warnings = [r for r in caplog.records if "Retry-After" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "at most 0.2 s" in warnings[0].getMessage()
