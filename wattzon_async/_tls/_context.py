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

Reading the files (every format, the checks, the temporary file ``load_cert_chain``
needs) is in :mod:`._certfiles`, which needs ``cryptography``; it is imported only when a
certificate is loaded or inspected, so ``import wattzon_async`` stays cheap. Server
verification is always on: nothing here can turn off certificate or host name checks.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from pathlib import Path
from typing import TypeAlias

from .._errors import CertificateError, ValidationError
from ._certinfo import WARN_DAYS, CertificateInfo, CertSource, describe_source, password_bytes

__all__ = ["WARN_DAYS", "CertSpec", "CertificateInfo", "ClientIdentity", "read_certificate_info"]

#: What ``cert=`` accepts: a combined PEM or PKCS#12 path, a (cert, key) pair of paths, or a
#: ready ``ssl.SSLContext`` that is used as it is.
CertSpec: TypeAlias = (
    str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]] | ssl.SSLContext
)

_logger = logging.getLogger("wattzon_async")


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
        source: CertSource | None = None,
        key_password: bytes | None = None,
        key_type: str | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.info = info
        self._source = source
        self._key_password = key_password
        self._key_type = key_type
        self._lock = threading.Lock()
        self._files_state = _files_state(source)
        self._refused_state: _FilesState | None = None
        self._checked_at = time.monotonic()

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
        from . import _certfiles

        password = password_bytes(key_password)
        identity = _certfiles.load_identity(_normalize(cert), password)
        context = _certfiles.new_context(ca_bundle)
        _certfiles.install(identity, [context])
        return cls(
            context,
            info=identity.info,
            source=identity.source,
            key_password=password,
            key_type=_certfiles.key_type(identity.key),
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
        from . import _certfiles

        with self._lock:
            source = self._source if cert is None else _normalize(cert)
            password = self._key_password if key_password is None else password_bytes(key_password)
            state = _files_state(source)
            identity = _certfiles.load_identity(source, password)
            _certfiles.check_same_key_type(self._key_type, identity.key, identity.describe())
            _certfiles.install(
                identity, [ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), self.ssl_context]
            )
            self.info, self._source, self._key_password = identity.info, source, password
            self._key_type = _certfiles.key_type(identity.key)
            self._files_state = state
        return identity.info

    def reload_if_changed(self, *, interval: float) -> CertificateInfo | None:
        """Reload when the certificate files changed on disk; checked at most every ``interval``.

        A renewal written over the old files is picked up by the next request. Files that
        cannot be used (a renewal half written, a key that does not match yet) leave the
        current certificate in force, with one warning per state of the files.

        Returns:
            The new certificate when one was loaded, else None.
        """
        now = time.monotonic()
        if self._source is None or now - self._checked_at < interval:
            return None
        self._checked_at = now
        state = _files_state(self._source)
        if state is None or state in (self._files_state, self._refused_state):
            return None
        try:
            info = self.reload()
        except CertificateError as exc:
            self._refused_state = state
            _logger.warning(
                "the client certificate files changed but cannot be used; keeping the "
                "current certificate: %s",
                exc,
            )
            return None
        _logger.info("client certificate files changed: now %s", info.safe_subject)
        return info

    def __repr__(self) -> str:
        if self.info is None or self._source is None:
            return "<ClientIdentity user-provided ssl.SSLContext>"
        return (
            f"<ClientIdentity subject={self.info.safe_subject!r} "
            f"not_after={self.info.not_after.isoformat()} files={describe_source(self._source)}>"
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
    from ._certfiles import read_info

    return read_info(Path(os.fspath(path)), key_password)


_FilesState = tuple[tuple[int, int, int], ...]


def _files_state(source: CertSource | None) -> _FilesState | None:
    """What identifies the files' contents cheaply (inode, size, mtime); None if unreadable."""
    if source is None:
        return None
    paths = source if isinstance(source, tuple) else (source,)
    try:
        stats = [os.stat(path) for path in paths]
    except OSError:
        return None
    return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in stats)


def _normalize(cert: CertSpec) -> CertSource:
    """Turn a ``cert=`` value into one path or a pair of paths."""
    if isinstance(cert, tuple | list):
        if len(cert) != 2:
            raise ValidationError(
                "cert as a tuple must be (cert_path, key_path), exactly two paths", field="cert"
            )
        return (_as_path(cert[0]), _as_path(cert[1]))
    return _as_path(cert)


def _as_path(value: object) -> Path:
    """A path from a str or os.PathLike, or a ValidationError that never repeats the value.

    A certificate or key pasted where its path belongs (``WATTZON_KEY="$(cat client.key)"``)
    is refused without being echoed: it may be a private key.
    """
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if isinstance(path, str) and ("-----BEGIN" in path or "\n" in path):
            raise ValidationError(
                "cert: a value holds certificate or key data (PEM) instead of a file path; "
                "save it to a file and pass that file's path",
                field="cert",
            )
        if isinstance(path, str) and path:
            return Path(path).expanduser()
    raise ValidationError(
        "cert must be a path, a (cert_path, key_path) pair or an ssl.SSLContext, "
        f"not {type(value).__name__}",
        field="cert",
    )
