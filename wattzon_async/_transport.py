"""How a failure of httpx or ssl becomes the SDK's exception, with a hint where useful.

This module exists so that the send path (``_http``) stays about sending: it holds the
one mapping from transport failures (a refused or untrusted certificate, a timeout, a
refused connection, a body that could not be decoded) to ``APIError`` subclasses and
``CertificateError``. Status codes are mapped by ``_errors.decode_response``.
"""

from __future__ import annotations

import ssl

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CertificateError,
    UnexpectedResponseError,
)
from ._httpx import httpx

__all__ = ["translate_transport_error"]

#: ssl alert reasons meaning the server refused our client certificate.
_REFUSED_CERT_REASONS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNKNOWN",
    "ACCESS_DENIED",
    "HANDSHAKE_FAILURE",
)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _is_loopback(url: httpx.URL) -> bool:
    return url.host in ("localhost", "::1") or url.host.startswith("127.")


def translate_transport_error(
    exc: httpx.HTTPError | ssl.SSLError,
    *,
    url: httpx.URL | None = None,
    setting: str | None = None,
) -> APIError | CertificateError:
    """Map an httpx transport exception to the SDK's exception, with a hint where useful.

    Args:
        exc: What httpx (or ssl) raised.
        url: The request's URL; the message names it, without its query string.
        setting: The base URL setting it came from (``snap_url`` or ``link_url``), named
            in the hint of a failed connection.
    """
    tls = _ssl_error(exc)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return CertificateError(
            f"the server's certificate is not trusted ({tls.verify_message})",
            hint="pass {ca_bundle} with the CA that signed the server's certificate",
        )
    if tls is not None and any(r in str(tls).upper() for r in _REFUSED_CERT_REASONS):
        return CertificateError(
            f"the server refused the client certificate ({tls.reason or tls}); check that "
            "the certificate was signed by WattzOn for this client and has not expired"
        )
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    where = f" {url.copy_with(query=None, fragment=None)}" if url is not None else ""
    if isinstance(exc, httpx.DecodingError):
        return UnexpectedResponseError(f"the response body could not be decoded ({text})")
    if isinstance(exc, httpx.PoolTimeout):
        return APITimeoutError(f"no free connection in time ({text})", request_sent=False)
    hint = None
    if setting is not None:
        hint = f"check that the server is running and that {{{setting}}} points at it"
        if url is not None and _is_loopback(url):
            hint += " (for the local emulator: is `wattzon emulator` running?)"
    if isinstance(exc, httpx.ConnectTimeout):
        message = f"could not connect to{where} in time ({text})"
        return APITimeoutError(message, request_sent=False, hint=hint)
    if isinstance(exc, httpx.TimeoutException):
        message = f"no answer from{where or ' the API'} in time ({text})"
        return APITimeoutError(message, request_sent=None)
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError(
            f"could not connect to{where} ({text})", request_sent=False, hint=hint
        )
    return APIConnectionError(f"the connection to{where} failed ({text})", request_sent=None)
