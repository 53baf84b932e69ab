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
from wattzon_async._errors import decode_response, parse_retry_after


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
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_rate_limit_carries_retry_after() -> None:
    with pytest.raises(RateLimitError) as caught:
        decode_response(429, {"Retry-After": "3"}, b'{"error": "slow down"}')
    assert caught.value.retry_after == 3.0


def test_builtin_bases() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(WaitTimeoutError, TimeoutError)
