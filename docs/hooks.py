"""MkDocs hooks: publish README.md as the guide and CHANGELOG.md as the changelog.

The README is the one place the guide is written; this hook serves it (and the
changelog) as pages of the site at build time, so nothing is copied into ``docs/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
#: Page name in the site, the file it comes from, and the title it gets.
PAGES = {
    "guide.md": (ROOT / "README.md", "Guide"),
    "changelog.md": (ROOT / "CHANGELOG.md", None),
}


def _page(source: Path, title: str | None) -> str:
    # README links to pages of the site as ``docs/<page>.md``; the site serves them at
    # its root, beside the guide.
    text = source.read_text(encoding="utf-8").replace("](docs/", "](")
    if title is None:
        return text
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return f"# {title}\n" + "\n".join(lines) + "\n"


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the generated pages to the site's files."""
    for name, (source, title) in PAGES.items():
        files.append(File.generated(config, name, content=_page(source, title)))
    return files
