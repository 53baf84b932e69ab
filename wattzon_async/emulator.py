"""The emulator handle under its 0.2 name: a re-export of ``wattzon_emulator``.

The emulator ships as its own distribution (``pip install 'wattzon-async[emulator]'``
installs it; ``pip install wattzon-async`` does not), so that users of the SDK install
no server. Every name of the handle keeps working from here, ``from
wattzon_async.emulator import Emulator`` included; without the distribution, importing
this module raises an ``ImportError`` that says how to install it.
``python -m wattzon_async.emulator`` serves it as ``python -m wattzon_emulator`` does.
"""

from __future__ import annotations

from ._emulator_missing import EMULATOR_MISSING, is_emulator_missing

try:
    from wattzon_emulator import (
        DEFAULT_TENANT,
        UNSUPPORTED_PROVIDER,
        Emulator,
        EmulatorError,
        LinkJob,
        expected_results,
        start_link,
    )
except ImportError as exc:
    if is_emulator_missing(exc):
        raise ImportError(EMULATOR_MISSING, name=exc.name) from exc
    raise

__all__ = [
    "DEFAULT_TENANT",
    "UNSUPPORTED_PROVIDER",
    "Emulator",
    "EmulatorError",
    "LinkJob",
    "expected_results",
    "start_link",
]

if __name__ == "__main__":  # pragma: no cover - run as a command
    import sys

    from wattzon_emulator.__main__ import main

    sys.exit(main())
