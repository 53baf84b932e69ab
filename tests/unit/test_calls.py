"""Every documented call over MockTransport, answered with the vendor's own examples."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wattzon_async import (
    Document,
    ExtractedField,
    JobStatus,
    LinkBill,
    NotFoundError,
    Token,
    Utility,
    ZipCode,
)
from wattzon_async._httpx import httpx

from .conftest import LINK, SNAP, MakeClient, Router, json_response, seed


async def test_create_streams_the_document_with_an_idempotency_tag(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    bill = tmp_path / "bill.pdf"
    bill.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 1000)
    seen: dict[str, object] = {}

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        seen.update(body)
        assert int(request.headers["content-length"]) == len(request.content)
        answer = seed("create_response.json")
        answer["tags"] = body["tags"]
        return json_response(answer, 201)

    router.add("POST", SNAP + "jobs/", create)
    client = make_client(router)
    job = await client.jobs.create(
        email="user@example.com", provider=4, document=bill, tags=["sfid:12345", "demo"]
    )
    assert job.id == 513
    assert job.status is JobStatus.ENQUEUED
    assert job.created_at == datetime(2016, 7, 25, 16, 26, 12, 320000, tzinfo=UTC)
    assert seen["email"] == "user@example.com"
    assert seen["provider"] == 4
    assert seen["document"] == {
        "name": "bill.pdf",
        "content": base64.b64encode(bill.read_bytes()).decode(),
    }
    tags = seen["tags"]
    assert isinstance(tags, list)
    assert tags[:2] == ["sfid:12345", "demo"]
    assert len(tags) == 3
    assert tags[2].startswith("idem:")
    assert len(tags[2]) == 5 + 32


@pytest.mark.parametrize("kind", ["bytes", "file", "stream-offset"])
async def test_create_accepts_bytes_and_binary_files(
    make_client: MakeClient, router: Router, tmp_path: Path, kind: str
) -> None:
    content = b"\x89PNG\r\n\x1a\n" + b"x" * 100_001
    bodies: list[dict[str, object]] = []

    def create(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.read()))
        return json_response(seed("create_response.json"), 201)

    router.add("POST", SNAP + "jobs/", create)
    client = make_client(router)
    if kind == "bytes":
        await client.jobs.create(
            email="a@b.co", provider=4, document=content, name="bill.png", idempotency_key=False
        )
    else:
        path = tmp_path / "bill.png"
        path.write_bytes(b"HEAD" + content if kind == "stream-offset" else content)
        with path.open("rb") as file:
            if kind == "stream-offset":
                file.read(4)
            await client.jobs.create(
                email="a@b.co", provider=4, document=file, idempotency_key=False
            )
    document = bodies[0]["document"]
    assert isinstance(document, dict)
    assert document["name"] == "bill.png"
    assert base64.b64decode(document["content"]) == content
    assert bodies[0]["tags"] == []


async def test_get_raw_results(make_client: MakeClient, router: Router) -> None:
    router.add("GET", SNAP + "jobs/578/", json_response(seed("job_raw.json")))
    job = await make_client(router).jobs.get(578)
    assert job.is_final
    assert job.results is not None
    balance = job.results["Previous_balance"]
    assert isinstance(balance, ExtractedField)
    assert balance.content == "$65.04"
    assert balance.tokens == (Token(page_number=1, x1=1315, y1=730, x2=1454, y2=769, index=19),)
    name = job.results["Name"]
    assert isinstance(name, ExtractedField)
    assert len(name.tokens) == 2
    assert job.values()["Bill_date"] == "November 5, 2015"
    assert job.document.id == 5796


async def test_get_transformed_results(make_client: MakeClient, router: Router) -> None:
    router.add(
        "GET",
        SNAP + "jobs/578/?results=transformed",
        json_response(seed("job_transformed.json")),
    )
    job = await make_client(router).jobs.get("578", results="transformed")
    assert job.results == {
        "Previous_balance": "$65.04",
        "Name": "DAVE SMITH",
        "Account_number": "9999999999",
        "Bill_date": "November 5, 2015",
        "Elec_Meter_number": "E123456",
        "Elec_Usage": "89",
    }


async def test_list_with_tag_filter_and_completed_alias(
    make_client: MakeClient, router: Router
) -> None:
    router.add("GET", SNAP + "jobs/?tag=demo", json_response(seed("list_response.json")))
    jobs = await make_client(router).jobs.list(tag="demo")
    assert [j.id for j in jobs] == [513, 497]
    assert jobs[0].status is JobStatus.PROCESSING
    assert jobs[1].status is JobStatus.COMPLETE
    assert jobs[1].tags == ()
    assert all(j.results is None for j in jobs)


async def test_documents_get_decodes_content(make_client: MakeClient, router: Router) -> None:
    router.add("GET", SNAP + "jobs/578/document/", json_response(seed("document.json")))
    document = await make_client(router).documents.get(578)
    assert isinstance(document, Document)
    assert document.id == 579656
    assert document.content.startswith(b"%PDF-1.4")
    assert "bytes>" in repr(document)


async def test_download_to_directory_sanitises_the_server_name(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    payload = b"%PDF" + b"z" * 300_000
    router.add(
        "GET",
        SNAP + "jobs/578/document/?raw=yes",
        httpx.Response(
            200,
            content=payload,
            headers={"content-disposition": 'attachment; filename="../../etc/passwd"'},
        ),
    )
    target = tmp_path / "out"
    target.mkdir()
    path = await make_client(router).documents.download(578, target)
    assert path == target / "passwd"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in target.iterdir()) == ["passwd"]


async def test_download_to_file_path_and_file_object(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    router.add("GET", SNAP + "jobs/9/document/?raw=yes", httpx.Response(200, content=b"RAW"))
    client = make_client(router)
    path = await client.documents.download(9, tmp_path / "bill.pdf")
    assert path.read_bytes() == b"RAW"
    buffer = io.BytesIO()
    assert await client.documents.download(9, buffer) == 3
    assert buffer.getvalue() == b"RAW"


async def test_download_error_leaves_no_partial_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    router.add(
        "GET", SNAP + "jobs/9/document/?raw=yes", json_response({"error": "no such job"}, 404)
    )
    with pytest.raises(NotFoundError, match="no such job"):
        await make_client(router).documents.download(9, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_download_without_overwrite_never_replaces_a_file(
    make_client: MakeClient, router: Router, tmp_path: Path
) -> None:
    url = SNAP + "jobs/9/document/?raw=yes"
    header = {"content-disposition": 'attachment; filename="bill.pdf"'}
    router.add("GET", url, httpx.Response(200, content=b"NEW", headers=header))
    client = make_client(router)
    mine = tmp_path / "bill.pdf"
    mine.write_bytes(b"MINE")
    with pytest.raises(FileExistsError) as caught:
        await client.documents.download(9, tmp_path, overwrite=False)
    assert caught.value.filename == str(mine)
    with pytest.raises(FileExistsError):
        await client.documents.download(9, mine, overwrite=False)
    assert router.count("GET", url) == 1  # a file path is checked before sending
    assert mine.read_bytes() == b"MINE"
    assert list(tmp_path.iterdir()) == [mine]
    assert await client.documents.download(9, tmp_path / "new.pdf", overwrite=False)
    assert (tmp_path / "new.pdf").read_bytes() == b"NEW"
    assert await client.documents.download(9, tmp_path) == mine  # overwrite=True by default
    assert mine.read_bytes() == b"NEW"


async def test_zips(make_client: MakeClient, router: Router) -> None:
    router.add(
        "GET",
        LINK + "zips/00007",
        json_response(
            {
                "zipcode": "00007",
                "city": "Springfield",
                "county": "Sangamon",
                "state": "IL",
                "latitude": 39.78,
                "longitude": -89.65,
            }
        ),
    )
    zipcode = await make_client(router).zips.get("00007")
    assert zipcode == ZipCode("00007", "Springfield", "Sangamon", "IL", 39.78, -89.65)


async def test_utilities_find_and_get(make_client: MakeClient, router: Router) -> None:
    router.add(
        "GET",
        LINK + "utilities/?zipcode=94110&type=electric",
        json_response({"provider_ids": [4, 3150]}),
    )
    router.add(
        "GET",
        LINK + "utilities/3150",
        json_response(
            {
                "name": "Pacific Gas & Electric",
                "type": "electric, gas",
                "homepage_url": "https://www.pge.com",
                "rate_plans": 12,
            }
        ),
    )
    client = make_client(router)
    assert await client.utilities.find(zipcode="94110", type="electric") == [4, 3150]
    utility = await client.utilities.get(3150)
    assert utility == Utility(
        id=3150,
        name="Pacific Gas & Electric",
        types=("electric", "gas"),
        lseid=None,
        homepage_url="https://www.pge.com",
        extra={"rate_plans": 12},
    )


async def test_link_bills(make_client: MakeClient, router: Router) -> None:
    bills = [{"amount": "65.04", "pdf": "https://link.test/bill.pdf"}, {"amount": "12.00"}]
    router.add("GET", LINK + "data/bills/p-1.a_b~c", json_response({"data": bills}))
    result = await make_client(router).link.bills("p-1.a_b~c")
    assert result == [
        LinkBill(pdf="https://link.test/bill.pdf", extra={"amount": "65.04"}),
        LinkBill(pdf=None, extra={"amount": "12.00"}),
    ]
    assert result[0]["amount"] == "65.04"
