"""The converter, the streamed body, the rate limiter and the client's construction."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattzon_async import (
    CertificateError,
    Document,
    DocumentRef,
    ExtractedField,
    Job,
    JobStatus,
    LinkBill,
    LinkNotification,
    RateLimitPolicy,
    SnapNotification,
    Submission,
    Token,
    UnexpectedResponseError,
    Utility,
    ValidationError,
    WattzOnClient,
    ZipCode,
)
from wattzon_async._ratelimit import AdaptiveRateLimiter
from wattzon_async._redact import mask_email, mask_emails
from wattzon_async._serde import (
    create_job_envelope,
    parse_datetime,
    parse_tags,
    structure_job,
    unstructure,
)
from wattzon_async.jobs._upload import CHUNK, DocumentSource

from .conftest import Pki, seed


@pytest.mark.parametrize(
    "text",
    [
        "2016-07-25T16:26:12.320000",
        "2016-07-25 16:26:12.320000+00:00",
        "2016-07-25T16:26:12.320000Z",
        "2016-07-25T18:26:12.320000+02:00",
    ],
)
def test_both_timestamp_formats_are_aware_utc(text: str) -> None:
    assert parse_datetime(text) == datetime(2016, 7, 25, 16, 26, 12, 320000, tzinfo=UTC)
    assert parse_datetime(text).tzinfo is UTC


def test_status_is_open() -> None:
    odd = JobStatus("ARCHIVED")
    assert odd == "ARCHIVED"
    assert not odd.is_final
    assert not odd.is_known
    assert JobStatus("COMPLETED") is JobStatus.COMPLETE
    assert JobStatus("complete") is JobStatus.COMPLETE
    assert {s for s in JobStatus if s.is_final} == {"COMPLETE", "FAILED", "UNSUPPORTED"}


def test_unknown_fields_are_kept() -> None:
    data = seed("job_raw.json")
    data["priority"] = "high"
    data["document"]["pages"] = 3
    data["results"]["Gas_Usage"] = {"tokens": {"raw": [], "content": "12", "unit": "therm"}}
    job = structure_job(data)
    assert job.extra == {"priority": "high"}
    assert job.document.extra == {"pages": 3}
    assert job.values()["Gas_Usage"] == "12"


def test_repr_hides_the_email() -> None:
    job = structure_job(seed("job_raw.json"))
    assert "user@example.com" not in repr(job)
    assert "u***@example.com" in repr(job)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        [],
        "job",
        {"id": "abc"},
        {**seed("create_response.json"), "created_at": "yesterday"},
        {**seed("create_response.json"), "status": 7},
        {**seed("create_response.json"), "tags": "['x', __import__('os')]"},
        {**seed("create_response.json"), "document": None},
    ],
)
def test_malformed_jobs_raise_the_documented_error(broken: object) -> None:
    with pytest.raises(UnexpectedResponseError):
        structure_job(broken)


def test_tag_literals_are_parsed_without_eval() -> None:
    assert parse_tags("['sfid:12345', 'demo']") == ("sfid:12345", "demo")
    assert parse_tags('["a", 1]') == ("a", "1")
    assert parse_tags(["a", 2]) == ("a", "2")
    assert parse_tags("") == ()
    with pytest.raises(ValueError, match="literal"):
        parse_tags("[__import__('os').system('echo owned')]")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3 * CHUNK + 7))
def test_streamed_body_is_the_json_dumps_body(content: bytes) -> None:
    if not content:
        return
    source = DocumentSource.of(content, name="b.pdf", limit=10**9, check_kind=False)
    prefix, suffix = create_job_envelope(
        email="a@b.co", provider=4, tags=("x", 'q"uote'), name="b.pdf"
    )
    length, chunks = source.body(prefix, suffix)

    async def collect() -> bytes:
        return b"".join([c async for c in chunks])

    body = asyncio.run(collect())
    assert len(body) == length
    assert json.loads(body)["document"]["content"] == base64.b64encode(content).decode()


def test_a_file_that_changes_size_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 x")
    source = DocumentSource.of(path, name=None, limit=100)
    path.write_bytes(b"%PDF-1.4 xxxxxxxxxx")
    with pytest.raises(ValidationError, match="changed size"):
        list(source.chunks())


PIPED = b"%PDF-1.4 " + b"a" * 291


def test_a_non_seekable_stream_is_read_once(tmp_path: Path) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = io.BytesIO(PIPED)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self.data.read(size)

    source = DocumentSource.of(Pipe(), name="p.pdf", limit=1000)  # type: ignore[arg-type]
    assert source.size == 300
    assert b"".join(source.chunks()) == PIPED
    assert b"".join(source.chunks()) == PIPED


async def test_limiter_paces_after_a_429_and_pauses_everyone() -> None:
    limiter = AdaptiveRateLimiter(RateLimitPolicy(initial_rate=None))
    for _ in range(20):
        await limiter.acquire(math.inf)
    assert limiter.rate is None
    started = time.monotonic()
    limiter.observe(429, 0.2)
    assert limiter.rate is not None
    assert limiter.paused_for <= 0.2
    await limiter.acquire(math.inf)  # held until the Retry-After has passed
    assert time.monotonic() - started >= 0.2
    rate = limiter.rate
    for _ in range(50):
        limiter.observe(200)
    assert limiter.rate > rate


async def test_limiter_respects_the_deadline() -> None:
    limiter = AdaptiveRateLimiter(RateLimitPolicy(max_rate=1.0))
    first = time.monotonic()
    await limiter.acquire(math.inf)
    with pytest.raises(Exception, match="deadline"):  # the next slot is 1 s after the first
        await limiter.acquire(first + 0.5)


def test_from_env_and_repr_hide_secrets(pki: Pki, tmp_path: Path) -> None:
    encrypted_cert, encrypted_key = pki.ca.issue("tenant-b", key_password=b"s3cret-pw").write(
        tmp_path, "enc"
    )
    client = WattzOnClient.from_env(
        {
            "WATTZON_CERT": str(encrypted_cert),
            "WATTZON_KEY": str(encrypted_key),
            "WATTZON_KEY_PASSWORD": "s3cret-pw",
            "WATTZON_CA_BUNDLE": str(pki.ca_path),
            "WATTZON_SNAP_URL": "https://snap.test/api/v1",
        }
    )
    assert client.config.snap_url == "https://snap.test/api/v1/"
    assert client.certificate is not None
    assert "tenant-b" in client.certificate.subject
    text = repr(client)
    assert "s3cret" not in text
    assert "PRIVATE KEY" not in text
    asyncio.run(client.aclose())


def test_from_env_without_a_certificate() -> None:
    with pytest.raises(ValidationError, match="WATTZON_CERT"):
        WattzOnClient.from_env({})


def test_expired_certificate_is_refused_at_construction(pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.ca.issue(
        "old",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    ).write(tmp_path, "old")
    with pytest.raises(CertificateError, match="expired"):
        WattzOnClient(cert=(cert, key))


def test_near_expiry_warns(pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = pki.ca.issue("soon", valid_days=10).write(tmp_path, "soon")
    with caplog.at_level(logging.WARNING, logger="wattzon_async"):
        client = WattzOnClient(cert=(cert, key))
    assert any("day" in r.getMessage() for r in caplog.records)
    asyncio.run(client.aclose())


def test_half_written_renewal_keeps_the_old_certificate(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from wattzon_async._tls._context import ClientIdentity

    cert, key = pki.ca.issue("renewing").write(tmp_path, "client")
    identity = ClientIdentity.load((cert, key))
    old = identity.info
    assert identity.reload_if_changed(interval=0) is None
    (tmp_path / "next").mkdir()
    new_cert, new_key = pki.ca.issue("renewing").write(tmp_path / "next", "client")
    shutil.copy(new_cert, cert)
    with caplog.at_level(logging.WARNING, logger="wattzon_async"):
        assert identity.reload_if_changed(interval=0) is None
        assert identity.reload_if_changed(interval=0) is None
    assert identity.info == old
    assert len([r for r in caplog.records if "cannot be used" in r.getMessage()]) == 1
    shutil.copy(new_key, key)
    info = identity.reload_if_changed(interval=0)
    assert info is not None
    assert old is not None
    assert info.serial_number != old.serial_number
    assert identity.reload_if_changed(interval=3600) is None


async def test_a_refused_request_books_no_slot() -> None:
    limiter = AdaptiveRateLimiter(RateLimitPolicy(max_rate=1.0))
    first = time.monotonic()
    await limiter.acquire(math.inf)
    for _ in range(5):
        with pytest.raises(Exception, match="deadline"):
            await limiter.acquire(first + 0.5)
    # The next slot is still one interval (1 s) after the first request, not six: a call
    # whose deadline is 1.5 s away is admitted (the limiter refuses at once otherwise).
    await limiter.acquire(time.monotonic() + 1.5)


def test_a_document_that_vanishes_before_upload_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 x")
    source = DocumentSource.of(path, name=None, limit=100)
    path.unlink()
    with pytest.raises(ValidationError, match="could not be read"):
        list(source.chunks())


# -- the JSON of every model (what ``wattzon --json`` prints) ---------------------------------

_WHEN = datetime(2016, 7, 25, 16, 26, 12, 320000, tzinfo=UTC)
_TOKEN = Token(1, 10, 20, 30, 40, 5, extra={"confidence": 0.5})
_TOKEN_JSON = {
    "page_number": 1,
    "x1": 10,
    "y1": 20,
    "x2": 30,
    "y2": 40,
    "index": 5,
    "confidence": 0.5,
}
_REF = DocumentRef(7, "bill.pdf", extra={"pages": 3})
_JOB = Job(
    id=578,
    created_at=_WHEN,
    email="user@example.com",
    provider=4,
    status=JobStatus.COMPLETE,
    document=_REF,
    tags=("demo", "sfid:1"),
    results={
        "Name": ExtractedField("DAVE SMITH", (_TOKEN,), extra={"unit": "x"}),
        "Total": "12.50",
    },
    extra={"priority": "high", "id": "never shown: the field wins"},
)
_JOB_JSON = {
    "id": 578,
    "created_at": "2016-07-25T16:26:12.320000+00:00",
    "email": "user@example.com",
    "provider": 4,
    "status": "COMPLETE",
    "document": {"id": 7, "name": "bill.pdf", "pages": 3},
    "tags": ["demo", "sfid:1"],
    "results": {
        "Name": {"content": "DAVE SMITH", "tokens": [_TOKEN_JSON], "unit": "x"},
        "Total": "12.50",
    },
    "priority": "high",
}

MODEL_JSON: list[tuple[object, object]] = [
    (_TOKEN, _TOKEN_JSON),
    (ExtractedField("12"), {"content": "12", "tokens": []}),
    (_REF, {"id": 7, "name": "bill.pdf", "pages": 3}),
    (_JOB, _JOB_JSON),
    (
        attrs.evolve(_JOB, status=JobStatus("ARCHIVED"), results=None, tags=(), extra={}),
        {
            **{k: v for k, v in _JOB_JSON.items() if k not in ("priority", "results", "tags")},
            "status": "ARCHIVED",
            "tags": [],
            "results": None,
        },
    ),
    (
        Document(1, "bill.pdf", b"\x00secret", extra={"mime": "application/pdf"}),
        {"id": 1, "name": "bill.pdf", "content_size": 7, "mime": "application/pdf"},
    ),
    (
        ZipCode("94110", "San Francisco", None, "CA", 37.7, -122.4, extra={"timezone": "PST"}),
        {
            "zipcode": "94110",
            "city": "San Francisco",
            "county": None,
            "state": "CA",
            "latitude": 37.7,
            "longitude": -122.4,
            "timezone": "PST",
        },
    ),
    (
        Utility(4, "PG&E", ("electric", "gas"), None, "https://pge.test", extra={"lse": 1}),
        {
            "id": 4,
            "name": "PG&E",
            "types": ["electric", "gas"],
            "lseid": None,
            "homepage_url": "https://pge.test",
            "lse": 1,
        },
    ),
    (
        LinkBill("https://x.test/1.pdf", extra={"amount_due": 12.5, "usage": {"kwh": 3}}),
        {"pdf": "https://x.test/1.pdf", "amount_due": 12.5, "usage": {"kwh": 3}},
    ),
    (
        SnapNotification(
            job_id=9,
            final_state=JobStatus.FAILED,
            created_at=_WHEN,
            tags=("a",),
            provider=None,
            email="j@example.com",
            document=None,
            extra={"note": [1, 2]},
        ),
        {
            "job_id": 9,
            "final_state": "FAILED",
            "created_at": "2016-07-25T16:26:12.320000+00:00",
            "tags": ["a"],
            "provider": None,
            "email": "j@example.com",
            "document": None,
            "got_results": False,
            "note": [1, 2],
        },
    ),
    (
        LinkNotification("p1", "j1", None, ("x",)),
        {"profile_id": "p1", "job_id": "j1", "created_at": None, "tags": ["x"]},
    ),
    (
        Submission("user@example.com", 4, Path("/tmp/bill.pdf"), tags=["t", 1]),
        {
            "email": "user@example.com",
            "provider": 4,
            "document": "/tmp/bill.pdf",
            "tags": ["t", 1],
            "name": None,
            "idempotency_key": None,
            "check_document": True,
        },
    ),
    (
        {"job_id": 3, "path": Path("/tmp/b.pdf"), "when": _WHEN, "jobs": [_REF], "n": None},
        {
            "job_id": 3,
            "path": "/tmp/b.pdf",
            "when": "2016-07-25T16:26:12.320000+00:00",
            "jobs": [{"id": 7, "name": "bill.pdf", "pages": 3}],
            "n": None,
        },
    ),
    (b"\x00\x01", {"size": 2}),
    ((JobStatus.COMPLETE, 1.5, True), ["COMPLETE", 1.5, True]),
]


@pytest.mark.parametrize(("value", "expected"), MODEL_JSON, ids=lambda v: type(v).__name__)
def test_the_json_of_every_model(value: object, expected: object) -> None:
    data = unstructure(value)
    assert data == expected
    assert json.loads(json.dumps(data)) == expected  # plain JSON data, nothing else


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("user@example.com", "u***@example.com"),
        ("for j.doe+tag@example.co.uk, see", "for j***@example.co.uk, see"),
        ("CN=acme,emailAddress=ops@acme.test", "CN=acme,emailAddress=o***@acme.test"),
        ("CN=a+emailAddress=ops@acme.test", "CN=a+emailAddress=o***@acme.test"),
        ("https://user:pw@host.test/x", "https://u***@host.test/x"),
        ("<a@b.test> and 'c@d.test'", "<a***@b.test> and 'c***@d.test'"),
        ("no address @ all", "no address @ all"),
    ],
)
def test_one_rule_masks_every_address(text: str, masked: str) -> None:
    assert mask_emails(text) == masked


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("user@example.com", "'u***@example.com'"),
        ("=@A.aL", "'=***@A.aL'"),
        ("nobody", "'n***'"),
        (None, "None"),
    ],
)
def test_an_email_field_repr_is_masked(value: object, shown: str) -> None:
    assert mask_email(value) == shown
