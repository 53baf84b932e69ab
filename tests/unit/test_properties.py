"""Property-based tests of the converters, the tag-literal parser and the error decoder.

For every input: a model (with the documented field types) or the documented exception,
and nothing else. ``parse_notification`` has its own properties in test_notifications.py;
here are the pieces it and the resources are built from: ``structure_job`` (summaries and
raw or transformed results), ``structure_jobs``, ``structure_document``,
``structure_utility``, ``structure_provider_ids``, ``structure_bills``, ``parse_tags``
(which must never execute code) and ``decode_response``; and the other direction: every
public model reads back from the JSON the converter writes for it (``wattzon --json``).
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wattzon_async._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedResponseError,
    decode_response,
    parse_retry_after,
)
from wattzon_async._serde import (
    dump_tags,
    parse_tags,
    structure,
    structure_bills,
    structure_document,
    structure_job,
    structure_jobs,
    structure_provider_ids,
    structure_utility,
    unstructure,
)
from wattzon_async.models import (
    Document,
    DocumentRef,
    ExtractedField,
    Job,
    JobStatus,
    LinkBill,
    LinkNotification,
    SnapNotification,
    Token,
    Utility,
    ZipCode,
)

# -- strategies ----------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)

_timestamps = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)).flatmap(
    lambda d: st.sampled_from(
        [
            d.isoformat(),
            d.isoformat(sep=" "),
            d.isoformat() + "Z",
            d.replace(tzinfo=UTC).isoformat(sep=" "),
            d.isoformat(timespec="microseconds"),
        ]
    )
)
_statuses = st.sampled_from(
    ["ENQUEUED", "PROCESSING", "COMPLETE", "COMPLETED", "FAILED", "UNSUPPORTED", "ARCHIVED"]
) | st.text(min_size=1, max_size=12)
_tag_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=","), min_size=1, max_size=30
)
_tokens = st.fixed_dictionaries(
    {k: st.integers(0, 5000) for k in ("page_number", "x1", "y1", "x2", "y2", "index")},
    optional={"confidence": st.floats(0, 1)},
)
_raw_field = st.fixed_dictionaries(
    {"tokens": st.fixed_dictionaries({"raw": st.lists(_tokens, max_size=3), "content": st.text()})}
)
_results = st.dictionaries(st.text(min_size=1, max_size=20), _raw_field, max_size=5) | (
    st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=5)
)


def _valid_job() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.integers(1, 2**40),
            "created_at": _timestamps,
            "email": st.emails(),
            "provider": st.integers(1, 10**6),
            "status": _statuses,
            "tags": st.lists(_tag_text, max_size=4),
            "document": st.fixed_dictionaries(
                {"id": st.integers(1, 2**40), "name": st.text(min_size=1, max_size=30)}
            ),
        },
        optional={
            "results": _results | st.none(),
            "new_field": _json,
        },
    )


_job_fields = st.sampled_from(
    ["id", "created_at", "email", "provider", "status", "tags", "document", "results"]
)


@st.composite
def _perturbed_job(draw: st.DrawFn) -> dict[str, Any]:
    """A valid job with some fields removed or replaced by arbitrary JSON."""
    job = draw(_valid_job())
    for name in draw(st.lists(_job_fields, max_size=3, unique=True)):
        if draw(st.booleans()):
            job.pop(name, None)
        else:
            job[name] = draw(_json | _timestamps | st.text(max_size=10))
    return job


# -- helpers ---------------------------------------------------------------------------


def _assert_aware_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def _assert_job(job: Job) -> None:
    assert isinstance(job, Job)
    assert isinstance(job.id, int)
    assert not isinstance(job.id, bool)
    assert isinstance(job.provider, int)
    assert not isinstance(job.provider, bool)
    assert isinstance(job.email, str)
    assert isinstance(job.status, JobStatus)
    assert isinstance(job.document, DocumentRef)
    assert isinstance(job.document.id, int)
    assert isinstance(job.document.name, str)
    _assert_aware_utc(job.created_at)
    assert isinstance(job.tags, tuple)
    assert all(isinstance(t, str) for t in job.tags)
    assert isinstance(job.extra, Mapping)
    if job.results is not None:
        for name, value in job.results.items():
            assert isinstance(name, str)
            assert isinstance(value, ExtractedField | str)
            if isinstance(value, ExtractedField):
                assert isinstance(value.content, str)
                assert all(isinstance(t, Token) for t in value.tokens)
    assert isinstance(job.values(), dict)
    text = repr(job)
    assert "@" not in job.email or repr(job.email) not in text  # masked in repr


# -- structure_job -------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_valid_job())
def test_valid_jobs_always_give_a_job(data: dict[str, Any]) -> None:
    job = structure_job(data)
    _assert_job(job)
    assert job.id == data["id"]
    assert job.tags == tuple(data["tags"])
    assert job.status.is_final == (
        data["status"].upper() in ("COMPLETE", "COMPLETED", "FAILED", "UNSUPPORTED")
    )
    if "new_field" in data:  # kept as it came; repr, since NaN != NaN
        assert repr(job.extra["new_field"]) == repr(data["new_field"])
    if data.get("results"):
        assert job.results is not None
        assert set(job.results) == set(data["results"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_perturbed_job() | _json)
def test_any_job_json_gives_a_job_or_unexpected_response(data: Any) -> None:
    try:
        job = structure_job(data)
    except UnexpectedResponseError:
        return
    _assert_job(job)


@settings(max_examples=200, deadline=None)
@given(_json | st.lists(_perturbed_job(), max_size=3))
def test_any_list_json_gives_jobs_or_unexpected_response(data: Any) -> None:
    try:
        jobs = structure_jobs(data)
    except UnexpectedResponseError:
        return
    assert isinstance(jobs, list)
    for job in jobs:
        _assert_job(job)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10),
        _json | _raw_field | st.fixed_dictionaries({"content": _json}),
        max_size=4,
    )
)
def test_any_results_give_fields_or_unexpected_response(results: dict[str, Any]) -> None:
    data = {
        "id": 1,
        "created_at": "2016-07-25T16:26:12.320000",
        "email": "user@example.com",
        "provider": 4,
        "status": "COMPLETE",
        "document": {"id": 2, "name": "bill.pdf"},
        "results": results,
    }
    try:
        job = structure_job(data)
    except UnexpectedResponseError:
        return
    _assert_job(job)
    assert job.results is not None
    assert set(job.results) == set(results)


# -- documents, utilities, provider ids, bills ------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**40), st.text(min_size=1, max_size=30), st.binary(max_size=300))
def test_document_content_round_trips(doc_id: int, name: str, content: bytes) -> None:
    data = {"id": doc_id, "name": name, "content": base64.b64encode(content).decode()}
    document = structure_document(data)
    assert document == Document(id=doc_id, name=name, content=content)
    assert repr(content) not in repr(document) or not content


@settings(max_examples=300, deadline=None)
@given(
    _json
    | st.fixed_dictionaries(
        {"id": _json, "name": _json, "content": _json | st.binary().map(lambda b: b.hex())}
    )
)
def test_any_document_json_gives_a_document_or_unexpected_response(data: Any) -> None:
    try:
        document = structure_document(data)
    except UnexpectedResponseError:
        return
    assert isinstance(document, Document)
    assert isinstance(document.id, int)
    assert isinstance(document.name, str)
    assert isinstance(document.content, bytes)


_utility_values = st.fixed_dictionaries(
    {},
    optional={
        "id": _json,
        "name": _json,
        "type": _json | st.lists(st.text(max_size=8), max_size=3),
        "lseid": _json,
        "extra_field": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), _json | _utility_values)
def test_any_utility_json_gives_a_utility_or_unexpected_response(
    provider_id: int, data: Any
) -> None:
    try:
        utility = structure_utility(provider_id, data)
    except UnexpectedResponseError:
        return
    assert isinstance(utility, Utility)
    assert isinstance(utility.id, int)
    assert isinstance(utility.name, str)
    assert all(isinstance(t, str) and t and t == t.strip() for t in utility.types)
    assert utility.lseid is None or isinstance(utility.lseid, str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["electric", "gas", "water", " ", ""]), max_size=5))
def test_utility_type_string_splits_on_commas(types: list[str]) -> None:
    utility = structure_utility(3150, {"name": "PG&E", "type": ",".join(types)})
    assert utility.types == tuple(t.strip() for t in types if t.strip())


def test_utility_homepage_url_is_a_string_or_an_error() -> None:
    try:
        utility = structure_utility(1, {"name": "x", "homepage_url": 5})
    except UnexpectedResponseError:
        return
    assert utility.homepage_url is None or isinstance(utility.homepage_url, str)


@settings(max_examples=200, deadline=None)
@given(_json | st.fixed_dictionaries({"provider_ids": _json}))
def test_any_provider_ids_give_ints_or_unexpected_response(data: Any) -> None:
    try:
        ids = structure_provider_ids(data)
    except UnexpectedResponseError:
        return
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)


@settings(max_examples=200, deadline=None)
@given(_json | st.fixed_dictionaries({"data": st.lists(_json, max_size=3)}))
def test_any_bills_give_bills_or_unexpected_response(data: Any) -> None:
    try:
        bills = structure_bills(data)
    except UnexpectedResponseError:
        return
    for bill in bills:
        assert isinstance(bill, LinkBill)
        assert bill.pdf is None or isinstance(bill.pdf, str)


# -- unstructure -> structure: every public model reads back from its JSON -------------------

_plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
    lambda t: t.strip() == t and t != ""
)


def _extra(*known: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.text(max_size=8).filter(lambda k: k not in known), _plain_json)


_aware = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
_status_values = _statuses.map(JobStatus)
_token_models = st.builds(
    Token,
    *[st.integers(-(2**40), 2**40)] * 6,
    extra=_extra("page_number", "x1", "y1", "x2", "y2", "index"),
)
_field_models = st.builds(
    ExtractedField,
    _texts,
    st.lists(_token_models, max_size=3).map(tuple),
    extra=_extra("content", "tokens"),
)
_ref_models = st.builds(DocumentRef, st.integers(1, 2**40), _texts, extra=_extra("id", "name"))
_tag_tuples = st.lists(_tag_text, max_size=3).map(tuple)
_job_models = st.builds(
    Job,
    id=st.integers(1, 2**40),
    created_at=_aware,
    email=_texts,
    provider=st.integers(1, 10**6),
    status=_status_values,
    document=_ref_models,
    tags=_tag_tuples,
    results=st.none()
    | st.dictionaries(_texts, _field_models, max_size=3)
    | st.dictionaries(_texts, _texts, max_size=3),
    extra=_extra(*(a.name for a in attrs.fields(Job))),
)
_optional_names = st.none() | _names
_model_values = st.one_of(
    _token_models,
    _field_models,
    _ref_models,
    _job_models,
    st.builds(
        ZipCode,
        _texts,
        _optional_names,
        _optional_names,
        _optional_names,
        st.none() | st.floats(allow_nan=False, allow_infinity=False),
        st.none() | st.floats(allow_nan=False, allow_infinity=False),
        extra=_extra(*(a.name for a in attrs.fields(ZipCode))),
    ),
    st.builds(
        Utility,
        st.integers(1, 10**6),
        _texts,
        st.lists(_names, max_size=3).map(tuple),
        _optional_names,
        _optional_names,
        extra=_extra("id", "name", "type", "types", "lseid", "homepage_url"),
    ),
    st.builds(LinkBill, _optional_names, extra=_extra("pdf")),
    st.builds(
        SnapNotification,
        job_id=st.integers(1, 2**40),
        final_state=_status_values,
        created_at=_aware,
        tags=_tag_tuples,
        provider=st.none() | st.integers(1, 10**6),
        email=st.none() | _texts,
        document=st.none() | _ref_models,
        got_results=st.booleans(),
        extra=_extra(*(a.name for a in attrs.fields(SnapNotification))),
    ),
    st.builds(
        LinkNotification,
        _texts,
        _texts,
        st.none() | _aware,
        _tag_tuples,
        extra=_extra("profile_id", "job_id", "created_at", "tags"),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_model_values)
def test_every_model_reads_back_from_its_json(model: Any) -> None:
    data = json.loads(json.dumps(unstructure(model)))  # what `wattzon --json` prints
    assert structure(data, type(model)) == model


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 2**40), _texts, st.binary(max_size=100), _extra("id", "name", "content"))
def test_a_documents_json_holds_its_size_never_its_bytes(
    doc_id: int, name: str, content: bytes, extra: dict[str, Any]
) -> None:
    document = Document(doc_id, name, content, extra=extra)
    data = unstructure(document)
    assert data == {"id": doc_id, "name": name, "content_size": len(content), **extra}
    wire = {"id": doc_id, "name": name, "content": base64.b64encode(content).decode(), **extra}
    assert structure_document(wire) == document


# -- parse_tags ----------------------------------------------------------------------

_audit_events: list[str] | None = None
_WATCHED = ("exec", "compile.exec", "os.system", "subprocess.Popen", "open", "import")


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _audit_events is not None and event in _WATCHED:
        _audit_events.append(event)


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records when asked


@contextmanager
def _no_code_runs() -> Iterator[None]:
    """Fail when code is executed, a module imported, a file opened or a process started."""
    global _audit_events
    _audit_events = []
    try:
        yield
    finally:
        events, _audit_events = _audit_events, None
    assert events == [], f"parsing a tag literal raised audit events {events}"


def _parse_tags_or_error(value: object) -> tuple[str, ...] | None:
    try:
        with _no_code_runs():
            tags = parse_tags(value)
    except (ValueError, TypeError):
        return None
    assert isinstance(tags, tuple)
    assert all(isinstance(t, str) for t in tags)
    return tags


@settings(max_examples=300, deadline=None)
@given(st.lists(_tag_text | st.integers(0, 10**9), max_size=6))
def test_tag_literal_round_trips(tags: list[str | int]) -> None:
    expected = tuple(str(t) for t in tags)
    assert _parse_tags_or_error(dump_tags(expected)) == expected
    assert _parse_tags_or_error(repr(tags)) == expected
    assert _parse_tags_or_error(json.dumps(tags, ensure_ascii=False)) == expected
    assert _parse_tags_or_error(tags) == expected
    assert _parse_tags_or_error(tuple(tags)) == expected


_code_fragments = st.sampled_from(
    [
        "__import__('os').system('touch /tmp/wattzon-pwned')",
        "open('/etc/passwd').read()",
        "exec('import os')",
        "eval('1+1')",
        "(lambda: 1)()",
        "[x for x in ()]",
        "f'{1+1}'",
        "'a' + 'b'",
        "9**9**9",
        "-1",
        "1e999",
        "None",
        "True",
        "...",
        "b'x'",
        "{'a': 1}",
        "{1, 2}",
        "'ok'",
        "7",
        "x",
        "().__class__.__bases__[0].__subclasses__()",
        "breakpoint()",
        "__builtins__",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_code_fragments, min_size=1, max_size=4), st.sampled_from(["[{}]", "({},)"]))
def test_tag_literals_holding_code_are_never_run(fragments: list[str], shape: str) -> None:
    text = shape.format(", ".join(fragments))
    tags = _parse_tags_or_error(text)
    plain = {"'ok'": "ok", "7": "7", "1e999": "inf", "-1": "-1"}
    if tags is not None:
        assert all(f in plain for f in fragments), (text, tags)
        assert tags == tuple(plain[f] for f in fragments)


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=200)
    | st.text(alphabet="[](),'\"\\0123456789abcx _.:", max_size=200)
    | st.builds(lambda n: "[" * n + "]" * n, st.integers(0, 5000))
    | st.builds(lambda n: "[" + "9" * n + "]", st.integers(1, 6000))
    | st.builds(lambda n: "[" + "'a'," * n + "]", st.integers(0, 30_000))
)
def test_any_text_gives_tags_or_value_error(text: str) -> None:
    _parse_tags_or_error(text)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_any_json_value_gives_tags_or_an_error(value: object) -> None:
    tags = _parse_tags_or_error(value)
    if isinstance(value, str) and value.strip() and value.strip()[0] not in "[(":
        assert tags == (value.strip(),)


def test_json_escaped_astral_tag_reads_as_one_character() -> None:
    tags = _parse_tags_or_error(json.dumps(["bill-\U0001f600"]))
    assert tags == ("bill-\U0001f600",)


def test_oversized_literal_is_refused_before_parsing() -> None:
    assert _parse_tags_or_error("[" + "'a', " * 50_000 + "]") is None


# -- decode_response ------------------------------------------------------------------

_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}
_bodies = (
    st.binary(max_size=300)
    | _json.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=300).map(lambda t: json.dumps({"error": t}).encode())
    | st.text(min_size=400, max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
_headers = st.dictionaries(
    st.sampled_from(["retry-after", "Retry-After", "content-type", "x-other"]),
    st.text(max_size=40)
    | st.integers(-100, 10**12).map(str)
    | st.floats().map(str)
    | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    max_size=3,
)


@settings(max_examples=600, deadline=None)
@given(st.integers(100, 599), _headers, _bodies, st.text(max_size=20))
@example(200, {}, b"[1, 2]", "")
@example(429, {"Retry-After": "nan"}, b"", "Too Many Requests")
@example(429, {"Retry-After": "1e400"}, b"", "")
@example(503, {}, b"\xff\xfe", "")
def test_any_response_gives_data_or_the_matching_error(
    status: int, headers: dict[str, str], body: bytes, reason: str
) -> None:
    if not 200 <= status < 300:
        expected = _STATUS_CLASSES.get(status) or (
            InternalServerError if status >= 500 else APIStatusError
        )
        with pytest.raises(APIStatusError) as caught:
            decode_response(status, headers, body, reason=reason)
        error = caught.value
        assert type(error) is expected
        assert error.status_code == status
        assert isinstance(error.message, str)
        assert error.message
        assert len(error.message) <= 501
        if isinstance(error, RateLimitError):
            ra = error.retry_after
            assert ra is None or (math.isfinite(ra) and ra >= 0)
        return
    try:
        data = decode_response(status, headers, body, reason=reason)
    except UnexpectedResponseError:
        return
    assert data is None or json.dumps(data) == json.dumps(json.loads(body))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.none())
def test_retry_after_is_none_or_finite_seconds(value: str | None) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@pytest.mark.parametrize("status", [200, 500])
def test_deeply_nested_body_gives_a_documented_error(status: int) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(UnexpectedResponseError if status == 200 else InternalServerError):
        decode_response(status, {}, body)
