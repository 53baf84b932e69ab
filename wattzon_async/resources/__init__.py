"""One module per API resource; each calls the send path in ``_http`` and nothing else.

``Jobs`` lives in ``wattzon_async.jobs`` (the job lifecycle has one owner); it is still
importable from here, on first use, as it was before.
"""

from typing import TYPE_CHECKING, Any

from .documents import Documents
from .link import Link
from .utilities import Utilities
from .zips import Zips

if TYPE_CHECKING:
    from ..jobs import Jobs

__all__ = ["Documents", "Jobs", "Link", "Utilities", "Zips"]


def __getattr__(name: str) -> Any:
    """``Jobs``, from the package that owns the job lifecycle."""
    if name == "Jobs":
        from ..jobs import Jobs

        return Jobs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
