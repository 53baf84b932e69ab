"""The client's TLS identity: an ``ssl.SSLContext`` built from a WattzOn client certificate.

The Snap and Link APIs authenticate every call with a client certificate and nothing else,
so a certificate problem is the most likely reason a first call fails. This module turns
every form customers receive or convert certificates into (a PEM cert and key pair, one
combined PEM file, PKCS#12 ``.p12``/``.pfx``, DER) into one verified ``SSLContext``, and
checks everything it can *before* a request is sent: files exist and are readable, the
files hold a certificate and a key, the key belongs to the certificate, the password is
right, and the certificate is within its validity period. Each problem is a
``CertificateError`` that names the file and says what to do.

Certificates expire after one year, and WattzOn issues the renewed one before then; a
long-running service swaps it in with :meth:`ClientIdentity.reload`, which loads the new
certificate into the *same* context so open connections keep working.

``ssl.SSLContext.load_cert_chain`` reads only files, so non-PEM material is converted to
PEM and written, with the key encrypted under a one-time password, to a private temporary
file that is deleted as soon as OpenSSL has read it. Server verification is always on:
nothing here can turn off certificate or host name checks.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import ssl
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from attrs import frozen
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ._errors import CertificateError, ValidationError

__all__ = ["WARN_DAYS", "CertSpec", "CertificateInfo", "ClientIdentity", "read_certificate_info"]

#: A certificate with fewer days left than this logs a warning when it is loaded.
WARN_DAYS = 30

#: What ``cert=`` accepts: a combined PEM or PKCS#12 path, a (cert, key) pair of paths, or a
#: ready ``ssl.SSLContext`` that is used as it is.
CertSpec: TypeAlias = (
    str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]] | ssl.SSLContext
)

_PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
_Source: TypeAlias = Path | tuple[Path, Path]

_logger = logging.getLogger("wattzon_async")
_EMAIL = re.compile(r"([^\s,=+@<>;\\\"])[^\s,=+@<>;\\\"]*@")
_RENEW_HINT = "renew: make a CSR with `wattzon cert csr` and send it to WattzOn"
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
_PKCS12_SUFFIXES = frozenset({".p12", ".pfx"})


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
        return _EMAIL.sub(lambda m: m.group(1) + "***@", self.subject)

    @property
    def days_left(self) -> int:
        """Whole days until the certificate expires (negative once it has)."""
        return (self.not_after - datetime.now(UTC)).days

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


@frozen
class _Identity:
    """A validated certificate, its chain and its private key."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: _PrivateKey
    source: _Source
    info: CertificateInfo

    def describe(self) -> str:
        """The file names, for messages."""
        return _describe(self.source)


