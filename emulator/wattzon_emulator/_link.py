"""Link extractions in the emulator: a user links a utility account, Link extracts its bills.

The real Link runs in WattzOn's hosted UI; the emulator starts an extraction on request
(``Emulator.start_link`` or ``POST /_emulator/link``). An extraction runs for the
lifecycle's processing time like a Snap job; its bills appear as it goes (the vendor
"process[es] and return[s] data immediately as soon as we have it") and are all there
when it completes, which is when the seed's Link message goes to the queue:
``{"app": "link", "profile_id": "_n_", "job_id": "_j_", "tags": "_tags_",
"created_at": "2016-06-12T04:25:40.746000"}``, ids as strings, tags as a Python-list
literal, a naive UTC timestamp. There is no job-status endpoint (the API does not
document one).
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ._data import LINK_PROFILES, profile_bills, sample_profiles
from ._validate import BadRequest, tags_of

__all__ = [
    "LinkForbidden",
    "LinkJob",
    "LinkRecord",
    "LinkRequest",
    "Links",
    "parse_link_request",
]

#: Provider and bill count of a new profile when the request names none.
DEFAULT_PROVIDER = 4
DEFAULT_BILLS = 3
#: The most bills a profile may have (bill ids are the profile id times 100 plus 1..N).
MAX_BILLS = 24
_PROFILE_ID = re.compile(r"^[1-9][0-9]{0,11}$")
#: First id of profiles the emulator makes (the samples are below).
_FIRST_NEW_PROFILE = 3001
_FIRST_JOB_ID = 50001


class LinkForbidden(Exception):
    """The profile belongs to another tenant (403)."""


@dataclass(frozen=True)
class LinkJob:
    """A Link extraction the emulator started (what ``Emulator.start_link`` returns).

    Attributes:
        job_id: The Link job id, as the notification carries it (a string).
        profile_id: The profile the bills are read for (``client.link.bills``).
        tags: The tags the notification carries.
        provider: The profile's utility provider id.
        bills: How many bills the profile has once the extraction completes.
    """

    job_id: str
    profile_id: str
    tags: tuple[str, ...]
    provider: int
    bills: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkJob:
        """Read the admin API's answer."""
        return cls(
            job_id=str(data["job_id"]),
            profile_id=str(data["profile_id"]),
            tags=tuple(data["tags"]),
            provider=int(data["provider"]),
            bills=int(data["bills"]),
        )


@dataclass(frozen=True)
class LinkRequest:
    """A valid request to start an extraction (None: the profile's or the default)."""

    profile_id: str | None
    tags: tuple[str, ...]
    provider: int | None
    bills: int | None


@dataclass
class LinkRecord:
    """One Link extraction as the store keeps it."""

    job_id: str
    profile_id: str
    tenant: str
    tags: tuple[str, ...]
    created_at: datetime
    started: float
    duration: float
    provider: int
    bills: int
    sample: bool = field(default=False)

    @property
    def key(self) -> str:
        """The extraction's key among everything that sends a notification."""
        return f"link:{self.job_id}"

    def visible_bills(self, now: float | None = None) -> int:
        """How many of the profile's bills this extraction has returned by ``now``."""
        if self.sample:
            return self.bills
        elapsed = (time.monotonic() if now is None else now) - self.started
        if elapsed >= self.duration:
            return self.bills
        return math.floor(self.bills * max(0.0, elapsed) / self.duration)

    def notification(self) -> dict[str, Any]:
        """The Link SQS message, in the seed's shape and key order."""
        return {
            "app": "link",
            "profile_id": self.profile_id,
            "job_id": self.job_id,
            "tags": repr(list(self.tags)),
            "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
        }

    def to_json(self) -> dict[str, Any]:
        """What the admin API answers for a started extraction."""
        return {
            "job_id": self.job_id,
            "profile_id": self.profile_id,
            "tags": list(self.tags),
            "provider": self.provider,
            "bills": self.bills,
        }


