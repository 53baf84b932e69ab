"""The one message for code that needs the emulator where it is not installed.

The emulator (the local WattzOn server, its handle and the pytest plugin) is a
distribution of its own, ``wattzon-async-emulator``, so that ``pip install wattzon-async``
installs no server. The thin re-exports :mod:`wattzon_async.emulator` and
:mod:`wattzon_async.testing`, and the ``wattzon emulator`` and ``wattzon demo`` commands,
all say the same thing when it is missing.
"""

from __future__ import annotations

__all__ = ["EMULATOR_MISSING", "is_emulator_missing"]

#: What to install, said the same way by every entry point that needs the emulator.
EMULATOR_MISSING = (
    "the WattzOn emulator is not installed: pip install 'wattzon-async[emulator]' "
    "(the wattzon-async-emulator distribution)"
)


def is_emulator_missing(exc: ImportError) -> bool:
    """Whether ``exc`` says the emulator distribution itself is missing.

    An ``ImportError`` raised from inside an installed emulator (one of its own
    dependencies missing) is not this case, and keeps its own message.
    """
    return exc.name == "wattzon_emulator"
