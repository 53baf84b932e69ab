"""Results: how one field is decoded, and raw results decoded on first read.

Most callers of ``jobs.get`` and ``await_job`` never read every field of a job's raw
results, and typing each field's token boxes into frozen models was the largest part of
what the SDK added to a GET. ``LazyResults`` is the read-only mapping a Job holds
instead of a dict when its results have the documented shape (checked up front, so that
decoding a field later can never fail): each field becomes its ``ExtractedField`` the
first time it is read. It behaves as the dict it replaces: equality, ``repr``, ``len``,
iteration order, pickling (as a plain dict) and unstructuring. A field is decoded by
``result_item`` (an ExtractedField from raw results, a string from transformed ones),
its token boxes by ``token_hook``, which the converter uses for ``Token`` as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeGuard

from ..models import ExtractedField, Token

__all__ = [
    "LazyResults",
    "decoded_later",
    "deferrable",
    "is_mapping",
    "result_item",
    "token_hook",
]

Item = Callable[[object], "ExtractedField | str"]
Hook = Callable[[Any, Any], Any]


def decoded_later(results: dict[Any, Any], item: Item) -> Mapping[str, Any] | None:
    """Results whose decoding cannot fail, as they will be read; None for the others.

    Raw results become ``LazyResults``; results of strings only (transformed ones) stay
    the plain dict they are (a copy), as they always were. None: the converter decodes
    them at once (and raises for what is malformed).
    """
    if not deferrable(results):
        return None
    for value in results.values():
        if type(value) is not str:
            return LazyResults(results, item)
    return dict(results)


def deferrable(results: dict[Any, Any]) -> bool:
    """True when every field is a string or a documented raw field with tight boxes.

    Such results decode without error whenever they are read, so the decoding may wait.
    A tight box is what ``token_hook`` takes its tight path for: exactly the six fields,
    each an int. The check is inlined: it runs for every box of every job read.
    """
    try:
        return _deferrable(results)
    except KeyError:  # a box of six fields, not the six documented ones
        return False


def _deferrable(results: dict[Any, Any]) -> bool:
    for name, value in results.items():
        if type(name) is not str:
            return False
        if type(value) is str:
            continue
        if type(value) is not dict:
            return False
        tokens = value.get("tokens")
        if type(tokens) is not dict:
            return False
        boxes = tokens.get("raw")
        if boxes is None:
            continue
        if type(boxes) is not list:
            return False
        for box in boxes:
            if not (
                type(box) is dict
                and len(box) == 6
                and type(box["page_number"])
                is type(box["x1"])
                is type(box["y1"])
                is type(box["x2"])
                is type(box["y2"])
                is type(box["index"])
                is int
            ):
                return False
    return True


class LazyResults(Mapping[str, "ExtractedField | str"]):
    """Results whose fields are decoded (once each) when first read.

    Args:
        wire: The results as the API sent them (checked with ``deferrable``).
        item: Decodes one field's wire value.
    """

    __slots__ = ("_decoded", "_item", "_wire")

    def __init__(self, wire: dict[str, Any], item: Item) -> None:
        self._wire = wire
        self._item = item
        self._decoded: dict[str, ExtractedField | str] = {}

    def __getitem__(self, name: str) -> ExtractedField | str:
        """The decoded field ``name``."""
        try:
            return self._decoded[name]
        except KeyError:
            value = self._item(self._wire[name])
            self._decoded[name] = value
            return value

    def __iter__(self) -> Iterator[str]:
        """Field names, in the order the API sent them."""
        return iter(self._wire)

    def __len__(self) -> int:
        """The number of fields."""
        return len(self._wire)

    def __contains__(self, name: object) -> bool:
        """Whether there is a field ``name`` (nothing is decoded)."""
        return name in self._wire

    def as_dict(self) -> dict[str, ExtractedField | str]:
        """Every field decoded, as a plain dict."""
        return {name: self[name] for name in self._wire}

    def __eq__(self, other: object) -> bool:
        """Equal to any mapping with the same decoded fields (a dict included)."""
        if isinstance(other, LazyResults):
            return self._wire == other._wire or self.as_dict() == other.as_dict()
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, as the dict it stands for

    def __repr__(self) -> str:
        """The repr of the dict of decoded fields."""
        return repr(self.as_dict())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the plain dict of decoded fields."""
        return (dict, (self.as_dict(),))


# -- decoding one field --------------------------------------------------------------


def token_hook(generic: Hook) -> Hook:
    """A token box: the documented six ints on a tight path, anything else generically."""

    def structure(value: Any, cls: Any) -> Token:
        if type(value) is dict and len(value) == 6:
            page, x1, y1 = value.get("page_number"), value.get("x1"), value.get("y1")
            x2, y2, index = value.get("x2"), value.get("y2"), value.get("index")
            if (
                type(page) is int
                and type(x1) is int
                and type(y1) is int
                and type(x2) is int
                and type(y2) is int
                and type(index) is int
            ):
                return Token(page, x1, y1, x2, y2, index)
        result: Token = generic(value, cls)
        return result

    return structure


#: The keys of a raw result's ``tokens`` object.
_WIRE_TOKENS = frozenset({"raw", "content"})


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for the usual plain dict."""
    return type(value) is dict or isinstance(value, Mapping)


def result_item(token: Hook) -> Callable[[object], ExtractedField | str]:
    """One field of results: an ExtractedField from raw results, else a string."""

    def item(value: object) -> ExtractedField | str:
        if isinstance(value, str):
            return value
        if is_mapping(value):
            tokens = value.get("tokens")
            if is_mapping(tokens):  # the wire form: {"tokens": {"raw", "content"}}
                extra = {k: v for k, v in value.items() if k != "tokens"} if len(value) > 1 else {}
                if len(tokens) > 2 or not tokens.keys() <= _WIRE_TOKENS:
                    extra.update((k, v) for k, v in tokens.items() if k not in ("raw", "content"))
                content = tokens.get("content")
                return ExtractedField(
                    "" if content is None else str(content),
                    tuple([token(t, Token) for t in tokens.get("raw") or ()]),
                    extra,
                )
            if "content" in value:  # ours (``unstructure``), or content alone
                boxes = tokens if isinstance(tokens, list) else None
                skip = ("content",) if boxes is None else ("content", "tokens")
                return ExtractedField(
                    str(value["content"]),
                    tuple([token(t, Token) for t in boxes or ()]),
                    {k: v for k, v in value.items() if k not in skip},
                )
        if value is None:
            return ""
        if isinstance(value, int | float | bool):
            return str(value)
        return json.dumps(value, sort_keys=True)

    return item
