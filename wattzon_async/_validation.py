"""Input checks that run before anything is sent, each naming the field that is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from ._errors import ValidationError

__all__ = [
    "MAX_TAG_LENGTH",
    "check_email",
    "check_job_id",
    "check_provider",
    "check_results",
    "check_tags",
    "check_text",
    "check_zipcode",
]

MAX_TAG_LENGTH = 255
_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]{2,}$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


def check_email(email: object, *, field: str = "email") -> str:
    """Return a plausible email address, or raise ValidationError."""
    if not isinstance(email, str) or not email.strip():
        raise ValidationError(f"{field}: an email address is required", field=field)
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationError(f"{field}: not a valid email address", field=field)
    return email


def check_provider(provider: object, *, field: str = "provider") -> int:
    """Return a provider id (a positive integer), or raise ValidationError."""
    if isinstance(provider, bool) or not isinstance(provider, int):
        raise ValidationError(
            f"{field}: must be an integer provider id, not {type(provider).__name__} "
            f"{provider!r} (find ids with client.utilities.find)",
            field=field,
        )
    if provider <= 0:
        raise ValidationError(f"{field}: must be a positive integer, not {provider}", field=field)
    return provider


def check_job_id(job_id: object, *, field: str = "job_id") -> int:
    """Return a job id as an int from an int or a string of digits, or raise ValidationError."""
    if isinstance(job_id, int) and not isinstance(job_id, bool) and job_id > 0:
        return job_id
    if isinstance(job_id, str) and job_id.strip().isdigit() and int(job_id) > 0:
        return int(job_id.strip())
    shown = repr(job_id) if not isinstance(job_id, str) or job_id.strip() else "a blank string"
    raise ValidationError(f"{field}: must be a positive integer, not {shown}", field=field)


def check_tags(tags: Iterable[object] | None, *, field: str = "tags") -> tuple[str, ...]:
    """Return tags as strings (numbers become strings), or raise ValidationError.

    A tag may not be empty, contain a comma, or be longer than 255 characters.
    """
    if tags is None:
        return ()
    if isinstance(tags, str | bytes):
        raise ValidationError(
            f"{field}: must be a list of tags, not a single string (use [{tags!r}])",
            field=field,
        )
    checked: list[str] = []
    for position, tag in enumerate(tags):
        name = f"{field}[{position}]"
        if isinstance(tag, bool) or not isinstance(tag, str | int | float):
            raise ValidationError(
                f"{name}: a tag must be a string or a number, not {type(tag).__name__}",
                field=name,
            )
        text = str(tag)
        if not text.strip():
            raise ValidationError(f"{name}: a tag may not be empty", field=name)
        if "," in text:
            raise ValidationError(f"{name}: a tag may not contain a comma: {text!r}", field=name)
        if len(text) > MAX_TAG_LENGTH:
            raise ValidationError(
                f"{name}: {len(text)} characters is over the limit of {MAX_TAG_LENGTH}",
                field=name,
            )
        checked.append(text)
    return tuple(checked)


def check_text(value: object, *, field: str) -> str:
    """Return a non-blank string (numbers are accepted and become strings)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field}: a non-blank string is required", field=field)
    return value.strip()


def check_zipcode(zipcode: object, *, field: str = "zipcode") -> str:
    """Return a US zip code as five digits (an int is zero-padded), or raise ValidationError."""
    if isinstance(zipcode, int) and not isinstance(zipcode, bool) and 0 <= zipcode <= 99999:
        return f"{zipcode:05d}"
    if isinstance(zipcode, str) and _ZIP.match(zipcode.strip()):
        return zipcode.strip()
    raise ValidationError(
        f"{field}: must be a 5-digit US zip code such as '94110', not {zipcode!r}", field=field
    )


def check_results(results: object, *, field: str = "results") -> Literal["raw", "transformed"]:
    """Return ``"raw"`` or ``"transformed"``, the two forms of a job's results."""
    if results == "raw":
        return "raw"
    if results == "transformed":
        return "transformed"
    raise ValidationError(f"{field}: must be 'raw' or 'transformed', not {results!r}", field=field)
