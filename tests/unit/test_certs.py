"""The vendor CSR flow and certificate inspection."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.pki import CertificateAuthority
from wattzon_async import certs
from wattzon_async._errors import CertificateError, ValidationError
from wattzon_async._tls import _context as _tls
from wattzon_async._tls._context import ClientIdentity
from wattzon_async.certs import CertificateInfo, generate_csr, inspect_certificate, write_csr


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Test CA")


@pytest.fixture(scope="module")
def key_and_csr() -> tuple[bytes, bytes]:
    return generate_csr("acme-prod", organization="Acme Inc", email="ops@acme.example")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_certificate_info_is_reexported() -> None:
    assert certs.CertificateInfo is _tls.CertificateInfo
    assert sorted(certs.__all__) == certs.__all__


def test_generate_csr(key_and_csr: tuple[bytes, bytes]) -> None:
    key_pem, csr_pem = key_and_csr
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    subject = csr.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "acme-prod"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Inc"
    assert subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "ops@acme.example"


def test_generate_csr_minimal_subject() -> None:
    _, csr_pem = generate_csr("svc")
    assert x509.load_pem_x509_csr(csr_pem).subject.rfc4514_string() == "CN=svc"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"common_name": ""}, "common_name"),
        ({"common_name": "  "}, "common_name"),
        ({"common_name": "x", "key_size": 1024}, "key_size"),
    ],
)
def test_generate_csr_rejects_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        generate_csr(**kwargs)  # type: ignore[arg-type]
    assert exc.value.field == field


def test_signed_csr_loads_as_client_identity(
    ca: CertificateAuthority, key_and_csr: tuple[bytes, bytes], tmp_path: Path
) -> None:
    key_pem, csr_pem = key_and_csr
    cert_path, key_path = tmp_path / "client.crt", tmp_path / "client.key"
    cert_path.write_bytes(ca.sign_csr(csr_pem))
    key_path.write_bytes(key_pem)
    identity = ClientIdentity.load((cert_path, key_path))
    assert identity.info is not None
    assert "CN=acme-prod" in identity.info.subject
    assert identity.info.issuer == "O=WattzOn Tests,CN=Test CA"
    assert identity.info.days_left in (364, 365)


def test_write_csr(ca: CertificateAuthority, tmp_path: Path) -> None:
    key_path, csr_path = tmp_path / "client.key", tmp_path / "client.csr"
    write_csr(key_path, csr_path, "acme-prod", organization="Acme Inc")
    assert _mode(key_path) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    cert_path = tmp_path / "client.crt"
    cert_path.write_bytes(ca.sign_csr(csr_path.read_bytes()))
    assert ClientIdentity.load((cert_path, key_path)).info is not None


def test_write_csr_accepts_str_paths(tmp_path: Path) -> None:
    write_csr(str(tmp_path / "a.key"), str(tmp_path / "a.csr"), "svc")
    assert _mode(tmp_path / "a.key") == 0o600


@pytest.mark.parametrize("existing", ["client.key", "client.csr"])
def test_write_csr_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    key_path, csr_path = tmp_path / "client.key", tmp_path / "client.csr"
    (tmp_path / existing).write_bytes(b"precious")
    with pytest.raises(ValidationError, match="already exists") as exc:
        write_csr(key_path, csr_path, "svc")
    assert str(tmp_path / existing) in str(exc.value)
    assert "force" in str(exc.value)
    assert (tmp_path / existing).read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_write_csr_force_replaces(tmp_path: Path) -> None:
    key_path, csr_path = tmp_path / "client.key", tmp_path / "client.csr"
    key_path.write_bytes(b"old key")
    key_path.chmod(0o644)
    csr_path.write_bytes(b"old csr")
    write_csr(key_path, csr_path, "svc", force=True)
    assert _mode(key_path) == 0o600
    assert b"PRIVATE KEY" in key_path.read_bytes()
    assert x509.load_pem_x509_csr(csr_path.read_bytes()).is_signature_valid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client.csr", "client.key"]


def test_write_csr_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ValidationError, match="does not exist") as exc:
        write_csr(missing / "c.key", missing / "c.csr", "svc")
    assert str(missing) in str(exc.value)


def test_write_csr_same_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="different files"):
        write_csr(tmp_path / "c.pem", tmp_path / "c.pem", "svc")
    assert list(tmp_path.iterdir()) == []


def test_inspect_pem_and_der(ca: CertificateAuthority, tmp_path: Path) -> None:
    issued = ca.issue("inspect", valid_days=90)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    pem, _ = issued.write(tmp_path, "inspect")
    der = tmp_path / "inspect.der"
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    expected = CertificateInfo.from_certificate(cert)
    assert inspect_certificate(pem) == expected
    assert inspect_certificate(str(der)) == expected
    assert expected.subject == "CN=inspect"
    assert expected.days_left in (89, 90)


def test_inspect_combined_pem_picks_the_keys_certificate(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    issued = ca.issue("leaf")
    path = tmp_path / "combined.pem"
    path.write_bytes(ca.cert_pem + issued.cert_pem + issued.key_pem)
    assert inspect_certificate(path).subject == "CN=leaf"
    chain_only = tmp_path / "chain.pem"
    chain_only.write_bytes(ca.cert_pem + issued.cert_pem)
    assert inspect_certificate(chain_only).subject == "O=WattzOn Tests,CN=Test CA"


@pytest.mark.parametrize("password", [None, b"p12-secret"])
def test_inspect_pkcs12(ca: CertificateAuthority, tmp_path: Path, password: bytes | None) -> None:
    issued = ca.issue("p12")
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    path = tmp_path / "client.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(b"c", key, cert, [ca.certificate], encryption)
    )
    info = inspect_certificate(path, key_password=password)
    assert info.subject == "CN=p12"
    assert info.serial_number == cert.serial_number
    if password:
        with pytest.raises(CertificateError, match="no password"):
            inspect_certificate(path)


def test_inspect_expired_certificate(ca: CertificateAuthority, tmp_path: Path) -> None:
    end = datetime.now(UTC) - timedelta(days=3)
    pem, _ = ca.issue("old", not_before=end - timedelta(days=365), not_after=end).write(
        tmp_path, "old"
    )
    info = inspect_certificate(pem)
    assert info.days_left < 0
    assert not info.is_valid_at(datetime.now(UTC))
    assert info.is_valid_at(end - timedelta(days=1))


def test_inspect_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.crt"
    with pytest.raises(CertificateError, match="does not exist") as exc:
        inspect_certificate(missing)
    assert str(missing) in str(exc.value)
    junk = tmp_path / "junk.crt"
    junk.write_bytes(b"not a certificate")
    with pytest.raises(CertificateError, match="does not contain a certificate") as exc:
        inspect_certificate(junk)
    assert str(junk) in str(exc.value)
