"""NotificationConsumer: the public face of the SQS consumer, in hub mode and worker mode.

This module exists to hold the contract users rely on (constructor, ``async with``,
``wait_for``, ``run``, ``stop``, health) and its argument checks. The work is done by one
``Engine`` per run (``_engine``); aiobotocore is imported only when a consumer starts.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import attrs

from .._errors import ValidationError, WaitTimeoutError
from .._validation import check_callable, check_integer, check_number, check_text
from ..models import LinkNotification, SnapNotification
from ..store import Store, open_store, parse_store_url
from ._engine import Engine
from ._sqs import QueueSettings, SQSCallError, SQSQueue
from ._types import (
    ConsumerError,
    ConsumerNotRunningError,
    ConsumerStats,
    Handler,
    InvalidMessageCallback,
    Options,
)

if TYPE_CHECKING:
    from aiobotocore.session import AioSession  # type: ignore[import-untyped]

__all__ = ["NotificationConsumer"]

_REGION_IN_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com", re.IGNORECASE)


class NotificationConsumer:
    """Reads WattzOn notifications from an SQS queue, as a hub for waiters or as a worker.

    **Hub mode** (``async with consumer:``) runs a background receive loop and hands each
    Snap notification to every ``wait_for(job_id)`` caller waiting for that job, and each
    Link notification to every ``wait_for_link(profile_id)`` caller waiting for that
    profile; a message handed to at least one waiter is deleted. A notification nobody
    waits for yet is *held*: kept for ``retention`` seconds (and at most ``max_retained``
    at once) without being deleted, its visibility extended while held, so that a
    ``wait_for`` (or ``wait_for_link``) that comes a little late (a fast job) still gets
    it, at which point it is deleted. A message
    still unclaimed when its retention ends is released (visibility set to 0) for any
    consumer of the queue to take, this one included; the queue's redrive policy
    eventually dead-letters messages that nobody ever wants. Nothing is deleted unseen.

    **Worker mode** (``await consumer.run(handler)``) calls ``handler(notification)`` for
    every notification, Snap and Link, up to ``concurrency`` at once with no batch
    barrier (more messages are received as slots free up). A message is deleted only
    after its handler returns (deletions are batched); its visibility is extended while
    the handler runs; a handler that raises leaves the message for redelivery after the
    queue's visibility timeout, or after ``retry_backoff`` seconds doubled per earlier
    receive when that is set. Waiters are served in worker mode too.

    Both modes: a message that is not a valid notification goes to
    ``on_invalid(raw_body, error)`` and is left alone, so it returns after its visibility
    timeout and the queue's redrive policy dead-letters it in the end. A duplicate (the
    same MessageId, or the same job and final state, settled within ``dedup_window``
    seconds, or a second copy of a held message) is deleted and resolves nothing again.
    Receive errors are logged and retried with exponential backoff and jitter; no
    botocore exception ever reaches the caller. ``stop()`` stops receiving, lets running
    handlers finish until its deadline, releases every message not settled, flushes
    deletions and closes the client; it does not wait out a long poll (see ``stop``).
    Logs go to ``wattzon_async.notifications`` and carry message ids and job ids, never
    message bodies.

    Args:
        queue_url: The SQS queue URL.
        region_name: The AWS region; read from an ``sqs.<region>.amazonaws.com`` URL when
            not given.
        endpoint_url: Another SQS endpoint (a local emulator, a VPC endpoint).
        aws_access_key_id: Credentials; when not given, the usual AWS chain applies.
        aws_secret_access_key: Credentials.
        aws_session_token: Credentials.
        session: An ``aiobotocore.session.AioSession`` to create the client from.
        wait_time_seconds: Long-poll time of each ReceiveMessage, 0 to 20.
        max_messages: Messages per ReceiveMessage, 1 to 10.
        visibility_timeout: Visibility timeout asked for on receive, 1 to 43200 seconds;
            None uses the queue's own (read once at start).
        concurrency: Worker mode: handlers running at once, at least 1.
        retention: Hub mode: seconds a notification stays claimable after it arrived.
        max_retained: The most notifications kept (and messages held) at once.
        dedup_window: Seconds a settled message counts as seen for duplicate detection.
        on_invalid: Called (and awaited if it returns an awaitable) with the raw body and
            the NotificationError of each invalid message; its exceptions are logged.
        retry_backoff: Worker mode: seconds before a failed message returns, doubled per
            earlier receive (up to 15 minutes); None leaves the queue's timeout.
        delete_interval: The longest a deletion waits to be batched with others.
        receive_backoff_max: The cap on the backoff between failing ReceiveMessage calls.
        stop_timeout: The default deadline of ``stop()`` and of leaving ``async with``.
        store: The URL of a store shared with the other consumers of the queue
            (``sqlite:///path`` on one machine, ``postgresql://...`` for a fleet): hub
            mode then writes every notification to it before deleting the message, and
            ``wait_for`` gets the notifications other replicas received (so a
            worker-mode program needs a queue of its own). None (the default):
            notifications stay in the process that receives them.

    Raises:
        ValidationError: An argument is out of range (a store URL is shown without its
            password); ``field`` names it.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        session: AioSession | None = None,
        wait_time_seconds: int = 20,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        concurrency: int = 10,
        retention: float = 300.0,
        max_retained: int = 1000,
        dedup_window: float = 900.0,
        on_invalid: InvalidMessageCallback | None = None,
        retry_backoff: float | None = None,
        delete_interval: float = 0.5,
        receive_backoff_max: float = 30.0,
        stop_timeout: float = 30.0,
        store: str | None = None,
    ) -> None:
        queue_url = check_text(queue_url, field="queue_url")
        self._store_url = None if store is None else parse_store_url(store)
        self._store_spec = store
        if region_name is None and (match := _REGION_IN_URL.match(queue_url)):
            region_name = match.group(1)
        self._settings = QueueSettings(
            queue_url=queue_url,
            region_name=region_name,
            endpoint_url=endpoint_url,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
        )
        self._session = session
        self._options = Options(
            wait_time_seconds=wait_time_seconds,
            max_messages=max_messages,
            visibility_timeout=visibility_timeout,
            concurrency=concurrency,
            retention=retention,
            max_retained=max_retained,
            dedup_window=dedup_window,
            retry_backoff=retry_backoff,
            delete_interval=delete_interval,
            receive_backoff_max=receive_backoff_max,
            stop_timeout=stop_timeout,
            on_invalid=on_invalid,
        )
        self._stats = ConsumerStats()
        self._engine: Engine | None = None
        self._stop_task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> NotificationConsumer:
        """Build a consumer from the environment; keyword arguments take precedence.

        Reads WATTZON_SQS_QUEUE_URL, the endpoint of a local SQS such as the emulator's
        from WATTZON_SQS_ENDPOINT_URL or AWS_ENDPOINT_URL_SQS, AWS_REGION or
        AWS_DEFAULT_REGION, the long poll from WATTZON_SQS_WAIT_TIME_SECONDS, the
        shared store from WATTZON_STORE_URL, and
        AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when both
        are set; otherwise credentials come from botocore's usual chain (profiles,
        roles). ``wattzon emulator`` prints every one of these variables.

        Raises:
            ValidationError: No queue URL is configured, or a variable is not valid;
                ``field`` names it.
        """
        env = os.environ if environ is None else environ
        settings: dict[str, Any] = {}
        endpoint = env.get("WATTZON_SQS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_SQS")
        if endpoint:
            settings["endpoint_url"] = endpoint
        if env.get("WATTZON_STORE_URL"):
            settings["store"] = env["WATTZON_STORE_URL"]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            settings["region_name"] = region
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            settings["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
            settings["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
            settings["aws_session_token"] = env.get("AWS_SESSION_TOKEN") or None
        wait = env.get("WATTZON_SQS_WAIT_TIME_SECONDS")
        if wait:
            if not (wait.strip().isdigit() and int(wait) <= 20):
                raise ValidationError(
                    f"WATTZON_SQS_WAIT_TIME_SECONDS: must be a whole number of seconds from "
                    f"0 to 20, not {wait!r}",
                    field="WATTZON_SQS_WAIT_TIME_SECONDS",
                )
            settings["wait_time_seconds"] = int(wait)
        settings.update(overrides)
        queue_url = settings.pop("queue_url", None) or env.get("WATTZON_SQS_QUEUE_URL")
        if not queue_url:
            raise ValidationError(
                "queue_url: no queue given; set WATTZON_SQS_QUEUE_URL or pass queue_url=",
                field="queue_url",
            )
        return cls(queue_url, **settings)

    @property
    def queue_url(self) -> str:
        """The queue this consumer reads."""
        return self._settings.queue_url

    @property
    def running(self) -> bool:
        """True between a successful ``start()`` and the beginning of ``stop()``."""
        return self._engine is not None and self._engine.running

    @property
    def stats(self) -> ConsumerStats:
        """A snapshot of the counters (see ConsumerStats)."""
        return attrs.evolve(self._stats)

    @property
    def last_receive_at(self) -> float | None:
        """``time.monotonic()`` of the last successful receive (None before the first).

        For health checks: ``time.monotonic() - consumer.last_receive_at`` above about
        ``wait_time_seconds`` plus a margin means receiving is failing or stuck.
        """
        return self._stats.last_receive_at

    async def start(self) -> None:
        """Create the SQS client and start the background receive loop (hub mode).

        Raises:
            ConsumerError: Already started, or the queue cannot be reached (a wrong URL,
                wrong credentials, no access, no network).
            StoreError: The store cannot be reached (named without its password).
        """
        if self._engine is not None:
            raise ConsumerError("the notification consumer is already started")
        store = self._open_store()
        queue = SQSQueue(self._settings, self._session)
        try:
            await queue.open()
            timeout = self._options.visibility_timeout
            if timeout is None:
                timeout = await queue.visibility_timeout()
            else:
                await queue.visibility_timeout()  # fail early on a wrong queue or credentials
        except BaseException as exc:
            await queue.close()
            if store is not None:
                await store.aclose()
            if isinstance(exc, SQSCallError):
                raise ConsumerError(f"cannot use queue {self.queue_url}: {exc}") from None
            raise
        engine = Engine(queue, self._options, self._stats, timeout, store)
        if engine.relay is not None:
            try:
                await engine.relay.start()
            except BaseException:
                await engine.relay.aclose()
                await queue.close()
                raise
        engine.start()
        self._engine = engine

    def _open_store(self) -> Store | None:
        return None if self._store_spec is None else open_store(self._store_spec)

    @property
    def store(self) -> str | None:
        """The URL of the shared store (its password removed), or None."""
        return None if self._store_url is None else self._store_url.safe

    async def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully; safe to call more than once and from several tasks.

        Stops receiving, fails pending ``wait_for`` calls with ConsumerNotRunningError,
        lets running handlers finish until the deadline and cancels the rest, releases
        every message not settled (visibility 0), flushes pending deletions and closes
        the client. Cancelling the caller does not interrupt the shutdown.

        Without handlers still running, it returns within about a second whatever
        ``wait_time_seconds`` is. The long poll in flight is let finish only when it
        ends on its own within a second (messages it brings are released); otherwise it
        is cancelled. SQS may still hand a message to a cancelled poll until that poll's
        wait time ends, and such a message stays invisible until its visibility timeout,
        then returns to the queue: it is delayed, never deleted unhandled.
        ``stats.polls_cancelled`` counts these polls; ``wait_time_seconds=1`` avoids
        them at the cost of more requests.

        Args:
            timeout: Seconds for handlers to finish; default ``stop_timeout``.
        """
        engine = self._engine
        if engine is None:
            return
        if self._stop_task is None:
            deadline = self._options.stop_timeout if timeout is None else timeout
            self._stop_task = asyncio.create_task(self._shutdown(engine, deadline))
        await asyncio.shield(self._stop_task)

    async def _shutdown(self, engine: Engine, timeout: float) -> None:
        try:
            await engine.shutdown(max(0.0, timeout))
        finally:
            self._engine = None
            self._stop_task = None

    async def wait_for(self, job_id: int) -> SnapNotification:
        """Wait for the notification of Snap job ``job_id``.

        Returns at once when one arrived within ``retention`` seconds before the call,
        else when it arrives. Several callers may wait for one job; all get it.
        Cancelling the call removes the waiter and leaves nothing behind.

        Args:
            job_id: The Snap job id.

        Returns:
            The job's notification.

        Raises:
            ConsumerNotRunningError: The consumer is not running, or stopped while
                waiting. It is a ``WattzOnError`` and also a ``RuntimeError``.
            ValidationError: ``job_id`` is not a positive integer.
        """
        check_integer(job_id, field="job_id", low=1)
        return cast(SnapNotification, await self._engine_or_raise().wait_for(job_id))

    async def wait_for_link(
        self, profile_id: str | int, *, timeout: float | None = None
    ) -> LinkNotification:
        """Wait for the Link notification of profile ``profile_id`` (hub mode).

        Link has no documented job-status endpoint to poll, so its notification is the
        only signal that an extraction finished. Returns at once when one for the
        profile arrived within ``retention`` seconds before the call (the most recent,
        if several extractions finished), else when the next arrives; the message is
        then deleted. Several callers may wait for one profile; all get it. Cancelling
        the call (or its timeout) removes the waiter and leaves nothing behind.

        Args:
            profile_id: The Link profile id (``1001`` and ``"1001"`` are the same).
            timeout: Seconds to wait; None waits until the consumer stops.

        Returns:
            The profile's Link notification: read its bills with
            ``client.link.bills(notification.profile_id)``.

        Raises:
            WaitTimeoutError: ``timeout`` passed first (``job`` is None).
            ConsumerNotRunningError: The consumer is not running, or stopped while
                waiting.
            ValidationError: ``profile_id`` is empty or not a string or an integer, or
                ``timeout`` is not a positive number of seconds.
        """
        key = check_text(profile_id, field="profile_id")
        if timeout is not None:
            timeout = check_number(timeout, field="timeout", above=True, unit="seconds")
        engine = self._engine_or_raise()
        try:
            async with asyncio.timeout(timeout):
                found = await engine.wait_for(("link", key))
        except TimeoutError:
            raise WaitTimeoutError(
                f"no Link notification for profile {key} within {timeout} s",
                job=None,
                timeout=timeout,
            ) from None
        return cast(LinkNotification, found)

    def _engine_or_raise(self) -> Engine:
        engine = self._engine
        if engine is None:
            raise ConsumerNotRunningError("the notification consumer is not running")
        return engine

    async def run(self, handler: Handler) -> None:
        """Worker mode: call ``handler`` for every notification until stopped.

        Starts the consumer when it is not started yet; on a consumer already running in
        hub mode, the notifications it holds go to ``handler`` too. Returns after
        ``stop()`` (from another task, or a signal handler) has drained; when the call is
        cancelled it stops the consumer the same graceful way, then lets the cancellation
        through.

        Args:
            handler: An async callable taking a SnapNotification or LinkNotification.

        Raises:
            ConsumerError: The queue cannot be reached, or ``run`` is already running.
            ValidationError: ``handler`` is not callable.
        """
        check_callable(handler, field="handler", what="an async callable")
        if self._engine is None:
            await self.start()
        engine = self._engine
        if engine is None or not engine.running:
            raise ConsumerNotRunningError("the notification consumer is stopping")
        engine.set_handler(handler)
        try:
            await engine.wait_stopped()
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def __aenter__(self) -> NotificationConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<NotificationConsumer {self.queue_url!r} {state}>"
