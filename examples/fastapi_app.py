"""A FastAPI service that accepts utility bills and serves their extracted fields.

Run it with uvicorn (settings from the environment)::

    uvicorn examples.fastapi_app:app --port 8000
    curl -F file=@bill.pdf -F provider=4 -F email=user@example.com localhost:8000/bills
    curl 'localhost:8000/bills/513?wait=10'

What it shows:

* **One client per process.** The lifespan creates one ``WattzOnClient`` (one pool of
  mutual-TLS connections) and, when ``WATTZON_SQS_QUEUE_URL`` is set, one
  ``NotificationConsumer`` in hub mode; both are closed at shutdown. Endpoints receive
  them through dependencies (``WattzOn`` and ``Notifications``), which tests can replace
  with ``app.dependency_overrides``.
* **POST /bills** uploads a bill (multipart: ``file``, ``provider``, ``email``, optional
  ``tags``) and answers 201 with the job. An ``Idempotency-Key`` header makes the call
  safe to retry: it is the SDK's ``idempotency_key``, so the same key answers with the
  job already made for it (201 again, the same answer as the first time) instead of
  creating a second one; concurrent requests with one key (a client's retry storm) share
  one create, since the app has one client; and the key reused for another bill (a
  different file, provider or email) answers 422, as the IETF Idempotency-Key draft
  asks, never the other bill's job.
* **GET /bills/{id}?wait=S** answers 200 with the fields once the job is final, waiting
  up to ``S`` seconds (default 5, at most 30) for it; while the job is still pending it
  answers 202 with a ``Retry-After`` header. The wait races the job's SQS notification
  against polling when a consumer runs, and polls alone otherwise.
* **SDK errors become HTTP errors** in one place, ``http_error``: bad input is 422 (413
  for a document over the limit), a job that does not exist or belongs to another
  certificate is 404, an overloaded or unreachable API is 503/502/504, and problems with
  this service's own certificate are a 500 whose details go to the log, not the client.
  A request FastAPI itself refuses (``provider=abc``) answers 422 in the same
  ``{"detail": "..."}`` shape, naming the field (``validation_detail``), and a file that
  is no PDF or image is refused before it is sent, saying what it looks like.

* **Several workers, several machines.** With ``WATTZON_STORE_URL`` set, every worker
  process shares one store: ``uvicorn examples.fastapi_app:app --workers 4`` with
  ``WATTZON_STORE_URL=sqlite:////var/lib/bills/wattzon.db`` on one machine, or the same
  command on each machine behind a load balancer with
  ``WATTZON_STORE_URL=postgresql://USER:PASSWORD@db-host:5432/bills``. One
  ``Idempotency-Key`` then makes one job whichever worker or machine each retry lands
  on, and a GET waiting in one worker gets the notification another worker received
  from the shared queue. Without a store, each worker keeps those promises only for the
  requests it serves itself.

Settings: ``WATTZON_CERT``, ``WATTZON_KEY``, ``WATTZON_KEY_PASSWORD``,
``WATTZON_CA_BUNDLE``, ``WATTZON_SNAP_URL``, ``WATTZON_LINK_URL`` (see
``WattzOnClient.from_env``); optionally ``WATTZON_SQS_QUEUE_URL``,
``WATTZON_SQS_ENDPOINT_URL``, ``WATTZON_SQS_WAIT_TIME_SECONDS`` (default 20; shutdown
does not wait for the long poll in flight) and the usual AWS credentials and region;
``WATTZON_STORE_URL`` for several workers or machines.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from wattzon_async import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    DocumentTooLargeError,
    IdempotencyConflictError,
    Job,
    JobError,
    NotFoundError,
    NotificationConsumer,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
    WaitPolicy,
    WaitTimeoutError,
    WattzOnClient,
    WattzOnError,
)

__all__ = [
    "MAX_WAIT",
    "Bill",
    "HTTPError",
    "Notifications",
    "WattzOn",
    "app",
    "create_app",
    "get_client",
    "get_notifications",
    "http_error",
    "lifespan",
]

logger = logging.getLogger("fastapi_app")

#: The longest a GET may wait for a job, in seconds.
MAX_WAIT = 30.0
#: How a GET polls while it waits: briefly and often, since the wait itself is short.
POLL = WaitPolicy(initial_delay=0.5, max_delay=2.0, multiplier=1.5, jitter=0.1)


# -- lifespan and dependencies ---------------------------------------------------------


def _consumer_from_env() -> NotificationConsumer | None:
    queue_url = os.environ.get("WATTZON_SQS_QUEUE_URL")
    if not queue_url:
        return None
    return NotificationConsumer(
        queue_url,
        endpoint_url=os.environ.get("WATTZON_SQS_ENDPOINT_URL") or None,
        wait_time_seconds=int(os.environ.get("WATTZON_SQS_WAIT_TIME_SECONDS") or 20),
        store=os.environ.get("WATTZON_STORE_URL") or None,
    )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the client (and the consumer, when configured) for the life of the app.

    Settings come from the environment when the app starts, not when it is imported;
    a missing or bad certificate stops the start-up with an error saying what to fix.
    """
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(WattzOnClient.from_env())
        consumer = _consumer_from_env()
        if consumer is not None:
            await stack.enter_async_context(consumer)
        app.state.wattzon_client = client
        app.state.wattzon_notifications = consumer
        info = client.certificate
        if info is not None:  # the expiry only: a subject may hold an email address
            logger.info("client certificate expires %s", info.not_after.isoformat())
        yield


