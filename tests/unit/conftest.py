"""Unit-test fixtures: throwaway certificates, seed JSON, and a strict MockTransport router."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.pki import CertificateAuthority
from wattzon_async import WattzOnClient
from wattzon_async._httpx import httpx

FIXTURES = Path(__file__).parent.parent / "fixtures"
SNAP = "https://snap.test/api/v1/"
LINK = "https://link.test/link/4.0/"
#: A small document that looks like what it claims to be (uploads check the first bytes).
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def seed(name: str) -> Any:
    """A JSON example from the vendor's pages (tests/fixtures)."""
    return json.loads((FIXTURES / name).read_text())


@attrs.frozen
class Pki:
    ca: CertificateAuthority
    ca_path: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority.create()
    ca.save(folder / "ca.crt", folder / "ca.key")
    cert, key = ca.issue("tenant-a").write(folder, "client")
    return Pki(ca, folder / "ca.crt", cert, key)


Handler = Callable[[httpx.Request], httpx.Response]


class Router:
    """A MockTransport handler that answers known routes and fails on any other."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Handler]] = {}
        self.requests: list[httpx.Request] = []

    def add(self, method: str, url: str, *answers: Handler | httpx.Response) -> Router:
        """Answer ``method url`` with each answer in turn (the last one repeats)."""
        handlers = [a if callable(a) else _constant(a) for a in answers]
        self.routes.setdefault((method, url), []).extend(handlers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, str(request.url))
        handlers = self.routes.get(key)
        if not handlers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        handler = handlers.pop(0) if len(handlers) > 1 else handlers[0]
        return handler(request)

    def count(self, method: str, url: str) -> int:
        return sum(1 for r in self.requests if r.method == method and str(r.url) == url)


def _constant(response: httpx.Response) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )

    return answer


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Await a condition, failing the test if it does not hold within ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - a condition with a deadline, not a guess
            await asyncio.sleep(0.002)


def json_response(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=data, headers=headers)


MakeClient = Callable[..., WattzOnClient]


@pytest.fixture
async def make_client(pki: Pki) -> AsyncIterator[MakeClient]:
    clients: list[WattzOnClient] = []

    def make(handler: Callable[[httpx.Request], httpx.Response], **overrides: Any) -> WattzOnClient:
        settings: dict[str, Any] = {
            "cert": (pki.cert, pki.key),
            "ca_bundle": pki.ca_path,
            "snap_url": SNAP,
            "link_url": LINK,
            "transport": httpx.MockTransport(handler),
        }
        settings.update(overrides)
        client = WattzOnClient(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def router() -> Router:
    return Router()
