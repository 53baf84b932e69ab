"""The emulator's HTTP API: Snap under /api/v1/, Link under /link/4.0/, admin under /_emulator/.

Each API path answers with and without its trailing slash. Errors are JSON
(``{"error": "..."}``) with the API's codes. The tenant is the client certificate's
subject common name (its SHA-256 fingerprint when it has none).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._admin import admin_routes
from ._data import PROVIDERS, ZIPS, find_providers
from ._link import LinkForbidden
from ._middleware import ApiMiddleware, tenant_of
from ._pdf import text_pdf
from ._state import Forbidden, JobRecord, NotFound, Store
from ._validate import MAX_DOCUMENT_BYTES, BadRequest, parse_create

__all__ = ["create_app"]

Endpoint = Callable[[Request], Awaitable[Response]]
#: The largest request body read: a 5 MiB document base64-encodes to under 7 MiB.
_MAX_BODY = MAX_DOCUMENT_BYTES * 4 // 3 + 1024 * 1024


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response in the API's shape."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _job(request: Request) -> JobRecord:
    """The job the path names, if the caller's tenant owns it; else a 404 or a 403."""
    try:
        return _store(request).get(tenant_of(request.scope), request.path_params["job_id"])
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc


def _routes(path: str, endpoint: Endpoint, methods: list[str]) -> list[Route]:
    """Routes for ``path`` with and without its trailing slash."""
    bare = path.rstrip("/")
    return [Route(bare, endpoint, methods=methods), Route(bare + "/", endpoint, methods=methods)]


async def _read_body(request: Request) -> bytes:
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > _MAX_BODY:
            raise BadRequest(f"document is larger than the {MAX_DOCUMENT_BYTES} byte limit")
    return bytes(chunks)


async def create_job(request: Request) -> Response:
    """``POST /api/v1/jobs/``: create a job (201), or 400 with the reason."""
    store = _store(request)
    try:
        job = store.create(tenant_of(request.scope), parse_create(await _read_body(request)))
    except BadRequest as exc:
        return error(400, str(exc))
    status = "UNSUPPORTED" if job.outcome == "UNSUPPORTED" else "ENQUEUED"
    body = json.dumps(job.summary(status)).encode()
    if store.rng.random() < store.faults.drop_after_create_rate:
        store.stats.connections_dropped += 1
        return TruncatedResponse(body, status_code=201, media_type="application/json")
    return Response(body, status_code=201, media_type="application/json")


class TruncatedResponse(Response):
    """A response that announces its full length, sends half, and stops: a dropped connection.

    uvicorn closes a connection whose app returns before the response is complete, so
    the client sees the status line and then the connection go away mid-body.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head and half of the body, then return without finishing."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )


async def list_jobs(request: Request) -> Response:
    """``GET /api/v1/jobs/[?tag=]``: the tenant's 20 most recent jobs, newest first."""
    jobs = _store(request).list(tenant_of(request.scope), request.query_params.get("tag"))
    return JSONResponse([job.summary() for job in jobs])


async def get_job(request: Request) -> Response:
    """``GET /api/v1/jobs/<id>/[?results=transformed]``: a job, with results when COMPLETE."""
    job = _job(request)
    status = job.status()
    body = job.summary(status)
    if status == "COMPLETE":
        transformed = request.query_params.get("results") == "transformed"
        body["results"] = job.results(transformed)
    return JSONResponse(body)


async def get_document(request: Request) -> Response:
    """``GET /api/v1/jobs/<id>/document/[?raw=yes]``: the document as JSON or raw bytes."""
    job = _job(request)
    if request.query_params.get("raw", "").lower() in ("yes", "true", "1"):
        return _file_response(request, job.content, job.document_name)
    content = base64.b64encode(job.content).decode("ascii")
    return JSONResponse({"id": job.document_id, "name": job.document_name, "content": content})


