"""Client TLS identity: every certificate form, every error, expiry warnings, reload in place."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from tests.pki import CertificateAuthority, IssuedCert
from wattzon_async._errors import CertificateError, ValidationError
from wattzon_async._tls._context import WARN_DAYS, CertificateInfo, ClientIdentity

PASSWORD = "correct horse battery"
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Test CA")


@pytest.fixture
def ca_file(ca: CertificateAuthority, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.cert_pem)
    return path


def _pair(
    ca: CertificateAuthority, directory: Path, name: str, **kwargs: object
) -> tuple[Path, Path]:
    return ca.issue(name, **kwargs).write(directory, name)  # type: ignore[arg-type]


def _key_der(issued: IssuedCert) -> bytes:
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _p12(ca: CertificateAuthority, issued: IssuedCert, password: bytes | None) -> bytes:
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"client",
        key,
        x509.load_pem_x509_certificate(issued.cert_pem),
        [ca.certificate],
        encryption,
    )


def _assert_helpful(
    exc: pytest.ExceptionInfo[CertificateError], path: Path, *secrets: bytes | str
) -> str:
    message = str(exc.value)
    assert str(path) in message
    assert "PRIVATE KEY" not in message
    for secret in secrets:
        text = secret.decode("ascii", "replace") if isinstance(secret, bytes) else secret
        assert text not in message
        for line in text.splitlines()[1:-1]:
            assert line not in message
    return message


class _Server:
    """A threaded TLS server that requires client certificates and names the peer."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepter.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(TIMEOUT)
        try:
            with self._context.wrap_socket(conn, server_side=True) as tls:
                name = _common_name(tls.getpeercert()).encode()
                while tls.recv(16):
                    tls.sendall(name)
        except OSError:
            conn.close()

    def connect(self, context: ssl.SSLContext) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepter.join(TIMEOUT)
        for thread in self._threads:
            thread.join(TIMEOUT)


def _common_name(peer: dict[str, Any] | None) -> str:
    for rdn in (peer or {}).get("subject", ()):
        for attribute, value in rdn:
            if attribute == "commonName":
                return str(value)
    return "?"


def _ask(tls: ssl.SSLSocket) -> str:
    tls.sendall(b"?")
    return tls.recv(256).decode()


def _peer_name(server: _Server, context: ssl.SSLContext) -> str:
    with server.connect(context) as tls:
        return _ask(tls)


@pytest.fixture
def server(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> Iterator[_Server]:
    cert, key = _pair(ca, tmp_path, "server", server_names=["127.0.0.1"], client=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca_file))
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_cert_chain(cert, key)
    srv = _Server(context)
    yield srv
    srv.close()


def _load(cert: object, ca_file: Path, **kwargs: object) -> ClientIdentity:
    identity = ClientIdentity.load(cert, ca_bundle=ca_file, **kwargs)  # type: ignore[arg-type]
    identity.ssl_context.verify_flags |= ssl.VERIFY_X509_STRICT
    return identity


# --- every form loads and authenticates ---------------------------------------------------


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_pem_pair(
    ca: CertificateAuthority,
    ca_file: Path,
    server: _Server,
    tmp_path: Path,
    key_type: Literal["ec", "rsa"],
) -> None:
    cert, key = _pair(ca, tmp_path, "pair", key_type=key_type)
    identity = _load((cert, key), ca_file)
    assert identity.info is not None
    assert identity.info.subject == "CN=pair"
    assert _peer_name(server, identity.ssl_context) == "pair"
    assert _load((str(cert), str(key)), ca_file).info == identity.info


