"""The one place that names an HTTP package: httpx2, or httpx where only that is installed.

httpx2 is the maintained continuation of httpx with the same API (the package
depends on it: it is faster under concurrency, see the CHANGELOG). Programs that still have
only httpx keep working: the SDK then runs on it unchanged. Every other module imports the
chosen package from here as ``httpx``, so exceptions, transports and types always come from
one package, whichever it is.

``WATTZON_HTTP_STACK=httpx`` (or ``httpx2``) picks one explicitly where both are installed;
the test suite uses it to prove both.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["STACKS", "httpx", "stack_name"]

#: The packages the SDK runs on, preferred first.
STACKS = ("httpx2", "httpx")


def _choose() -> ModuleType:
    wanted = os.environ.get("WATTZON_HTTP_STACK", "").strip()
    if wanted:
        if wanted not in STACKS:
            raise ImportError(f"WATTZON_HTTP_STACK={wanted!r} is not one of {', '.join(STACKS)}")
        try:
            return importlib.import_module(wanted)
        except ImportError as exc:
            raise ImportError(
                f"WATTZON_HTTP_STACK={wanted} but {wanted} is not installed (pip install {wanted})"
            ) from exc
    for name in STACKS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("wattzon-async needs httpx2 (or httpx): pip install httpx2")


if TYPE_CHECKING:
    import httpx2 as httpx
else:
    httpx = _choose()


def stack_name() -> str:
    """The name of the HTTP package in use: ``"httpx2"`` or ``"httpx"``."""
    return httpx.__name__
