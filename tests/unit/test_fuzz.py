"""Fuzzing everything that reads network input: only the SDK's own errors, in bounded time.

A peer can send anything: an SQS message with odd fields, a job whose id is 5,000 digits,
results nested a thousand deep, an error body that is a binary blob, a ``Retry-After``
that is a date in 2100. Each parser of such input is given seeds from the vendor's pages
mutated at random (odd values put at random places) and plain random bytes, and must
answer with a model or with the SDK's documented error, never with another exception,
and within a hypothesis deadline per example (time is bounded by hypothesis, not by a
wall-clock assertion). The wire path is fuzzed whole: bytes, ``decode_response``, then
the converter, then what a caller does with the model (``values()``, ``repr``, JSON).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattzon_async import NotificationError, WattzOnError
from wattzon_async._errors import (
    MAX_RETRY_AFTER,
    APIStatusError,
    RateLimitError,
    UnexpectedResponseError,
    decode_response,
    parse_retry_after,
    retry_after_asked,
)
from wattzon_async._serde import (
    structure_bills,
    structure_document,
    structure_job,
    structure_jobs,
    structure_provider_ids,
    structure_utility,
    unstructure,
)
from wattzon_async.notifications import parse_notification

from .conftest import seed

#: Each example must finish within this: a parser that takes longer on a few hundred
#: bytes has a quadratic (or worse) path a peer could use. Generous for two busy cores.
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(2**63), 2**64, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["²", "٣", "1" * 5000, "..", "/", "%2e%2e", "\x00", "\ud7ff", "1e308"]),
    st.sampled_from(["2100-01-01T00:00:00", "0000-00-00", "9999-12-31 23:59:59.999999+14:00"]),
)
JSON = st.recursive(
    ODD_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)


ODD = JSON


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with a few values (at any depth) replaced, deleted, or added."""
    value = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 4))):
        value = _mutate_once(draw, value)
    return value


def _mutate_once(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        action = draw(st.sampled_from(["replace", "delete", "descend", "add"]))
        if action == "replace":
            value[key] = draw(ODD)
        elif action == "delete":
            del value[key]
        elif action == "add":
            value[draw(st.text(max_size=12))] = draw(ODD)
        else:
            value[key] = _mutate_once(draw, value[key])
        return value
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        value[index] = _mutate_once(draw, value[index])
        return value
    return draw(ODD) if draw(st.integers(0, 3)) == 0 else value


def _use(model: Any) -> None:
    """What a caller does with a model: read its values, print it, dump it as JSON.

    Rendering may refuse an answer nested too deep (``UnexpectedResponseError``).
    """
    repr(model)
    if hasattr(model, "values"):
        model.values()
    with contextlib.suppress(UnexpectedResponseError):
        json.dumps(unstructure(model))


def _read(
    parse: Callable[[Any], Any], data: Any, refused: type[Exception] = UnexpectedResponseError
) -> None:
    """Parse ``data`` and use the model (each model of a list); ``refused`` is an answer too."""
    try:
        parsed = parse(data)
    except refused:
        return
    for model in parsed if isinstance(parsed, list) else [parsed]:
        _use(model)


@FUZZ
@given(mutated(seed("job_raw.json")) | mutated(seed("job_transformed.json")))
def test_job_json(data: Any) -> None:
    _read(structure_job, data)


@FUZZ
@given(mutated(seed("list_response.json")) | JSON)
def test_job_list_json(data: Any) -> None:
    _read(structure_jobs, data)


@FUZZ
@given(mutated({"data": [{"id": 1, "pdf": "data/bills/1001/1.pdf", "amount_due": 12.5}]}) | JSON)
def test_bill_json(data: Any) -> None:
    _read(structure_bills, data)


@FUZZ
@given(
    st.one_of(
        mutated(seed("document.json")).map(lambda d: ("document", d)),
        mutated({"provider_ids": [4, 305]}).map(lambda d: ("ids", d)),
        mutated({"name": "PG&E", "type": "electric,gas", "homepage_url": "https://x"}).map(
            lambda d: ("utility", d)
        ),
    )
)
def test_document_utility_and_provider_json(case: tuple[str, Any]) -> None:
    kind, data = case
    try:
        if kind == "document":
            _use(structure_document(data))
        elif kind == "ids":
            structure_provider_ids(data)
        else:
            _use(structure_utility(4, data))
    except UnexpectedResponseError:
        return


_NOTIFICATIONS = mutated(seed("snap_notification.json")) | mutated(seed("link_notification.json"))


@FUZZ
@given(
    st.one_of(
        _NOTIFICATIONS,
        _NOTIFICATIONS.map(lambda d: json.dumps(d)),
        _NOTIFICATIONS.map(
            lambda d: json.dumps({"Type": "Notification", "Message": json.dumps(d)})
        ),
        st.binary(max_size=300),
        st.text(max_size=300),
    )
)
@example(b'{"app": "snap", "job_id": "' + b"1" * 5000 + b'"}')
@example('{"app": "link", "job_id": 1, "profile_id": ' + "[" * 5000 + "]" * 5000 + "}")
def test_notifications(body: Any) -> None:
    _read(parse_notification, body, refused=NotificationError)


HEADERS = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "Location", "Content-Type", "X-Odd"]),
    st.text(max_size=80)
    | st.sampled_from(["1e308", "Fri, 01 Jan 2100 00:00:00 GMT", "9" * 400, "-0", "nan"]),
    max_size=3,
)
BODIES = st.one_of(
    st.binary(max_size=400),
    JSON.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.sampled_from([b"[" * 100_000, b'{"error": ' + b"[" * 5000 + b"}", b"1" * 5000]),
)


