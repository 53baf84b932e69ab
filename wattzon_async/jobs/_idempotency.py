"""Idempotency keys: the wire tag derived from a caller's key, and create fingerprints.

``POST /jobs/`` is not idempotent on the server, so every create carries a tag that names
it, ``idem:<32 hex>``. A caller's key (an order id, an invoice number, ``path@sha256``) is
any non-empty string; the tag is derived from it by a hash, so the same key always gives
the same tag, in every process and version, and the key itself is never sent. A key that
already is a wire tag is sent as it is. A keyed create also carries a fingerprint tag,
``idem-fp:<32 hex>``, which lets a later create with the key tell whether it is the same
bill (``_create`` compares them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from .._errors import ValidationError

__all__ = [
    "FINGERPRINT_PREFIX",
    "IDEMPOTENCY_PREFIX",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "check_idempotency_key",
    "fingerprint_tag",
    "idempotency_tag",
    "is_sdk_tag",
    "new_idempotency_key",
]

#: Tags that start with this are the SDK's idempotency keys.
IDEMPOTENCY_PREFIX = "idem:"
#: Tags that start with this fingerprint a keyed create's provider, email and document.
FINGERPRINT_PREFIX = "idem-fp:"
#: The longest idempotency key accepted, in characters.
MAX_IDEMPOTENCY_KEY_LENGTH = 255

_WIRE_TAG = re.compile(r"^idem:[0-9a-f]{32}$")
#: Domain separation: a key hashes to a tag no other use of SHA-256 would produce.
_KEY_DOMAIN = b"wattzon-async idempotency key v1\x00"
_FINGERPRINT_DOMAIN = b"wattzon-async create fingerprint v1\x00"


def check_idempotency_key(key: object, *, field: str = "idempotency_key") -> str:
    """Return a usable idempotency key, or raise ValidationError naming ``field``.

    A key is a non-blank string of at most ``MAX_IDEMPOTENCY_KEY_LENGTH`` characters
    without control characters. It is used exactly as given (not stripped).
    """
    if not isinstance(key, str):
        raise ValidationError(
            f"{field}: must be a string (an order id, an invoice number...), "
            f"not {type(key).__name__}",
            field=field,
        )
    if not key.strip():
        raise ValidationError(f"{field}: may not be empty or blank", field=field)
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValidationError(
            f"{field}: {len(key)} characters is over the limit of {MAX_IDEMPOTENCY_KEY_LENGTH}",
            field=field,
        )
    for position, char in enumerate(key):
        if char < " " or "\x7f" <= char <= "\x9f" or "\ud800" <= char <= "\udfff":
            raise ValidationError(
                f"{field}: control character {char!r} at position {position} is not allowed",
                field=field,
            )
    return key


def idempotency_tag(key: str) -> str:
    """The wire tag ``idem:<32 hex>`` that a create with idempotency key ``key`` carries.

    Deterministic: the same key always gives the same tag, in every process and version.
    A key that already is a wire tag (``idem:`` and 32 lowercase hex digits) is returned
    as it is; any other key is hashed (SHA-256, the first 128 bits), so the key itself
    never leaves the machine. ``client.jobs.list(tag=idempotency_tag(key))`` lists the
    jobs made with ``key``.

    Args:
        key: Any non-empty string of at most 255 characters without control characters.

    Raises:
        ValidationError: The key is not such a string.
    """
    key = check_idempotency_key(key)
    if _WIRE_TAG.match(key):
        return key
    digest = hashlib.sha256(_KEY_DOMAIN + key.encode("utf-8")).hexdigest()
    return IDEMPOTENCY_PREFIX + digest[:32]


def new_idempotency_key() -> str:
    """A fresh idempotency tag: ``idem:`` and 32 random hex digits (no uuid import)."""
    return IDEMPOTENCY_PREFIX + os.urandom(16).hex()


def is_sdk_tag(tag: str) -> bool:
    """True for the tags the SDK adds itself (idempotency tags and fingerprints)."""
    return tag.startswith((IDEMPOTENCY_PREFIX, FINGERPRINT_PREFIX))


def fingerprint_tag(tag: str, provider: int, email: str, document_sha256: str) -> str:
    """The fingerprint tag of a keyed create: ``idem-fp:`` and 32 hex digits.

    A hash of the wire tag, the provider, the email address and the document's SHA-256:
    no personal data in the clear, and bound to the key, so the same bill under two keys
    gives two unrelated fingerprints.
    """
    message = json.dumps([tag, provider, email, document_sha256]).encode()
    return FINGERPRINT_PREFIX + hashlib.sha256(_FINGERPRINT_DOMAIN + message).hexdigest()[:32]
