"""Fault injection and counters: what the admin API sets and what ``stats()`` reports.

Faults are the failure modes a real deployment shows now and then (429s, 500s, a job
created and then the connection lost, slow answers, duplicate or garbage SQS messages);
the emulator produces them on demand so the SDK's recovery paths can be exercised.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["FaultSettings", "RateLimiter", "Stats", "make_rng"]

_RATES = (
    "error_rate",
    "drop_after_create_rate",
    "drop_download_rate",
    "duplicate_notification_rate",
    "malformed_notification_rate",
)


@dataclass(frozen=True)
class FaultSettings:
    """The faults in force; the defaults mean "no fault".

    Attributes:
        error_rate: Fraction of API requests answered with 500.
        drop_after_create_rate: Fraction of job creations where the job is created and the
            connection is then dropped before the response is complete.
        drop_download_rate: Fraction of file downloads (raw documents, Link bill PDFs)
            cut off halfway: the full length is announced, half the body sent, and the
            connection closed.
        rate_limit_rps: Per-tenant request rate (token bucket) above which requests get
            429 with ``Retry-After``; None for no limit.
        rate_limit_burst: Size of each tenant's bucket (default: ``max(1, rate_limit_rps)``).
        latency: Seconds added before answering each API request.
        duplicate_notification_rate: Fraction of notifications sent twice.
        malformed_notification_rate: Fraction of notifications followed by an extra garbage
            message (the real one is always sent).
        seed: Seed for the random choices, for reproducible runs (None: unseeded).
        hold: API requests wait, unanswered, until settings without ``hold`` are put in
            force: a gate that keeps requests in flight for as long as a test needs
            (``stats()["held"]`` counts them).
    """

    error_rate: float = 0.0
    drop_after_create_rate: float = 0.0
    drop_download_rate: float = 0.0
    rate_limit_rps: float | None = None
    rate_limit_burst: float | None = None
    latency: float = 0.0
    duplicate_notification_rate: float = 0.0
    malformed_notification_rate: float = 0.0
    seed: int | None = None
    hold: bool = False

    @classmethod
    def from_json(cls, data: object) -> FaultSettings:
        """Validate an admin request body into settings.

        Args:
            data: The decoded JSON body: an object with any of the attributes.

        Returns:
            The settings; attributes not given keep their defaults.

        Raises:
            ValueError: An unknown key, or a value of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if value is None and name in ("rate_limit_rps", "rate_limit_burst", "seed"):
                values[name] = None
            elif name == "hold":
                if not isinstance(value, bool):
                    raise ValueError("hold must be true or false")
                values[name] = value
            elif name == "seed":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError("seed must be an integer")
                values[name] = value
            else:
                values[name] = _number(name, value)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0")
    if name in _RATES and number > 1:
        raise ValueError(f"{name} is a fraction between 0 and 1")
    if name in ("rate_limit_rps", "rate_limit_burst") and number == 0:
        raise ValueError(f"{name} must be > 0 (use null for no limit)")
    return number


class RateLimiter:
    """One token bucket per tenant, refilled at ``rps`` tokens a second."""

    def __init__(self, rps: float, burst: float | None = None) -> None:
        self._rps = rps
        self._burst = burst if burst is not None else max(1.0, rps)
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, tenant: str) -> float:
        """Take a token for ``tenant``.

        Args:
            tenant: Who is asking.

        Returns:
            0 when allowed; otherwise the seconds until a token will be available.
        """
        now = time.monotonic()
        tokens, stamp = self._buckets.get(tenant, (self._burst, now))
        tokens = min(self._burst, tokens + (now - stamp) * self._rps)
        if tokens >= 1:
            self._buckets[tenant] = (tokens - 1, now)
            return 0.0
        self._buckets[tenant] = (tokens, now)
        return (1 - tokens) / self._rps


class Stats:
    """Counters of requests, responses, jobs, Link extractions and notifications."""

    def __init__(self) -> None:
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.responses: Counter[str] = Counter()
        self.jobs_by_tenant: Counter[str] = Counter()
        self.link_extractions = 0
        self.notifications: Counter[str] = Counter()
        self.connections_dropped = 0
        #: API requests waiting for a ``hold`` to be lifted.
        self.held = 0

    def record(self, endpoint: str, status: str) -> None:
        """Count one request to ``endpoint`` answered with ``status``."""
        self.requests[endpoint][status] += 1
        self.responses[status] += 1

    def to_json(self) -> dict[str, Any]:
        """The counters as the JSON ``stats()`` returns."""
        return {
            "requests": {k: dict(v) for k, v in sorted(self.requests.items())},
            "responses": dict(self.responses),
            "jobs_created": sum(self.jobs_by_tenant.values()),
            "jobs_created_by_tenant": dict(self.jobs_by_tenant),
            "link_extractions_started": self.link_extractions,
            "notifications_sent": self.notifications["sent"],
            "duplicate_notifications_sent": self.notifications["duplicate"],
            "malformed_notifications_sent": self.notifications["malformed"],
            "notification_errors": self.notifications["error"],
            "sqs_messages_sent": self.notifications["messages"],
            "connections_dropped": self.connections_dropped,
            "held": self.held,
        }


def make_rng(seed: int | None) -> random.Random:
    """A random generator for fault decisions, seeded when asked."""
    return random.Random(seed)
