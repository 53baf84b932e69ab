"""A checked create, and how a job found by its key is judged to be this create's.

``PreparedCreate`` is what ``Creator.prepare`` makes of a ``Submission``: checked, with
its wire tag and envelope, ready to be sent (and sent again). ``resolve`` picks the job a
key already made among listed jobs, and raises ``IdempotencyConflictError`` when that job
is another bill's (see ``_create`` for the rules). Kept apart from ``_create``, which
sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from attrs import evolve, field, frozen

from .._errors import IdempotencyConflictError
from .._serde import create_job_envelope
from ._idempotency import FINGERPRINT_PREFIX, fingerprint_tag, idempotency_tag
from ._upload import DocumentSource

if TYPE_CHECKING:
    from ..models import Job

__all__ = ["PreparedCreate", "conflict", "differing", "resolve"]


@frozen
class PreparedCreate:
    """A create whose arguments were checked: ready to be sent, and sent again.

    ``idempotency_key`` is the wire tag (None: no key); ``caller_key`` the key as the
    caller gave it (None for an SDK-made key). ``fingerprint`` is set by
    ``fingerprinted()``.
    """

    source: DocumentSource
    email: str = field(repr=False)
    provider: int
    tags: tuple[str, ...]
    idempotency_key: str | None
    envelope: tuple[bytes, bytes] = field(repr=False)
    caller_key: str | None = field(default=None, repr=False)
    fingerprint: str | None = None

    def body(self) -> tuple[int, AsyncIterator[bytes]]:
        """A fresh streamed request body and its length."""
        return self.source.body(*self.envelope)

    async def fingerprinted(self) -> PreparedCreate:
        """This create with its fingerprint tag (hashes the document in a thread)."""
        if self.fingerprint is not None or self.idempotency_key is None:
            return self
        digest = await asyncio.to_thread(self.source.sha256)
        fingerprint = fingerprint_tag(self.idempotency_key, self.provider, self.email, digest)
        tags = (*self.tags, fingerprint)
        envelope = create_job_envelope(
            email=self.email, provider=self.provider, tags=tags, name=self.source.name
        )
        return evolve(self, envelope=envelope, fingerprint=fingerprint)

    def with_key(self, key: str, document_sha256: str) -> PreparedCreate:
        """This create under the caller's ``key``, fingerprinted with a known digest.

        What ``prepare`` with that key and then ``fingerprinted()`` would make, without
        checking or reading the document again: a batch journal derives its keys from
        the documents' SHA-256, so it has the digest already.
        """
        tag = idempotency_tag(key)
        fingerprint = fingerprint_tag(tag, self.provider, self.email, document_sha256)
        tags = tuple(t for t in self.tags if t != self.idempotency_key)  # the SDK's key
        tags = (*tags, tag, fingerprint) if tag not in tags else (*tags, fingerprint)
        envelope = create_job_envelope(
            email=self.email, provider=self.provider, tags=tags, name=self.source.name
        )
        return evolve(
            self,
            tags=tags,
            idempotency_key=tag,
            caller_key=key,
            envelope=envelope,
            fingerprint=fingerprint,
        )

    def differences(self, job: Job) -> tuple[str, ...]:
        """What of this create differs from ``job``, made with the same key."""
        if self.fingerprint is None:
            return ()
        prints = [t for t in job.tags if t.startswith(FINGERPRINT_PREFIX)]
        if self.fingerprint in prints:
            return ()
        return differing(self, job.provider, job.email, document=bool(prints))


def differing(
    prepared: PreparedCreate, provider: int, email: str, *, document: bool
) -> tuple[str, ...]:
    """Names of what differs: provider and email seen in the clear, else the document."""
    plain = tuple(
        name
        for name, differs in (
            ("provider", provider != prepared.provider),
            ("email", email != prepared.email),
        )
        if differs
    )
    return plain or (("document",) if document else ())


def resolve(jobs: Iterable[Job], prepared: PreparedCreate) -> Job | None:
    """The job ``prepared``'s key already made among ``jobs``; None if there is none.

    Raises:
        IdempotencyConflictError: That job was made with another provider, email or
            document.
    """
    tag = prepared.idempotency_key
    matches = sorted((j for j in jobs if tag in j.tags), key=lambda j: j.id)
    if not matches:
        return None
    job = matches[0]
    differences = prepared.differences(job)
    if differences:
        raise conflict(
            prepared,
            job,
            differences,
            f"idempotency key (tag {tag}) was already used for job {job.id} with another "
            f"{' and '.join(differences)}; a different bill needs a different key",
        )
    return job


def conflict(
    prepared: PreparedCreate, job: Job | None, differences: tuple[str, ...], message: str
) -> IdempotencyConflictError:
    assert prepared.caller_key is not None
    assert prepared.idempotency_key is not None
    return IdempotencyConflictError(
        message,
        idempotency_key=prepared.caller_key,
        tag=prepared.idempotency_key,
        job=job,
        differences=differences,
    )
