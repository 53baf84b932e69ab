"""The pytest fixtures under their 0.2 name: a re-export of ``wattzon_emulator.testing``.

The fixtures (``wattzon_emulator``, ``wattzon_client``, ``wattzon_consumer``) ship with
the emulator, a distribution of its own that registers them as the ``wattzon`` pytest
plugin: ``pip install 'wattzon-async[emulator]' pytest-asyncio`` makes them available in
any test suite. ``pip install wattzon-async`` registers no plugin. Importing this module
(``pytest_plugins = ["wattzon_async.testing"]``) keeps working where the emulator is
installed; without it, the ``ImportError`` says how to install it.
"""

from __future__ import annotations

from ._emulator_missing import EMULATOR_MISSING, is_emulator_missing

try:
    from wattzon_emulator.testing import wattzon_client, wattzon_consumer, wattzon_emulator
except ImportError as exc:
    if is_emulator_missing(exc):
        raise ImportError(EMULATOR_MISSING, name=exc.name) from exc
    raise

__all__ = ["wattzon_client", "wattzon_consumer", "wattzon_emulator"]
