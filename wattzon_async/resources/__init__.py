"""One module per API resource; each calls the send path in ``_http`` and nothing else."""

from .documents import Documents
from .jobs import Jobs
from .link import Link
from .utilities import Utilities
from .zips import Zips

__all__ = ["Documents", "Jobs", "Link", "Utilities", "Zips"]
