"""Ready files: how an emulator child process tells its parent that it is listening.

The child writes a small JSON file atomically once it serves; the parent polls for it
with a deadline, and meanwhile checks that the child is still alive.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_ready_file", "write_ready_file"]


def write_ready_file(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` atomically (readers never see half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def read_ready_file(path: Path) -> dict[str, Any] | None:
    """The JSON in a ready file, or None when it is not there yet."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return data
