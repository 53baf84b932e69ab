"""Settings for the whole suite: which event loop the tests run on.

``WATTZON_TEST_LOOP=uvloop`` runs every async test on uvloop, the loop ``uvicorn[standard]``
brings and many services run on (``make test-uvloop``); by default tests run on asyncio's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest

if os.environ.get("WATTZON_TEST_LOOP", "asyncio") == "uvloop":
    import uvloop

    def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item
    ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
        """Every async test and fixture on uvloop."""
        return {"uvloop": uvloop.new_event_loop}
