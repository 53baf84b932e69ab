"""A small certificate authority for the tests, made with ``cryptography`` directly.

The SDK's unit tests need throwaway certificates (a CA, client and server leaves, keys in
several forms, CSRs signed) without depending on the emulator, which is a distribution of
its own. This is the least that makes certificates Python's ``ssl`` accepts under
``VERIFY_X509_STRICT``: key identifiers, key usages and extended key usages.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "IssuedCert"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
#: Certificates start a little in the past, so that clock skew does not make them "future".
BACKDATE = timedelta(minutes=5)


def _key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    start: datetime,
    end: datetime,
    issuer_ski: x509.SubjectKeyIdentifier,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    """What a CA and a leaf certificate both carry: names, key, validity, the extensions."""
    basic = (
        x509.BasicConstraints(ca=True, path_length=0)
        if ca
        else x509.BasicConstraints(ca=False, path_length=None)
    )
    usage = _key_usage(ca=ca, rsa_key=isinstance(public_key, rsa.RSAPublicKey))
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(basic, critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its private key, both PEM (the key encrypted when issued so)."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.crt`` and ``<name>.key`` (0600) into ``directory``; their paths."""
        cert_path, key_path = Path(directory) / f"{name}.crt", Path(directory) / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        _write_private(key_path, self.key_pem)
        return cert_path, key_path


class CertificateAuthority:
    """A self-signed EC P-256 CA that issues leaves and signs CSRs."""

    def __init__(self, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.certificate = certificate
        self._key = key

    @classmethod
    def create(cls, common_name: str = "WattzOn Tests Root") -> CertificateAuthority:
        """A new CA (organization ``WattzOn Tests``), valid for ten years."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "WattzOn Tests"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        now = datetime.now(UTC)
        builder = _builder(
            name, name, key.public_key(), now - BACKDATE, now + timedelta(days=3650), ski, ca=True
        )
        return cls(builder.sign(key, hashes.SHA256()), key)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def save(self, cert_path: Path, key_path: Path) -> None:
        """Write the CA certificate and its key (0600)."""
        Path(cert_path).write_bytes(self.cert_pem)
        _write_private(Path(key_path), _key_pem(self._key))

    def issue(
        self,
        common_name: str,
        *,
        server_names: Sequence[str] = (),
        client: bool = True,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        valid_days: int = 365,
        key_type: Literal["ec", "rsa"] = "ec",
        key_password: bytes | None = None,
    ) -> IssuedCert:
        """A leaf with a fresh key: clientAuth, and serverAuth for ``server_names``."""
        key: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if key_type == "ec"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        start = not_before if not_before is not None else datetime.now(UTC) - BACKDATE
        end = not_after if not_after is not None else start + timedelta(days=valid_days)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server_names else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = self._leaf(subject, key.public_key(), start, end, usages)
        if server_names:
            sans = x509.SubjectAlternativeName([_san(name) for name in server_names])
            builder = builder.add_extension(sans, critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(
            certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key, key_password)
        )

    def sign_csr(self, csr_pem: bytes, *, valid_days: int = 365) -> bytes:
        """A client certificate, PEM, with the CSR's subject and public key."""
        csr = x509.load_pem_x509_csr(csr_pem)
        public_key = csr.public_key()
        assert isinstance(public_key, PublicKey)
        start = datetime.now(UTC) - BACKDATE
        end = start + timedelta(days=valid_days)
        builder = self._leaf(csr.subject, public_key, start, end, [ExtendedKeyUsageOID.CLIENT_AUTH])
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def _leaf(
        self,
        subject: x509.Name,
        public_key: PublicKey,
        start: datetime,
        end: datetime,
        usages: Sequence[x509.ObjectIdentifier],
    ) -> x509.CertificateBuilder:
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        issuer = self.certificate.subject
        builder = _builder(subject, issuer, public_key, start, end, ca_ski.value, ca=False)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        return builder
