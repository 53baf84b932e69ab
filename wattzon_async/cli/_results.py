"""The ``--out`` file of ``wattzon submit``: one row per file, as CSV or JSON Lines.

CSV is for spreadsheets: fixed columns (file, job_id, status, error) and then one column
per extracted field, the union over all rows, in name order. JSON Lines keeps everything,
raw token boxes included. The file is written beside its final place, flushed to disk
and renamed over it, so a reader (or a crash) never sees half a file and an existing
file is only ever replaced by a complete one; it holds customers' bill data, so it is
created readable by its owner only (mode 0600).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

__all__ = ["CSV_COLUMNS", "Row", "write_results"]

#: The columns every CSV results file starts with.
CSV_COLUMNS = ("file", "job_id", "status", "error")


class Row(Protocol):
    """What the results file reads of a row (``_submit.Row`` is the one written)."""

    @property
    def file(self) -> str: ...
    @property
    def job_id(self) -> int | None: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str: ...
    @property
    def values(self) -> dict[str, str]: ...
    def as_dict(self) -> dict[str, Any]: ...


def write_results(path: Path, rows: Sequence[Row]) -> None:
    """Write ``rows`` to ``path``: CSV for ``.csv``, else JSON Lines.

    Args:
        path: The file to write (replaced if it exists).
        rows: One row per submitted file, in input order.
    """
    fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            if path.suffix.lower() == ".csv":
                _write_csv(file, rows)
            else:
                _write_jsonl(file, rows)
            file.flush()
            os.fsync(file.fileno())
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_csv(file: TextIO, rows: Sequence[Row]) -> None:
    fields = sorted({name for row in rows for name in row.values})
    writer = csv.writer(file)
    writer.writerow([*CSV_COLUMNS, *fields])
    for row in rows:
        head = [row.file, "" if row.job_id is None else row.job_id, row.status, row.error]
        writer.writerow([*head, *(row.values.get(name, "") for name in fields)])


def _write_jsonl(file: TextIO, rows: Sequence[Row]) -> None:
    for row in rows:
        file.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
