"""``python -m wattzon_async``: the ``wattzon`` command line, for when the script is not on PATH."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