def get_client(request: Request) -> WattzOnClient:
    """The app's WattzOnClient (a dependency)."""
    client: WattzOnClient = request.app.state.wattzon_client
    return client


def get_notifications(request: Request) -> NotificationConsumer | None:
    """The app's NotificationConsumer, or None when SQS is not configured (a dependency)."""
    consumer: NotificationConsumer | None = request.app.state.wattzon_notifications
    return consumer


WattzOn = Annotated[WattzOnClient, Depends(get_client)]
Notifications = Annotated[NotificationConsumer | None, Depends(get_notifications)]


# -- the API -------------------------------------------------------------------------------


class Bill(BaseModel):
    """A submitted bill: its job, and its fields once the job is COMPLETE."""

    id: int
    status: str
    final: bool
    provider: int
    created_at: datetime
    document_name: str
    tags: list[str]
    fields: dict[str, str] | None = None
    detail: str | None = None

    @classmethod
    def of(cls, job: Job) -> Bill:
        """The view of a job (the customer email is left out on purpose)."""
        return cls(
            id=job.id,
            status=str(job.status),
            final=job.is_final,
            provider=job.provider,
            created_at=job.created_at,
            document_name=job.document.name,
            tags=list(job.tags),
            fields=job.values() if job.results is not None else None,
            detail=_DETAILS.get(str(job.status)),
        )


_DETAILS = {
    "FAILED": "the bill could not be read",
    "UNSUPPORTED": "bills of this provider are not supported",
}


class HTTPError(BaseModel):
    """The body of every error response."""

    detail: str


async def create_bill(
    client: WattzOn,
    file: Annotated[UploadFile, File(description="the bill: PDF or a photo")],
    provider: Annotated[int, Form(description="utility provider id")],
    email: Annotated[str, Form(description="the customer's email address")],
    tags: Annotated[list[str] | None, Form(description="tags for the job")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(description="retry-safety key: a retry with it returns the job made for it"),
    ] = None,
) -> Bill:
    """Upload a bill and create its extraction job.

    With an ``Idempotency-Key`` the SDK looks the key up first and returns the job made
    with it; concurrent requests with the key share one create in this process. Scope
    the key by your own user id first if different users could choose the same one, and
    put a lock per key in front of this if several replicas could see the same new key
    at the same moment (see the README, Guarantees).
    """
    job = await client.jobs.create(
        email=email,
        provider=provider,
        document=file.file,
        name=file.filename,
        tags=tags,
        idempotency_key=idempotency_key or None,
    )
    return Bill.of(job)


async def read_bill(
    job_id: int,
    client: WattzOn,
    notifications: Notifications,
    response: Response,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a final state")
    ] = 5.0,
) -> Bill:
    """A bill's job: 200 with its fields once final, 202 while it is still pending."""
    job = await client.jobs.get(job_id, results="transformed")
    if not job.is_final and wait > 0:
        try:
            job = await client.await_job(
                job_id,
                timeout=wait,
                results="transformed",
                notifications=notifications,
                policy=POLL,
            )
        except WaitTimeoutError as exc:
            job = exc.job or job
        except JobError as exc:  # FAILED or UNSUPPORTED: final, so 200 with that status
            job = exc.job
    if not job.is_final:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Retry-After"] = "1"
    return Bill.of(job)


