"""`link.download_pdf` over MockTransport: where it fetches, what it refuses, what it leaves."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wattzon_async import (
    APIConnectionError,
    APIStatusError,
    LinkBill,
    NotFoundError,
    RetryPolicy,
    ValidationError,
)
from wattzon_async._httpx import httpx

from .conftest import LINK, SNAP, MakeClient, Router, json_response

PDF = b"%PDF-1.4 " + b"x" * 5000
BILL_URL = LINK + "data/bills/1001/100103.pdf"
NO_WAIT = RetryPolicy(attempts=2, wait_initial=0, wait_max=0)


def pdf_response(content: bytes = PDF, /, **headers: str) -> httpx.Response:
    return httpx.Response(
        200, content=content, headers={"content-type": "application/pdf", **headers}
    )


class _BrokenStream(httpx.AsyncByteStream):
    """A body that sends its first half and then loses the connection."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content[: len(self.content) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def broken_response(request: httpx.Request) -> httpx.Response:
    headers = {"content-length": str(len(PDF)), "content-type": "application/pdf"}
    return httpx.Response(200, headers=headers, stream=_BrokenStream(PDF))


@pytest.mark.parametrize(
    ("uri", "fetched"),
    [
        ("data/bills/1001/100103.pdf", BILL_URL),  # relative to link_url
        ("/files/100103.pdf", "https://link.test/files/100103.pdf"),  # absolute path
        (BILL_URL, BILL_URL),
        ("https://LINK.test:443/data/1.pdf", "https://link.test/data/1.pdf"),  # same origin
        ("https://snap.test/api/v1/bills/1.pdf", "https://snap.test/api/v1/bills/1.pdf"),
    ],
)
async def test_a_pdf_uri_is_resolved_against_link_url(
    make_client: MakeClient, router: Router, tmp_path: Path, uri: str, fetched: str
) -> None:
    router.add("GET", fetched, pdf_response())
    path = await make_client(router).link.download_pdf(LinkBill(pdf=uri), tmp_path / "b.pdf")
    assert path.read_bytes() == PDF
    assert [str(r.url) for r in router.requests] == [fetched]


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("https://evil.test/bill.pdf", "https://evil.test"),
        ("//evil.test/bill.pdf", "https://evil.test"),  # scheme-relative: another host
        ("https://link.test:8443/bill.pdf", "https://link.test:8443"),  # another port
        ("http://link.test/bill.pdf", "http://link.test"),  # another scheme
        ("https://link.test.evil.test/bill.pdf", "https://link.test.evil.test"),
    ],
)
async def test_a_pdf_on_another_host_is_refused_before_sending(
    make_client: MakeClient, router: Router, tmp_path: Path, uri: str, named: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await make_client(router).link.download_pdf(LinkBill(pdf=uri), tmp_path)
    assert caught.value.field == "pdf"
    assert f"from {named}:" in str(caught.value)
    assert "link.test" in str(caught.value)  # and where PDFs are fetched from
    assert router.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("bill", "message"),
    [
        (LinkBill(pdf=None), "pdf: the bill has no PDF"),
        (LinkBill(pdf="  "), "pdf: the bill has no PDF"),
        ("ftp://link.test/bill.pdf", "pdf: not an http(s) URL: 'ftp://link.test/bill.pdf'"),
        ("mailto:someone@link.test", "pdf: not an http(s) URL"),
        ({"pdf": BILL_URL}, "bill: expected a LinkBill"),
    ],
)
async def test_bad_pdf_uris_are_refused_before_sending(
    make_client: MakeClient, router: Router, tmp_path: Path, bill: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await make_client(router).link.download_pdf(bill, tmp_path)  # type: ignore[arg-type]
    assert router.requests == []


async def test_a_redirect_is_not_followed(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    moved = httpx.Response(302, headers={"location": "https://evil.test/bill.pdf?token=x"})
    router.add("GET", BILL_URL, moved)
    with pytest.raises(APIStatusError) as caught:
        await make_client(router).link.download_pdf(LinkBill(pdf=BILL_URL), tmp_path)
    assert caught.value.status_code == 302
    assert (
        "302: Found: redirected to https://evil.test/bill.pdf (the SDK follows no redirect)"
        in str(caught.value)
    )
    assert "token" not in str(caught.value)
    assert [str(r.url) for r in router.requests] == [BILL_URL]  # once, and not to evil.test
    assert list(tmp_path.iterdir()) == []


async def test_the_file_is_named_by_the_server_sanitised_else_by_the_uri_else_by_the_bill(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    named = pdf_response(**{"content-disposition": 'attachment; filename="../../x/mine.pdf"'})
    router.add("GET", BILL_URL, named)
    router.add("GET", LINK + "data/bills/1001/..%2F..%2Fescape.pdf", pdf_response())
    router.add("GET", LINK + "data/bills/1001/download", pdf_response())
    client = make_client(router)
    assert await client.link.download_pdf(LinkBill(pdf=BILL_URL), tmp_path) == tmp_path / "mine.pdf"
    escape = LinkBill(pdf="data/bills/1001/..%2F..%2Fescape.pdf")
    assert await client.link.download_pdf(escape, tmp_path) == tmp_path / "escape.pdf"
    plain = LinkBill(pdf="data/bills/1001/download", extra={"id": 100102})
    assert await client.link.download_pdf(plain, tmp_path) == tmp_path / "bill-100102.pdf"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bill-100102.pdf",
        "escape.pdf",
        "mine.pdf",
    ]


async def test_overwrite_false_never_replaces_a_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    router.add("GET", BILL_URL, pdf_response())
    client = make_client(router)
    mine = tmp_path / "100103.pdf"
    mine.write_bytes(b"MINE")
    with pytest.raises(FileExistsError) as caught:
        await client.link.download_pdf(BILL_URL, mine, overwrite=False)
    assert caught.value.filename == str(mine)
    assert router.requests == []  # a file path is checked before sending
    with pytest.raises(FileExistsError):  # a folder: as soon as the name is known
        await client.link.download_pdf(BILL_URL, tmp_path, overwrite=False)
    assert mine.read_bytes() == b"MINE"
    assert list(tmp_path.iterdir()) == [mine]  # no temporary file left
    assert await client.link.download_pdf(BILL_URL, tmp_path) == mine  # the default replaces
    assert mine.read_bytes() == PDF


async def test_a_missing_folder_is_refused_before_sending(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="dest: no such directory"):
        await make_client(router).link.download_pdf(BILL_URL, tmp_path / "no" / "b.pdf")
    assert router.requests == []


async def test_an_interrupted_download_leaves_no_file_and_raises(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    router.add("GET", BILL_URL, broken_response)
    client = make_client(router, retry=NO_WAIT)
    with pytest.raises(APIConnectionError, match="peer closed connection"):
        await client.link.download_pdf(BILL_URL, tmp_path)
    assert router.count("GET", BILL_URL) == 2  # retried like any GET, then given up
    assert list(tmp_path.iterdir()) == []


async def test_a_body_shorter_than_its_length_leaves_no_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    short = pdf_response(PDF[:100], **{"content-length": str(len(PDF))})
    router.add("GET", BILL_URL, short)
    with pytest.raises(APIConnectionError) as caught:
        await make_client(router, retry=NO_WAIT).link.download_pdf(BILL_URL, tmp_path / "b.pdf")
    assert f"broke off: 100 bytes arrived where its Content-Length announced {len(PDF):,}" in str(
        caught.value
    )
    assert router.count("GET", BILL_URL) == 2
    assert list(tmp_path.iterdir()) == []


async def test_a_retry_after_a_broken_body_writes_the_whole_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    mine = tmp_path / "100103.pdf"
    mine.write_bytes(b"MINE")
    router.add("GET", BILL_URL, broken_response, pdf_response())
    path = await make_client(router, retry=NO_WAIT).link.download_pdf(BILL_URL, tmp_path)
    assert path == mine
    assert path.read_bytes() == PDF
    assert list(tmp_path.iterdir()) == [mine]


async def test_a_missing_pdf_is_not_found_and_leaves_no_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    router.add("GET", BILL_URL, json_response({"error": "bill 100103 not found"}, 404))
    with pytest.raises(NotFoundError, match="bill 100103 not found"):
        await make_client(router).link.download_pdf(BILL_URL, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_a_document_streamed_to_a_file_object_checks_its_length_too(
    make_client: MakeClient, router: Router
) -> None:
    url = SNAP + "jobs/9/document/?raw=yes"
    router.add("GET", url, httpx.Response(200, content=b"RAW", headers={"content-length": "9"}))
    client = make_client(router, retry=RetryPolicy(attempts=1))
    with pytest.raises(APIConnectionError, match="3 bytes arrived"):
        await client.documents.download(9, io.BytesIO())
