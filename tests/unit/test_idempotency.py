"""Idempotency keys: any string a caller has becomes one deterministic wire tag."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from wattzon_async import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    Submission,
    ValidationError,
    WattzOnClient,
    idempotency_tag,
)

from .conftest import SNAP, MakeClient, Router, json_response, seed

WIRE_TAG = re.compile(r"^idem:[0-9a-f]{32}$")


def test_a_key_becomes_a_wire_tag() -> None:
    tag = idempotency_tag("order-77")
    assert WIRE_TAG.match(tag)
    assert idempotency_tag("order-77") == tag
    assert idempotency_tag("order-78") != tag
    assert idempotency_tag("Order-77") != tag
    assert idempotency_tag("order-77 ") != tag  # used exactly as given


def test_the_derivation_never_changes() -> None:
    # Jobs made by one version must be found by the next: the derivation is pinned.
    assert idempotency_tag("order-77") == "idem:33edd81e5af8acf24a1505c4eee38738"


def test_a_wire_tag_is_kept_as_it_is() -> None:
    raw = "idem:" + "0123456789abcdef" * 2
    assert idempotency_tag(raw) == raw
    upper = "idem:" + "0123456789ABCDEF" * 2  # not the wire form: hashed like any key
    assert idempotency_tag(upper) != upper
    assert WIRE_TAG.match(idempotency_tag(upper))


@pytest.mark.parametrize(
    "key",
    ["order-77", "bills/2024/march.pdf@" + "ab" * 32, "facture n°7 — été", "a,b", "k" * 255],
)
def test_any_printable_key_up_to_the_limit(key: str) -> None:
    assert WIRE_TAG.match(idempotency_tag(key))
    assert key not in idempotency_tag(key)
    assert MAX_IDEMPOTENCY_KEY_LENGTH == 255


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("", "empty"),
        ("\t ", "blank"),
        (None, "must be a string"),
        (7, "must be a string"),
        ("k" * 256, "256 characters"),
        ("a\rb", "control character"),
        ("a\x7fb", "control character"),
    ],
)
def test_bad_keys_are_refused(key: Any, text: str) -> None:
    with pytest.raises(ValidationError, match=text) as caught:
        idempotency_tag(key)
    assert caught.value.field == "idempotency_key"


def _created(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.read())
    return json_response(dict(seed("create_response.json"), tags=body["tags"]), 201)


def _lookup_url(key: str) -> str:
    return SNAP + "jobs/?tag=" + idempotency_tag(key).replace(":", "%3A")


def _sent_tags(router: Router) -> list[list[str]]:
    return [json.loads(r.read())["tags"] for r in router.requests if r.method == "POST"]


async def test_create_sends_the_tag_of_the_callers_key(
    make_client: MakeClient, router: Router
) -> None:
    client: WattzOnClient = make_client(router)
    router.add("POST", SNAP + "jobs/", _created)
    router.add(
        "GET",
        SNAP + "jobs/?tag=" + idempotency_tag("order-77").replace(":", "%3A"),
        json_response([]),
    )
    job = await client.jobs.create(
        email="a@b.co", provider=4, document=b"x", name="b.pdf", idempotency_key="order-77"
    )
    assert idempotency_tag("order-77") in job.tags
    assert "order-77" not in json.dumps(_sent_tags(router))


async def test_submission_key_is_passed_through(make_client: MakeClient, router: Router) -> None:
    client: WattzOnClient = make_client(router)
    router.add("POST", SNAP + "jobs/", _created)
    router.add(
        "GET", SNAP + "jobs/?tag=" + idempotency_tag("inv-1").replace(":", "%3A"), json_response([])
    )
    subs = [
        Submission(
            email="a@b.co", provider=4, document=b"x", name="b.pdf", idempotency_key="inv-1"
        ),
        Submission(email="a@b.co", provider=4, document=b"x", name="b.pdf", idempotency_key=""),
    ]
    outcomes = sorted([o async for o in client.jobs.submit_many(subs)], key=lambda o: o.index)
    assert outcomes[0].job is not None
    assert idempotency_tag("inv-1") in outcomes[0].job.tags
    assert isinstance(outcomes[1].error, ValidationError)
    assert outcomes[1].error.field == "idempotency_key"
    assert _sent_tags(router) == [[idempotency_tag("inv-1")]]
