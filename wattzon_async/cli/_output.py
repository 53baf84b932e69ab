"""Rendering results: rich tables for people, one JSON document for programs.

``rich`` is imported only here and only when a table is drawn, so ``import wattzon_async``
(and ``--json`` runs) never load it, and a missing ``cli`` extra is one clear line. JSON
output is the SDK converter's (``_serde.unstructure``): models by their fields (new API
fields kept), datetimes in ISO 8601, and never the bytes of a document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._serde import unstructure
from ..jobs._idempotency import is_sdk_tag
from ._errors import CliError, ExitCode

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..models import Job

__all__ = [
    "Output",
    "job_detail",
    "jobs_table",
    "record_table",
    "require_rich",
    "rows_table",
    "status_text",
    "visible_tags",
]

RICH_MISSING = "the wattzon command needs rich for its output: pip install 'wattzon-async[cli]'"
_STATUS_STYLES = {"COMPLETE": "green", "FAILED": "red", "UNSUPPORTED": "yellow"}


def require_rich() -> None:
    """Fail with one line naming the extra to install when ``rich`` is missing.

    Raises:
        CliError: ``rich`` cannot be imported.
    """
    try:
        import rich  # noqa: F401
    except ImportError:
        raise CliError(RICH_MISSING, ExitCode.FAILED) from None


class Output:
    """Where a command's results go: tables on stdout, or one JSON document.

    Args:
        json_mode: Print JSON instead of tables.
    """

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self._console: Console | None = None
        self._err_console: Console | None = None

    @property
    def console(self) -> Console:
        """A rich console on stdout (rich is imported on first use)."""
        if self._console is None:
            require_rich()
            from rich.console import Console

            self._console = Console(file=sys.stdout, highlight=False)
        return self._console

    @property
    def err_console(self) -> Console:
        """A rich console on stderr, for progress and notes."""
        if self._err_console is None:
            require_rich()
            from rich.console import Console

            self._err_console = Console(file=sys.stderr, highlight=False)
        return self._err_console

    def json(self, data: Any) -> None:
        """Print ``data`` as one JSON document on stdout."""
        json.dump(unstructure(data), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        sys.stdout.flush()

    def show(self, data: Any, render: Callable[[], Any]) -> None:
        """Print ``data`` as JSON in JSON mode, else what ``render()`` makes (tables, text).

        Args:
            data: The result, for ``--json``.
            render: Makes a renderable, a string or a list of them, for people.
        """
        if self.json_mode:
            self.json(data)
            return
        made = render()
        for item in made if isinstance(made, list) else [made]:
            plain = isinstance(item, str)
            self.console.print(_text(item) if plain else item, soft_wrap=plain)

    def say(self, text: str) -> None:
        """A plain line for people on stdout (nothing in JSON mode)."""
        if not self.json_mode:
            self.console.print(_text(text), soft_wrap=True)

    def warn(self, text: str) -> None:
        """A warning line on stderr, in both modes."""
        print(f"wattzon: warning: {text}", file=sys.stderr, flush=True)


def _text(value: Any, style: str = "") -> Text:
    from rich.text import Text

    return Text("" if value is None else str(value), style=style)


def _cell(value: Any) -> Text:
    from rich.text import Text

    if isinstance(value, Text):
        return value
    if isinstance(value, Mapping | list | tuple):
        return _text(json.dumps(unstructure(value), ensure_ascii=False))
    return _text(value)


def status_text(status: Any) -> Text:
    """A job status, coloured: green COMPLETE, red FAILED, yellow UNSUPPORTED."""
    value = str(getattr(status, "value", status))
    return _text(value, _STATUS_STYLES.get(value, "cyan"))


def visible_tags(tags: Iterable[str]) -> str:
    """Tags for a table: the SDK's own idempotency and fingerprint tags left out."""
    return ", ".join(t for t in tags if not is_sdk_tag(t))


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def rows_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> Table:
    """A table with a header row; cells are shown as plain text (no markup)."""
    require_rich()
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    return table


def record_table(pairs: Iterable[tuple[str, Any]], title: str = "") -> Table:
    """A two-column table of labels and values, for one record."""
    require_rich()
    from rich.table import Table

    table = Table(title=title or None, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in pairs:
        table.add_row(_text(label), _cell(value))
    return table


def jobs_table(jobs: Sequence[Job], title: str = "Jobs") -> Table:
    """Jobs as rows: id, created, status, provider, document and tags."""
    return rows_table(
        ("ID", "Created", "Status", "Provider", "Document", "Tags"),
        (
            (
                j.id,
                _when(j.created_at),
                status_text(j.status),
                j.provider,
                j.document.name,
                visible_tags(j.tags),
            )
            for j in jobs
        ),
        title=f"{title} ({len(jobs)})",
    )


def job_detail(job: Job) -> list[Table]:
    """One job: its summary, then its extracted fields when it has results."""
    summary = record_table(
        [
            ("ID", job.id),
            ("Created", _when(job.created_at)),
            ("Status", status_text(job.status)),
            ("Provider", job.provider),
            ("Email", job.email),
            ("Document", f"{job.document.name} (document id {job.document.id})"),
            ("Tags", visible_tags(job.tags)),
        ],
        title=f"Job {job.id}",
    )
    tables = [summary]
    values = job.values()
    if values:
        tables.append(rows_table(("Field", "Value"), sorted(values.items()), title="Results"))
    return tables
