"""The error table: one pure function from status, headers and body to data or exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wattzon_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedResponseError,
    ValidationError,
    WaitTimeoutError,
    WattzOnError,
)
from wattzon_async._errors import PYTHON_SETTINGS, decode_response, parse_retry_after, seconds_text
from wattzon_async._http import translate_transport_error
from wattzon_async._httpx import httpx
from wattzon_async.cli._context import CLI_SETTINGS


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (409, APIStatusError),
        (302, APIStatusError),
    ],
)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "document too large"}', "document too large"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b"", "Some Reason"),
        (b'{"error": {"code": 7}}', '{"code": 7}'),
        (b'{"detail": "x"}', '{"detail": "x"}'),
    ],
)
def test_status_table(status: int, cls: type[APIStatusError], body: bytes, message: str) -> None:
    with pytest.raises(cls) as caught:
        decode_response(status, {}, body, reason="Some Reason")
    assert type(caught.value) is cls
    assert caught.value.status_code == status
    assert caught.value.message == message
    assert isinstance(caught.value, WattzOnError)


@pytest.mark.parametrize("status", [200, 201, 202])
def test_success_decodes_json(status: int) -> None:
    assert decode_response(status, {}, b'{"id": 1}') == {"id": 1}
    assert decode_response(status, {}, b"  ") is None


def test_success_that_is_not_json() -> None:
    with pytest.raises(UnexpectedResponseError):
        decode_response(200, {}, b"<html>")


def test_long_messages_are_cut() -> None:
    with pytest.raises(BadRequestError) as caught:
        decode_response(400, {}, b"x" * 10_000)
    assert len(caught.value.message) < 600


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        (None, None),
        ("1000000000", 120.0),
        ("1e308", 120.0),
        ("1e400", 120.0),
        ("inf", 120.0),
        ("9" * 5000, 120.0),
        ("Fri, 01 Jan 2100 00:00:00 GMT", 120.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 120.0),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_rate_limit_carries_retry_after() -> None:
    with pytest.raises(RateLimitError) as caught:
        decode_response(429, {"Retry-After": "3"}, b'{"error": "slow down"}')
    assert caught.value.retry_after == 3.0


def test_an_absurd_retry_after_is_capped_and_kept_as_asked() -> None:
    with pytest.raises(RateLimitError) as caught:
        decode_response(429, {"Retry-After": "1000000000"}, b"")
    assert caught.value.retry_after == 120.0
    assert caught.value.retry_after_asked == 1e9


def test_builtin_bases() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(WaitTimeoutError, TimeoutError)


def test_a_hint_names_settings_as_python_does_and_renders_other_spellings() -> None:
    error = ValidationError("x.pem already exists", hint="pass {force} to replace it")
    assert str(error) == "x.pem already exists; pass force=True to replace it"
    assert error.problem == "x.pem already exists"
    assert error.render({"force": "--force"}) == "x.pem already exists; pass --force to replace it"
    assert WattzOnError("plain").render(CLI_SETTINGS) == "plain"
    partial = WattzOnError("x", hint="pass {force} or {other}")
    assert partial.render({}) == "x; pass force=True or other"  # never a KeyError
    assert set(CLI_SETTINGS) == set(PYTHON_SETTINGS)  # every hint renders on the command line


def test_a_404_that_names_nothing_names_the_url_and_the_setting() -> None:
    where = "https://api.test/wrong/jobs/"
    for body in (b'{"error": "Not Found"}', b"<html>Not Found</html>", b""):
        with pytest.raises(NotFoundError) as caught:
            decode_response(404, {}, body, reason="Not Found", where=where, setting="snap_url")
        assert str(caught.value).startswith("404: ")
        assert f" at {where}; check that snap_url= (or WATTZON_SNAP_URL) is the API's base URL" in (
            str(caught.value)
        )
    with pytest.raises(NotFoundError) as specific:
        decode_response(404, {}, b'{"error": "job 7 not found"}', where=where, setting="snap_url")
    assert str(specific.value) == "404: job 7 not found"
    assert specific.value.message == "job 7 not found"


@pytest.mark.parametrize(
    ("exc", "start"),
    [
        (httpx.ConnectError("All connection attempts failed"), "could not connect to"),
        (httpx.ConnectTimeout("timed out"), "could not connect to"),
        (httpx.ReadError("reset"), "the connection to"),
        (httpx.ReadTimeout("timed out"), "no answer from"),
    ],
)
def test_a_transport_error_names_the_url_without_its_query(
    exc: httpx.HTTPError, start: str
) -> None:
    url = httpx.URL("https://127.0.0.1:8443/api/v1/jobs/?tag=customer-42")
    error = translate_transport_error(exc, url=url, setting="snap_url")
    assert str(error).startswith(f"{start} https://127.0.0.1:8443/api/v1/jobs/ ")
    assert "customer-42" not in str(error)
    if start == "could not connect to":
        assert error.render(CLI_SETTINGS).endswith(
            "check that the server is running and that --snap-url (or WATTZON_SNAP_URL) "
            "points at it (for the local emulator: is `wattzon emulator` running?)"
        )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.04, "0.04 s"),
        (0.937091367999983, "0.94 s"),
        (2.0, "2 s"),
        (2.25, "2.2 s"),
        (45.4, "45 s"),
        (60, "1 min"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (-1, "0 s"),
        (float("nan"), "0 s"),
    ],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert seconds_text(seconds) == text
