"""Link zip code look-ups: ``GET /link/4.0/zips/<zipcode>``.

One module per API resource: this one checks the zip code (``_validation``), sends
through ``_http`` and decodes with ``_serde``.
"""

from __future__ import annotations

from .._validation import check_zipcode
from ..models import ZipCode
from ._base import Resource

__all__ = ["Zips"]


class Zips(Resource):
    """``client.zips``: where a US zip code is."""

    async def get(self, zipcode: str | int, *, timeout: float | None = None) -> ZipCode:
        """Look up a zip code.

        Args:
            zipcode: Five digits, such as ``"94110"``; an int is zero-padded.
            timeout: Overall deadline of this call in seconds, retries included.

        Raises:
            ValidationError: The zip code is not five digits.
            NotFoundError: The API does not know the zip code.
        """
        code = check_zipcode(zipcode)
        data = await self._sender.request(
            "GET", self._link("zips", code), deadline=self._sender.deadline(timeout)
        )
        from .._serde._converter import structure

        return structure(data, ZipCode, what="zip code")
