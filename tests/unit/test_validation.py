"""Every bad input is refused before anything is sent, with a message naming the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wattzon_async import (
    DocumentTooLargeError,
    RateLimitPolicy,
    RetryPolicy,
    Submission,
    Timeouts,
    ValidationError,
    WaitPolicy,
    WattzOnClient,
)
from wattzon_async._httpx import httpx

from .conftest import MakeClient


def _no_request(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, but {request.method} {request.url} was")


@pytest.fixture
def client(make_client: MakeClient) -> WattzOnClient:
    return make_client(_no_request)


@pytest.fixture
def bill(tmp_path: Path) -> Path:
    path = tmp_path / "bill.pdf"
    path.write_bytes(b"%PDF-1.4 bill")
    return path


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"email": ""}, "email", "required"),
        ({"email": None}, "email", "required"),
        ({"provider": "4"}, "provider", "integer"),
        ({"provider": 4.0}, "provider", "integer"),
        ({"provider": True}, "provider", "integer"),
        ({"provider": 0}, "provider", "positive"),
        ({"tags": ["a,b"]}, "tags[0]", "comma"),
        ({"tags": ["ok", "x" * 256]}, "tags[1]", "256 characters"),
        ({"tags": [None]}, "tags[0]", "string or a number"),
        ({"tags": [{"a": 1}]}, "tags[0]", "string or a number"),
        ({"tags": [""]}, "tags[0]", "empty"),
        ({"tags": "demo"}, "tags", "list"),
        ({"document": b""}, "document", "empty"),
        ({"document": b"data"}, "name", "file name"),
        ({"document": 42}, "document", "path, bytes"),
        ({"name": "../evil.pdf"}, "name", "not a path"),
        ({"idempotency_key": ""}, "idempotency_key", "empty"),
        ({"idempotency_key": "  "}, "idempotency_key", "blank"),
        ({"idempotency_key": 77}, "idempotency_key", "must be a string"),
        ({"idempotency_key": b"order-77"}, "idempotency_key", "must be a string"),
        ({"idempotency_key": "k" * 256}, "idempotency_key", "256 characters"),
        ({"idempotency_key": "order\n77"}, "idempotency_key", "control character"),
        ({"idempotency_key": "order\x0077"}, "idempotency_key", "control character"),
        ({"idempotency_key": "order\x8577"}, "idempotency_key", "control character"),
        ({"idempotency_key": "order\ud80077"}, "idempotency_key", "control character"),
    ],
)
async def test_create_refuses(
    client: WattzOnClient, bill: Path, overrides: dict[str, Any], field: str, text: str
) -> None:
    arguments: dict[str, Any] = {"email": "user@example.com", "provider": 4, "document": bill}
    arguments.update(overrides)
    with pytest.raises(ValidationError, match=text) as caught:
        await client.jobs.create(**arguments)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


async def test_missing_file(client: WattzOnClient, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file") as caught:
        await client.jobs.create(email="a@b.co", provider=4, document=tmp_path / "nope.pdf")
    assert caught.value.field == "document"


async def test_empty_file(client: WattzOnClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        await client.jobs.create(email="a@b.co", provider=4, document=empty)


async def test_document_over_5_mib(client: WattzOnClient, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as file:
        file.truncate(5 * 1024 * 1024 + 1)
    with pytest.raises(DocumentTooLargeError) as caught:
        await client.jobs.create(email="a@b.co", provider=4, document=big)
    assert caught.value.size == 5 * 1024 * 1024 + 1
    assert caught.value.limit == 5 * 1024 * 1024
    assert isinstance(caught.value, ValidationError)


async def test_numbers_become_string_tags(make_client: MakeClient, bill: Path) -> None:
    client = make_client(_no_request)
    prepared = client.jobs._creator.prepare(
        Submission(email="a@b.co", provider=4, document=bill, tags=[12345, 1.5, "sfid:1"])
    )
    assert b'"tags":["12345","1.5","sfid:1","idem:' in prepared.envelope[0]


@pytest.mark.parametrize("job_id", ["", "  ", "abc", "12a", -1, 0, 1.5, None, True])
async def test_bad_job_ids(client: WattzOnClient, job_id: Any) -> None:
    with pytest.raises(ValidationError, match="job_id"):
        await client.jobs.get(job_id)
    with pytest.raises(ValidationError, match="job_id"):
        await client.documents.get(job_id)
    with pytest.raises(ValidationError, match="job_id"):
        await client.await_job(job_id)


async def test_utilities_find_needs_zipcode_or_name(client: WattzOnClient) -> None:
    with pytest.raises(ValidationError, match="zipcode or name"):
        await client.utilities.find()
    with pytest.raises(ValidationError, match="zipcode"):
        await client.utilities.find(zipcode="9411")
    with pytest.raises(ValidationError, match="provider_id"):
        await client.utilities.get("3150")  # type: ignore[arg-type]


async def test_other_look_ups(client: WattzOnClient) -> None:
    with pytest.raises(ValidationError, match="zipcode"):
        await client.zips.get("abcde")
    with pytest.raises(ValidationError, match="profile_id"):
        await client.link.bills("  ")
    with pytest.raises(ValidationError, match="results"):
        await client.jobs.get(1, results="cooked")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tag"):
        await client.jobs.list(tag="a,b")
    with pytest.raises(ValidationError, match="timeout"):
        await client.await_job(1, timeout=-1)


@pytest.mark.parametrize("timeout", [-1, float("nan"), "600", True])
async def test_a_bad_wait_timeout_is_named(client: WattzOnClient, timeout: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.await_job(1, timeout=timeout)
    assert str(caught.value) == (
        f"timeout: must be a number of seconds of at least 0, not {timeout!r}"
    )


@pytest.mark.parametrize("concurrency", [0, 2.5, True, "8"])
def test_a_bad_batch_concurrency_is_named(
    client: WattzOnClient, bill: Path, concurrency: Any
) -> None:
    subs = [Submission(email="a@b.co", provider=4, document=bill)]
    with pytest.raises(ValidationError) as caught:
        client.jobs.submit_many(subs, concurrency=concurrency)
    assert str(caught.value) == (
        f"concurrency: must be an integer of at least 1, not {concurrency!r}"
    )


def test_urls_must_be_https(make_client: MakeClient) -> None:
    with pytest.raises(ValidationError, match="snap_url"):
        make_client(_no_request, snap_url="http://snap.test/api/v1/")
    with pytest.raises(ValidationError, match="link_url"):
        make_client(_no_request, link_url="ftp://x")


@pytest.mark.parametrize("results", ["cooked", "RAW", "", None, 1])
async def test_every_results_argument_is_checked_alike(
    client: WattzOnClient, bill: Path, results: Any
) -> None:
    expected = f"results: must be 'raw' or 'transformed', not {results!r}"
    with pytest.raises(ValidationError) as got:
        await client.jobs.get(1, results=results)
    with pytest.raises(ValidationError) as waited:
        await client.await_job(1, results=results)
    with pytest.raises(ValidationError) as batched:
        client.jobs.submit_many([Submission("a@b.co", 4, bill)], results=results)
    for caught in (got, waited, batched):
        assert str(caught.value) == expected
        assert caught.value.field == "results"


@pytest.mark.parametrize(
    ("make", "field", "value"),
    [
        (RetryPolicy, "attempts", 0),
        (RetryPolicy, "attempts", 2.0),
        (RetryPolicy, "timeout", "60"),
        (RetryPolicy, "wait_jitter", 1.5),
        (RetryPolicy, "wait_exp_base", 0.5),
        (WaitPolicy, "initial_delay", -1),
        (WaitPolicy, "max_delay", 0),
        (WaitPolicy, "min_delay", float("nan")),
        (Timeouts, "upload", float("inf")),
        (Timeouts, "read", True),
        (RateLimitPolicy, "max_rate", 0),
        (RateLimitPolicy, "initial_rate", -4.0),
        (RateLimitPolicy, "poll_rate", None),
    ],
)
def test_a_bad_setting_is_refused_when_its_policy_is_made(
    make: Callable[..., object], field: str, value: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**{field: value})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: must be ")
    assert repr(value) in str(caught.value)


def test_a_policy_accepts_the_edges_of_its_ranges() -> None:
    assert RetryPolicy(attempts=1, wait_initial=0, wait_jitter=1).attempts == 1
    assert WaitPolicy(initial_delay=0, jitter=0, multiplier=1).initial_delay == 0
    assert RateLimitPolicy(max_rate=None, initial_rate=None).max_rate is None


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cret-pw@snap.test/api/v1/",
        "https://:s3cret-pw@snap.test/api/v1/",
        "http://user:s3cret-pw@snap.test/api/v1/",
        "https://user:s3cret-pw@bad@snap.test/",
        "https://user@snap.test/api/v1/",
    ],
)
def test_a_base_url_with_user_info_is_refused_without_echoing_the_password(
    make_client: MakeClient, url: str
) -> None:
    for field in ("snap_url", "link_url"):
        with pytest.raises(ValidationError) as caught:
            make_client(_no_request, **{field: url})
        error = caught.value
        assert error.field == field
        assert "user name or password" in str(error)
        shown = f"{error} {error!r} {error.args} {error.__context__!r} {error.__cause__!r}"
        assert "s3cret-pw" not in shown
        assert "user:" not in shown


def test_a_base_url_with_user_info_from_the_environment_is_refused(pki: Any) -> None:
    env = {
        "WATTZON_CERT": str(pki.cert),
        "WATTZON_KEY": str(pki.key),
        "WATTZON_SNAP_URL": "https://me:s3cret-pw@snap.test/api/v1/",
    }
    with pytest.raises(ValidationError, match="snap_url") as caught:
        WattzOnClient.from_env(env)
    assert "s3cret-pw" not in str(caught.value)


ODD_JOB_IDS = ["²", "٣", "1" * 5000, 10**5000, 2**63, "9" * 20, "1e3", " 1_000"]


@pytest.mark.parametrize("job_id", ODD_JOB_IDS, ids=[str(i) for i in range(len(ODD_JOB_IDS))])
async def test_odd_job_ids_are_a_validation_error_not_a_value_error(
    client: WattzOnClient, job_id: Any
) -> None:
    for call in (client.jobs.get, client.documents.get, client.await_job):
        with pytest.raises(ValidationError) as caught:
            await call(job_id)
        assert caught.value.field == "job_id"
        assert len(str(caught.value)) < 200


@pytest.mark.parametrize("profile_id", ["..", ".", "...", "a/b", "a?b", "a#b", "%2e", " ", ""])
async def test_profile_ids_that_leave_their_segment_are_refused(
    client: WattzOnClient, profile_id: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.link.bills(profile_id)
    assert caught.value.field == "profile_id"


@pytest.mark.parametrize("provider", [2**63, 10**5000, -(10**5000)], ids=["2**63", "big", "-big"])
async def test_huge_provider_ids_are_refused(client: WattzOnClient, provider: int) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.utilities.get(provider)
    assert caught.value.field == "provider_id"
    assert len(str(caught.value)) < 200
