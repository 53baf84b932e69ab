"""The ``Emulator`` handle's admin calls: faults, lifecycle settings, Link, counters, reset.

They talk to the running server's ``/_emulator/`` API over the same mutual TLS as any
client, as the default tenant. :class:`AdminCalls` is the part of
:class:`~wattzon_emulator.Emulator` that needs only that connection (the handle, in
``_handle``, starts the processes and knows the URLs and certificates).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from ._control import admin_request, processing_json, start_link_at
from ._link import LinkJob

__all__ = ["AdminCalls"]


class AdminCalls:
    """The admin API of a running emulator, for :class:`~wattzon_emulator.Emulator`."""

    def _admin_target(self) -> tuple[ssl.SSLContext, str]:
        """The TLS context of the admin calls and the emulator's base URL."""
        raise NotImplementedError

    async def _admin(self, method: str, path: str, body: Any = None) -> Any:
        context, base_url = self._admin_target()
        return await admin_request(context, f"{base_url}/_emulator/{path}", method, body)

    async def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        drop_after_create_rate: float = 0.0,
        rate_limit_rps: float | None = None,
        latency: float = 0.0,
        duplicate_notification_rate: float = 0.0,
        malformed_notification_rate: float = 0.0,
        rate_limit_burst: float | None = None,
        seed: int | None = None,
        drop_download_rate: float = 0.0,
        hold: bool = False,
    ) -> dict[str, Any]:
        """Put a set of faults in force (arguments not given mean "no such fault").

        Args:
            error_rate: Fraction of API requests answered with 500.
            drop_after_create_rate: Fraction of job creations where the job is created but
                the connection drops before the response is complete.
            rate_limit_rps: Per-tenant requests per second above which 429 (with
                ``Retry-After``) is returned; None for no limit.
            latency: Seconds added before each API response.
            duplicate_notification_rate: Fraction of notifications delivered twice.
            malformed_notification_rate: Fraction of notifications followed by a garbage
                message.
            rate_limit_burst: Token bucket size (default ``max(1, rate_limit_rps)``).
            seed: Seed the fault decisions for a reproducible run.
            drop_download_rate: Fraction of file downloads (raw documents, Link bill
                PDFs) where the connection drops halfway through the body.
            hold: API requests wait, unanswered, until faults without ``hold`` are put
                in force (or ``reset()``): requests kept in flight for as long as a test
                needs, with ``stats()["held"]`` counting them.

        Returns:
            The faults now in force.
        """
        settings = {
            "error_rate": error_rate,
            "drop_after_create_rate": drop_after_create_rate,
            "rate_limit_rps": rate_limit_rps,
            "rate_limit_burst": rate_limit_burst,
            "latency": latency,
            "duplicate_notification_rate": duplicate_notification_rate,
            "malformed_notification_rate": malformed_notification_rate,
            "seed": seed,
            "drop_download_rate": drop_download_rate,
            "hold": hold,
        }
        result: dict[str, Any] = await self._admin("PUT", "faults", settings)
        return result

    async def configure(self, **settings: Any) -> dict[str, Any]:
        """Change how jobs created from now on progress.

        Args:
            **settings: ``processing_time`` (seconds or ``(min, max)``),
                ``failing_providers``, ``unsupported_providers`` (lists of ids) and
                ``failing_prefix`` (file-name prefix of documents that fail).

        Returns:
            The lifecycle settings now in force.
        """
        if "processing_time" in settings:
            settings["processing_time"] = processing_json(settings["processing_time"])
        for name in ("failing_providers", "unsupported_providers"):
            if name in settings:
                settings[name] = sorted(settings[name])
        result: dict[str, Any] = await self._admin("PUT", "config", settings)
        return result

    async def start_link(
        self,
        profile_id: str | int | None = None,
        *,
        tags: Iterable[str | int] = (),
        provider: int | None = None,
        bills: int | None = None,
    ) -> LinkJob:
        """Start a Link extraction, as a user linking a utility account in WattzOn's UI.

        It runs for the processing time like a Snap job; the profile's bills appear as it
        goes (``client.link.bills(profile_id)``), and when it completes the seed's Link
        message (``"app": "link"``, string ids, a Python-list ``tags`` string, a naive
        UTC ``created_at``) goes to the queue, with the faults in force.

        Args:
            profile_id: A sample profile (1001, 1002, 1003, 2001), a profile started
                before, or a new id; None makes a new profile (3001 up).
            tags: The tags the notification carries (the API's tag rules apply).
            provider: A new profile's utility provider id (default 4).
            bills: How many bills a new profile has, 0 to 24 (default 3).

        Returns:
            The extraction: its Link ``job_id``, ``profile_id`` and the rest.

        Raises:
            EmulatorError: A bad argument (the message names it), or ``provider`` or
                ``bills`` given for a profile that has them.
        """
        context, base_url = self._admin_target()
        return await start_link_at(context, base_url, profile_id, tags, provider, bills)

    async def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset.

        Returns:
            ``requests`` (per ``"METHOD /path"`` and status), ``responses`` (per status;
            ``"dropped"`` for connections cut mid-response), ``jobs_created``,
            ``jobs_created_by_tenant``, ``link_extractions_started``,
            ``notifications_sent`` (one per final state, Snap and Link),
            ``duplicate_notifications_sent``, ``malformed_notifications_sent``,
            ``sqs_messages_sent``, ``notification_errors``, ``connections_dropped`` and
            ``held`` (requests waiting for a ``hold`` fault to be lifted).
        """
        result: dict[str, Any] = await self._admin("GET", "stats")
        return result

    async def reset(self, *, purge_queue: bool = False) -> None:
        """Forget all jobs, faults and counters (pending notifications are dropped).

        Args:
            purge_queue: Also delete every message waiting in the SQS queue.
        """
        await self._admin("POST", "reset", {"purge_queue": purge_queue})