class ClientIdentity:
    """Owns the SSLContext given to httpx; can reload the certificate in place.

    Build it with :meth:`load`. ``ssl_context`` is the one context every connection uses;
    :meth:`reload` loads a renewed certificate into it without replacing it.

    Attributes:
        ssl_context: The context for httpx: server verification and host name checks on,
            TLS 1.2 or later, the client certificate loaded.
        info: The loaded certificate, or None for a user-given ``SSLContext``.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        info: CertificateInfo | None = None,
        source: _Source | None = None,
        key_password: bytes | None = None,
        key_type: str | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.info = info
        self._source = source
        self._key_password = key_password
        self._key_type = key_type
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        cert: CertSpec,
        *,
        key_password: str | bytes | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> ClientIdentity:
        """Load and check a client certificate and build the context for it.

        Args:
            cert: A ``(cert_path, key_path)`` pair (PEM or DER each), the path of a
                combined PEM file or of a PKCS#12 ``.p12``/``.pfx`` file, or a ready
                ``ssl.SSLContext`` that is used as it is.
            key_password: The password of an encrypted key or PKCS#12 file.
            ca_bundle: A CA file to verify the server with (default: system trust).

        Returns:
            The identity, holding its ``ssl_context``.

        Raises:
            CertificateError: A file is missing or unreadable, holds no certificate or
                key, the key does not match, the password is wrong or missing, or the
                certificate has expired or is not valid yet.
            ValidationError: ``cert`` is not one of the accepted forms, or options were
                given alongside a ready ``SSLContext``.
        """
        if isinstance(cert, ssl.SSLContext):
            if key_password is not None or ca_bundle is not None:
                raise ValidationError(
                    "key_password and ca_bundle cannot be combined with a ready ssl.SSLContext;"
                    " load the key and CA into your context instead",
                    field="cert",
                )
            return cls(cert)
        password = _password_bytes(key_password)
        identity = _load_identity(_normalize(cert), password)
        context = _new_context(ca_bundle)
        _install(identity, [context])
        return cls(
            context,
            info=identity.info,
            source=identity.source,
            key_password=password,
            key_type=_key_type(identity.key),
        )

    def reload(
        self, cert: CertSpec | None = None, *, key_password: str | bytes | None = None
    ) -> CertificateInfo:
        """Swap in a renewed certificate without replacing the context.

        The new certificate and key are checked fully first; if anything is wrong the old
        certificate stays in force. Connections already open keep theirs; new connections
        present the new certificate.

        Args:
            cert: The new certificate in any form :meth:`load` accepts apart from an
                ``SSLContext``; None re-reads the files loaded last.
            key_password: The new key's password; None keeps the one given before.

        Returns:
            The newly loaded certificate.

        Raises:
            CertificateError: The new certificate cannot be used, its key type differs
                from the current one (OpenSSL cannot drop a loaded certificate of another
                key type), or this identity wraps a user-given ``SSLContext``.
        """
        if self._source is None:
            raise CertificateError(
                "a client built from a ready ssl.SSLContext cannot reload its certificate;"
                " call load_cert_chain() on your context yourself, or pass cert paths"
            )
        if isinstance(cert, ssl.SSLContext):
            raise CertificateError(
                "reload() takes certificate files, not an ssl.SSLContext; build a new client"
            )
        with self._lock:
            source = self._source if cert is None else _normalize(cert)
            password = self._key_password if key_password is None else _password_bytes(key_password)
            identity = _load_identity(source, password)
            _check_same_key_type(self._key_type, identity.key, identity.describe())
            _install(identity, [ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), self.ssl_context])
            self.info, self._source, self._key_password = identity.info, source, password
            self._key_type = _key_type(identity.key)
        return identity.info

    def __repr__(self) -> str:
        if self.info is None or self._source is None:
            return "<ClientIdentity user-provided ssl.SSLContext>"
        return (
            f"<ClientIdentity subject={self.info.safe_subject!r} "
            f"not_after={self.info.not_after.isoformat()} files={_describe(self._source)}>"
        )


def read_certificate_info(
    path: str | os.PathLike[str], *, key_password: str | bytes | None = None
) -> CertificateInfo:
    """Describe the certificate in a PEM, DER or PKCS#12 file, expired or not.

    Args:
        path: The certificate file. In a file holding a chain, the certificate that
            matches the file's private key is described, else the first one.
        key_password: The password of a PKCS#12 file, if it has one.

    Returns:
        The certificate's description.

    Raises:
        CertificateError: The file is missing, unreadable or holds no certificate.
    """
    file = Path(os.fspath(path))
    data = _read(file, "certificate file")
    password = _password_bytes(key_password)
    if _is_pkcs12(file, data):
        key, certs = _load_pkcs12(data, file, password)
        return CertificateInfo.from_certificate(_pick_leaf(certs, key, file, file))
    certs = _load_certificates(data, file)
    found = _PEM_KEY.search(data)
    if found is not None:
        try:
            key = _load_key(found.group(0), file, password)
            return CertificateInfo.from_certificate(_pick_leaf(certs, key, file, file))
        except CertificateError:
            pass
    return CertificateInfo.from_certificate(certs[0])


def _normalize(cert: CertSpec) -> _Source:
    """Turn a ``cert=`` value into one path or a pair of paths."""
    if isinstance(cert, tuple | list):
        if len(cert) != 2:
            raise ValidationError(
                "cert as a tuple must be (cert_path, key_path), exactly two paths", field="cert"
            )
        return (_as_path(cert[0]), _as_path(cert[1]))
    return _as_path(cert)


def _as_path(value: object) -> Path:
    """A path from a str or os.PathLike, or a ValidationError."""
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return Path(path).expanduser()
    raise ValidationError(
        "cert must be a path, a (cert_path, key_path) pair or an ssl.SSLContext, "
        f"not {type(value).__name__}",
        field="cert",
    )


def _password_bytes(password: str | bytes | None) -> bytes | None:
    """The password as bytes (UTF-8 for str), None when not given or empty."""
    if password is None or password in ("", b""):
        return None
    return password.encode("utf-8") if isinstance(password, str) else bytes(password)


def _describe(source: _Source) -> str:
    """The file names of a source, for messages and repr."""
    if isinstance(source, tuple):
        return f"({str(source[0])!r}, {str(source[1])!r})"
    return repr(str(source))


def _read(path: Path, label: str) -> bytes:
    """Read a whole file, with a CertificateError that says what to do on failure."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        hint = "check the path (and the WATTZON_CERT/WATTZON_KEY/WATTZON_CA_BUNDLE settings)"
        raise CertificateError(f"{label} {path} does not exist; {hint}") from None
    except IsADirectoryError:
        raise CertificateError(f"{label} {path} is a directory; pass the file in it") from None
    except PermissionError:
        raise CertificateError(
            f"cannot read {label} {path}: permission denied; make it readable by the user "
            "running this program (for a key: owned by that user, chmod 600)"
        ) from None
    except OSError as exc:
        raise CertificateError(f"cannot read {label} {path}: {exc.strerror}") from None


