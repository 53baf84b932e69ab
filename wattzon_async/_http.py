"""The one send path: build a request, retry it safely, map errors, decode the body.

Every call of every resource goes through ``Sender``. It owns the retries (``RetryPolicy``
through the package's one retry loop, ``_retry.retry``), the client-wide rate limiter, the
per-call deadline, and the translation of httpx and ssl exceptions into the SDK's own
(the mapping itself is in ``_transport``).
What may be retried depends on what a repeat could do on the server:

* ``Retry.IDEMPOTENT`` (every GET): connection errors, timeouts, 429 and 5xx.
* ``Retry.ONCE`` (a create's POST): one attempt; its caller owns the retries, so that
  ``RetryPolicy.attempts`` counts POSTs once (``jobs._create`` retries a POST that surely
  made no job, with look-up-based recovery for the ambiguous rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from . import _telemetry
from ._bodies import ERROR_BODY_LIMIT, read_bounded, read_head
from ._config import ClientConfig, retry_backoff
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    decode_response,
    retry_after_of,
)
from ._httpx import httpx
from ._ratelimit import AdaptiveRateLimiter
from ._retry import retry as retry_call
from ._transport import translate_transport_error

if TYPE_CHECKING:
    from ._tls._context import ClientIdentity

__all__ = ["Retry", "Sender", "translate_transport_error"]  # the last from _transport

logger = logging.getLogger("wattzon_async")
T = TypeVar("T")


class Retry(enum.Enum):
    """Which failures a request may be retried after (see the module docstring)."""

    IDEMPOTENT = "idempotent"
    ONCE = "once"


async def _within(attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
    """Run one attempt, cut off at the monotonic ``deadline``.

    httpx's own timeouts bound each operation (connect, one write, one read), not the
    whole exchange; this bounds connect, upload and response together. It does what
    ``asyncio.timeout_at`` does (cancel the task when the deadline passes, and tell that
    cancellation from any other), with one timer handle and no context-manager
    coroutines: a third of the cost, paid by every attempt.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    expired: list[bool] = []
    timer = loop.call_at(loop.time() + (deadline - time.monotonic()), _expire, task, expired)
    try:
        with _telemetry.attempt():
            return await attempt()
    except asyncio.CancelledError as exc:
        if not expired:
            raise
        expired.clear()  # the deadline's cancellation is taken back here
        if task.uncancel() > cancelling:
            raise  # cancelled from outside as well
        raise APITimeoutError(
            "the call's deadline passed before the API had answered", request_sent=None
        ) from TimeoutError(exc)
    finally:
        timer.cancel()
        if expired:  # the deadline passed, but the attempt ended another way
            task.uncancel()


def _expire(task: asyncio.Task[Any], expired: list[bool]) -> None:
    """The deadline of an attempt has passed: cancel it (``_within`` says why)."""
    if not task.done():
        expired.append(True)
        task.cancel()


def _retry_idempotent(exc: BaseException) -> bool:
    return isinstance(exc, RateLimitError | APIConnectionError | InternalServerError)


def _retry_never(exc: BaseException) -> bool:
    return False


_RETRYABLE = {Retry.IDEMPOTENT: _retry_idempotent, Retry.ONCE: _retry_never}


def _log_retry(what: str, attempt: int, error: BaseException | None, delay: float) -> None:
    logger.info("retrying %s in %.2fs (attempt %d failed: %s)", what, delay, attempt, error)
    _telemetry.retried(attempt, error, delay)


