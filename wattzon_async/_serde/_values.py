"""How single values are written on the wire: timestamps, tag literals, lenient scalars.

The converter (``._converter``) assembles models; this module holds what it plugs in for
one value: reading both timestamp formats of the API, the Python-list tag literal of
notifications (without ``eval``), numbers sent as strings, a utility's comma-separated
``type``, base64 content; and the two things written for a request (the create-job
envelope and the tag literal). It imports neither cattrs nor anything above ``models``.
"""

from __future__ import annotations

import ast
import base64
import json
from datetime import UTC, datetime
from typing import Any

from ..models import JobStatus

__all__ = [
    "as_is",
    "base64_bytes",
    "blank_is_none",
    "create_job_envelope",
    "dump_tags",
    "job_status",
    "lenient_bool",
    "lenient_float",
    "lenient_int",
    "lenient_str",
    "optional_str",
    "parse_datetime",
    "parse_tags",
    "tag_list",
    "utility_types",
]


def parse_datetime(value: object) -> datetime:
    """Read an API timestamp as an aware UTC datetime; naive values are UTC.

    Accepts ISO 8601 with ``T`` or a space, with or without offset or ``Z``, and epoch
    seconds.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a timestamp: {value!r}") from exc
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_tags(value: object) -> tuple[str, ...]:
    """Read tags from a JSON list, or from the Python-list literal notifications carry.

    The literal is parsed with ``ast.literal_eval`` restricted to a list or tuple of
    strings and numbers: no code is ever executed. A bare non-empty string that is not a
    literal is one tag; ``None`` and ``""`` are no tags.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text[0] in "[(":
            value = _literal_list(text)
        else:
            return (text,)
    if isinstance(value, list | tuple):
        return tuple(_tag_text(item) for item in value)
    raise TypeError(f"tags must be a list or a list literal, not {type(value).__name__}")


def _literal_list(text: str) -> list[object]:
    if len(text) > 100_000:
        raise ValueError("tag literal too long")
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a list literal: {text[:60]!r}") from exc
    if not isinstance(node, ast.List | ast.Tuple):
        raise ValueError(f"not a list literal: {text[:60]!r}")
    items: list[object] = []
    for element in node.elts:
        sign = 1
        if isinstance(element, ast.UnaryOp) and isinstance(element.op, ast.USub):
            sign, element = -1, element.operand
        if not isinstance(element, ast.Constant) or isinstance(element.value, bool):
            raise ValueError(f"tag literal holds something other than strings: {text[:60]!r}")
        value = element.value
        if isinstance(value, int | float):
            items.append(sign * value)
        elif isinstance(value, str) and sign == 1:
            items.append(value)
        else:
            raise ValueError(f"tag literal holds something other than strings: {text[:60]!r}")
    return items


def _tag_text(item: object) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise TypeError(f"a tag must be a string or a number, not {type(item).__name__}")
    if isinstance(item, str):
        try:  # join surrogate pairs from \u escapes; a lone surrogate is an error
            return item.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeError as exc:
            raise ValueError(f"a tag holds an unpaired surrogate: {item!r}") from exc
    return str(item)


# -- structure hooks: lenient scalars and fields whose wire form differs from their type ---


def lenient_int(value: object, _: object) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def lenient_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def lenient_float(value: object, _: object) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def lenient_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def job_status(value: object, _: object) -> JobStatus:
    if not isinstance(value, str) or not value:
        raise TypeError(f"a status must be a non-empty string, got {value!r}")
    return JobStatus(value)


def tag_list(value: object, _: object) -> tuple[str, ...]:
    return parse_tags(value)


def utility_types(value: object, _: object) -> tuple[str, ...]:
    """A utility's ``type``: comma-separated text on the wire, a list in our JSON."""
    if isinstance(value, list):
        return tuple(t.strip() for t in value if isinstance(t, str) and t.strip())
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return ()


def blank_is_none(value: object, _: object) -> str | None:
    return None if value in (None, "") else str(value)


def optional_str(value: object, _: object) -> str | None:
    return None if value in (None, "") else lenient_str(value, str)


def base64_bytes(value: object, _: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("document content is not base64 text")
    return base64.b64decode(value, validate=False)  # binascii.Error is a ValueError


def as_is(value: Any, _: object) -> Any:
    return value


def dump_tags(tags: tuple[str, ...]) -> str:
    """Write tags the way WattzOn's notifications carry them: a Python-list literal."""
    return repr(list(tags))


def create_job_envelope(
    *, email: str, provider: int, tags: tuple[str, ...], name: str
) -> tuple[bytes, bytes]:
    """The JSON of a create-job request around the document's base64 content.

    Returns ``(prefix, suffix)``: the body is ``prefix + base64(content) + suffix``.
    """
    head = json.dumps(
        {"email": email, "provider": provider, "tags": list(tags), "document": {"name": name}},
        separators=(",", ":"),
    )
    prefix = head[: -len("}}")] + ',"content":"'
    return prefix.encode(), b'"}}'
