"""The emulator's HTTP API over real mTLS, spoken with plain httpx (no SDK in the way)."""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.pki import CertificateAuthority
from wattzon_async._httpx import httpx
from wattzon_async.emulator import DEFAULT_TENANT, Emulator, expected_results

from .conftest import PDF, create_body, mtls_context, poll_until

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


async def create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/jobs/", json=create_body(**body))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def final_job(http: httpx.AsyncClient, job_id: int, query: str = "") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data: dict[str, Any] = (await http.get(f"/api/v1/jobs/{job_id}/{query}")).json()
        return data if data["status"] in ("COMPLETE", "FAILED", "UNSUPPORTED") else None

    return await poll_until(check)


# -- transport -------------------------------------------------------------------------


async def test_refuses_a_client_without_a_certificate(wattzon_emulator: Emulator) -> None:
    context = mtls_context(wattzon_emulator.ca_cert)
    async with httpx.AsyncClient(verify=context) as client:
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            await client.get(wattzon_emulator.snap_url + "jobs/")


async def test_refuses_a_certificate_from_another_ca(
    wattzon_emulator: Emulator, tmp_path: Path
) -> None:
    cert, key = (
        CertificateAuthority.create("Somebody Else CA")
        .issue("intruder")
        .write(tmp_path, "intruder")
    )
    context = mtls_context(wattzon_emulator.ca_cert, cert, key)
    async with httpx.AsyncClient(verify=context) as client:
        with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
            await client.get(wattzon_emulator.snap_url + "jobs/")


