"""A job in the documented shape, built without the converter's generic machinery.

This module exists because ``jobs.get`` and every poll of ``await_job`` decode a job,
and cattrs' generated hook (each field through its own hook, then the unknown keys
sorted into ``extra``) cost more than the rest of the SDK's work on a GET. ``fast_job``
takes only JSON whose every key is a documented field with its documented type; it
builds exactly what the converter would, and returns None for anything else, which then
goes the generic way (lenient scalars, unknown fields kept in ``extra``, errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import DocumentRef, ExtractedField, Job, JobStatus
from ._results import decoded_later
from ._values import parse_datetime, parse_tags

__all__ = ["fast_job"]

_JOB_KEYS = frozenset(
    {"id", "created_at", "email", "provider", "status", "document", "tags", "results"}
)
_REF_KEYS = frozenset({"id", "name"})


def fast_job(data: object, item: Callable[[object], ExtractedField | str]) -> Job | None:
    """The Job the converter would build from ``data``, or None to let it decide.

    Args:
        data: Decoded JSON.
        item: Decodes one field of results (the converter's, for ``LazyResults``).
    """
    if type(data) is not dict or not data.keys() <= _JOB_KEYS:
        return None
    job_id, provider, email = data.get("id"), data.get("provider"), data.get("email")
    status, created, document = data.get("status"), data.get("created_at"), data.get("document")
    if not (
        type(job_id) is int
        and type(provider) is int
        and type(email) is str
        and type(status) is str
        and status
        and type(created) is str
        and type(document) is dict
        and document.keys() == _REF_KEYS
        and type(document["id"]) is int
        and type(document["name"]) is str
    ):
        return None
    results: Any = data.get("results")
    if results is not None:
        if type(results) is not dict:
            return None
        results = decoded_later(results, item)
        if results is None:
            return None
    tags: Any = data.get("tags", ())
    try:
        when = parse_datetime(created)
        if type(tags) is list and all(type(t) is str and t.isascii() for t in tags):
            tags = tuple(tags)  # what parse_tags makes of them, without its checks
        else:
            tags = parse_tags(tags)
    except (TypeError, ValueError):
        return None
    return Job(
        id=job_id,
        created_at=when,
        email=email,
        provider=provider,
        status=JobStatus(status),
        document=DocumentRef(document["id"], document["name"], {}),
        tags=tags,
        results=results,
        extra={},
    )
