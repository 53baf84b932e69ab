"""The job lifecycle, one owner: the resource, a create, a wait and a batch.

``client.jobs`` (:class:`Jobs`) is the public face; behind it, in this package only: a
create with its idempotency key, upload and recovery (``_create``, ``_idempotency``,
``_keyclaims``, ``_upload``), a wait (``_waiting``, ``_lanes``) and ``submit_many`` with
its resume journal (``_batch``, ``_resume``, ``_journal``, ``_journalfile``).
"""

from ._resource import Jobs

__all__ = ["Jobs"]
