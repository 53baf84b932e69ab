"""The emulator's certificate authority: extensions, issuing, CSR signing, files."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wattzon_async._errors import CertificateError, ValidationError
from wattzon_emulator._pki import CertificateAuthority, IssuedCert


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Test CA")


def _cert(issued: IssuedCert) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert_pem)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _csr(common_name: str = "acme") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def test_ca_certificate_has_ca_extensions(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test CA"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert ca.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in ca.key_pem
    assert "Test CA" in repr(ca)


def test_ca_valid_days() -> None:
    ca = CertificateAuthority.create(valid_days=10)
    lifetime = ca.certificate.not_valid_after_utc - ca.certificate.not_valid_before_utc
    assert timedelta(days=10) <= lifetime <= timedelta(days=10, minutes=10)


def test_save_and_load_round_trip(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "ca.crt", tmp_path / "ca.key"
    ca.save(cert_path, key_path)
    assert _mode(key_path) == 0o600
    loaded = CertificateAuthority.load(cert_path, key_path)
    assert loaded.certificate == ca.certificate
    _cert(loaded.issue("x")).verify_directly_issued_by(ca.certificate)


def test_load_errors(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "ca.crt", tmp_path / "ca.key"
    ca.save(cert_path, key_path)
    with pytest.raises(CertificateError, match=r"missing\.key"):
        CertificateAuthority.load(cert_path, tmp_path / "missing.key")
    with pytest.raises(CertificateError, match="not a PEM certificate"):
        CertificateAuthority.load(key_path, key_path)
    with pytest.raises(CertificateError, match="not an unencrypted PEM private key"):
        CertificateAuthority.load(cert_path, cert_path)
    other = tmp_path / "other.key"
    other.write_bytes(CertificateAuthority.create().key_pem)
    with pytest.raises(CertificateError, match="does not belong"):
        CertificateAuthority.load(cert_path, other)


def test_issue_client_certificate_defaults(ca: CertificateAuthority) -> None:
    issued = ca.issue("tenant-a")
    cert = _cert(issued)
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.rfc4514_string() == "CN=tenant-a"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == timedelta(days=365)
    assert cert.not_valid_before_utc <= datetime.now(UTC)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)


def test_issue_server_certificate_names(ca: CertificateAuthority) -> None:
    cert = _cert(ca.issue("localhost", server_names=["localhost", "127.0.0.1", "::1"]))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    server_only = _cert(ca.issue("s", server_names=["localhost"], client=False))
    eku = server_only.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_issue_rsa_with_encrypted_key(ca: CertificateAuthority) -> None:
    issued = ca.issue("rsa", key_type="rsa", key_password=b"s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in issued.key_pem
    key = serialization.load_pem_private_key(issued.key_pem, password=b"s3cret")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    usage = _cert(issued).extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_encipherment


def test_issue_explicit_validity(ca: CertificateAuthority) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    cert = _cert(ca.issue("old", not_before=start, not_after=start + timedelta(days=2)))
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == start + timedelta(days=2)
    cert = _cert(ca.issue("from-start", not_before=start, valid_days=3))
    assert cert.not_valid_after_utc == start + timedelta(days=3)


def test_issue_rejects_unknown_key_type(ca: CertificateAuthority) -> None:
    with pytest.raises(ValidationError, match="key_type"):
        ca.issue("x", key_type="dsa")  # type: ignore[arg-type]


def test_issued_cert_write(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue("tenant")
    cert_path, key_path = issued.write(tmp_path, "tenant")
    assert (cert_path, key_path) == (tmp_path / "tenant.crt", tmp_path / "tenant.key")
    assert cert_path.read_bytes() == issued.cert_pem
    assert key_path.read_bytes() == issued.key_pem
    assert _mode(key_path) == 0o600
    key_path.chmod(0o644)
    issued.write(tmp_path, "tenant")
    assert _mode(key_path) == 0o600


def test_server_certificate_passes_webpki_verification(ca: CertificateAuthority) -> None:
    store = verification.Store([ca.certificate])
    now = datetime.now(UTC)
    server = _cert(ca.issue("localhost", server_names=["localhost", "127.0.0.1"]))
    for name in (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        verifier = verification.PolicyBuilder().store(store).time(now).build_server_verifier(name)
        chain = verifier.verify(server, [])
        assert chain[-1] == ca.certificate


def test_sign_csr(ca: CertificateAuthority) -> None:
    csr_pem = _csr("acme-prod")
    cert = x509.load_pem_x509_certificate(ca.sign_csr(csr_pem, valid_days=30))
    csr = x509.load_pem_x509_csr(csr_pem)
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject == csr.subject
    assert cert.public_key() == csr.public_key()
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == timedelta(days=30)
    der = csr.public_bytes(serialization.Encoding.DER)
    x509.load_pem_x509_certificate(ca.sign_csr(der))


def test_sign_csr_rejects_garbage(ca: CertificateAuthority) -> None:
    with pytest.raises(ValidationError, match="not a certificate signing request"):
        ca.sign_csr(
            b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n"
        )
    with pytest.raises(ValidationError, match="not a certificate signing request"):
        ca.sign_csr(b"\x00\x01")


def test_sign_csr_rejects_bad_signature(ca: CertificateAuthority) -> None:
    der = bytearray(x509.load_pem_x509_csr(_csr()).public_bytes(serialization.Encoding.DER))
    subject_at = der.find(b"acme")
    der[subject_at] ^= 0x01
    with pytest.raises(ValidationError, match="signature is not valid"):
        ca.sign_csr(bytes(der))


def test_sign_csr_rejects_empty_subject(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(ValidationError, match="empty subject"):
        ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM))