def _file_response(request: Request, content: bytes, name: str) -> Response:
    """A file download, cut off halfway as often as the ``drop_download_rate`` fault says."""
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    ascii_name = re.sub(r'[\x00-\x1f\x7f"\\?]', "_", name.encode("ascii", "replace").decode())
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    headers = {"Content-Disposition": disposition}
    store = _store(request)
    if store.faults.drop_download_rate and store.rng.random() < store.faults.drop_download_rate:
        store.stats.connections_dropped += 1
        return TruncatedResponse(content, media_type=media_type, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


async def get_zip(request: Request) -> Response:
    """``GET /link/4.0/zips/<zipcode>``: where a zip code is."""
    zipcode = request.path_params["zipcode"]
    found = ZIPS.get(zipcode)
    if found is None:
        return error(404, f"zip code {zipcode} not found")
    return JSONResponse(found)


async def find_utilities(request: Request) -> Response:
    """``GET /link/4.0/utilities/?zipcode=&name=&type=``: matching provider ids."""
    params = request.query_params
    zipcode, name = params.get("zipcode") or None, params.get("name") or None
    if zipcode is None and name is None:
        return error(400, "either zipcode or name is required")
    return JSONResponse({"provider_ids": find_providers(zipcode, name, params.get("type"))})


async def get_utility(request: Request) -> Response:
    """``GET /link/4.0/utilities/<provider_id>``: a utility provider."""
    raw_id = request.path_params["provider_id"]
    found = PROVIDERS.get(int(raw_id)) if raw_id.isdigit() else None
    if found is None:
        return error(404, f"utility provider {raw_id} not found")
    return JSONResponse(dict(found))


def _profile_bills(request: Request) -> list[dict[str, Any]] | Response:
    """The bills served for the request's profile now, or the error response."""
    store, profile_id = _store(request), request.path_params["profile_id"]
    pdf_base = str(request.base_url) + "link/4.0/"
    try:
        bills = store.links.bills(tenant_of(request.scope), profile_id, pdf_base)
    except LinkForbidden as exc:
        return error(403, str(exc))
    if bills is None:
        return error(404, store.links.not_found(profile_id))
    return bills


async def get_bills(request: Request) -> Response:
    """``GET /link/4.0/data/bills/<profile_id>``: the bills Link extracted for a profile."""
    bills = _profile_bills(request)
    return bills if isinstance(bills, Response) else JSONResponse({"data": bills})


async def get_bill_pdf(request: Request) -> Response:
    """The PDF a Link bill's ``pdf`` URI points to."""
    bills = _profile_bills(request)
    if isinstance(bills, Response):
        return bills
    bill_id = request.path_params["bill_id"]
    bill = next((b for b in bills if str(b["id"]) == bill_id), None)
    if bill is None:
        return error(404, f"bill {bill_id} not found")
    lines = [f"{key}: {value}" for key, value in bill.items() if key != "pdf"]
    return _file_response(request, text_pdf(lines, title=f"Bill {bill_id}"), f"{bill_id}.pdf")


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return error(exc.status_code, str(exc.detail))
    return error(500, "internal server error")


def create_app(store: Store, lifespan: Any = None) -> Starlette:
    """The emulator's ASGI app, serving ``store``.

    Args:
        store: The jobs, faults and counters the app works on.
        lifespan: A Starlette lifespan context (it opens and closes the SQS publisher).

    Returns:
        The Starlette app wrapped in the middleware that counts and injects faults.
    """
    routes = [
        *_routes("/api/v1/jobs/", create_job, ["POST"]),
        *_routes("/api/v1/jobs/", list_jobs, ["GET"]),
        *_routes("/api/v1/jobs/{job_id}/", get_job, ["GET"]),
        *_routes("/api/v1/jobs/{job_id}/document/", get_document, ["GET"]),
        *_routes("/link/4.0/zips/{zipcode}/", get_zip, ["GET"]),
        *_routes("/link/4.0/utilities/", find_utilities, ["GET"]),
        *_routes("/link/4.0/utilities/{provider_id}/", get_utility, ["GET"]),
        *_routes("/link/4.0/data/bills/{profile_id}/", get_bills, ["GET"]),
        Route("/link/4.0/data/bills/{profile_id}/{bill_id}.pdf", get_bill_pdf, methods=["GET"]),
        *admin_routes(),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: _http_error}, lifespan=lifespan
    )
    app.state.store = store
    app.router.redirect_slashes = False
    app.add_middleware(ApiMiddleware)
    return app
