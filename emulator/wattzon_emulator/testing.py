"""pytest fixtures for testing code that uses wattzon-async, against the local emulator.

Registered as the ``wattzon`` pytest plugin (entry point ``pytest11``) by the emulator's
distribution, ``wattzon-async-emulator`` (``wattzon-async`` alone registers none), so the
fixtures are available in any test suite once ``wattzon-async[emulator]`` and
``pytest-asyncio`` are installed (``wattzon_async.testing`` re-exports them)::

    async def test_extracts_name(wattzon_client, wattzon_consumer):
        job = await wattzon_client.jobs.create(
            email="user@example.com", provider=4, document=b"%PDF-1.4 ...", name="bill.pdf"
        )
        done = await wattzon_client.await_job(job.id, timeout=30, notifications=wattzon_consumer)
        assert done.values()["Name"]

One emulator (with SQS) serves the whole session, so state is shared between tests: use
tags or job ids to tell your jobs apart, or ``await wattzon_emulator.reset()``. Importing
this module is cheap (the emulator and the SDK are imported when a fixture is used), and
importing it twice is harmless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from wattzon_async import WattzOnClient
    from wattzon_async.notifications import NotificationConsumer
    from wattzon_emulator import Emulator

__all__ = ["wattzon_client", "wattzon_consumer", "wattzon_emulator"]

#: How long jobs take in the session emulator (seconds).
PROCESSING_TIME = 0.2

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    pytest_asyncio = None  # type: ignore[assignment]


def _missing_pytest_asyncio(*args: Any, **kwargs: Any) -> Any:
    pytest.fail("the wattzon fixtures need pytest-asyncio (pip install pytest-asyncio)")


if pytest_asyncio is None:  # pragma: no cover
    wattzon_emulator = pytest.fixture(scope="session", name="wattzon_emulator")(
        _missing_pytest_asyncio
    )
    wattzon_client = pytest.fixture(name="wattzon_client")(_missing_pytest_asyncio)
    wattzon_consumer = pytest.fixture(name="wattzon_consumer")(_missing_pytest_asyncio)
else:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def wattzon_emulator() -> AsyncIterator[Emulator]:
        """A running emulator with SQS, shared by the whole test session.

        Jobs take ``PROCESSING_TIME`` (0.2 s) to finish. Its processes and files are
        removed when the session ends. The handle works from any event loop.
        """
        from wattzon_emulator import Emulator

        async with Emulator(processing_time=PROCESSING_TIME, sqs=True) as emulator:
            yield emulator

    @pytest_asyncio.fixture
    async def wattzon_client(wattzon_emulator: Emulator) -> AsyncIterator[WattzOnClient]:
        """A ``WattzOnClient`` for the emulator's default tenant, closed after the test."""
        async with wattzon_emulator.client() as client:
            yield client

    @pytest_asyncio.fixture
    async def wattzon_consumer(
        wattzon_emulator: Emulator,
    ) -> AsyncIterator[NotificationConsumer]:
        """A ``NotificationConsumer`` on the emulator's SQS queue, stopped after the test."""
        async with wattzon_emulator.consumer() as consumer:
            yield consumer