def _load_identity(source: _Source, password: bytes | None) -> _Identity:
    """Read, match and check the certificate and key of a source."""
    if isinstance(source, tuple):
        cert_path, key_path = source
        certs = _load_certificates(_read(cert_path, "certificate file"), cert_path)
        key_data = _read(key_path, "private key file")
        key = _load_key(_pem_key_block(key_data), key_path, password)
    else:
        cert_path = key_path = source
        data = _read(source, "certificate file")
        if _is_pkcs12(source, data):
            key, certs = _load_pkcs12(data, source, password)
        else:
            certs = _load_certificates(data, source)
            key_block = _PEM_KEY.search(data)
            if key_block is None:
                raise CertificateError(
                    f"{source} holds a certificate but no private key; pass "
                    "cert=(cert_path, key_path), or a combined PEM file with both, or a .p12"
                )
            key = _load_key(key_block.group(0), source, password)
    leaf = _pick_leaf(certs, key, cert_path, key_path)
    info = CertificateInfo.from_certificate(leaf)
    _check_validity(info, cert_path)
    chain = tuple(cert for cert in certs if cert is not leaf)
    return _Identity(leaf=leaf, chain=chain, key=key, source=source, info=info)


def _is_pkcs12(path: Path, data: bytes) -> bool:
    """Whether a file is PKCS#12: never when PEM, else by its suffix or its DER header."""
    if b"-----BEGIN" in data:
        return False
    return path.suffix.lower() in _PKCS12_SUFFIXES or _looks_like_pkcs12(data)


