"""The admin API under /_emulator/: faults, lifecycle settings, counters, reset, Link.

The real API has nothing under this prefix, so a client can never reach it by mistake.
It needs a client certificate from the emulator's CA like everything else; it is not
counted in the statistics and no fault applies to it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._faults import FaultSettings
from ._link import LinkForbidden, parse_link_request
from ._middleware import tenant_of
from ._state import Lifecycle, Store
from ._validate import BadRequest

__all__ = ["admin_routes", "lifecycle_from_json", "lifecycle_to_json"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json(request: Request) -> Any:
    body = await request.body()
    return json.loads(body) if body.strip() else {}


async def faults(request: Request) -> Response:
    """``GET`` the faults in force; ``PUT`` a new set (keys not given: no fault)."""
    store = _store(request)
    if request.method == "PUT":
        try:
            store.set_faults(FaultSettings.from_json(await _json(request)))
        except ValueError as exc:
            return _bad(str(exc))
    return JSONResponse(store.faults.to_json())


async def config(request: Request) -> Response:
    """``GET`` the lifecycle settings; ``PUT`` changes to them (for jobs created later)."""
    store = _store(request)
    if request.method == "PUT":
        try:
            store.lifecycle = lifecycle_from_json(await _json(request), store.lifecycle)
        except ValueError as exc:
            return _bad(str(exc))
    return JSONResponse(lifecycle_to_json(store.lifecycle))


async def stats(request: Request) -> Response:
    """``GET`` the counters."""
    return JSONResponse(_store(request).stats.to_json())


async def reset(request: Request) -> Response:
    """``POST``: forget jobs, faults and counters; ``{"purge_queue": true}`` empties SQS."""
    store = _store(request)
    try:
        options = await _json(request)
    except ValueError:
        return _bad("body is not JSON")
    store.reset()
    if isinstance(options, dict) and options.get("purge_queue") and store.publisher:
        try:
            await store.publisher.purge()
        except Exception as exc:
            return JSONResponse({"error": f"could not purge the queue: {exc}"}, status_code=500)
    return JSONResponse({"reset": True})


async def start_link(request: Request) -> Response:
    """``POST`` ``{"profile_id": "1001", "tags": [...]}``: start a Link extraction (201).

    ``profile_id`` may be left out for a new profile; a new profile may also be given its
    ``provider`` (default 4) and number of ``bills`` (default 3). The answer holds the
    Link ``job_id`` its notification will carry.
    """
    store = _store(request)
    try:
        request_body = await _json(request)
    except ValueError:
        return _bad("body is not JSON")
    try:
        record = store.start_link(tenant_of(request.scope), parse_link_request(request_body))
    except BadRequest as exc:
        return _bad(str(exc))
    except LinkForbidden as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    return JSONResponse(record.to_json(), status_code=201)


async def health(request: Request) -> Response:
    """``GET``: the emulator is up."""
    return JSONResponse({"ok": True})


def lifecycle_to_json(life: Lifecycle) -> dict[str, Any]:
    """Lifecycle settings as JSON."""
    spec = life.processing_time
    return {
        "processing_time": list(spec) if isinstance(spec, tuple) else spec,
        "unsupported_providers": sorted(life.unsupported_providers),
        "failing_providers": sorted(life.failing_providers),
        "failing_prefix": life.failing_prefix,
    }


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("processing_time must be a number or a [min, max] pair")
    if not math.isfinite(value) or value < 0:
        raise ValueError("processing_time must be >= 0")
    return float(value)


def _processing_time(value: object) -> float | tuple[float, float]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError("processing_time range must be [min, max]")
        low, high = _seconds(value[0]), _seconds(value[1])
        if low > high:
            raise ValueError("processing_time range must have min <= max")
        return (low, high)
    return _seconds(value)


def _ids(name: str, value: object) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise ValueError(f"{name} must be a list of provider ids")
    return frozenset(value)


def lifecycle_from_json(data: object, base: Lifecycle) -> Lifecycle:
    """Apply the settings in ``data`` to ``base``.

    Raises:
        ValueError: An unknown key or a bad value.
    """
    if not isinstance(data, dict):
        raise ValueError("config must be a JSON object")
    unknown = set(data) - {
        "processing_time",
        "unsupported_providers",
        "failing_providers",
        "failing_prefix",
    }
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    life = Lifecycle(
        processing_time=base.processing_time,
        unsupported_providers=base.unsupported_providers,
        failing_providers=base.failing_providers,
        failing_prefix=base.failing_prefix,
    )
    if "processing_time" in data:
        life.processing_time = _processing_time(data["processing_time"])
    for name in ("unsupported_providers", "failing_providers"):
        if name in data:
            setattr(life, name, _ids(name, data[name]))
    if "failing_prefix" in data:
        prefix = data["failing_prefix"]
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("failing_prefix must be a non-empty string")
        life.failing_prefix = prefix.lower()
    return life


def admin_routes() -> list[Route]:
    """The admin API's routes."""
    return [
        Route("/_emulator/faults", faults, methods=["GET", "PUT"]),
        Route("/_emulator/config", config, methods=["GET", "PUT"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/link", start_link, methods=["POST"]),
    ]
