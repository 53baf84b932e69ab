"""Reading client certificate and key material in every format customers use.

This is the half of the TLS identity that needs ``cryptography``: it reads a PEM cert and
key pair, one combined PEM file, PKCS#12 ``.p12``/``.pfx`` or DER, tells the formats apart
by content, checks that the key belongs to the certificate, that the password is right and
that the certificate is within its validity period (warning when expiry is near), and
loads the result into ``ssl.SSLContext`` objects. It lives apart from :mod:`._context` so that
``import wattzon_async`` does not import ``cryptography``: :mod:`._context` imports this module
only when a certificate is actually loaded or inspected.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from attrs import frozen
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .._errors import CertificateError, ValidationError
from ._certinfo import WARN_DAYS, CertificateInfo, CertSource, describe_source, password_bytes

__all__ = [
    "Identity",
    "check_same_key_type",
    "install",
    "key_type",
    "load_identity",
    "new_context",
    "read_info",
]

# DSA is left out on purpose: TLS 1.3 cannot sign with it, cryptography deprecates it (naming
# its class warns), and WattzOn issues certificates for RSA or EC keys.
_PrivateKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

_logger = logging.getLogger("wattzon_async")
_RENEW_HINT = "renew: make a CSR with `wattzon cert csr` and send it to WattzOn"
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
_PKCS12_SUFFIXES = frozenset({".p12", ".pfx"})


@frozen
class Identity:
    """A validated certificate, its chain and its private key."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: _PrivateKey
    source: CertSource
    info: CertificateInfo

    def describe(self) -> str:
        """The file names, for messages."""
        return describe_source(self.source)


def read_info(file: Path, key_password: str | bytes | None) -> CertificateInfo:
    """The work of ``_tls.read_certificate_info`` (see there), on a ``Path``."""
    data = _read(file, "certificate file")
    password = password_bytes(key_password)
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


def load_identity(source: CertSource, password: bytes | None) -> Identity:
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
                    f"{source} holds a certificate but no private key",
                    hint="pass {cert_pair}, or a combined PEM file with both, or a .p12",
                )
            key = _load_key(key_block.group(0), source, password)
    leaf = _pick_leaf(certs, key, cert_path, key_path)
    info = CertificateInfo.from_certificate(leaf)
    _check_validity(info, cert_path)
    chain = tuple(cert for cert in certs if cert is not leaf)
    return Identity(leaf=leaf, chain=chain, key=key, source=source, info=info)


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
        hint = "it looks like PKCS#12: pass its path as {cert_alone} (renamed to .p12 if need be)"
    else:
        hint = "pass the client certificate WattzOn issued (client.crt)"
    raise CertificateError(
        f"{path} does not contain a certificate (expected PEM, DER or PKCS#12)", hint=hint
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
                f"the private key in {path} is encrypted and no password was given",
                hint="pass {key_password}",
            ) from None
        try:
            key = load(data, password=password)
        except ValueError:
            raise CertificateError(
                f"wrong password for the private key in {path}", hint="check {key_password}"
            ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise not_a_key from None
    _refuse_dsa(key, path)
    if not isinstance(key, _PrivateKey):
        raise not_a_key
    return key


def _refuse_dsa(key: object, path: Path) -> None:
    """Say plainly that a DSA key is not supported (by its class name: naming it warns)."""
    if type(key).__name__.lstrip("_").startswith("DSA"):
        raise CertificateError(
            f"the private key in {path} is a DSA key, which TLS 1.3 cannot use; make an RSA "
            "or EC key and a new CSR with `wattzon cert csr`"
        )


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
            f"{path} is not a PKCS#12 file", hint="pass a .p12/.pfx, or PEM files as {cert_pair}"
        )
    if password is None:
        raise CertificateError(
            f"the PKCS#12 file {path} is encrypted and no password was given",
            hint="pass {key_password}",
        )
    raise CertificateError(
        f"wrong password for the PKCS#12 file {path} (or the file is damaged)",
        hint="check {key_password}",
    )


def _pkcs12_contents(
    key: object, cert: x509.Certificate | None, extra: list[x509.Certificate], path: Path
) -> tuple[_PrivateKey, list[x509.Certificate]]:
    """Check that a parsed PKCS#12 holds a usable key and a certificate."""
    _refuse_dsa(key, path)
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


def key_type(key: _PrivateKey) -> str:
    """The key algorithm, as OpenSSL files certificates by it: RSA, EC, Ed25519, ..."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC"
    return type(key).__name__.removesuffix("PrivateKey").lstrip("_")


def check_same_key_type(current: str | None, key: _PrivateKey, files: str) -> None:
    """Refuse a reload that changes the key algorithm.

    OpenSSL keeps one certificate per key algorithm in a context and cannot forget one,
    so after such a change TLS 1.3 handshakes could go on presenting the old certificate.
    """
    new = key_type(key)
    if current is not None and new != current:
        raise CertificateError(
            f"the new certificate {files} has an {new} key but the one in use has an "
            f"{current} key; a certificate can only be reloaded in place by one with the "
            f"same key type, so make the CSR with an {current} key or create a new client"
        )


def new_context(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext:
    """A client context that always verifies the server: system trust or ``ca_bundle``."""
    if ca_bundle is None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        if not isinstance(ca_bundle, str | os.PathLike) or not str(ca_bundle).strip():
            raise ValidationError(
                f"ca_bundle: must be the path of a CA file, not {ca_bundle!r} "
                "(server verification cannot be turned off)",
                field="ca_bundle",
            )
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


def install(identity: Identity, contexts: list[ssl.SSLContext]) -> None:
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