async def test_server_certificate_is_valid_for_localhost(wattzon_emulator: Emulator) -> None:
    emu = wattzon_emulator
    context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    assert context.verify_mode == ssl.CERT_REQUIRED
    async with httpx.AsyncClient(verify=context) as client:
        response = await client.get(f"https://localhost:{emu.port}/link/4.0/zips/94110")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs",
        "/api/v1/jobs/",
        "/link/4.0/zips/94110",
        "/link/4.0/zips/94110/",
        "/link/4.0/utilities?zipcode=94110",
        "/link/4.0/utilities/?zipcode=94110",
        "/link/4.0/utilities/4",
        "/link/4.0/utilities/4/",
        "/link/4.0/data/bills/1001",
        "/link/4.0/data/bills/1001/",
    ],
)
async def test_paths_work_with_and_without_the_trailing_slash(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")


# -- create --------------------------------------------------------------------------------


async def test_create_answers_like_the_vendor_example(http: httpx.AsyncClient) -> None:
    job = await create(http)
    assert set(job) == {"id", "created_at", "email", "provider", "status", "tags", "document"}
    assert isinstance(job["id"], int)
    assert TIMESTAMP.match(job["created_at"])
    assert job["email"] == "user@example.com"
    assert job["provider"] == 4
    assert job["status"] == "ENQUEUED"
    assert job["tags"] == ["sfid:12345", "demo"]
    assert job["document"]["name"] == "bill.pdf"
    assert isinstance(job["document"]["id"], int)


async def test_create_converts_numeric_tags_to_strings(http: httpx.AsyncClient) -> None:
    job = await create(http, tags=[12345, "a:b-c"])
    assert job["tags"] == ["12345", "a:b-c"]


async def test_unsupported_provider_starts_and_stays_unsupported(
    http: httpx.AsyncClient,
) -> None:
    job = await create(http, provider=9999)
    assert job["status"] == "UNSUPPORTED"
    final = await final_job(http, job["id"])
    assert final["status"] == "UNSUPPORTED"
    assert "results" not in final


def _bad_bodies() -> list[Any]:
    good = create_body()
    no_email = {k: v for k, v in good.items() if k != "email"}
    no_provider = {k: v for k, v in good.items() if k != "provider"}
    no_document = {k: v for k, v in good.items() if k != "document"}
    return [
        pytest.param(no_email, id="missing-email"),
        pytest.param(no_provider, id="missing-provider"),
        pytest.param(no_document, id="missing-document"),
        pytest.param({**good, "document": {"name": "bill.pdf"}}, id="missing-content"),
        pytest.param({**good, "document": {"content": "QUJD"}}, id="missing-name"),
        pytest.param(
            {**good, "document": {"name": "b.pdf", "content": "not base64!"}}, id="bad-base64"
        ),
        pytest.param(create_body(email="not-an-email"), id="bad-email"),
        pytest.param(create_body(provider="four"), id="bad-provider"),
        pytest.param(create_body(tags=["a,b"]), id="tag-with-comma"),
        pytest.param(create_body(tags=["x" * 256]), id="tag-too-long"),
        pytest.param(create_body(tags="demo"), id="tags-not-a-list"),
        pytest.param(create_body(tags=[True]), id="tag-not-a-string"),
        pytest.param([1, 2], id="not-an-object"),
    ]


@pytest.mark.parametrize("body", _bad_bodies())
async def test_create_rejects_bad_requests_with_400(http: httpx.AsyncClient, body: Any) -> None:
    response = await http.post("/api/v1/jobs/", json=body)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


async def test_create_rejects_a_body_that_is_not_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/jobs/", content=b"{nope")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


async def test_create_enforces_the_5_mib_limit(http: httpx.AsyncClient) -> None:
    limit = 5 * 1024 * 1024
    too_large = PDF + b"x" * (limit + 1 - len(PDF))
    response = await http.post("/api/v1/jobs/", json=create_body(content=too_large))
    assert response.status_code == 400
    assert "limit" in response.json()["error"]
    at_limit = PDF + b"x" * (limit - len(PDF))
    accepted = await http.post("/api/v1/jobs/", json=create_body(content=at_limit))
    assert accepted.status_code == 201


async def test_create_accepts_base64_wrapped_over_lines(http: httpx.AsyncClient) -> None:
    encoded = base64.encodebytes(PDF * 3).decode()
    body = create_body()
    body["document"]["content"] = encoded
    response = await http.post("/api/v1/jobs/", json=body)
    assert response.status_code == 201


# -- lifecycle and results -------------------------------------------------------------


async def test_job_goes_enqueued_processing_complete(clean_emulator: Emulator) -> None:
    await clean_emulator.configure(processing_time=1.2)
    emu = clean_emulator
    context = mtls_context(emu.ca_cert, emu.client_cert, emu.client_key)
    async with httpx.AsyncClient(verify=context, base_url=emu.base_url) as http:
        job = await create(http)
        seen = [job["status"]]

        async def check() -> str | None:
            status: str = (await http.get(f"/api/v1/jobs/{job['id']}")).json()["status"]
            if status != seen[-1]:
                seen.append(status)
            return status if status == "COMPLETE" else None

        await poll_until(check)
    assert seen == ["ENQUEUED", "PROCESSING", "COMPLETE"]


async def test_results_are_deterministic_raw_and_transformed(http: httpx.AsyncClient) -> None:
    job = await create(http, content=PDF + b"results")
    raw = await final_job(http, job["id"])
    transformed = (await http.get(f"/api/v1/jobs/{job['id']}/?results=transformed")).json()
    expected = expected_results(PDF + b"results", 4)
    assert transformed["results"] == expected
    assert {"Previous_balance", "Name", "Account_number", "Bill_date"} <= set(expected)
    assert {"Elec_Meter_number", "Elec_Usage", "Gas_Usage", "Amount_due", "Due_date"} <= set(
        expected
    )
    assert re.match(r"^\$[\d,]+\.\d\d$", expected["Previous_balance"])
    for name, value in raw["results"].items():
        assert value["tokens"]["content"] == expected[name]
        tokens = value["tokens"]["raw"]
        assert len(tokens) == len(expected[name].split())
        for token in tokens:
            assert set(token) == {"page_number", "x1", "y1", "x2", "y2", "index"}
            assert token["x1"] < token["x2"]
            assert token["y1"] < token["y2"]


async def test_document_named_failed_ends_failed(http: httpx.AsyncClient) -> None:
    job = await create(http, name="failed-scan.pdf")
    final = await final_job(http, job["id"])
    assert final["status"] == "FAILED"
    assert "results" not in final


# -- tenants, get and list -------------------------------------------------------------


async def test_other_tenants_get_403_and_unknown_jobs_404(
    http: httpx.AsyncClient, tenant_http: Callable[[str], httpx.AsyncClient]
) -> None:
    job = await create(http)
    async with tenant_http("tenant-b") as other:
        assert (await other.get(f"/api/v1/jobs/{job['id']}/")).status_code == 403
        assert (await other.get(f"/api/v1/jobs/{job['id']}/document/")).status_code == 403
        listed = (await other.get("/api/v1/jobs/")).json()
        assert job["id"] not in [j["id"] for j in listed]
    missing = await http.get("/api/v1/jobs/99999999/")
    assert missing.status_code == 404
    assert "error" in missing.json()
    assert (await http.get("/api/v1/jobs/abc/")).status_code == 404
    assert (await http.get("/api/v1/jobs/99999999/document/")).status_code == 404


async def test_list_is_newest_first_at_most_20_and_filters_by_tag(
    tenant_http: Callable[[str], httpx.AsyncClient],
) -> None:
    async with tenant_http("tenant-list") as http:
        ids = [
            (await create(http, tags=[f"n:{i}", "odd" if i % 2 else "even"]))["id"]
            for i in range(23)
        ]
        listed = (await http.get("/api/v1/jobs/")).json()
        assert [j["id"] for j in listed] == ids[::-1][:20]
        assert all("results" not in j for j in listed)
        odd = (await http.get("/api/v1/jobs/", params={"tag": "odd"})).json()
        assert [j["id"] for j in odd] == ids[1::2][::-1]
        one = (await http.get("/api/v1/jobs/", params={"tag": "n:3"})).json()
        assert [j["id"] for j in one] == [ids[3]]
        assert (await http.get("/api/v1/jobs/", params={"tag": "nope"})).json() == []


async def test_document_as_json_and_raw(http: httpx.AsyncClient) -> None:
    content = PDF + b"document"
    job = await create(http, name="my bill.pdf", content=content)
    data = (await http.get(f"/api/v1/jobs/{job['id']}/document/")).json()
    assert data["id"] == job["document"]["id"]
    assert data["name"] == "my bill.pdf"
    assert base64.b64decode(data["content"]) == content
    raw = await http.get(f"/api/v1/jobs/{job['id']}/document/?raw=yes")
    assert raw.content == content
    assert raw.headers["content-type"] == "application/pdf"
    assert 'filename="my bill.pdf"' in raw.headers["content-disposition"]


# -- Link ------------------------------------------------------------------------------------


async def test_zip_codes(http: httpx.AsyncClient) -> None:
    zipcode = (await http.get("/link/4.0/zips/00007")).json()
    assert set(zipcode) == {"zipcode", "city", "county", "state", "latitude", "longitude"}
    assert zipcode["zipcode"] == "00007"
    sf = (await http.get("/link/4.0/zips/94110")).json()
    assert (sf["city"], sf["state"]) == ("San Francisco", "CA")
    assert (await http.get("/link/4.0/zips/99999")).status_code == 404


async def test_utilities_find_and_get(http: httpx.AsyncClient) -> None:
    found = (await http.get("/link/4.0/utilities/", params={"zipcode": "00007"})).json()
    assert 3150 in found["provider_ids"]
    by_name = (await http.get("/link/4.0/utilities/", params={"name": "edison"})).json()
    assert set(by_name["provider_ids"]) >= {12, 140, 211}
    water = await http.get("/link/4.0/utilities/", params={"zipcode": "94110", "type": "water"})
    assert water.json() == {"provider_ids": [305]}
    missing = await http.get("/link/4.0/utilities/", params={"type": "gas"})
    assert missing.status_code == 400
    assert "zipcode" in missing.json()["error"]
    utility = (await http.get("/link/4.0/utilities/3150")).json()
    assert set(utility) == {"name", "type", "lseid", "homepage_url"}
    assert "electric" in utility["type"].split(",")
    assert "lseid" not in (await http.get("/link/4.0/utilities/305")).json()
    assert (await http.get("/link/4.0/utilities/123456")).status_code == 404


async def test_link_bills_and_their_pdfs(http: httpx.AsyncClient) -> None:
    bills = (await http.get("/link/4.0/data/bills/1001")).json()["data"]
    assert len(bills) == 3
    pdf = await http.get(bills[0]["pdf"])
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert (await http.get("/link/4.0/data/bills/2001")).json() == {"data": []}
    assert (await http.get("/link/4.0/data/bills/nobody")).status_code == 404


async def test_default_tenant_is_the_default_certificate(
    clean_emulator: Emulator, http: httpx.AsyncClient
) -> None:
    await create(http)
    stats = await clean_emulator.stats()
    assert stats["jobs_created_by_tenant"] == {DEFAULT_TENANT: 1}