class Sender:
    """Sends requests for one WattzOnClient over its single httpx.AsyncClient.

    Args:
        http: The client's one httpx.AsyncClient.
        config: The client's configuration.
        limiter: The client-wide rate limiter.
        identity: The client certificate the connections are made with; before each
            request it checks (at most every ``check_interval`` seconds) whether its
            files changed on disk, and switches to a renewal written over them.
        check_interval: None: the files are not watched.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        config: ClientConfig,
        limiter: AdaptiveRateLimiter,
        *,
        identity: ClientIdentity,
        check_interval: float | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self.limiter = limiter
        self.identity = identity
        self._check_interval = check_interval
        t = config.timeouts
        self._configured = httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool)
        self._longest = max(t.connect, t.read, t.write, t.pool)
        self._backoff = retry_backoff(config.retry)
        self._absurd_logged = False
        _telemetry.watch_limiter(limiter, httpx.URL(config.snap_url).host, http)

    def deadline(self, timeout: float | None) -> float:
        """The monotonic deadline of a call with this per-call timeout (None: the policy's)."""
        return time.monotonic() + (self.config.retry.timeout if timeout is None else timeout)

    def timeout_for(self, deadline: float, *, read: float | None = None) -> httpx.Timeout:
        """The httpx timeout of one attempt: the configured ones, cut to the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise APITimeoutError("the call's deadline passed", request_sent=False)
        t = self.config.timeouts
        if read is None and remaining >= self._longest:
            return self._configured
        return httpx.Timeout(
            connect=min(t.connect, remaining),
            read=min(read or t.read, remaining),
            write=min(t.write, remaining),
            pool=min(t.pool, remaining),
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Callable[[], tuple[int, AsyncIterator[bytes]]] | None = None,
        retry: Retry = Retry.IDEMPOTENT,
        deadline: float,
        read_timeout: float | None = None,
    ) -> Any:
        """Send a request with retries and return its decoded JSON body.

        ``body`` makes a fresh (length, chunks) pair for each attempt, so an upload is
        streamed and can be sent again without being held in memory twice.
        """

        async def attempt() -> Any:
            response, where, setting = await self._open(
                method, url, params, body, deadline, read_timeout
            )
            try:
                data = await read_bounded(response, self.config.max_response_size)
            except (httpx.HTTPError, ssl.SSLError) as exc:
                raise translate_transport_error(exc, url=where, setting=setting) from exc
            finally:
                await response.aclose()
            status = response.status_code
            if 200 <= status < 300 and data:  # the usual case, without the error path
                try:
                    return json.loads(data)
                except (ValueError, RecursionError):
                    pass  # decode_response says what is wrong
            return decode_response(
                status, response.headers, data, reason=response.reason_phrase, response=response
            )

        return await self.retrying(attempt, retry=retry, deadline=deadline, what=f"{method} {url}")

    @contextlib.asynccontextmanager
    async def streaming(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Callable[[], tuple[int, AsyncIterator[bytes]]] | None = None,
        deadline: float,
        read_timeout: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """One attempt: send, raise for an error status, and yield the streamed response.

        Transport errors while the body is read inside the block are translated too.
        """
        response, where, setting = await self._open(
            method, url, params, body, deadline, read_timeout
        )
        try:
            yield response
        except (httpx.HTTPError, ssl.SSLError) as exc:
            raise translate_transport_error(exc, url=where, setting=setting) from exc
        finally:
            await response.aclose()

    async def _open(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Callable[[], tuple[int, AsyncIterator[bytes]]] | None,
        deadline: float,
        read_timeout: float | None,
    ) -> tuple[httpx.Response, httpx.URL, str | None]:
        """Send one attempt; the response, its URL and its base URL setting.

        An error status raises its exception (its body read, the response closed);
        ``request`` and ``streaming`` read the body of a success and close it.
        """
        if self.http.is_closed:
            raise APIConnectionError("the client is closed", request_sent=False)
        if not self.limiter.is_free:
            paced = time.monotonic()
            await self.limiter.acquire(deadline)
            _telemetry.rate_limit_wait(time.monotonic() - paced)
        else:
            self.limiter.record_send()
        if self._check_interval is not None:
            self.identity.reload_if_changed(interval=self._check_interval)
        request = self._build(method, url, params, body, deadline, read_timeout)
        setting = self._setting(url)
        started = time.monotonic()
        try:
            response = await self.http.send(request, stream=True)
        except (httpx.HTTPError, ssl.SSLError) as exc:
            error = translate_transport_error(exc, url=request.url, setting=setting)
            logger.debug("%s %s failed: %s", method, request.url.path, error)
            raise error from exc
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d in %.3fs",
                method,
                request.url.path,
                response.status_code,
                time.monotonic() - started,
            )
        status = response.status_code
        _telemetry.responded(response)
        if status != 429:
            self.limiter.observe(status)
        if 200 <= status < 300:
            return response, request.url, setting
        try:
            await self._raise_for(response, request.url, setting)
        except (httpx.HTTPError, ssl.SSLError) as exc:
            await response.aclose()
            if status == 429:  # the body could not be read: slow down all the same
                self.limiter.observe(status)
            raise translate_transport_error(exc, url=request.url, setting=setting) from exc
        except BaseException:
            await response.aclose()
            raise
        return response, request.url, setting

    async def _raise_for(
        self, response: httpx.Response, url: httpx.URL, setting: str | None
    ) -> None:
        """Read a response with an error status (its head only) and raise its exception."""
        data = await read_head(response, ERROR_BODY_LIMIT)
        try:
            decode_response(
                response.status_code,
                response.headers,
                data,
                reason=response.reason_phrase,
                response=response,
                where=str(url.copy_with(query=None, fragment=None)),
                setting=setting,
            )
        except RateLimitError as exc:  # its Retry-After, read once, pauses everyone
            self.limiter.observe(response.status_code, self.retry_after(exc))
            self._log_absurd_retry_after(exc)
            raise

    def retry_after(self, error: BaseException) -> float | None:
        """The seconds of a 429's Retry-After this client waits: at most ``max_retry_after``."""
        asked = retry_after_of(error)
        return None if asked is None else min(asked, self.config.retry.max_retry_after)

    def _log_absurd_retry_after(self, error: RateLimitError) -> None:
        """Warn, once per client, of a Retry-After longer than the client honours."""
        asked, cap = error.retry_after_asked, self.config.retry.max_retry_after
        if asked is None or asked <= cap or self._absurd_logged:
            return
        self._absurd_logged = True
        logger.warning(
            "a 429 asked to wait %.3g s (Retry-After); the client waits at most %g s "
            "(RetryPolicy.max_retry_after); later such answers are not logged",
            asked,
            cap,
        )

    def _setting(self, url: str) -> str | None:
        """Which base URL setting ``url`` is under: ``snap_url``, ``link_url`` or None."""
        if url.startswith(self.config.snap_url):
            return "snap_url"
        if url.startswith(self.config.link_url):
            return "link_url"
        return None

    def _build(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Callable[[], tuple[int, AsyncIterator[bytes]]] | None,
        deadline: float,
        read_timeout: float | None,
    ) -> httpx.Request:
        headers = {"Accept": "application/json"}
        content: AsyncIterator[bytes] | None = None
        if body is not None:
            length, content = body()
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(length)
        return self.http.build_request(
            method,
            url,
            params=params,
            content=content,
            headers=headers,
            timeout=self.timeout_for(deadline, read=read_timeout),
        )

    async def retrying(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry: Retry,
        deadline: float,
        what: str,
    ) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the policy gives up.

        Each try is cut off at ``deadline``; so is each wait (see ``_retry.retry``).
        """
        with _telemetry.call(what):
            return await retry_call(
                functools.partial(_within, attempt, deadline),
                on=_RETRYABLE[retry],
                backoff=self._backoff,
                attempts=self.config.retry.attempts,
                deadline=deadline,
                retry_after=self.retry_after,
                before_sleep=functools.partial(_log_retry, what),
            )
