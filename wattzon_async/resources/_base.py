"""What every resource shares: the client's send path and its two base URLs.

This module exists so that a resource needs nothing but a ``Sender``: it builds its URLs
here and sends through ``_http``, never through httpx.
"""

from __future__ import annotations

from urllib.parse import quote

from .._errors import ValidationError
from .._http import Sender

__all__ = ["Resource"]


class Resource:
    """Base of the resource namespaces (``client.jobs``, ``client.zips``, ...)."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def _snap(self, *segments: object, slash: bool = True) -> str:
        return _join(self._sender.config.snap_url, segments, slash)

    def _link(self, *segments: object, slash: bool = False) -> str:
        return _join(self._sender.config.link_url, segments, slash)


def _join(base: str, segments: tuple[object, ...], slash: bool) -> str:
    path = "/".join(_segment(s) for s in segments)
    return base + path + ("/" if slash and path else "")


def _segment(value: object) -> str:
    """One path segment: percent-encoded whole, and never empty or a dot segment.

    The resources check their ids first (``_validation``); this is the last line, so
    that no input can reach another path than the one meant.
    """
    if type(value) is int:
        return str(value)
    text = quote(str(value), safe="")
    if not text.strip("."):
        raise ValidationError(f"{value!r} cannot be a URL path segment")
    return text
