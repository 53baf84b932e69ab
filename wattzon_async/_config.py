"""Small frozen policy and configuration objects, and reading them from the environment.

Policies are plain values with readable names (in the manner of stamina): tenacity never
appears here or in any public signature. ``RetryPolicy`` and ``WaitPolicy`` are turned
into the package's one ``_retry.Backoff`` (``retry_backoff``, ``poll_backoff``), so the
same formula spaces request retries and polls. A client holds one ``ClientConfig``; each
call may override its timeout. Every field is checked by a validator from
``_validation`` when its policy is made: a bad value raises ``ValidationError`` naming
the keyword, before any request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from ._errors import MAX_RETRY_AFTER, ValidationError
from ._retry import Backoff
from ._validation import integer, number

__all__ = [
    "DEFAULT_LINK_URL",
    "DEFAULT_SNAP_URL",
    "MAX_DOCUMENT_SIZE",
    "MAX_DOWNLOAD_SIZE",
    "MAX_RESPONSE_SIZE",
    "ClientConfig",
    "RateLimitPolicy",
    "RetryPolicy",
    "Timeouts",
    "WaitPolicy",
    "env_settings",
    "poll_backoff",
    "retry_backoff",
]

DEFAULT_SNAP_URL = "https://snap.wattzon.com/api/v1/"
DEFAULT_LINK_URL = "https://api.wattzon.com/link/4.0/"
#: The API's document limit: 5 MB, read as 5 MiB of raw file bytes before encoding.
MAX_DOCUMENT_SIZE = 5 * 1024 * 1024
#: The largest JSON answer read (16 MiB): the biggest the API documents (a job list, a
#: job's results) is well under 1 MiB; a longer body is a broken or hostile peer, refused
#: before it can take the process's memory.
MAX_RESPONSE_SIZE = 16 * 1024 * 1024
#: The largest file a download writes (256 MiB): fifty times the largest document the API
#: accepts, so a real bill or Link PDF always fits, while an endless body cannot fill the
#: disk. Downloads stream to disk, so this bounds disk, not memory.
MAX_DOWNLOAD_SIZE = 256 * 1024 * 1024

_seconds = number(unit="seconds")
_positive_seconds = number(above=True, unit="seconds")
_growth = number(1.0)
_fraction = number(0.0, 1.0)
_positive_int = integer(1)


def _positive_or_none(instance: object, attribute: Any, value: object) -> None:
    if value is not None:
        _positive_int(instance, attribute, value)


_rate = number(above=True, unit="requests per second")
_rate_or_none = number(above=True, unit="requests per second", optional=True)
#: The rate in requests per second at which a new client's slow start begins.
_INITIAL_RATE: float | None = 4.0


@frozen
class RetryPolicy:
    """How one request is retried after a connection error, a timeout, a 429 or a 5xx.

    Attributes:
        attempts: Tries in all, the first included (1 turns retries off).
        timeout: Overall deadline in seconds for one call, retries and waits included.
        wait_initial: The first backoff in seconds.
        wait_max: The cap on one backoff in seconds.
        wait_exp_base: Growth factor of the backoff between attempts.
        wait_jitter: The fraction each backoff is spread by at random, 0 to 1
            (0.5 = +/- 50%), so that many clients do not retry in step.
        max_retry_after: The longest a 429's ``Retry-After`` may pause the client, in
            seconds (at most :data:`MAX_RETRY_AFTER`, 120): a longer one is cut to it, and
            logged once per client, so that a broken or hostile answer cannot stop a
            client for good.
    """

    attempts: int = field(default=5, validator=integer(1))
    timeout: float = field(default=60.0, validator=_positive_seconds)
    wait_initial: float = field(default=0.2, validator=_seconds)
    wait_max: float = field(default=10.0, validator=_seconds)
    wait_exp_base: float = field(default=2.0, validator=_growth)
    wait_jitter: float = field(default=0.5, validator=_fraction)
    max_retry_after: float = field(
        default=MAX_RETRY_AFTER, validator=number(0.0, MAX_RETRY_AFTER, unit="seconds")
    )

    def backoff(self, attempt: int) -> float:
        """The backoff before retry number ``attempt`` (1-based), without jitter."""
        return retry_backoff(self).delay(attempt)


@frozen
class WaitPolicy:
    """The schedule on which ``await_job`` polls a job.

    Jobs "typically take at least 30 seconds", so polling starts after ``initial_delay``
    and grows by ``multiplier`` up to ``max_delay``; each delay is spread by +/- ``jitter``
    (a fraction) so that many waiters do not poll in step.

    Attributes:
        initial_delay: Seconds before the first poll.
        max_delay: The cap on the delay between polls.
        multiplier: Growth of the delay after each poll that saw no final state.
        jitter: Fraction of each delay added or taken away at random (0.1 = +/- 10%).
        min_delay: The smallest delay between two polls, so that ``initial_delay=0``
            (poll at once) never turns into a tight loop.
        check_first: Look at the job once at once, before the schedule starts, so that a
            job already final (or missing) answers without waiting ``initial_delay``.
    """

    initial_delay: float = field(default=5.0, validator=_seconds)
    max_delay: float = field(default=30.0, validator=_positive_seconds)
    multiplier: float = field(default=1.5, validator=_growth)
    jitter: float = field(default=0.1, validator=_fraction)
    min_delay: float = field(default=0.1, validator=_positive_seconds)
    check_first: bool = True

    def delay(self, poll: int) -> float:
        """The delay before poll number ``poll`` (0 for the first), without jitter."""
        if poll == 0:
            return float(min(self.max_delay, self.initial_delay))
        return poll_backoff(self).delay(poll)

    @classmethod
    def notification_fallback(cls) -> WaitPolicy:
        """A sparse schedule for when SQS notifications do the real work."""
        return cls(initial_delay=30.0, max_delay=120.0, multiplier=2.0, jitter=0.2)


@frozen
class Timeouts:
    """Seconds allowed for the parts of one HTTP exchange.

    Attributes:
        connect: Opening a connection, TLS handshake included.
        read: Waiting for a response (GETs and small calls).
        write: Sending one chunk of a request body.
        pool: Waiting for a free connection from the pool.
        upload: The whole of a document upload (``jobs.create``), apart from ``read``.
    """

    connect: float = field(default=10.0, validator=_positive_seconds)
    read: float = field(default=30.0, validator=_positive_seconds)
    write: float = field(default=30.0, validator=_positive_seconds)
    pool: float = field(default=30.0, validator=_positive_seconds)
    upload: float = field(default=120.0, validator=_positive_seconds)


@frozen
class RateLimitPolicy:
    """The client-wide request rate: one limiter shared by every request of a client.

    Without ``max_rate`` a new client probes the API's rate before using it (a slow
    start, as TCP does): a few requests at once, then ``initial_rate`` per second,
    doubling every half-second while no 429 comes, and no pacing at all once the rate
    is well above what the client uses. Processes started together thereby find their
    share of a limit they do not know, instead of bursting into it together.

    Attributes:
        max_rate: Ceiling in requests per second (None: no ceiling of our own). A client
            with a ceiling starts at it, without a slow start.
        poll_rate: Budget in GETs per second for all ``await_job`` polls together.
        adaptive: Adapt the rate to 429s: a 429 during the slow start ends it and halves
            the rate being sent; any later 429 takes a quarter off the rate (at most once
            a second; a client running free starts from the rate it was sending at), so
            the first 429 of a client with ``max_rate`` or without a slow start takes a
            quarter off too. Successes win the rate back, additively and then faster the
            longer no 429 comes. False keeps the rate fixed (``max_rate``, or none).
            ``Retry-After`` pauses the client either way.
        initial_rate: Requests per second at which the slow start begins; None starts
            at full speed, as 0.1 did (for a client alone under its limit).
    """

    max_rate: float | None = field(default=None, validator=_rate_or_none)
    poll_rate: float = field(default=20.0, validator=_rate)
    adaptive: bool = True
    initial_rate: float | None = field(default=_INITIAL_RATE, validator=_rate_or_none)


@frozen
class ClientConfig:
    """Everything a WattzOnClient was configured with, apart from its certificates.

    ``client.config`` is one; the client makes it from its arguments (see
    ``WattzOnClient`` for what each means).

    Attributes:
        snap_url: Base URL of the Snap API (ending in ``/``).
        link_url: Base URL of the Link API (ending in ``/``).
        timeouts: Connect, read, write, pool and upload timeouts.
        retry: How requests are retried.
        wait: The default polling schedule of ``await_job``.
        rate_limit: The client-wide request rate and the polling budget.
        max_document_size: The largest document accepted before sending (bytes).
        max_connections: The size of the connection pool.
        max_response_size: The largest JSON answer read (bytes).
        max_download_size: The largest file a download writes (bytes; None: no limit).
    """

    snap_url: str = DEFAULT_SNAP_URL
    link_url: str = DEFAULT_LINK_URL
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    wait: WaitPolicy = WaitPolicy()
    rate_limit: RateLimitPolicy = RateLimitPolicy()
    max_document_size: int = field(default=MAX_DOCUMENT_SIZE, validator=_positive_int)
    max_connections: int = field(default=100, validator=_positive_int)
    max_response_size: int = field(default=MAX_RESPONSE_SIZE, validator=_positive_int)
    max_download_size: int | None = field(default=MAX_DOWNLOAD_SIZE, validator=_positive_or_none)


def retry_backoff(policy: RetryPolicy) -> Backoff:
    """The waits between the tries of one request under ``policy``."""
    return Backoff(policy.wait_initial, policy.wait_max, policy.wait_exp_base, policy.wait_jitter)


def poll_backoff(policy: WaitPolicy) -> Backoff:
    """The waits after each poll under ``policy`` (the first poll's own delay apart)."""
    base = max(policy.initial_delay, policy.min_delay) * policy.multiplier
    return Backoff(base, policy.max_delay, policy.multiplier, policy.jitter)


_ENV = {
    "cert": "WATTZON_CERT",
    "key": "WATTZON_KEY",
    "key_password": "WATTZON_KEY_PASSWORD",
    "ca_bundle": "WATTZON_CA_BUNDLE",
    "snap_url": "WATTZON_SNAP_URL",
    "link_url": "WATTZON_LINK_URL",
    "store": "WATTZON_STORE_URL",
}


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read the WATTZON_* variables that are set (and not empty), by setting name."""
    env = os.environ if environ is None else environ
    found = {name: env[var] for name, var in _ENV.items() if env.get(var)}
    if "key" in found and "cert" not in found:
        raise ValidationError("WATTZON_KEY is set but WATTZON_CERT is not", field="WATTZON_CERT")
    return found