def parse_link_request(data: object) -> LinkRequest:
    """Validate the body of ``POST /_emulator/link``.

    Raises:
        BadRequest: An unknown key or a bad value, named.
    """
    if not isinstance(data, dict):
        raise BadRequest("a Link extraction request must be a JSON object")
    unknown = sorted(set(data) - {"profile_id", "tags", "provider", "bills"})
    if unknown:
        raise BadRequest(f"unknown Link extraction settings: {', '.join(unknown)}")
    profile_id = data.get("profile_id")
    if profile_id is not None:
        if isinstance(profile_id, int) and not isinstance(profile_id, bool):
            profile_id = str(profile_id)
        if not isinstance(profile_id, str) or not _PROFILE_ID.match(profile_id):
            raise BadRequest(f"profile_id must be digits like 1001, got {profile_id!r}")
    provider, bills = data.get("provider"), data.get("bills")
    if provider is not None and (
        isinstance(provider, bool) or not isinstance(provider, int) or provider < 1
    ):
        raise BadRequest(f"provider must be a positive integer provider id, got {provider!r}")
    if bills is not None and (
        isinstance(bills, bool) or not isinstance(bills, int) or not 0 <= bills <= MAX_BILLS
    ):
        raise BadRequest(f"bills must be an integer from 0 to {MAX_BILLS}, got {bills!r}")
    return LinkRequest(profile_id, tags_of(data.get("tags")), provider, bills)


class Links:
    """Every Link extraction and the profiles they made, and which tenant owns each."""

    def __init__(self, kept: Iterable[LinkRecord] = ()) -> None:
        self._records: dict[str, LinkRecord] = {}
        for record in kept:
            self._records[record.job_id] = record
        top = max((int(r.job_id) for r in self._records.values()), default=_FIRST_JOB_ID - 1)
        self._job_ids = itertools.count(top + 1)

    def start(
        self, tenant: str, request: LinkRequest, *, duration: float, started: float
    ) -> LinkRecord:
        """Record a new extraction for ``tenant``.

        Raises:
            BadRequest: ``provider`` or ``bills`` given for a profile that has them.
            LinkForbidden: The profile belongs to another tenant.
        """
        profile_id = request.profile_id or self._new_profile_id()
        first = self._first(profile_id)
        sample = LINK_PROFILES.get(profile_id)
        if first is not None and first.tenant != tenant and sample is None:
            raise LinkForbidden(f"profile {profile_id} belongs to another client")
        if (sample or first) and (request.provider is not None or request.bills is not None):
            raise BadRequest(
                f"profile {profile_id} exists: its provider and bills are fixed; "
                "leave provider and bills out"
            )
        if sample:
            provider, bills = sample
        elif first is not None:
            provider, bills = first.provider, first.bills
        else:
            provider = request.provider if request.provider is not None else DEFAULT_PROVIDER
            bills = request.bills if request.bills is not None else DEFAULT_BILLS
        record = LinkRecord(
            job_id=str(next(self._job_ids)),
            profile_id=profile_id,
            tenant=tenant,
            tags=request.tags,
            created_at=datetime.now(UTC),
            started=started,
            duration=duration,
            provider=provider,
            bills=bills,
            sample=sample is not None,
        )
        self._records[record.job_id] = record
        return record

    def bills(self, tenant: str, profile_id: str, pdf_base: str) -> list[dict[str, Any]] | None:
        """The bills served for a profile now, or None for a profile nobody made.

        Raises:
            LinkForbidden: The profile belongs to another tenant.
        """
        sample = LINK_PROFILES.get(profile_id)
        if sample is not None:
            return profile_bills(profile_id, sample[0], sample[1], pdf_base)
        first = self._first(profile_id)
        if first is None:
            return None
        if first.tenant != tenant:
            raise LinkForbidden(f"profile {profile_id} belongs to another client")
        now = time.monotonic()
        visible = max(r.visible_bills(now) for r in self._of(profile_id))
        # The most recent bills come first and are extracted first.
        return profile_bills(profile_id, first.provider, first.bills, pdf_base)[:visible]

    def not_found(self, profile_id: str) -> str:
        """The 404 message for an unknown profile."""
        return (
            f"profile {profile_id} not found (the emulator's profiles: {sample_profiles()}; "
            "others exist once a Link extraction is started for them)"
        )

    def clear(self) -> None:
        """Forget every extraction (sample profiles stay)."""
        self._records.clear()

    def _of(self, profile_id: str) -> list[LinkRecord]:
        return [r for r in self._records.values() if r.profile_id == profile_id]

    def _first(self, profile_id: str) -> LinkRecord | None:
        return next(iter(self._of(profile_id)), None)

    def _new_profile_id(self) -> str:
        taken = {r.profile_id for r in self._records.values()} | set(LINK_PROFILES)
        return next(str(n) for n in itertools.count(_FIRST_NEW_PROFILE) if str(n) not in taken)
