"""Checks of a job-create request body, with the API's rules and its 400 messages.

The rules are the vendor's: a valid email, an integer provider, tags that are strings or
numbers of at most 255 characters without commas, and a document with a name and base64
content of at most 5 MiB once decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

__all__ = ["MAX_DOCUMENT_BYTES", "BadRequest", "CreateRequest", "parse_create", "tags_of"]

#: The API's document limit: 5 MB, read as 5 MiB of decoded bytes.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s,;<>()\[\]\"]+@{_LABEL}(?:\.{_LABEL})+$")
_WHITESPACE = re.compile(rb"\s+")


class BadRequest(Exception):
    """A request the API answers with 400; the message goes in the JSON error body."""


@dataclass(frozen=True)
class CreateRequest:
    """A valid job-create request.

    Attributes:
        email: The customer's email address.
        provider: The utility provider id.
        tags: The tags, as strings.
        name: The document's file name.
        content: The document's decoded bytes.
    """

    email: str
    provider: int
    tags: tuple[str, ...]
    name: str
    content: bytes


def parse_create(body: bytes) -> CreateRequest:
    """Validate a job-create body.

    Args:
        body: The raw request body.

    Returns:
        The request.

    Raises:
        BadRequest: The body breaks one of the API's rules.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    missing = [k for k in ("email", "provider", "document") if data.get(k) in (None, "")]
    if missing:
        raise BadRequest(f"missing required field(s): {', '.join(missing)}")
    name, content = _document(data["document"])
    return CreateRequest(
        email=_email(data["email"]),
        provider=_provider(data["provider"]),
        tags=tags_of(data.get("tags")),
        name=name,
        content=content,
    )


def _email(value: object) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value):
        raise BadRequest("email is not a valid email address")
    return value


def _provider(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise BadRequest("provider must be an integer provider id")


def tags_of(value: object) -> tuple[str, ...]:
    """Validate tags as the API does: strings or numbers, <= 255 characters, no commas."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest("tags must be a list of strings")
    tags = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise BadRequest("each tag must be a string or a number")
        tag = str(item)
        if len(tag) > 255:
            raise BadRequest("a tag is longer than 255 characters")
        if "," in tag:
            raise BadRequest(f"tags must not contain commas: {tag[:40]!r}")
        tags.append(tag)
    return tuple(tags)


def _document(value: object) -> tuple[str, bytes]:
    if not isinstance(value, dict):
        raise BadRequest("document must be an object with name and content")
    name, content = value.get("name"), value.get("content")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("document.name is required")
    if not isinstance(content, str) or not content:
        raise BadRequest("document.content is required (base64)")
    encoded = _WHITESPACE.sub(b"", content.encode("ascii", "replace"))
    if len(encoded) * 3 // 4 > MAX_DOCUMENT_BYTES + 3:
        raise BadRequest(f"document is larger than the {MAX_DOCUMENT_BYTES} byte limit")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("document.content is not valid base64") from None
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise BadRequest(f"document is larger than the {MAX_DOCUMENT_BYTES} byte limit")
    if not raw:
        raise BadRequest("document is empty")
    return name, raw
