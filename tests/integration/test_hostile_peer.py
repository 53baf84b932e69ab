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

from wattzon_async import (
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    UnexpectedResponseError,
    ValidationError,
)
from wattzon_async.emulator import Emulator

from .hostile import HostileServer, Request, Respond, json_response, stream_forever

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


# -- bodies are bounded ---------------------------------------------------------------------

MiB = 1024 * 1024
#: What the server would send if nobody stopped it; the client must stop far sooner.
ENDLESS = 96 * MiB


def endless(status: str = "200 OK", *, chunked: bool = True, length: str = "") -> Respond:
    """Answer with ``status`` and a body that goes on until the client leaves."""
    framing = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n"
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{framing}\r\n".encode()

    def respond(request: Request, conn: ssl.SSLSocket) -> int:
        return stream_forever(conn, head, chunked=chunked, total=ENDLESS)

    return respond


async def test_an_endless_json_body_is_refused_at_the_limit(
    wattzon_emulator: Emulator, hostile: Callable[[Respond], HostileServer]
) -> None:
    with hostile(endless()) as server:
        client = wattzon_emulator.client(
            snap_url=server.url, link_url=server.url, max_response_size=MiB
        )
        async with client:
            with pytest.raises(UnexpectedResponseError, match=r"limit of 1 MiB") as caught:
                await client.jobs.get(1)
    assert "max_response_size=1048576" in str(caught.value)
    assert len(server.requests) == 1  # not retried
    assert server.sent[0] < ENDLESS / 2  # the client stopped reading long before the end


async def test_a_huge_content_length_is_refused_before_reading_with_the_default_limit(
    wattzon_emulator: Emulator, hostile: Callable[[Respond], HostileServer]
) -> None:
    with hostile(endless(chunked=False, length="1000000000000")) as server:
        async with wattzon_emulator.client(snap_url=server.url, link_url=server.url) as client:
            with pytest.raises(UnexpectedResponseError, match=r"limit of 16 MiB"):
                await client.zips.get("94110")
    assert server.sent[0] < ENDLESS / 2


async def test_an_endless_error_body_is_read_only_for_its_message(
    wattzon_emulator: Emulator, hostile: Callable[[Respond], HostileServer]
) -> None:
    with hostile(endless("500 Internal Server Error")) as server:
        client = wattzon_emulator.client(
            snap_url=server.url, link_url=server.url, retry=RetryPolicy(attempts=1)
        )
        async with client:
            with pytest.raises(InternalServerError) as caught:
                await client.jobs.get(1)
    assert len(caught.value.message) <= 501
    assert server.sent[0] < ENDLESS / 2


async def test_an_endless_download_stops_at_its_limit_and_leaves_nothing(
    wattzon_emulator: Emulator, hostile: Callable[[Respond], HostileServer], tmp_path: Path
) -> None:
    with hostile(endless()) as server:
        client = wattzon_emulator.client(
            snap_url=server.url, link_url=server.url, max_download_size=2 * MiB
        )
        async with client:
            with pytest.raises(UnexpectedResponseError, match=r"max_download_size=2097152"):
                await client.documents.download(1, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert server.sent[0] < ENDLESS / 2


async def test_a_download_larger_than_a_json_answer_still_streams_to_disk(
    wattzon_emulator: Emulator, hostile: Callable[[Respond], HostileServer], tmp_path: Path
) -> None:
    body = b"%PDF-1.4\n" + b"0" * (3 * MiB)

    def respond(request: Request, conn: ssl.SSLSocket) -> int:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)
        return len(body)

    with hostile(respond) as server:
        client = wattzon_emulator.client(
            snap_url=server.url, link_url=server.url, max_response_size=MiB
        )
        async with client:
            path = await client.documents.download(1, tmp_path / "bill.pdf")
    assert path.read_bytes() == body


# -- ids stay in their path segment ---------------------------------------------------------

NEVER_SENT: list[tuple[str, object, str]] = [
    ("link.bills", "..", "profile_id"),
    ("link.bills", ".", "profile_id"),
    ("link.bills", "1001/../../snap", "profile_id"),
    ("link.bills", "1001?x=1", "profile_id"),
    ("link.bills", "1001#frag", "profile_id"),
    ("link.bills", "%2e%2e", "profile_id"),
    ("link.bills", "x" * 129, "profile_id"),
    ("jobs.get", "²", "job_id"),
    ("jobs.get", "1" * 5000, "job_id"),
    ("jobs.get", 10**5000, "job_id"),
    ("jobs.get", "٣", "job_id"),
    ("jobs.get", "../1", "job_id"),
    ("documents.get", "1/../2", "job_id"),
    ("zips.get", "\uff19\uff14\uff11\uff11\uff10", "zipcode"),  # full-width digits
    ("zips.get", "../..", "zipcode"),
    ("utilities.get", 2**64, "provider_id"),
]


@pytest.mark.parametrize(
    ("call", "value", "field"),
    NEVER_SENT,
    ids=[f"{call}-{i}" for i, (call, _, _) in enumerate(NEVER_SENT)],
)
async def test_an_id_that_would_leave_its_segment_is_refused_before_anything_is_sent(
    wattzon_emulator: Emulator,
    hostile: Callable[[Respond], HostileServer],
    call: str,
    value: object,
    field: str,
) -> None:
    def respond(request: Request, conn: ssl.SSLSocket) -> int:
        answer = json_response(b"{}")
        conn.sendall(answer)
        return len(answer)

    with hostile(respond) as server:
        async with wattzon_emulator.client(snap_url=server.url, link_url=server.url) as client:
            namespace, method = call.split(".")
            with pytest.raises(ValidationError) as caught:
                await getattr(getattr(client, namespace), method)(value)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert len(str(caught.value)) < 300  # a 5,000-digit id is not echoed whole
    assert server.requests == []