async def health(notifications: Notifications) -> dict[str, str]:
    """Liveness, and whether the SQS consumer is receiving."""
    if notifications is None:
        return {"status": "ok", "notifications": "off"}
    return {"status": "ok", "notifications": "running" if notifications.running else "stopped"}


# -- errors -----------------------------------------------------------------------------


def http_error(exc: WattzOnError) -> tuple[int, str, dict[str, str]]:
    """The HTTP status, message and headers that answer an SDK error.

    Args:
        exc: What the SDK raised.

    Returns:
        The status code, the ``detail`` text and extra response headers.
    """
    if isinstance(exc, DocumentTooLargeError):
        return 413, str(exc), {}
    if isinstance(exc, IdempotencyConflictError):
        differs = " and ".join(exc.differences)
        return 422, f"this Idempotency-Key was used for another bill (another {differs})", {}
    if isinstance(exc, ValidationError | BadRequestError):
        return 422, str(exc), {}
    if isinstance(exc, NotFoundError | PermissionDeniedError):
        # Another tenant's job is reported like a missing one: nothing leaks.
        return 404, "no such bill", {}
    if isinstance(exc, RateLimitError):
        seconds = max(1, math.ceil(exc.retry_after or 1))
        return 503, "the bill service is busy; retry later", {"Retry-After": str(seconds)}
    if isinstance(exc, AmbiguousSubmitError):
        return (
            503,
            "the bill may or may not have been accepted; "
            "retry with the same Idempotency-Key header",
            {"Retry-After": "1"},
        )
    if isinstance(exc, APITimeoutError | WaitTimeoutError):
        return 504, "the bill service did not answer in time", {}
    if isinstance(exc, AuthenticationError | CertificateError):
        return 500, "the bill service is misconfigured", {}
    if isinstance(exc, APIConnectionError | APIStatusError):
        return 502, "the bill service failed; retry later", {}
    if isinstance(exc, JobError):
        return 422, str(exc), {}
    return 500, "internal error", {}


async def _on_wattzon_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, WattzOnError):  # pragma: no cover - registered for WattzOnError
        raise exc
    code, detail, headers = http_error(exc)
    if code >= 500:
        logger.error("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": detail}, status_code=code, headers=headers)


#: Where FastAPI says a bad value was; the field name after it is what a caller needs.
_PLACES = frozenset({"body", "query", "path", "header", "cookie"})


def validation_detail(errors: Sequence[Any]) -> str:
    """One line for FastAPI's validation errors: ``field: problem``, joined by ``; ``.

    The values themselves are not repeated (one may be an email address).

    Args:
        errors: ``RequestValidationError.errors()``.

    Returns:
        The ``detail`` text.
    """
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in _PLACES)
        parts.append(f"{where or 'request'}: {error.get('msg', 'not valid')}")
    return "; ".join(parts) or "the request is not valid"


async def _on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover - registered for it
        raise exc
    return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)


def create_app() -> FastAPI:
    """A new app: routes, the error mapping and the lifespan.

    Returns:
        The ASGI app; its client is made when it starts (see ``lifespan``).
    """
    app = FastAPI(title="Bills", lifespan=lifespan)
    errors: dict[int | str, dict[str, object]] = {
        code: {"model": HTTPError} for code in (404, 413, 422, 502, 503, 504)
    }
    app.add_api_route(
        "/bills",
        create_bill,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=Bill,
        responses=errors,
    )
    app.add_api_route(
        "/bills/{job_id}",
        read_bill,
        methods=["GET"],
        response_model=Bill,
        responses={202: {"model": Bill, "description": "still pending"}, **errors},
    )
    app.add_api_route("/healthz", health, methods=["GET"])
    app.add_exception_handler(WattzOnError, _on_wattzon_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    return app


#: The app for ``uvicorn examples.fastapi_app:app``.
app = create_app()