def _looks_like_pkcs12(data: bytes) -> bool:
    """Whether DER data starts like a PKCS#12 PFX: SEQUENCE { INTEGER 3, ... }."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    length_octets = data[1] & 0x7F if data[1] & 0x80 else 0
    start = 2 + length_octets
    return data[start : start + 3] == b"\x02\x01\x03"


def _load_certificates(data: bytes, path: Path) -> list[x509.Certificate]:
    """The certificates in PEM data (all of them) or DER data (one)."""
    try:
        if b"-----BEGIN" in data:
            if b"CERTIFICATE-----" in data:
                return x509.load_pem_x509_certificates(data)
        else:
            return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    if _looks_like_pkcs12(data):
        hint = "it looks like PKCS#12: pass its path alone as cert= (renamed to .p12 if need be)"
    else:
        hint = "pass the client certificate WattzOn issued (client.crt)"
    raise CertificateError(
        f"{path} does not contain a certificate (expected PEM, DER or PKCS#12); {hint}"
    )


def _pem_key_block(data: bytes) -> bytes:
    """The first PEM private key block of a file, or the data itself (DER or garbage)."""
    found = _PEM_KEY.search(data)
    return found.group(0) if found is not None else data


def _load_key(data: bytes, path: Path, password: bytes | None) -> _PrivateKey:
    """Parse a PEM or DER private key, telling a missing or wrong password from bad data."""
    pem = b"-----BEGIN" in data
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    not_a_key = CertificateError(
        f"{path} does not contain a private key (expected PEM or DER); pass the key "
        "you generated together with the CSR for this certificate (client.key)"
    )
    try:
        key = load(data, password=None)
    except TypeError:
        if password is None:
            raise CertificateError(
                f"the private key in {path} is encrypted and no password was given; "
                "pass key_password= (or set WATTZON_KEY_PASSWORD)"
            ) from None
        try:
            key = load(data, password=password)
        except ValueError:
            raise CertificateError(
                f"wrong password for the private key in {path}; check key_password "
                "(or WATTZON_KEY_PASSWORD)"
            ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise not_a_key from None
    if not isinstance(key, _PrivateKey):
        raise not_a_key
    return key


def _load_pkcs12(
    data: bytes, path: Path, password: bytes | None
) -> tuple[_PrivateKey, list[x509.Certificate]]:
    """The key and certificates of a PKCS#12 file, trying the password, then none."""
    candidates: list[bytes | None] = [password] if password is not None else []
    candidates += [None, b""]
    for candidate in candidates:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, candidate)
        except ValueError:
            continue
        except UnsupportedAlgorithm:
            raise CertificateError(
                f"{path} uses an encryption this OpenSSL cannot read (often legacy RC2); "
                "re-export it with `openssl pkcs12 -export` using AES, or use PEM files"
            ) from None
        return _pkcs12_contents(key, cert, list(extra), path)
    if not _looks_like_pkcs12(data):
        raise CertificateError(
            f"{path} is not a PKCS#12 file; pass a .p12/.pfx, or PEM files as "
            "cert=(cert_path, key_path)"
        )
    if password is None:
        raise CertificateError(
            f"the PKCS#12 file {path} is encrypted and no password was given; "
            "pass key_password= (or set WATTZON_KEY_PASSWORD)"
        )
    raise CertificateError(
        f"wrong password for the PKCS#12 file {path} (or the file is damaged); check "
        "key_password (or WATTZON_KEY_PASSWORD)"
    )


def _pkcs12_contents(
    key: object, cert: x509.Certificate | None, extra: list[x509.Certificate], path: Path
) -> tuple[_PrivateKey, list[x509.Certificate]]:
    """Check that a parsed PKCS#12 holds a usable key and a certificate."""
    if key is None or not isinstance(key, _PrivateKey):
        raise CertificateError(
            f"the PKCS#12 file {path} holds no usable private key; export it again "
            "including the key (openssl pkcs12 -export -inkey client.key ...)"
        )
    certs = ([cert] if cert is not None else []) + extra
    if not certs:
        raise CertificateError(
            f"the PKCS#12 file {path} holds no certificate; export it again including "
            "the certificate WattzOn issued"
        )
    return key, certs