@FUZZ
@given(st.integers(100, 599), HEADERS, BODIES)
def test_error_bodies_and_success_bodies_through_the_whole_wire_path(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    error: WattzOnError | None = None
    try:
        data = decode_response(status, headers, body, reason="Reason")
    except (APIStatusError, UnexpectedResponseError) as exc:
        error = exc
    if isinstance(error, RateLimitError):
        assert error.retry_after is None or 0 <= error.retry_after <= MAX_RETRY_AFTER
    if isinstance(error, APIStatusError):
        assert len(error.message) <= 800  # 500 of the body, 200 of a redirect's target
    if error is not None:
        return
    assert 200 <= status < 300
    for parse in (structure_job, structure_jobs, structure_bills, structure_document):
        with contextlib.suppress(WattzOnError):
            _use(parse(data))


@FUZZ
@given(
    st.none()
    | st.text(max_size=100)
    | st.floats(allow_nan=True).map(repr)
    | st.integers().map(str)
    | st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT"))
)
@example("9" * 100_000)
@example("Fri, 31 Dec 9999 23:59:59 GMT")
def test_retry_after(value: str | None) -> None:
    asked = retry_after_asked(value)
    assert asked is None or asked >= 0
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER)


# -- nested deeper than anything the API sends (not drawn: hypothesis would print them) ----


def _deep(depth: int) -> str:
    """JSON text of ``{"a": [{"a": [ ... "x" ... ]}]}``, ``depth`` levels of both."""
    return '{"a": [' * depth + '"x"' + "]}" * depth


@pytest.mark.parametrize("depth", [100, 400, 2000])
def test_deeply_nested_answers_are_read_or_refused(depth: int) -> None:
    """Through the wire path: bytes, decode_response, the converter, what a caller does."""
    job = json.dumps(seed("job_raw.json"))
    bodies = [
        job.replace('"results": {', '"results": {"Deep": ' + _deep(depth) + ", ", 1),
        job.replace('"id": 578', '"id": ' + _deep(depth), 1),
        '{"data": [{"pdf": "x.pdf", "more": ' + _deep(depth) + "}]}",
        "[" + _deep(depth) + "]",
    ]
    for body in bodies:
        for parse in (structure_job, structure_jobs, structure_bills):
            with contextlib.suppress(UnexpectedResponseError):
                _use(parse(decode_response(200, {}, body.encode())))
    message = json.dumps(seed("link_notification.json"))
    deep_message = message.replace('"profile_id": ', '"profile_id": ' + _deep(depth) + ', "x": ')
    with contextlib.suppress(NotificationError):
        _use(parse_notification(deep_message))
