"""What both halves of the TLS code share: the certificate description and file sources.

:mod:`._context` (the SSLContext and its reload) and :mod:`._certfiles` (reading every
certificate format with ``cryptography``) both need these; keeping them in this leaf
module lets ``_context`` import ``_certfiles`` (lazily) without ``_certfiles`` importing
``_context`` back. Nothing here imports ``cryptography`` at module level.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from attrs import frozen

from .._errors import ValidationError
from .._redact import mask_emails

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["WARN_DAYS", "CertSource", "CertificateInfo", "describe_source", "password_bytes"]

#: A certificate with fewer days left than this logs a warning when it is loaded.
WARN_DAYS = 30

#: Where a certificate is read from: one combined file, or a (certificate, key) pair.
CertSource: TypeAlias = Path | tuple[Path, Path]


@frozen
class CertificateInfo:
    """What a certificate says about itself, for expiry checks and display.

    Attributes:
        subject: The subject as an RFC 4514 string, e.g. ``CN=acme-prod``.
        issuer: The issuer as an RFC 4514 string.
        not_before: Start of validity, aware UTC.
        not_after: End of validity, aware UTC.
        serial_number: The serial number.
        fingerprint_sha256: SHA-256 of the DER certificate, colon-separated hex pairs.
    """

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    serial_number: int
    fingerprint_sha256: str

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> CertificateInfo:
        """Describe a ``cryptography`` certificate.

        Args:
            certificate: The certificate.

        Returns:
            Its description.
        """
        from cryptography.hazmat.primitives import hashes

        return cls(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            serial_number=certificate.serial_number,
            fingerprint_sha256=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        )

    @property
    def safe_subject(self) -> str:
        """The subject with any email address masked, for logs and messages."""
        return mask_emails(self.subject)

    @property
    def days_left(self) -> int:
        """Whole days until expiry, now (see :meth:`days_left_at`)."""
        return self.days_left_at(datetime.now(UTC))

    def days_left_at(self, when: datetime) -> int:
        """Whole days from ``when`` to expiry; minus the whole days since, once expired.

        Before expiry: the full days still left (23 hours left is 0). After: minus the
        full days gone by (expired 26 hours ago is -1, 2 hours ago is 0).

        Args:
            when: The moment to count from; a naive datetime is read as UTC.

        Returns:
            The number of days, truncated towards zero.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        left = self.not_after - when
        day = timedelta(days=1)
        return left // day if left >= timedelta(0) else -(-left // day)

    def is_valid_at(self, when: datetime) -> bool:
        """Whether the certificate is within its validity period at ``when``.

        Args:
            when: The moment to check; a naive datetime is read as UTC.

        Returns:
            True when ``not_before <= when <= not_after``.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return self.not_before <= when <= self.not_after


def password_bytes(password: str | bytes | None) -> bytes | None:
    """The password as bytes, None when not given or empty.

    A str is encoded as UTF-8, with undecodable bytes from a command line or environment
    given back as they were (``surrogateescape``), so no encoding error can quote it.

    Raises:
        ValidationError: The password is neither str nor bytes (named by its type only).
    """
    if password is None or password in ("", b""):
        return None
    if isinstance(password, str):
        return password.encode("utf-8", "surrogateescape")
    if not isinstance(password, bytes | bytearray):
        raise ValidationError(
            f"key_password: must be a str or bytes, not {type(password).__name__}",
            field="key_password",
        )
    return bytes(password)


def describe_source(source: CertSource) -> str:
    """The file names of a source, for messages and repr."""
    if isinstance(source, tuple):
        return f"({str(source[0])!r}, {str(source[1])!r})"
    return repr(str(source))
