"""Link bills: ``GET /link/4.0/data/bills/<profile_id>`` and each bill's ``pdf`` file.

A bill's ``pdf`` field is a URI the SDK fetches with the client's certificate, so where
it points matters. A relative URI is resolved against ``link_url``. An absolute one must
be on the origin (scheme, host and port) of ``link_url`` or ``snap_url``: a URI on any
other host is refused with a ValidationError naming that host, before anything is sent,
so the client certificate is never presented to a host the client was not configured
for. Redirects are never followed (a 3xx answer is an APIStatusError naming where it
pointed), so a server cannot send the request elsewhere either.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .._errors import ValidationError
from .._httpx import httpx
from .._validation import check_profile_id
from ..models import LinkBill
from ._base import Resource
from ._download import safe_file_name, save_to_path

__all__ = ["Link"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _netloc(url: httpx.URL) -> str:
    return url.host if url.port is None else f"{url.host}:{url.port}"


class Link(Resource):
    """``client.link``: bills extracted by Link for a profile, and their PDFs."""

    async def bills(self, profile_id: str | int, *, timeout: float | None = None) -> list[LinkBill]:
        """Read the bills Link extracted for a profile (after a Link notification).

        Args:
            profile_id: The profile id from a LinkNotification: letters, digits, ``-``,
                ``_``, ``.`` and ``~``, at most 128 (one URL path segment).
            timeout: Overall deadline of this call in seconds, retries included.

        Raises:
            ValidationError: A profile id that could not stay in its path segment
                (``..``, a ``/``, ``?`` or ``#``, too long); nothing is sent.
        """
        pid = check_profile_id(profile_id)
        data = await self._sender.request(
            "GET", self._link("data", "bills", pid), deadline=self._sender.deadline(timeout)
        )
        from .._serde._converter import structure_bills

        return structure_bills(data)

    async def download_pdf(
        self,
        bill: LinkBill | str,
        dest: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        overwrite: bool = True,
    ) -> Path:
        """Stream a bill's PDF (its ``pdf`` URI) to a file, atomically.

        The body is written to a temporary file in the destination folder and renamed
        into place only when complete: an interrupted download leaves no file, whole or
        partial (it is retried like any GET, and raises an SDK error when it gives up).
        File names and ``overwrite`` work as in ``documents.download``.

        Only the hosts of ``link_url`` and ``snap_url`` are asked for a PDF: a ``pdf``
        URI on another host is refused before anything is sent, and redirects are never
        followed, so the client certificate is only presented where it was configured.

        Args:
            bill: A bill from ``bills()``, or its ``pdf`` URI. A relative URI is resolved
                against ``link_url``.
            dest: A directory (the file is named as the server names it, sanitised, else
                after the URI's last ``.pdf`` segment, else ``bill-<id>.pdf``) or a file
                path.
            timeout: Overall deadline of this call in seconds, retries included.
            overwrite: Replace a file already at the path written. When false, an
                existing file is left alone and ``FileExistsError`` raised.

        Returns:
            The path written.

        Raises:
            ValidationError: The bill has no ``pdf`` URI, or it is not an http(s) URL on
                the origin of ``link_url`` or ``snap_url`` (``field="pdf"``; the message
                names the host); ``dest`` is in no existing directory. Nothing is sent.
            FileExistsError: ``overwrite`` is false and the file exists (``.filename``).
            NotFoundError: The server has no such PDF.
            APIStatusError: A redirect (3xx), which is not followed.
            APIConnectionError: The body broke off (a dropped connection, or fewer bytes
                than its ``Content-Length``) on every attempt.
        """
        url = self._pdf_url(bill)
        return await save_to_path(
            self._sender,
            url,
            Path(dest),
            fallback=_fallback_name(bill, url),
            deadline=self._sender.deadline(timeout),
            overwrite=overwrite,
        )

    def _pdf_url(self, bill: LinkBill | str) -> str:
        """The absolute URL of ``bill``'s PDF, checked (see the module docstring)."""
        if not isinstance(bill, LinkBill | str):
            raise ValidationError(
                f"bill: expected a LinkBill from link.bills() or its pdf URI, not "
                f"{type(bill).__name__}",
                field="bill",
            )
        uri = bill.pdf if isinstance(bill, LinkBill) else bill
        if not uri or not uri.strip():
            raise ValidationError("pdf: the bill has no PDF (its pdf field is empty)", field="pdf")
        link_url, snap_url = (
            httpx.URL(self._sender.config.link_url),
            httpx.URL(self._sender.config.snap_url),
        )
        try:
            url = link_url.join(uri.strip())
        except httpx.InvalidURL as exc:
            raise ValidationError(f"pdf: not a URL: {uri!r} ({exc})", field="pdf") from None
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise ValidationError(f"pdf: not an http(s) URL: {uri!r}", field="pdf")
        if _origin(url) not in {_origin(link_url), _origin(snap_url)}:
            raise ValidationError(
                f"pdf: refusing to fetch the PDF from {url.scheme}://{_netloc(url)}: bill "
                f"PDFs are fetched only from link_url's host ({_netloc(link_url)}) or "
                f"snap_url's ({_netloc(snap_url)}), so that the client certificate never "
                "goes to another host",
                field="pdf",
            )
        return str(url)


def _fallback_name(bill: LinkBill | str, url: str) -> str:
    """``<last path segment>`` when it names a PDF, else ``bill-<id>.pdf``."""
    bill_id = bill.extra.get("id") if isinstance(bill, LinkBill) else None
    default = f"bill-{bill_id}.pdf" if bill_id is not None else "bill.pdf"
    segment = PurePosixPath(httpx.URL(url).path).name
    if segment.lower().endswith(".pdf"):
        return safe_file_name(segment, default)
    return safe_file_name(default, "bill.pdf")
