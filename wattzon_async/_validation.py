"""Input checks that run before anything is sent, each naming the field that is wrong.

This module exists so that every bad input, whether a call's argument or a setting, is
refused the same way: a ``ValidationError`` whose ``field`` is the keyword the caller
typed and whose message reads ``"<field>: must be ..., not <value>"``.

* A call's arguments (``email=``, ``provider=``, ``tags=`` ...) go through a ``check_*``
  function, which returns the value in its checked form.
* Settings live on small frozen attrs objects (``RetryPolicy``, ``Timeouts``, the
  consumer's options ...); their fields are checked by the attrs validators made here
  from the same functions (:func:`integer`, :func:`number`, :func:`callable_or_none`),
  so constructing a policy with a bad value raises at once, naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from ._errors import ValidationError

__all__ = [
    "MAX_ID",
    "MAX_SEGMENT_LENGTH",
    "MAX_TAG_LENGTH",
    "callable_or_none",
    "check_callable",
    "check_email",
    "check_integer",
    "check_number",
    "check_job_id",
    "check_profile_id",
    "check_segment",
    "check_provider",
    "check_results",
    "check_tags",
    "check_text",
    "check_zipcode",
    "integer",
    "number",
]

MAX_TAG_LENGTH = 255
#: The largest job or provider id accepted: the API's ids are 64-bit integers.
MAX_ID = 2**63 - 1
#: The longest id that goes into a URL path as one segment (a profile id).
MAX_SEGMENT_LENGTH = 128
_DIGITS = re.compile(r"[0-9]{1,19}")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]{2,}$")
_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")


def check_email(email: object, *, field: str = "email") -> str:
    """Return a plausible email address, or raise ValidationError."""
    if not isinstance(email, str) or not email.strip():
        raise ValidationError(f"{field}: an email address is required", field=field)
    email = email.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationError(f"{field}: not a valid email address", field=field)
    return email


def _id_text(value: object) -> str:
    """``value`` for a message: short, whatever its size (a 5,000-digit id included)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def check_provider(provider: object, *, field: str = "provider") -> int:
    """Return a provider id (a positive 64-bit integer), or raise ValidationError."""
    if isinstance(provider, bool) or not isinstance(provider, int):
        raise ValidationError(
            f"{field}: must be an integer provider id, not {type(provider).__name__} "
            f"{_id_text(provider)} (find ids with client.utilities.find)",
            field=field,
        )
    if not 0 < provider <= MAX_ID:
        raise ValidationError(
            f"{field}: must be a positive 64-bit integer, not {_id_text(provider)}", field=field
        )
    return provider


def check_job_id(job_id: object, *, field: str = "job_id") -> int:
    """Return a job id as an int from an int or a string of ASCII digits, or raise.

    Raises:
        ValidationError: Not a positive 64-bit integer, nor a string of at most 19 ASCII
            digits that is one ("²" and other Unicode digits are refused).
    """
    if isinstance(job_id, int) and not isinstance(job_id, bool) and 0 < job_id <= MAX_ID:
        return job_id
    if isinstance(job_id, str) and _DIGITS.fullmatch(job_id.strip()):
        number = int(job_id.strip())
        if 0 < number <= MAX_ID:
            return number
    blank = isinstance(job_id, str) and not job_id.strip()
    shown = "a blank string" if blank else _id_text(job_id)
    raise ValidationError(f"{field}: must be a positive 64-bit integer, not {shown}", field=field)


def check_segment(value: object, *, field: str, max_length: int = MAX_SEGMENT_LENGTH) -> str:
    """Return an id that is safe as one URL path segment, or raise ValidationError.

    Only letters, digits, ``-``, ``_``, ``.`` and ``~`` (RFC 3986's unreserved
    characters), at most ``max_length`` of them, and not ``.`` or ``..`` (or any run of
    dots): such an id cannot leave its segment, whatever a caller or a message sends.
    An int is taken as its digits.

    Raises:
        ValidationError: Anything else, naming ``field``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value) if 0 <= value <= MAX_ID else None
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > max_length or not _SEGMENT.fullmatch(text) or not text.strip("."):
        raise ValidationError(
            f"{field}: must be 1 to {max_length} letters, digits, '-', '_', '.' or '~' "
            f"(one URL path segment, not only dots), not {_id_text(value)}",
            field=field,
        )
    return text


def check_profile_id(profile_id: object, *, field: str = "profile_id") -> str:
    """Return a Link profile id that is safe as one URL path segment (``check_segment``)."""
    return check_segment(profile_id, field=field)


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


def _bounds(low: float | None, high: float | None, *, above: bool = False) -> str:
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    if low is not None:
        return f"greater than {low:g}" if above else f"of at least {low:g}"
    return f"of at most {high:g}" if high is not None else ""


def check_integer(value: object, *, field: str, low: int, high: int | None = None) -> int:
    """Return an integer from ``low`` to ``high`` (None: no upper bound), or raise.

    Raises:
        ValidationError: Not an int (a bool or a float is refused), or out of range.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValidationError(
            f"{field}: must be an integer {_bounds(low, high)}, not {value!r}", field=field
        )
    return value


def check_number(
    value: object,
    *,
    field: str,
    low: float = 0.0,
    high: float | None = None,
    above: bool = False,
    unit: str = "",
) -> float:
    """Return a finite number of at least ``low`` (over it when ``above``), up to ``high``.

    Args:
        value: What the caller gave.
        field: The keyword the caller typed, named in the error.
        low: The least value allowed.
        high: The greatest value allowed (None: no upper bound).
        above: ``low`` itself is refused (e.g. a timeout must be more than 0).
        unit: What the number counts, for the message (``"seconds"``).

    Raises:
        ValidationError: Not an int or float (a bool is refused), not finite, or out of
            range.
    """
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        number is None
        or not math.isfinite(number)
        or (number <= low if above else number < low)
        or (high is not None and number > high)
    ):
        what = f"a number of {unit}" if unit else "a number"
        bounds = _bounds(low, high, above=above)
        raise ValidationError(f"{field}: must be {what} {bounds}, not {value!r}", field=field)
    return float(number)


def check_callable(value: object, *, field: str, what: str = "a callable") -> None:
    """Raise ValidationError unless ``value`` can be called."""
    if not callable(value):
        raise ValidationError(f"{field}: must be {what}, not {value!r}", field=field)


#: An attrs validator: called with the instance, the attribute and the value.
AttrsValidator = Callable[[Any, Any, Any], None]


def integer(low: int, high: int | None = None) -> AttrsValidator:
    """An attrs validator: ``check_integer`` on the field, named by the attribute."""

    def validate(instance: object, attribute: Any, value: object) -> None:
        check_integer(value, field=attribute.name, low=low, high=high)

    return validate


def number(
    low: float = 0.0,
    high: float | None = None,
    *,
    above: bool = False,
    unit: str = "",
    optional: bool = False,
) -> AttrsValidator:
    """An attrs validator: ``check_number`` on the field (None allowed when ``optional``)."""

    def validate(instance: object, attribute: Any, value: object) -> None:
        if value is None and optional:
            return
        check_number(value, field=attribute.name, low=low, high=high, above=above, unit=unit)

    return validate


def callable_or_none(instance: object, attribute: Any, value: Any) -> None:
    """An attrs validator: None, or something that can be called."""
    if value is not None:
        check_callable(value, field=attribute.name)
