"""parse_notification: the vendor's examples, every accepted variant, every rejected shape."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattzon_async._errors import NotificationError, WattzOnError
from wattzon_async.models import DocumentRef, JobStatus, LinkNotification, SnapNotification
from wattzon_async.notifications import MAX_BODY_SIZE, parse_notification

ROOT = Path(__file__).resolve().parents[2]

# The two messages exactly as the API reference gives them.
SNAP_EXAMPLE = """{"app": "snap", "job_id": 513, "tags": "['sfid:12345', 'demo']",
 "created_at": "2018-01-01 20:40:00.800922+00:00", "final_state": "COMPLETE",
 "provider": 4, "email": "user@example.com",
 "document": {"id": 259, "name": "bill.pdf"}, "got_results": true}"""

LINK_EXAMPLE = """{"app": "link", "profile_id": "_n_", "job_id": "_j_", "tags": "_tags_",
 "created_at": "2016-06-12T04:25:40.746000"}"""

# The Link message exactly as the vendor's notification-service page prints it.
LINK_SEED_EXAMPLE = """{
  "app": "link",
  "profile_id": "_n_",
  "job_id": "_j_",
  "tags": "_tags_",
  "created_at": "2016-06-12T04:25:40.746000"
}"""


@pytest.fixture
def snap_message() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SNAP_EXAMPLE)
    return data


@pytest.fixture
def link_message() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LINK_EXAMPLE)
    return data


def test_snap_example() -> None:
    n = parse_notification(SNAP_EXAMPLE)
    assert isinstance(n, SnapNotification)
    assert n.app == "snap"
    assert n.job_id == 513
    assert n.tags == ("sfid:12345", "demo")
    assert n.created_at == datetime(2018, 1, 1, 20, 40, 0, 800922, tzinfo=UTC)
    assert n.final_state is JobStatus.COMPLETE
    assert n.provider == 4
    assert n.email == "user@example.com"
    assert n.document == DocumentRef(id=259, name="bill.pdf")
    assert n.got_results is True
    assert n.extra == {}


@pytest.mark.parametrize("text", [LINK_EXAMPLE, LINK_SEED_EXAMPLE])
def test_link_example(text: str) -> None:
    n = parse_notification(text)
    assert isinstance(n, LinkNotification)
    assert n.app == "link"
    assert n.profile_id == "_n_"
    assert n.job_id == "_j_"
    assert n.tags == ("_tags_",)
    assert n.created_at == datetime(2016, 6, 12, 4, 25, 40, 746000, tzinfo=UTC)
    assert n.extra == {}


def test_bytes_and_mapping_give_the_same(snap_message: dict[str, Any]) -> None:
    from_text = parse_notification(SNAP_EXAMPLE)
    assert parse_notification(SNAP_EXAMPLE.encode()) == from_text
    assert parse_notification(bytearray(SNAP_EXAMPLE.encode())) == from_text
    assert parse_notification(snap_message) == from_text


def test_email_is_masked_in_repr() -> None:
    assert "user@example.com" not in repr(parse_notification(SNAP_EXAMPLE))


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("['sfid:12345', 'demo']", ("sfid:12345", "demo")),
        ('["sfid:12345", "demo"]', ("sfid:12345", "demo")),
        ("[]", ()),
        ("['one']", ("one",)),
        ("('a', 'b')", ("a", "b")),
        ("[ 'spaced' ,  'out' ]", ("spaced", "out")),
        ("['a',]", ("a",)),
        ("[12345, 'x']", ("12345", "x")),
        ("['it\\'s']", ("it's",)),
        ("[u'legacy']", ("legacy",)),
        (["json", "list"], ("json", "list")),
        ([1, 2], ("1", "2")),
        ([], ()),
        ("", ()),
        (None, ()),
        ("plain", ("plain",)),
    ],
)
def test_tag_variants(
    snap_message: dict[str, Any], tags: object, expected: tuple[str, ...]
) -> None:
    n = parse_notification({**snap_message, "tags": tags})
    assert n.tags == expected


def test_tags_may_be_absent(snap_message: dict[str, Any]) -> None:
    del snap_message["tags"]
    assert parse_notification(snap_message).tags == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-01-01 20:40:00.800922+00:00", datetime(2018, 1, 1, 20, 40, 0, 800922, tzinfo=UTC)),
        ("2016-06-12T04:25:40.746000", datetime(2016, 6, 12, 4, 25, 40, 746000, tzinfo=UTC)),
        ("2016-06-12T04:25:40Z", datetime(2016, 6, 12, 4, 25, 40, tzinfo=UTC)),
        ("2016-06-12 06:25:40+02:00", datetime(2016, 6, 12, 4, 25, 40, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(snap_message: dict[str, Any], text: str, expected: datetime) -> None:
    n = parse_notification({**snap_message, "created_at": text})
    assert n.created_at == expected
    assert n.created_at.tzinfo is not None


def test_unknown_fields_are_kept(snap_message: dict[str, Any]) -> None:
    snap_message["priority"] = "high"
    snap_message["nested"] = {"a": [1, 2]}
    snap_message["document"]["pages"] = 3
    n = parse_notification(snap_message)
    assert isinstance(n, SnapNotification)
    assert n.extra == {"priority": "high", "nested": {"a": [1, 2]}}
    assert n.document is not None
    assert n.document.extra == {"pages": 3}


def test_unknown_fields_kept_on_link(link_message: dict[str, Any]) -> None:
    n = parse_notification({**link_message, "agent_state": "AgentState.complete"})
    assert n.extra == {"agent_state": "AgentState.complete"}


def test_message_without_app_but_with_final_state_is_snap(snap_message: dict[str, Any]) -> None:
    del snap_message["app"]
    assert isinstance(parse_notification(snap_message), SnapNotification)


def test_message_without_app_but_with_profile_id_is_link(link_message: dict[str, Any]) -> None:
    del link_message["app"]
    assert isinstance(parse_notification(link_message), LinkNotification)


def test_app_is_case_insensitive(snap_message: dict[str, Any]) -> None:
    assert isinstance(parse_notification({**snap_message, "app": " SNAP "}), SnapNotification)


def test_string_job_id_and_other_final_states(snap_message: dict[str, Any]) -> None:
    n = parse_notification({**snap_message, "job_id": "514", "final_state": "FAILED"})
    assert isinstance(n, SnapNotification)
    assert n.job_id == 514
    assert n.final_state is JobStatus.FAILED
    later = parse_notification({**snap_message, "final_state": "ARCHIVED"})
    assert isinstance(later, SnapNotification)
    assert later.final_state == "ARCHIVED"
    assert not later.final_state.is_known


def test_completed_alias(snap_message: dict[str, Any]) -> None:
    n = parse_notification({**snap_message, "final_state": "COMPLETED"})
    assert isinstance(n, SnapNotification)
    assert n.final_state is JobStatus.COMPLETE


def test_sns_envelope_is_unwrapped() -> None:
    envelope = {"Type": "Notification", "MessageId": "m", "Message": SNAP_EXAMPLE}
    n = parse_notification(json.dumps(envelope))
    assert isinstance(n, SnapNotification)
    assert n.job_id == 513


def _snap(**changes: object) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SNAP_EXAMPLE)
    for key, value in changes.items():
        if value is _DROP:
            del data[key]
        else:
            data[key] = value
    return data


_DROP = object()

INVALID: list[tuple[str, object]] = [
    ("not json", "this is not json"),
    ("empty text", ""),
    ("empty bytes", b""),
    ("not utf-8", b"\xff\xfe{}"),
    ("a JSON array", "[1, 2]"),
    ("a JSON string", '"snap"'),
    ("a JSON number", "513"),
    ("JSON null", "null"),
    ("NaN constant", '{"app": "snap", "job_id": NaN}'),
    ("an integer body", 513),
    ("None body", None),
    ("unknown app", _snap(app="billing")),
    ("app not a string", _snap(app=1)),
    ("no app, nothing to tell", {"job_id": 1, "created_at": "2018-01-01"}),
    ("missing job_id", _snap(job_id=_DROP)),
    ("missing job_id on link", {"app": "link", "profile_id": "p"}),
    ("missing final_state", _snap(final_state=_DROP)),
    ("missing created_at", _snap(created_at=_DROP)),
    ("missing profile_id", {"app": "link", "job_id": "j"}),
    ("job_id a boolean", _snap(job_id=True)),
    ("job_id a float", _snap(job_id=1.5)),
    ("job_id a word", _snap(job_id="five")),
    ("job_id a list", _snap(job_id=[513])),
    ("job_id huge", _snap(job_id="9" * 5000)),
    ("final_state empty", _snap(final_state="")),
    ("final_state a number", _snap(final_state=3)),
    ("created_at garbage", _snap(created_at="yesterday")),
    ("created_at a list", _snap(created_at=[2018])),
    ("created_at out of range", _snap(created_at=1e300)),
    ("document a string", _snap(document="bill.pdf")),
    ("document without id", _snap(document={"name": "x"})),
    ("tags an object", _snap(tags={"a": 1})),
    ("tags a number", _snap(tags=5)),
    ("tags holding objects", _snap(tags=[{"a": 1}])),
    ("tags literal holding a call", _snap(tags="[__import__('os').system('true')]")),
    ("tags literal holding a name", _snap(tags="[x]")),
    ("tags literal not closed", _snap(tags="['a', ")),
    ("tags literal a dict", _snap(tags="({'a': 1},)")),
    ("got_results a word", _snap(got_results="maybe")),
    ("provider a word", _snap(provider="four")),
    ("deeply nested", "[" * 100_000 + "]" * 100_000),
    ("huge text", '{"app": "snap", "pad": "' + "x" * MAX_BODY_SIZE + '"}'),
    ("huge bytes", b'{"pad": "' + b"x" * MAX_BODY_SIZE + b'"}'),
]


@pytest.mark.parametrize("body", [b for _, b in INVALID], ids=[name for name, _ in INVALID])
def test_invalid_shapes_raise_notification_error(body: Any) -> None:
    with pytest.raises(NotificationError) as info:
        parse_notification(body)
    assert str(info.value)
    assert isinstance(info.value, WattzOnError)


def test_error_names_the_problem() -> None:
    with pytest.raises(NotificationError, match="job_id"):
        parse_notification(_snap(job_id=_DROP))
    with pytest.raises(NotificationError, match="unknown app 'billing'"):
        parse_notification(_snap(app="billing"))
    with pytest.raises(NotificationError, match="not JSON"):
        parse_notification("{")


def test_tag_literal_code_is_never_run(snap_message: dict[str, Any]) -> None:
    payloads = [
        "[__import__('sys').modules.__setitem__('wattzon_pwned', 1)]",
        "__import__('sys').modules.__setitem__('wattzon_pwned', 1)",
        "(lambda: __import__('sys').modules.__setitem__('wattzon_pwned', 1))()",
        "['a'] + [__import__('sys').modules.__setitem__('wattzon_pwned', 1)]",
    ]
    for payload in payloads:
        try:
            n = parse_notification({**snap_message, "tags": payload})
        except NotificationError:
            continue
        # A bare string that is not a list literal is one opaque tag, never code.
        assert n.tags == (payload,)
    assert "wattzon_pwned" not in sys.modules


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_field_names = st.sampled_from(
    [
        "app",
        "job_id",
        "final_state",
        "created_at",
        "tags",
        "provider",
        "email",
        "document",
        "got_results",
        "profile_id",
        "Type",
        "Message",
    ]
)
_plausible_values = (
    _json
    | st.sampled_from(["snap", "link", "COMPLETE", "2018-01-01 20:40:00+00:00", "513", "[]"])
    | st.sampled_from(["['a', 'b']", "[__import__('os').system('true')]", "Notification"])
    | st.just({"id": 1, "name": "x.pdf"})
)
_messages = st.dictionaries(_field_names, _plausible_values, max_size=10)


def _assert_model_or_error(body: object) -> None:
    try:
        n = parse_notification(body)  # type: ignore[arg-type]
    except NotificationError:
        return
    assert isinstance(n, SnapNotification | LinkNotification)


@settings(max_examples=400, deadline=None)
@given(_messages)
def test_any_message_gives_a_model_or_notification_error(message: dict[str, Any]) -> None:
    _assert_model_or_error(message)
    _assert_model_or_error(json.dumps(message))
    _assert_model_or_error(json.dumps(message).encode())
    assert "wattzon_pwned" not in sys.modules


@settings(max_examples=200, deadline=None)
@given(_json)
def test_any_json_value_gives_a_model_or_notification_error(value: object) -> None:
    _assert_model_or_error(value)
    _assert_model_or_error(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_text_or_bytes_gives_a_model_or_notification_error(body: str | bytes) -> None:
    _assert_model_or_error(body)


def test_import_does_not_load_aiobotocore() -> None:
    code = (
        "import sys, wattzon_async.notifications as n\n"
        "n.NotificationConsumer('https://sqs.us-east-1.amazonaws.com/1/q')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiobotocore', 'botocore', 'aiohttp', 'boto3'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == ""


def test_consumer_from_env() -> None:
    from wattzon_async import NotificationConsumer, ValidationError

    consumer = NotificationConsumer.from_env(
        {
            "WATTZON_SQS_QUEUE_URL": "http://127.0.0.1:1/123/q",
            "WATTZON_SQS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_DEFAULT_REGION": "eu-west-1",
        },
        wait_time_seconds=2,
    )
    assert consumer.queue_url == "http://127.0.0.1:1/123/q"
    assert not consumer.running
    with pytest.raises(ValidationError, match="WATTZON_SQS_QUEUE_URL"):
        NotificationConsumer.from_env({})


async def test_a_consumer_without_the_sqs_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    from wattzon_async import ConsumerError, NotificationConsumer

    real_import = builtins.__import__

    def no_aiobotocore(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("aiobotocore"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aiobotocore)
    consumer = NotificationConsumer("http://127.0.0.1:9/123/q", region_name="us-east-1")
    with pytest.raises(ConsumerError, match=r"wattzon-async\[sqs\]"):
        await consumer.start()
