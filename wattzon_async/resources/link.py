"""Link bill retrieval: ``GET /link/4.0/data/bills/<profile_id>``."""

from __future__ import annotations

from .._serde import structure_bills
from .._validation import check_text
from ..models import LinkBill
from ._base import Resource

__all__ = ["Link"]


class Link(Resource):
    """``client.link``: bills extracted by Link for a profile."""

    async def bills(self, profile_id: str | int, *, timeout: float | None = None) -> list[LinkBill]:
        """Read the bills Link extracted for a profile (after a Link notification).

        Args:
            profile_id: The profile id from a LinkNotification.
            timeout: Overall deadline of this call in seconds, retries included.
        """
        pid = check_text(profile_id, field="profile_id")
        data = await self._sender.request(
            "GET", self._link("data", "bills", pid), deadline=self._sender.deadline(timeout)
        )
        return structure_bills(data)
