"""Turn one SQS message body into a notification model, or a NotificationError.

This module exists so that the rules for reading WattzOn's messages (which app, which
fields, which formats) live in one pure function with no I/O: the consumer, the
emulator and users' own queue readers all call ``parse_notification``. The field formats
themselves (tag literals, timestamps, unknown fields) belong to ``_serde``; this module
only decodes, dispatches and turns every failure into ``NotificationError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._errors import NotificationError, UnexpectedResponseError
from .._serde import structure
from ..models import LinkNotification, SnapNotification

__all__ = ["MAX_BODY_SIZE", "parse_notification"]

#: The largest body accepted, in bytes (SQS itself caps a message at 1 MiB).
MAX_BODY_SIZE = 1024 * 1024

_PREVIEW = 60


def parse_notification(
    body: str | bytes | bytearray | Mapping[str, Any],
) -> SnapNotification | LinkNotification:
    """Read a WattzOn notification from an SQS message body.

    The body is JSON text, UTF-8 bytes, or an already-decoded mapping. ``"app"`` chooses
    the model: ``"snap"`` gives a SnapNotification and ``"link"`` a LinkNotification; a
    message without ``"app"`` is a Snap message when it has ``"final_state"`` and a Link
    message when it has ``"profile_id"``. An SNS envelope (``{"Type": "Notification",
    "Message": "..."}``), as delivered by an SNS-to-SQS subscription without raw message
    delivery, is unwrapped once. ``tags`` may be a Python-list literal (read without
    ``eval``) or a JSON list; both timestamp formats of the API are read as aware UTC;
    fields this SDK does not know are kept in ``extra``.

    Args:
        body: The message body.

    Returns:
        The notification.

    Raises:
        NotificationError: The body is not JSON, not an object, too large, names an
            unknown app, lacks a required field such as ``job_id``, or holds a field of
            the wrong type. No other exception escapes.
    """
    data = _decode(body)
    data = _unwrap_sns(data)
    app = _app_of(data)
    if "job_id" not in data:
        raise NotificationError(f"{app} notification has no job_id")
    data = {key: value for key, value in data.items() if key != "app"}
    try:
        if app == "snap":
            return structure(data, SnapNotification, what="snap notification")
        return structure(data, LinkNotification, what="link notification")
    except UnexpectedResponseError as exc:
        raise NotificationError(str(exc)) from exc
    except (ValueError, TypeError, KeyError, OverflowError, OSError, RecursionError) as exc:
        raise NotificationError(f"{app} notification is not as documented: {exc}") from exc


def _decode(body: object) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes | bytearray | memoryview):
        if len(body) > MAX_BODY_SIZE:
            raise NotificationError(f"message body is {len(body)} bytes, over {MAX_BODY_SIZE}")
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotificationError(f"message body is not UTF-8: {exc}") from exc
    if not isinstance(body, str):
        raise NotificationError(f"message body must be text, not {type(body).__name__}")
    if len(body) > MAX_BODY_SIZE:
        raise NotificationError(f"message body is {len(body)} characters, over {MAX_BODY_SIZE}")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise NotificationError(f"message body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise NotificationError(f"message body is not a JSON object: {type(data).__name__}")
    return data


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed")


def _unwrap_sns(data: Mapping[str, Any]) -> Mapping[str, Any]:
    message = data.get("Message")
    if data.get("Type") == "Notification" and isinstance(message, str) and "app" not in data:
        return _decode(message)
    return data


def _app_of(data: Mapping[str, Any]) -> str:
    app = data.get("app")
    if app is None:
        if "final_state" in data:
            return "snap"
        if "profile_id" in data:
            return "link"
        raise NotificationError("message has no 'app' and is neither a snap nor a link message")
    if not isinstance(app, str):
        raise NotificationError(f"'app' must be a string, not {type(app).__name__}")
    normalized = app.strip().lower()
    if normalized not in ("snap", "link"):
        raise NotificationError(f"unknown app {app[:_PREVIEW]!r}: expected 'snap' or 'link'")
    return normalized
