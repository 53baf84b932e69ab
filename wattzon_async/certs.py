"""Helpers for WattzOn's certificate flow: make a CSR, then watch the certificate's expiry.

WattzOn authenticates API clients with TLS client certificates it issues itself. The flow,
once a year since certificates expire after one year:

1. Make a private key and a certificate signing request (CSR), as
   ``openssl req -new -newkey rsa:2048 -nodes -keyout client.key -out client.csr`` would:
   :func:`write_csr` (or ``wattzon cert csr``). The key never leaves your machine.
2. Send ``client.csr`` to WattzOn; they send back ``client.crt``.
3. Use ``cert=("client.crt", "client.key")``. A renewed certificate is issued before the
   old one expires and both work until then; a running client swaps it in with
   ``ClientIdentity.reload``.

:func:`inspect_certificate` tells when a certificate (PEM, DER or PKCS#12) expires, for
monitoring and for ``wattzon cert show``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ._errors import ValidationError
from ._tls._context import CertificateInfo, read_certificate_info
from ._validation import check_integer

__all__ = ["CertificateInfo", "generate_csr", "inspect_certificate", "write_csr"]


def generate_csr(
    common_name: str,
    *,
    organization: str | None = None,
    email: str | None = None,
    key_size: int = 2048,
) -> tuple[bytes, bytes]:
    """Make an RSA private key and a CSR for it to send to WattzOn.

    Args:
        common_name: The subject common name, e.g. your company's name or service.
        organization: The subject organization, if wanted.
        email: A contact address for the subject, if wanted.
        key_size: The RSA key size in bits, at least 2048.

    Returns:
        The private key (unencrypted PKCS#8 PEM, keep it secret) and the CSR (PEM).

    Raises:
        ValidationError: The common name is empty or the key size is too small.
    """
    if not common_name or not common_name.strip():
        raise ValidationError("common_name: may not be empty", field="common_name")
    check_integer(key_size, field="key_size", low=2048)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name.strip())]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def write_csr(
    key_path: str | os.PathLike[str],
    csr_path: str | os.PathLike[str],
    common_name: str,
    *,
    organization: str | None = None,
    email: str | None = None,
    force: bool = False,
) -> None:
    """Make a key and a CSR (see :func:`generate_csr`) and write both files.

    The key file is created with mode 0600 from the start, never readable by others even
    briefly. Existing files are left alone unless ``force`` is true.

    Args:
        key_path: Where the private key goes (keep it; WattzOn never sees it).
        csr_path: Where the CSR goes (send this one to WattzOn).
        common_name: The subject common name.
        organization: The subject organization, if wanted.
        email: A contact address for the subject, if wanted.
        force: Replace existing files.

    Raises:
        ValidationError: A file exists and ``force`` is false, a directory is missing, or
            an argument is not valid.
    """
    key_file, csr_file = Path(os.fspath(key_path)), Path(os.fspath(csr_path))
    if key_file.resolve() == csr_file.resolve():
        raise ValidationError("key_path and csr_path must be different files", field="csr_path")
    if not force:
        for path in (key_file, csr_file):
            if path.exists():
                raise ValidationError(
                    f"{path} already exists",
                    field="key_path" if path is key_file else "csr_path",
                    hint="choose another path or pass {force} to replace it",
                )
    key_pem, csr_pem = generate_csr(
        common_name, organization=organization, email=email, key_size=2048
    )
    _write_new(key_file, key_pem, 0o600, force=force)
    try:
        _write_new(csr_file, csr_pem, 0o644, force=force)
    except BaseException:
        key_file.unlink(missing_ok=True)
        raise


def inspect_certificate(
    path: str | os.PathLike[str], *, key_password: str | bytes | None = None
) -> CertificateInfo:
    """Read a certificate's subject, issuer, validity and fingerprint.

    Expired certificates are described too; check ``days_left`` or ``is_valid_at``.

    Args:
        path: A PEM, DER or PKCS#12 (``.p12``/``.pfx``) file.
        key_password: The password of a PKCS#12 file, if it has one.

    Returns:
        The certificate's description.

    Raises:
        CertificateError: The file is missing, unreadable or holds no certificate.
    """
    return read_certificate_info(path, key_password=key_password)


def _write_new(path: Path, data: bytes, mode: int, *, force: bool) -> None:
    """Create ``path`` with ``mode`` from the start; with ``force``, atomically replace it."""
    target = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp") if force else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ValidationError(
            f"{path} already exists", hint="choose another path or pass {force} to replace it"
        ) from None
    except FileNotFoundError:
        raise ValidationError(f"directory {path.parent} does not exist; create it first") from None
    except PermissionError:
        raise ValidationError(f"cannot write {path}: permission denied") from None
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
        if force:
            os.replace(target, path)
    except BaseException:
        if force:
            target.unlink(missing_ok=True)
        raise