def test_context_always_verifies_the_server(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    context = _load(_pair(ca, tmp_path, "c"), ca_file).ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [_common_name(cert) for cert in context.get_ca_certs()] == ["Test CA"]


def test_system_trust_by_default(ca: CertificateAuthority, tmp_path: Path) -> None:
    identity = ClientIdentity.load(_pair(ca, tmp_path, "c"))
    assert identity.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert identity.ssl_context.check_hostname


def test_server_with_unknown_ca_is_refused(
    ca: CertificateAuthority, server: _Server, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(CertificateAuthority.create("Other CA").cert_pem)
    identity = ClientIdentity.load(_pair(ca, tmp_path, "c"), ca_bundle=other_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        _peer_name(server, identity.ssl_context)


@pytest.mark.parametrize("key_first", [False, True])
def test_combined_pem_with_chain(
    ca: CertificateAuthority, ca_file: Path, server: _Server, tmp_path: Path, key_first: bool
) -> None:
    issued = ca.issue("combined")
    parts = [issued.key_pem, issued.cert_pem, ca.cert_pem]
    if not key_first:
        parts = [ca.cert_pem, issued.cert_pem, issued.key_pem]
    path = tmp_path / "combined.pem"
    path.write_bytes(b"".join(parts))
    identity = _load(path, ca_file)
    assert identity.info is not None
    assert identity.info.subject == "CN=combined"
    assert _peer_name(server, identity.ssl_context) == "combined"


@pytest.mark.parametrize(
    ("name", "password"),
    [("client.p12", None), ("client.pfx", PASSWORD), ("client.bundle", PASSWORD)],
)
def test_pkcs12(
    ca: CertificateAuthority,
    ca_file: Path,
    server: _Server,
    tmp_path: Path,
    name: str,
    password: str | None,
) -> None:
    path = tmp_path / name
    path.write_bytes(
        _p12(ca, ca.issue("p12", key_type="rsa"), password.encode() if password else None)
    )
    identity = _load(path, ca_file, key_password=password)
    assert _peer_name(server, identity.ssl_context) == "p12"


def test_pkcs12_without_password_accepts_a_given_password(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "client.p12"
    path.write_bytes(_p12(ca, ca.issue("p12"), None))
    assert _load(path, ca_file, key_password="unused").info is not None


@pytest.mark.parametrize("suffixes", [(".der", ".der"), (".crt", ".key")])
def test_der_pair_detected_by_content(
    ca: CertificateAuthority,
    ca_file: Path,
    server: _Server,
    tmp_path: Path,
    suffixes: tuple[str, str],
) -> None:
    issued = ca.issue("der", key_type="rsa")
    cert = tmp_path / f"client{suffixes[0]}"
    key = tmp_path / f"client-key{suffixes[1]}"
    cert.write_bytes(
        x509.load_pem_x509_certificate(issued.cert_pem).public_bytes(serialization.Encoding.DER)
    )
    key.write_bytes(_key_der(issued))
    identity = _load((cert, key), ca_file)
    assert _peer_name(server, identity.ssl_context) == "der"


@pytest.mark.parametrize("password", [PASSWORD, PASSWORD.encode()])
def test_encrypted_pem_key(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, password: str | bytes
) -> None:
    pair = _pair(ca, tmp_path, "enc", key_password=PASSWORD.encode())
    assert _load(pair, ca_file, key_password=password).info is not None


def test_password_for_unencrypted_key_is_fine(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    assert _load(_pair(ca, tmp_path, "plain"), ca_file, key_password="x").info is not None


def test_ssl_context_passthrough() -> None:
    context = ssl.create_default_context()
    identity = ClientIdentity.load(context)
    assert identity.ssl_context is context
    assert identity.info is None
    assert "ssl.SSLContext" in repr(identity)
    with pytest.raises(ValidationError, match=r"ready ssl\.SSLContext"):
        ClientIdentity.load(context, ca_bundle="ca.pem")
    with pytest.raises(ValidationError, match=r"ready ssl\.SSLContext"):
        ClientIdentity.load(context, key_password="x")


def test_der_ca_bundle(ca: CertificateAuthority, server: _Server, tmp_path: Path) -> None:
    ca_der = tmp_path / "ca.der"
    ca_der.write_bytes(ca.certificate.public_bytes(serialization.Encoding.DER))
    identity = ClientIdentity.load(_pair(ca, tmp_path, "c"), ca_bundle=ca_der)
    assert _peer_name(server, identity.ssl_context) == "c"


def test_no_temporary_files_left(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = tmp_path / "client.p12"
    path.write_bytes(_p12(ca, ca.issue("p12"), None))
    identity = _load(path, ca_file)
    identity.reload()
    assert list(scratch.iterdir()) == []


def test_repr_shows_no_secrets(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    issued = ca.issue("repr", key_password=PASSWORD.encode())
    cert, key = issued.write(tmp_path, "repr")
    text = repr(_load((cert, key), ca_file, key_password=PASSWORD))
    assert "CN=repr" in text
    assert str(cert) in text
    assert str(key) in text
    assert PASSWORD not in text
    assert "KEY-----" not in text


# --- certificate information and expiry -------------------------------------------------


def test_certificate_info(ca: CertificateAuthority) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    cert = x509.load_pem_x509_certificate(
        ca.issue("info", not_before=start, valid_days=100).cert_pem
    )
    info = CertificateInfo.from_certificate(cert)
    assert info.subject == "CN=info"
    assert info.issuer == "O=WattzOn Tests,CN=Test CA"
    assert info.not_before == start
    assert info.not_after == start + timedelta(days=100)
    assert info.not_after.tzinfo is not None
    assert info.serial_number == cert.serial_number
    assert info.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert info.days_left == 98
    assert info.is_valid_at(start + timedelta(days=1))
    assert info.is_valid_at((start + timedelta(days=1)).replace(tzinfo=None))
    assert not info.is_valid_at(start - timedelta(seconds=1))
    assert not info.is_valid_at(start + timedelta(days=101))


def test_near_expiry_warns(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    soon = datetime.now(UTC) + timedelta(days=10, hours=1)
    pair = _pair(ca, tmp_path, "soon", not_after=soon)
    with caplog.at_level(logging.WARNING, logger="wattzon_async"):
        _load(pair, ca_file)
    records = [r for r in caplog.records if r.name == "wattzon_async"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "CN=soon" in records[0].getMessage()
    assert "10 days" in records[0].getMessage()


def test_far_expiry_does_not_warn(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pair = _pair(ca, tmp_path, "far", valid_days=WARN_DAYS + 5)
    with caplog.at_level(logging.WARNING, logger="wattzon_async"):
        _load(pair, ca_file)
    assert not [r for r in caplog.records if r.name == "wattzon_async"]


# --- every problem is a helpful CertificateError ------------------------------------------


def test_missing_files(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    cert, key = _pair(ca, tmp_path, "c")
    missing = tmp_path / "nope.crt"
    with pytest.raises(CertificateError, match="does not exist") as exc:
        _load((missing, key), ca_file)
    _assert_helpful(exc, missing)
    with pytest.raises(CertificateError, match="does not exist") as exc:
        _load((cert, tmp_path / "nope.key"), ca_file)
    _assert_helpful(exc, tmp_path / "nope.key")
    with pytest.raises(CertificateError, match="does not exist") as exc:
        _load(missing, ca_file)
    _assert_helpful(exc, missing)
    with pytest.raises(CertificateError, match="is a directory") as exc:
        _load(tmp_path, ca_file)
    _assert_helpful(exc, tmp_path)


def test_unreadable_file(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _pair(ca, tmp_path, "c")
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == key:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(CertificateError, match="permission denied") as exc:
        _load((cert, key), ca_file)
    assert "chmod 600" in _assert_helpful(exc, key)


def test_not_a_certificate(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    issued = ca.issue("c")
    _, key = issued.write(tmp_path, "c")
    for content in (b"", b"hello\n", b"\x30\x03\x02\x01\x05"):
        junk = tmp_path / "junk.crt"
        junk.write_bytes(content)
        with pytest.raises(CertificateError, match="does not contain a certificate") as exc:
            _load((junk, key), ca_file)
        _assert_helpful(exc, junk, issued.key_pem)
    with pytest.raises(CertificateError, match="does not contain a certificate") as exc:
        _load((key, key), ca_file)
    _assert_helpful(exc, key, issued.key_pem)


def test_pkcs12_given_as_certificate_of_a_pair(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    p12 = tmp_path / "client.p12"
    p12.write_bytes(_p12(ca, ca.issue("p12"), None))
    with pytest.raises(CertificateError, match="looks like PKCS#12") as exc:
        _load((p12, p12), ca_file)
    _assert_helpful(exc, p12)


def test_not_a_key(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    cert, _ = _pair(ca, tmp_path, "c")
    for content in (b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"):
        junk = tmp_path / "junk.key"
        junk.write_bytes(content)
        with pytest.raises(CertificateError, match="does not contain a private key") as exc:
            _load((cert, junk), ca_file)
        _assert_helpful(exc, junk)
    with pytest.raises(CertificateError, match="does not contain a private key") as exc:
        _load((cert, cert), ca_file)
    _assert_helpful(exc, cert)


#: A DSA key (1024-bit, made with openssl): the test carries it, since naming cryptography's
#: DSA module warns.
_DSA_KEY = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MIIBWgIBADCCATMGByqGSM44BAEwggEmAoGBAKHICHbZVi6f7aUPgFwnBz4XlD7i\n"
    b"cPzvtwjGU7WMB+OV6CrRQzxhxaKyAXLgTTcZEPcfiSz6AxDCZjewEgQhcJz6QDXZ\n"
    b"SNznFYi0NoOI921lDsZ7dZS7wx67Qxc4tlwdn4AokVjWfX3HQ0+K+7+r4mh97DPN\n"
    b"+T4Ma0Z0SI56VkBNAh0A26lZYR1kqdaWCvKpnzNnBFgxDdyZktefs/7TVwKBgC6V\n"
    b"6TmeHc8TinHstGVPhWyBOzBQt4tpjNXaiZxzFE5JEoTaBjXty70zATD09/qp/UFB\n"
    b"yGySEWs60XTC5ueZOmrZRszlpnSt51BnMBF6kwO1Z16tEmnqxzuaENHx1fW8SjoW\n"
    b"dwksX0VprX6aiiiJnqu44tSlURn3iiYevdxGzMZgBB4CHD5sd/DjXXBMAWbYr72d\n"
    b"179bGT481wbrZf6u+Zg=\n"
    b"-----END PRIVATE KEY-----\n"
)


def test_dsa_key_is_refused_by_name(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    cert, _ = _pair(ca, tmp_path, "c")
    key = tmp_path / "dsa.key"
    key.write_bytes(_DSA_KEY)
    # cryptography (since 48) warns when it parses a DSA key: only then, never on import
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "DSA", CryptographyDeprecationWarning)
        with pytest.raises(
            CertificateError, match=r"is a DSA key, which TLS 1\.3 cannot use"
        ) as exc:
            _load((cert, key), ca_file)
    _assert_helpful(exc, key)


def test_combined_pem_without_key(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    cert, _ = _pair(ca, tmp_path, "c")
    with pytest.raises(CertificateError, match="no private key") as exc:
        _load(cert, ca_file)
    _assert_helpful(exc, cert)
    der = tmp_path / "c.der"
    der.write_bytes(
        x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(CertificateError, match="no private key") as exc:
        _load(der, ca_file)
    _assert_helpful(exc, der)


def test_key_does_not_match(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    cert, _ = _pair(ca, tmp_path, "one")
    other = ca.issue("two")
    _, other_key = other.write(tmp_path, "two")
    with pytest.raises(CertificateError, match="does not belong") as exc:
        _load((cert, other_key), ca_file)
    message = _assert_helpful(exc, other_key, other.key_pem)
    assert str(cert) in message
    combined = tmp_path / "combined.pem"
    combined.write_bytes(cert.read_bytes() + other.key_pem)
    with pytest.raises(CertificateError, match="does not belong") as exc:
        _load(combined, ca_file)
    _assert_helpful(exc, combined, other.key_pem)


def test_encrypted_key_without_password(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    issued = ca.issue("enc", key_password=PASSWORD.encode())
    cert, key = issued.write(tmp_path, "enc")
    with pytest.raises(CertificateError, match="encrypted and no password") as exc:
        _load((cert, key), ca_file)
    assert "key_password" in _assert_helpful(exc, key, issued.key_pem)


def test_wrong_password(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    issued = ca.issue("enc", key_password=PASSWORD.encode())
    cert, key = issued.write(tmp_path, "enc")
    with pytest.raises(CertificateError, match="wrong password") as exc:
        _load((cert, key), ca_file, key_password="hunter2-wrong")
    _assert_helpful(exc, key, issued.key_pem, "hunter2-wrong", PASSWORD)


def test_der_key_encrypted(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    issued = ca.issue("der")
    cert, _ = issued.write(tmp_path, "der")
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    der_key = tmp_path / "der.key"
    der_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    with pytest.raises(CertificateError, match="encrypted and no password"):
        _load((cert, der_key), ca_file)
    with pytest.raises(CertificateError, match="wrong password"):
        _load((cert, der_key), ca_file, key_password="nope")
    assert _load((cert, der_key), ca_file, key_password=PASSWORD).info is not None


def test_pkcs12_password_errors(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "client.pfx"
    path.write_bytes(_p12(ca, ca.issue("p12"), PASSWORD.encode()))
    with pytest.raises(CertificateError, match="encrypted and no password") as exc:
        _load(path, ca_file)
    _assert_helpful(exc, path)
    with pytest.raises(CertificateError, match="wrong password") as exc:
        _load(path, ca_file, key_password="hunter2-wrong")
    _assert_helpful(exc, path, "hunter2-wrong", PASSWORD)


def test_pem_named_like_pkcs12_is_read_as_pem(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    issued = ca.issue("pem-in-disguise")
    path = tmp_path / "client.p12"
    path.write_bytes(issued.cert_pem + issued.key_pem)
    assert _load(path, ca_file).info is not None


def test_pkcs12_garbage(ca_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "client.p12"
    path.write_bytes(b"not pkcs12 at all")
    with pytest.raises(CertificateError, match="not a PKCS#12 file") as exc:
        _load(path, ca_file)
    _assert_helpful(exc, path)


def test_pkcs12_without_key(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "cert-only.p12"
    cert = x509.load_pem_x509_certificate(ca.issue("x").cert_pem)
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(b"x", None, cert, None, serialization.NoEncryption())
    )
    with pytest.raises(CertificateError, match="no usable private key") as exc:
        _load(path, ca_file)
    _assert_helpful(exc, path)


def test_expired(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    end = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    cert, key = _pair(ca, tmp_path, "old", not_before=end - timedelta(days=365), not_after=end)
    with pytest.raises(CertificateError, match="expired on 2024-03-01 12:00 UTC") as exc:
        _load((cert, key), ca_file)
    message = _assert_helpful(exc, cert)
    assert "`wattzon cert csr`" in message
    assert "send it to WattzOn" in message


def test_not_yet_valid(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    cert, key = _pair(ca, tmp_path, "future", not_before=start)
    with pytest.raises(CertificateError, match="not valid until") as exc:
        _load((cert, key), ca_file)
    assert "clock" in _assert_helpful(exc, cert)


def test_ca_bundle_problems(ca: CertificateAuthority, tmp_path: Path) -> None:
    pair = _pair(ca, tmp_path, "c")
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(CertificateError, match="does not exist") as exc:
        ClientIdentity.load(pair, ca_bundle=missing)
    assert "CA bundle" in _assert_helpful(exc, missing)
    junk = tmp_path / "junk-ca.pem"
    for content in (b"junk", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        junk.write_bytes(content)
        with pytest.raises(CertificateError, match="no CA certificate") as exc:
            ClientIdentity.load(pair, ca_bundle=junk)
        _assert_helpful(exc, junk)
    with pytest.raises(CertificateError, match="is a directory") as exc:
        ClientIdentity.load(pair, ca_bundle=tmp_path)
    _assert_helpful(exc, tmp_path)


@pytest.mark.parametrize("cert", [42, b"client.pem", ("a",), ("a", "b", "c"), ""])
def test_bad_cert_argument(cert: object) -> None:
    with pytest.raises(ValidationError, match="cert"):
        ClientIdentity.load(cert)  # type: ignore[arg-type]


# --- reload in place ----------------------------------------------------------------------


def test_reload_swaps_certificate_in_the_same_context(
    ca: CertificateAuthority, ca_file: Path, server: _Server, tmp_path: Path
) -> None:
    identity = _load(_pair(ca, tmp_path, "old"), ca_file)
    context = identity.ssl_context
    with server.connect(context) as before:
        assert _ask(before) == "old"
        info = identity.reload(_pair(ca, tmp_path, "new"))
        assert info.subject == "CN=new"
        assert identity.info == info
        assert identity.ssl_context is context
        assert _ask(before) == "old"
        assert _peer_name(server, context) == "new"
        assert _ask(before) == "old"


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_reload_without_argument_rereads_files(
    ca: CertificateAuthority,
    ca_file: Path,
    server: _Server,
    tmp_path: Path,
    key_type: Literal["ec", "rsa"],
) -> None:
    password = PASSWORD.encode()
    ca.issue("first", key_type=key_type, key_password=password).write(tmp_path, "client")
    identity = _load(
        (tmp_path / "client.crt", tmp_path / "client.key"), ca_file, key_password=PASSWORD
    )
    assert _peer_name(server, identity.ssl_context) == "first"
    ca.issue("second", key_type=key_type, key_password=password).write(tmp_path, "client")
    assert identity.reload().subject == "CN=second"
    assert _peer_name(server, identity.ssl_context) == "second"


def test_reload_validates_first(
    ca: CertificateAuthority, ca_file: Path, server: _Server, tmp_path: Path
) -> None:
    identity = _load(_pair(ca, tmp_path, "good"), ca_file)
    before = identity.info
    expired = _pair(
        ca, tmp_path, "expired", not_before=datetime(2020, 1, 1, tzinfo=UTC), valid_days=30
    )
    with pytest.raises(CertificateError, match="expired"):
        identity.reload(expired)
    cert, _ = _pair(ca, tmp_path, "mismatch")
    _, other_key = _pair(ca, tmp_path, "other")
    with pytest.raises(CertificateError, match="does not belong"):
        identity.reload((cert, other_key))
    with pytest.raises(CertificateError, match="does not exist"):
        identity.reload(tmp_path / "gone.pem")
    assert identity.info == before
    assert _peer_name(server, identity.ssl_context) == "good"
    assert "good" in repr(identity)


def test_reload_refuses_key_type_change(
    ca: CertificateAuthority, ca_file: Path, server: _Server, tmp_path: Path
) -> None:
    identity = _load(_pair(ca, tmp_path, "ec-cert", key_type="ec"), ca_file)
    with pytest.raises(CertificateError, match="same key type"):
        identity.reload(_pair(ca, tmp_path, "rsa-cert", key_type="rsa"))
    assert _peer_name(server, identity.ssl_context) == "ec-cert"


def test_reload_with_new_password(
    ca: CertificateAuthority, ca_file: Path, server: _Server, tmp_path: Path
) -> None:
    identity = _load(_pair(ca, tmp_path, "plain"), ca_file)
    pfx = tmp_path / "renewed.pfx"
    pfx.write_bytes(_p12(ca, ca.issue("renewed"), b"new-password"))
    with pytest.raises(CertificateError, match="no password"):
        identity.reload(pfx)
    identity.reload(pfx, key_password="new-password")
    assert _peer_name(server, identity.ssl_context) == "renewed"
    assert identity.reload().subject == "CN=renewed"


def test_reload_user_context_is_refused() -> None:
    identity = ClientIdentity.load(ssl.create_default_context())
    with pytest.raises(CertificateError, match="cannot reload"):
        identity.reload()
    with pytest.raises(CertificateError, match="cannot reload"):
        identity.reload(("a.crt", "a.key"))


def test_reload_rejects_a_context(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    identity = _load(_pair(ca, tmp_path, "c"), ca_file)
    with pytest.raises(CertificateError, match=r"not an ssl\.SSLContext"):
        identity.reload(ssl.create_default_context())


def test_environment_is_untouched(ca: CertificateAuthority, ca_file: Path, tmp_path: Path) -> None:
    before = dict(os.environ)
    _load(_pair(ca, tmp_path, "c"), ca_file)
    assert dict(os.environ) == before


# --- cryptography is imported only when a certificate is loaded ----------------------------

_IMPORT_PROBE = """
import asyncio, sys
import wattzon_async
print("cryptography" in sys.modules)
client = wattzon_async.WattzOnClient(cert=(sys.argv[1], sys.argv[2]), ca_bundle=sys.argv[3])
print("cryptography" in sys.modules)
asyncio.run(client.aclose())
"""


def test_cryptography_is_imported_lazily(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    cert, key = _pair(ca, tmp_path, "c")
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, str(cert), str(key), str(ca_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


# --- secrets never enter a message ----------------------------------------------------------


def test_key_material_given_as_a_path_is_refused_without_repeating_it(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    issued = ca.issue("pasted")
    cert, key = issued.write(tmp_path, "pasted")
    pem = issued.key_pem.decode()
    for spec in ((cert, pem), (pem, key), pem, (str(cert), pem.splitlines()[1] + "\n")):
        with pytest.raises(ValidationError) as caught:
            _load(spec, ca_file)
        message = str(caught.value)
        assert "instead of a file path" in message
        assert all(row not in message for row in pem.splitlines())


def test_an_undecodable_str_password_is_its_original_bytes(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    pair = _pair(ca, tmp_path, "latin1", key_password=b"caf\xe9")
    assert _load(pair, ca_file, key_password="caf\udce9").info is not None
    with pytest.raises(CertificateError, match="wrong password") as caught:
        _load(pair, ca_file, key_password="caf\udce8")
    assert "\udce8" not in str(caught.value)


def test_a_password_of_another_type_is_named_by_its_type_only(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path
) -> None:
    pair = _pair(ca, tmp_path, "typed", key_password=PASSWORD.encode())
    with pytest.raises(ValidationError, match="key_password: must be a str or bytes, not int"):
        _load(pair, ca_file, key_password=271828)


@pytest.mark.parametrize("password", ["e", "a", "the", "in", "key", "private", "password"])
def test_a_password_that_is_a_common_word_leaves_messages_whole(
    ca: CertificateAuthority, ca_file: Path, tmp_path: Path, password: str
) -> None:
    pair = _pair(ca, tmp_path, "word", key_password=PASSWORD.encode())
    with pytest.raises(CertificateError) as caught:
        _load(pair, ca_file, key_password=password)
    assert str(caught.value) == (
        f"wrong password for the private key in {pair[1]}; "
        "check key_password= (or WATTZON_KEY_PASSWORD)"
    )