def _public_der(key: object) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key, or b"" when it has none."""
    public_bytes = getattr(key, "public_bytes", None)
    if public_bytes is None:
        return b""
    der: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _pick_leaf(
    certs: list[x509.Certificate], key: _PrivateKey, cert_path: Path, key_path: Path
) -> x509.Certificate:
    """The certificate whose public key is the key's, or a mismatch error."""
    wanted = _public_der(key.public_key())
    for cert in certs:
        try:
            if _public_der(cert.public_key()) == wanted:
                return cert
        except (ValueError, UnsupportedAlgorithm):
            continue
    where = f"{key_path}" if key_path == cert_path else f"{key_path} and {cert_path}"
    raise CertificateError(
        f"the private key does not belong to the certificate ({where}); pass the key you "
        "generated together with the CSR for this certificate"
    )


def _check_validity(info: CertificateInfo, path: Path) -> None:
    """Refuse an expired or not yet valid certificate; warn when expiry is near."""
    now = datetime.now(UTC)
    if now > info.not_after:
        raise CertificateError(
            f"the certificate in {path} ({info.safe_subject}) expired on "
            f"{info.not_after:%Y-%m-%d %H:%M} UTC; {_RENEW_HINT}"
        )
    if now < info.not_before:
        raise CertificateError(
            f"the certificate in {path} ({info.safe_subject}) is not valid until "
            f"{info.not_before:%Y-%m-%d %H:%M} UTC; check this machine's clock, or keep "
            "using the current certificate until then"
        )
    if info.days_left < WARN_DAYS:
        _logger.warning(
            "client certificate %s expires in %d days (%s UTC); %s",
            info.safe_subject,
            info.days_left,
            f"{info.not_after:%Y-%m-%d %H:%M}",
            _RENEW_HINT,
        )


def _key_type(key: _PrivateKey) -> str:
    """The key algorithm, as OpenSSL files certificates by it: RSA, EC, Ed25519, ..."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC"
    return type(key).__name__.removesuffix("PrivateKey").lstrip("_")


def _check_same_key_type(current: str | None, key: _PrivateKey, files: str) -> None:
    """Refuse a reload that changes the key algorithm.

    OpenSSL keeps one certificate per key algorithm in a context and cannot forget one,
    so after such a change TLS 1.3 handshakes could go on presenting the old certificate.
    """
    new = _key_type(key)
    if current is not None and new != current:
        raise CertificateError(
            f"the new certificate {files} has an {new} key but the one in use has an "
            f"{current} key; a certificate can only be reloaded in place by one with the "
            f"same key type, so make the CSR with an {current} key or create a new client"
        )


def _new_context(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """A client context that always verifies the server: system trust or ``ca_bundle``."""
    if ca_bundle is None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        path = Path(os.fspath(ca_bundle)).expanduser()
        data = _read(path, "CA bundle")
        try:
            if b"-----BEGIN" in data:
                context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(path))
            else:
                der = x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
                context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=der)
        except (ssl.SSLError, ValueError):
            raise CertificateError(
                f"CA bundle {path} holds no CA certificate OpenSSL can use; pass the PEM "
                "file of the CA that signed the server's certificate"
            ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _install(identity: _Identity, contexts: list[ssl.SSLContext]) -> None:
    """Load an identity into each context, in order, through a private temporary file."""
    one_time = secrets.token_hex(32)
    encryption = serialization.BestAvailableEncryption(one_time.encode("ascii"))
    key_pem = identity.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    pem = b"".join(
        cert.public_bytes(serialization.Encoding.PEM) for cert in (identity.leaf, *identity.chain)
    )
    directory = tempfile.mkdtemp(prefix="wattzon-tls-")
    try:
        path = os.path.join(directory, "identity.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem + key_pem)
        for context in contexts:
            context.load_cert_chain(path, password=one_time)
    except ssl.SSLError as exc:
        raise CertificateError(
            f"OpenSSL refused the certificate from {identity.describe()} "
            f"({exc.reason or exc.strerror}); ask WattzOn for a certificate with a current "
            "key type and size (RSA 2048+ or EC P-256)"
        ) from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
