"""A document is checked by its first bytes before upload: a PDF or a bill photo, or refused."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattzon_async import Submission, ValidationError, WattzOnClient
from wattzon_async._doctype import HEAD_SIZE, check_document_kind, describe, document_kind
from wattzon_async._httpx import httpx

from .conftest import SNAP, MakeClient, json_response, seed

BILLS = Path(__file__).parents[2] / "examples" / "bills"

ACCEPTED = [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (b"\xef\xbb\xbf\r\n%PDF-1.4\n", "PDF"),  # a little junk before the header
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
    (b"GIF89a\x01\x00", "GIF"),
    (b"II*\x00\x08\x00\x00\x00", "TIFF"),
    (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
    (b"BM\x36\x00\x0c\x00", "BMP"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
    (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00", "HEIF"),
    (b"\x00\x00\x00\x20ftypavif\x00\x00\x00\x00", "AVIF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
]

REFUSED = [
    (b"Dear customer, your bill is attached.\n", "plain text"),
    (b"<!DOCTYPE html><html><body>503</body></html>", "an HTML page"),
    (b'{"error": "not found"}', "JSON text"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "an old Microsoft Office file"),
    (b"\x1f\x8b\x08\x00\x00\x00", "gzip-compressed data"),
    (b"\x00\x01\x02\x03\xfe\xfd\xfc\xfb\x80\x81", "binary data of no known format"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00", "binary data of no known format"),  # an MP4 video
]


@pytest.mark.parametrize(("head", "kind"), ACCEPTED)
def test_bill_formats_are_recognised(head: bytes, kind: str) -> None:
    assert document_kind(head) == kind
    assert check_document_kind(head, name="bill") == kind


@pytest.mark.parametrize(("head", "looks_like"), REFUSED)
def test_anything_else_is_refused_saying_what_it_looks_like(head: bytes, looks_like: str) -> None:
    assert document_kind(head) is None
    with pytest.raises(ValidationError) as caught:
        check_document_kind(head, name="bill.pdf")
    assert caught.value.field == "document"
    assert f"it looks like {looks_like}" in str(caught.value)
    assert "bill.pdf is not a PDF or an image" in str(caught.value)
    assert "check_document=False" in str(caught.value)


@pytest.mark.parametrize("path", sorted(BILLS.iterdir()), ids=lambda p: p.name)
def test_every_example_bill_is_a_bill(path: Path) -> None:
    assert document_kind(path.read_bytes()[:HEAD_SIZE]) in {"PDF", "PNG"}


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=HEAD_SIZE + 16))
def test_any_bytes_are_a_kind_or_a_description(head: bytes) -> None:
    kind = document_kind(head)
    if kind is None:
        assert describe(head)
    else:
        assert check_document_kind(head, name="x") == kind


def _no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, but {request.method} {request.url} was")


@pytest.mark.parametrize(
    "document",
    [
        b"just some text named .pdf\n",
        "path",
        "stream",
    ],
)
async def test_a_document_that_is_no_bill_is_refused_before_anything_is_sent(
    make_client: MakeClient, tmp_path: Path, document: Any
) -> None:
    text = b"just some text named .pdf\n"
    if document == "path":
        document = tmp_path / "notes.pdf"
        document.write_bytes(text)
    elif document == "stream":
        document = io.BytesIO(b"%PDF-1.4 skipped" + text)
        document.seek(16)
    client = make_client(_no_request)
    with pytest.raises(ValidationError, match="it looks like plain text") as caught:
        await client.jobs.create(email="a@b.co", provider=4, document=document, name="notes.pdf")
    assert caught.value.field == "document"
    if isinstance(document, io.BytesIO):
        assert document.tell() == 16  # read from where the caller left it, and put back


async def test_an_empty_document_is_refused(make_client: MakeClient) -> None:
    client = make_client(_no_request)
    with pytest.raises(ValidationError, match="empty"):
        await client.jobs.create(email="a@b.co", provider=4, document=b"", name="e.pdf")


async def test_the_caller_may_opt_out_explicitly(make_client: MakeClient, router: Any) -> None:
    router.add("POST", SNAP + "jobs/", json_response(seed("create_response.json"), 201))
    client: WattzOnClient = make_client(router)
    job = await client.jobs.create(
        email="a@b.co", provider=4, document=b"plain text", name="t.txt", check_document=False
    )
    assert job.id
    assert len(router.requests) == 1


async def test_a_batch_refuses_no_bill_and_honours_its_opt_out(
    make_client: MakeClient, router: Any
) -> None:
    router.add("POST", SNAP + "jobs/", json_response(seed("create_response.json"), 201))
    client: WattzOnClient = make_client(router)
    subs = [
        Submission(email="a@b.co", provider=4, document=b"plain", name="a.pdf"),
        Submission(
            email="a@b.co", provider=4, document=b"plain", name="b.pdf", check_document=False
        ),
    ]
    outcomes = {o.index: o async for o in client.jobs.submit_many(subs, wait=False)}
    assert isinstance(outcomes[0].error, ValidationError)
    assert "it looks like plain text" in str(outcomes[0].error)
    assert outcomes[1].ok
