"""Typed, immutable views of what the API returns and the notifications it sends.

Every model is a frozen, slotted attrs class built by the one converter in ``_serde``.
Fields the API adds later are never dropped: each model keeps them in ``extra``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal

from attrs import field, frozen

from ._redact import mask_email

__all__ = [
    "Document",
    "DocumentRef",
    "ExtractedField",
    "Job",
    "JobStatus",
    "LinkBill",
    "LinkNotification",
    "Notification",
    "Results",
    "SnapNotification",
    "Submission",
    "TextBox",
    "Token",
    "Utility",
    "ZipCode",
]


class JobStatus(enum.StrEnum):
    """The status of a job. Open: statuses the API adds later are kept, and are not final.

    ``JobStatus("COMPLETED")`` reads as ``COMPLETE`` (the vendor's own example uses both).
    An unknown value such as ``JobStatus("ARCHIVED")`` is a pseudo-member that compares
    equal to its string.
    """

    ENQUEUED = "ENQUEUED"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    UNSUPPORTED = "UNSUPPORTED"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        if not isinstance(value, str):
            return None
        if value.upper() == "COMPLETED":
            return cls.COMPLETE
        known = cls.__members__.get(value.upper())
        if known is not None:
            return known
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_final(self) -> bool:
        """True for COMPLETE, FAILED and UNSUPPORTED: no further processing will happen."""
        return self.value in _FINAL

    @property
    def is_known(self) -> bool:
        """False for a status this version of the SDK does not know."""
        return self.value in JobStatus.__members__


_FINAL = frozenset({"COMPLETE", "FAILED", "UNSUPPORTED"})


@frozen
class TextBox:
    """Where a piece of an extracted field sits: a pixel box on one page.

    The API calls these boxes tokens; ``Token`` is the same class, by that name.
    """

    page_number: int
    x1: int
    y1: int
    x2: int
    y2: int
    index: int
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


#: The name of the API and of 0.1 for :class:`TextBox` (a pixel box, not a credential).
Token = TextBox


@frozen
class ExtractedField:
    """One field of raw results: its text and the tokens it was read from."""

    content: str
    tokens: tuple[Token, ...] = ()
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


#: Results of a COMPLETE job: field name to ExtractedField (raw) or to str (transformed).
Results = Mapping[str, "ExtractedField | str"]


@frozen
class DocumentRef:
    """The document a job was created with, as the job describes it."""

    id: int
    name: str
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


@frozen
class Job:
    """A Snap extraction job. ``results`` is set only when the job is COMPLETE."""

    id: int
    created_at: datetime
    email: str = field(repr=mask_email)
    provider: int
    status: JobStatus
    document: DocumentRef
    tags: tuple[str, ...] = ()
    results: Results | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(factory=dict, repr=False)

    @property
    def is_final(self) -> bool:
        """True when no further processing will happen (COMPLETE, FAILED, UNSUPPORTED)."""
        return self.status.is_final

    def values(self) -> dict[str, str]:
        """The extracted values as plain strings, from raw or transformed results alike."""
        if not self.results:
            return {}
        return {
            name: value.content if isinstance(value, ExtractedField) else value
            for name, value in self.results.items()
        }


@frozen
class Document:
    """A job's document with its content decoded to bytes."""

    id: int
    name: str
    content: bytes = field(repr=lambda c: f"<{len(c)} bytes>")
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


@frozen
class ZipCode:
    """A US zip code and where it is."""

    zipcode: str
    city: str | None = None
    county: str | None = None
    state: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


@frozen
class Utility:
    """A utility provider; ``id`` is the WattzOn provider id used by Snap jobs."""

    id: int
    name: str
    types: tuple[str, ...] = ()
    lseid: str | None = None
    homepage_url: str | None = None
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


@frozen
class LinkBill:
    """A bill extracted by Link. Its fields are not documented: all are kept in ``extra``."""

    pdf: str | None = None
    extra: Mapping[str, Any] = field(factory=dict)

    def __getitem__(self, key: str) -> Any:
        """Read a field of the bill by its wire name."""
        if key == "pdf":
            return self.pdf
        return self.extra[key]


@frozen
class SnapNotification:
    """The SQS message WattzOn sends when a Snap job reaches a final state."""

    app: ClassVar[Literal["snap"]] = "snap"

    job_id: int
    final_state: JobStatus
    created_at: datetime
    tags: tuple[str, ...] = ()
    provider: int | None = None
    email: str | None = field(default=None, repr=mask_email)
    document: DocumentRef | None = None
    got_results: bool = False
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


@frozen
class LinkNotification:
    """The SQS message the Link UI sends when a Link job has finished."""

    app: ClassVar[Literal["link"]] = "link"

    profile_id: str
    job_id: str
    created_at: datetime | None = None
    tags: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(factory=dict, repr=False)


#: Either kind of notification.
Notification = SnapNotification | LinkNotification


def _tag_tuple(tags: Iterable[str | int | float] | None) -> tuple[str | int | float, ...]:
    return () if tags is None else tuple(tags)


def _document_repr(document: object) -> str:
    if isinstance(document, bytes | bytearray | memoryview):
        return f"<{len(document)} bytes>"
    return repr(document)


@frozen
class Submission:
    """One bill to submit with ``jobs.submit_many``: the arguments of ``jobs.create``.

    ``document`` is a path, raw bytes or a binary file; ``name`` overrides the file name
    sent (required for bytes and for files without a name). ``idempotency_key`` is the
    ``idempotency_key`` of ``jobs.create``: any non-empty string you already have (an
    order id); None lets the SDK make a fresh one. It is checked with the rest of the
    submission, before anything is sent. ``check_document`` is that of ``jobs.create``:
    False uploads a document that is no PDF or image all the same.
    """

    email: str = field(repr=mask_email)
    provider: int
    document: Path | str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO = field(
        repr=_document_repr
    )
    tags: tuple[str | int | float, ...] = field(default=(), converter=_tag_tuple)
    name: str | None = None
    idempotency_key: str | None = None
    check_document: bool = True
