"""Durations in and out: a ``Retry-After`` header read as seconds, seconds written for people.

Apart from the exception tree (``_errors``), which reads a 429's Retry-After with these
and words timeouts with ``seconds_text``; so are the rate limiter and the retry loop,
which cap a server's wait at :data:`MAX_RETRY_AFTER`.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime

__all__ = ["MAX_RETRY_AFTER", "parse_retry_after", "retry_after_asked", "seconds_text"]

#: The longest wait in seconds a ``Retry-After`` is taken at its word for (2 minutes, the
#: top of what rate-limited APIs ask in practice; longer is a broken or hostile peer).
MAX_RETRY_AFTER = 120.0


def seconds_text(seconds: float) -> str:
    """A duration for people: ``0.5 s``, ``2 s``, ``45 s``, ``2 min 5 s``, ``1 h 30 min``.

    Args:
        seconds: The duration (a negative one reads as 0).

    Returns:
        At most two units, rounded: hundredths of a second under 1 s, tenths under
        10 s, else whole seconds
        under a minute, whole seconds with minutes, whole minutes with hours.
    """
    seconds = max(0.0, float(seconds)) if math.isfinite(seconds) else 0.0
    if seconds < 10:
        return f"{round(seconds, 2 if seconds < 1 else 1):g} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: delta-seconds or an HTTP date, as seconds from now.

    Returns None when the header is absent or unreadable; never a negative number, and
    never more than :data:`MAX_RETRY_AFTER` (see :func:`retry_after_asked` for the
    uncapped value).
    """
    asked = retry_after_asked(value, now=now)
    return None if asked is None else min(asked, MAX_RETRY_AFTER)


def retry_after_asked(value: str | None, *, now: datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks for, uncapped (``inf`` when too large).

    Returns None when the header is absent or unreadable (NaN, a non-date); never a
    negative number.
    """
    if value is None:
        return None
    value = value.strip()
    if len(value) > 64:  # no date or number of seconds needs more; do not parse a flood
        return math.inf if value.isdigit() else None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        except OverflowError:
            return None
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)
