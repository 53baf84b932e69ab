"""Pins the two distributions of this repository to each other at their one version.

The version is written once, as ``__version__`` in ``wattzon_async/__init__.py`` (hatch's
version source, for both pyproject files). The client's ``emulator`` extra and the
emulator's dependency on the client name the other distribution at that same version:
each pyproject writes those lists in this hook's table,
``[tool.hatch.metadata.hooks.custom.dependencies]`` or ``...optional-dependencies]``,
with a ``{version}`` placeholder that the hook fills in (so the field is listed in
``project.dynamic``).
"""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

FIELDS = ("dependencies", "optional-dependencies")


def _filled(value: Any, version: str) -> Any:
    """``value`` with ``{version}`` replaced in every requirement string."""
    if isinstance(value, str):
        return value.replace("{version}", version)
    if isinstance(value, list):
        return [_filled(item, version) for item in value]
    return {key: _filled(item, version) for key, item in value.items()}


class CustomMetadataHook(MetadataHookInterface):
    """Copies the requirement lists of its table into the metadata, version filled in."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Set ``dependencies``/``optional-dependencies`` from the hook's table."""
        for field in FIELDS:
            if field in self.config:
                metadata[field] = _filled(self.config[field], metadata["version"])
