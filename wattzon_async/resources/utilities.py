"""Link utility provider look-ups: find ids by zip code or name, and read one provider.

One module per API resource: this one checks the arguments (``_validation``), sends
through ``_http`` and decodes with ``_serde``.
"""

from __future__ import annotations

from .._errors import ValidationError
from .._validation import check_provider, check_text, check_zipcode
from ..models import Utility
from ._base import Resource

__all__ = ["Utilities"]


class Utilities(Resource):
    """``client.utilities``: the WattzOn provider ids that Snap jobs need."""

    async def find(
        self,
        *,
        zipcode: str | int | None = None,
        name: str | None = None,
        type: str | None = None,
        timeout: float | None = None,
    ) -> list[int]:
        """Find provider ids serving a zip code or matching a name.

        Args:
            zipcode: A 5-digit US zip code.
            name: A name to match.
            type: ``"electric"``, ``"gas"`` or ``"water"`` to narrow the search.
            timeout: Overall deadline of this call in seconds, retries included.

        Returns:
            WattzOn provider ids (not LSE ids).

        Raises:
            ValidationError: Neither ``zipcode`` nor ``name`` was given.
        """
        if zipcode is None and name is None:
            raise ValidationError("utilities.find: give zipcode or name (or both)", field="zipcode")
        params: dict[str, str] = {}
        if zipcode is not None:
            params["zipcode"] = check_zipcode(zipcode)
        if name is not None:
            params["name"] = check_text(name, field="name")
        if type is not None:
            params["type"] = check_text(type, field="type").lower()
        data = await self._sender.request(
            "GET",
            self._link("utilities", slash=True),
            params=params,
            deadline=self._sender.deadline(timeout),
        )
        from .._serde._converter import structure_provider_ids

        return structure_provider_ids(data)

    async def get(self, provider_id: int, *, timeout: float | None = None) -> Utility:
        """Read a utility provider: name, types, LSE id and home page.

        Raises:
            ValidationError: ``provider_id`` is not a positive integer.
            NotFoundError: No such provider.
        """
        pid = check_provider(provider_id, field="provider_id")
        data = await self._sender.request(
            "GET", self._link("utilities", pid), deadline=self._sender.deadline(timeout)
        )
        from .._serde._converter import structure_utility

        return structure_utility(pid, data)
