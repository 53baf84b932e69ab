"""A small certificate authority for the local emulator and for tests.

The Snap API authenticates every call with a TLS client certificate that WattzOn issues
for a customer's CSR. The emulator plays WattzOn's part: it needs a CA of its own, a server
certificate for ``127.0.0.1``/``localhost`` and client certificates for each tenant, and it
signs CSRs. Tests use the same CA to make throwaway certificates (expired, not yet valid,
RSA or EC, encrypted keys) without shelling out to ``openssl``.

Certificates carry the extensions that OpenSSL's strict verification expects
(``VERIFY_X509_STRICT``, the default from Python 3.13): a critical BasicConstraints, a
critical KeyUsage, SubjectKeyIdentifier and AuthorityKeyIdentifier, and a SubjectAltName
on server certificates.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeAlias

from attrs import frozen
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wattzon_async import CertificateError, ValidationError

__all__ = ["CertificateAuthority", "IssuedCert"]

_PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_PublicKey: TypeAlias = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
#: Certificates start this much in the past so that small clock differences do not matter.
_BACKDATE = timedelta(minutes=5)
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _new_key(key_type: Literal["ec", "rsa"]) -> _PrivateKey:
    """A fresh EC P-256 or RSA 2048 private key."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValidationError(f"key_type must be 'ec' or 'rsa', not {key_type!r}", field="key_type")


def _key_pem(key: _PrivateKey, password: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _san_entry(name: str) -> x509.GeneralName:
    """An IP address entry for an IP literal, a DNS name otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _leaf_key_usage(public_key: _PublicKey) -> x509.KeyUsage:
    """KeyUsage for an end-entity key: signatures, plus key encipherment for RSA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@frozen
class IssuedCert:
    """A certificate and its private key, both PEM.

    Attributes:
        cert_pem: The certificate, PEM.
        key_pem: The private key, PKCS#8 PEM (encrypted when issued with a password).
    """

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.crt`` and ``<name>.key`` (mode 0600) into ``directory``.

        Args:
            directory: An existing directory.
            name: The file name stem.

        Returns:
            The certificate path and the key path.
        """
        cert_path = Path(directory) / f"{name}.crt"
        key_path = Path(directory) / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        _write_private(key_path, self.key_pem)
        return cert_path, key_path


class CertificateAuthority:
    """A self-signed CA that issues server and client certificates and signs CSRs."""

    def __init__(self, certificate: x509.Certificate, key: _PrivateKey) -> None:
        self._certificate = certificate
        self._key = key

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self._certificate.subject.rfc4514_string()!r}>"

    @classmethod
    def create(
        cls, common_name: str = "WattzOn Emulator CA", *, valid_days: int = 3650
    ) -> CertificateAuthority:
        """Make a new CA with a fresh EC P-256 key.

        Args:
            common_name: The CA's subject common name.
            valid_days: How long the CA certificate is valid.

        Returns:
            The new certificate authority.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "WattzOn Emulator"),
            ]
        )
        now = datetime.now(UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> CertificateAuthority:
        """Load a CA saved with :meth:`save`.

        Args:
            cert_path: The CA certificate, PEM.
            key_path: The CA private key, unencrypted PEM.

        Returns:
            The certificate authority.

        Raises:
            CertificateError: A file is missing or does not hold what it should.
        """
        try:
            cert_data = Path(cert_path).read_bytes()
            key_data = Path(key_path).read_bytes()
        except OSError as exc:
            raise CertificateError(
                f"cannot read the emulator CA ({exc.strerror}): {exc.filename}"
            ) from None
        try:
            certificate = x509.load_pem_x509_certificate(cert_data)
        except ValueError:
            raise CertificateError(f"{cert_path} is not a PEM certificate") from None
        try:
            key = serialization.load_pem_private_key(key_data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise CertificateError(f"{key_path} is not an unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError(f"{key_path}: the CA key must be EC or RSA")
        if _spki(key.public_key()) != _spki(certificate.public_key()):
            raise CertificateError(f"the key in {key_path} does not belong to {cert_path}")
        return cls(certificate, key)

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self._certificate

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM: what clients and servers trust."""
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA private key, unencrypted PKCS#8 PEM."""
        return _key_pem(self._key)

    def save(self, cert_path: Path, key_path: Path) -> None:
        """Write the CA certificate and its key (mode 0600).

        Args:
            cert_path: Where the certificate goes.
            key_path: Where the private key goes.
        """
        Path(cert_path).write_bytes(self.cert_pem)
        _write_private(Path(key_path), self.key_pem)

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
        """Issue a certificate with a fresh key.

        Args:
            common_name: The subject common name.
            server_names: Host names and IP addresses for the SubjectAltName; when given,
                the certificate can serve TLS (serverAuth).
            client: Whether the certificate can authenticate a client (clientAuth).
            not_before: Start of validity (default: a few minutes ago).
            not_after: End of validity (default: ``not_before`` plus ``valid_days``).
            valid_days: Validity in days when ``not_after`` is not given.
            key_type: ``"ec"`` for P-256 (fast) or ``"rsa"`` for RSA 2048.
            key_password: Encrypt the private key with this password.

        Returns:
            The certificate and its key.
        """
        key = _new_key(key_type)
        start = not_before if not_before is not None else datetime.now(UTC) - _BACKDATE
        end = not_after if not_after is not None else start + timedelta(days=valid_days)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usages: list[x509.ObjectIdentifier] = []
        if server_names:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = self._leaf_builder(subject, key.public_key(), start, end, usages)
        if server_names:
            san = x509.SubjectAlternativeName([_san_entry(name) for name in server_names])
            builder = builder.add_extension(san, critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(
            cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key, key_password),
        )

    def sign_csr(self, csr_pem: bytes, *, valid_days: int = 365) -> bytes:
        """Sign a customer's CSR into a client certificate, as WattzOn does.

        Args:
            csr_pem: The certificate signing request, PEM (DER is accepted too).
            valid_days: Validity of the certificate in days.

        Returns:
            The client certificate, PEM, with the CSR's subject and public key.

        Raises:
            ValidationError: The CSR cannot be parsed, its signature is not valid, its
                subject is empty, or its key type cannot go in a certificate.
        """
        csr = _load_csr(csr_pem)
        public_key = csr.public_key()
        if not isinstance(public_key, _PublicKey):
            raise ValidationError("the CSR's key type is not supported; use RSA or EC", field="csr")
        start = datetime.now(UTC) - _BACKDATE
        builder = self._leaf_builder(
            csr.subject,
            public_key,
            start,
            start + timedelta(days=valid_days),
            [ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        certificate = builder.sign(self._key, hashes.SHA256())
        return certificate.public_bytes(serialization.Encoding.PEM)

    def _leaf_builder(
        self,
        subject: x509.Name,
        public_key: _PublicKey,
        start: datetime,
        end: datetime,
        usages: Sequence[x509.ObjectIdentifier],
    ) -> x509.CertificateBuilder:
        """A builder for an end-entity certificate with the usual extensions."""
        ca_ski = self._certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(public_key), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
                critical=False,
            )
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        return builder


def _spki(public_key: _PublicKey | object) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key, for comparing keys."""
    if not isinstance(public_key, _PublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a CSR (PEM or DER) and check its signature and subject."""
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except (ValueError, TypeError):
        raise ValidationError("not a certificate signing request (CSR)", field="csr") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise ValidationError("the CSR's signature is not valid", field="csr")
    if not list(csr.subject):
        raise ValidationError("the CSR has an empty subject; give it a common name", field="csr")
    return csr
