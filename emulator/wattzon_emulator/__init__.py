"""A faithful local WattzOn API: Snap and Link over mutual TLS, with SQS notifications.

``Emulator`` starts it in a process of its own (and a moto SQS server with ``sqs=True``)
for the demo, integration tests, benchmarks and users' own tests. Magic values: provider
``9999`` is unsupported, and a document whose file name starts with ``failed`` fails.
``Emulator.start_link`` (``start_link`` for a ``wattzon emulator`` running elsewhere)
runs a Link extraction that ends with the Link message.

A distribution of its own, ``wattzon-async-emulator`` (``pip install
'wattzon-async[emulator]'``), released with the SDK at the same version, so that the
SDK's users install no server; ``wattzon_async.emulator`` re-exports these names.
"""

from __future__ import annotations

from ._control import start_link
from ._data import UNSUPPORTED_PROVIDER, expected_results
from ._handle import DEFAULT_TENANT, Emulator
from ._link import LinkJob
from ._process import EmulatorError

__all__ = [
    "DEFAULT_TENANT",
    "UNSUPPORTED_PROVIDER",
    "Emulator",
    "EmulatorError",
    "LinkJob",
    "expected_results",
    "start_link",
]
