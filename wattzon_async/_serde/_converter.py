"""The one cattrs Converter: each model's structure hook and the JSON unstructure hooks.

Every model is structured by a hook cattrs generates with ``make_dict_structure_fn``, with
an ``override`` for each field whose wire form differs from its type (see ``_overrides``);
the keys a model does not know go to its ``extra``. Token boxes of raw results keep a tight
path for the documented six-int shape. Unstructuring is ``make_dict_unstructure_fn`` with
``extra`` merged back in and a ``bytes`` field written as its length.

The converter is built on first use (``converter()``), and each model's hooks the first
time that model is converted: importing cattrs and generating the code would otherwise cost
more than the rest of ``import wattzon_async``.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .._errors import UnexpectedResponseError
from ..models import (
    Document,
    DocumentRef,
    ExtractedField,
    Job,
    JobStatus,
    LinkBill,
    LinkNotification,
    SnapNotification,
    Token,
    Utility,
    ZipCode,
)
from ._fast import fast_job
from ._results import decoded_later, is_mapping, result_item, token_hook
from ._values import (
    as_is,
    base64_bytes,
    blank_is_none,
    job_status,
    lenient_bool,
    lenient_float,
    lenient_int,
    lenient_str,
    optional_str,
    parse_datetime,
    tag_list,
    utility_types,
)

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "converter",
    "dump_job",
    "structure",
    "structure_bills",
    "structure_document",
    "structure_job",
    "structure_jobs",
    "structure_provider_ids",
    "structure_utility",
    "unstructure",
]

T = TypeVar("T")
Hook = Callable[[Any, Any], Any]


def _results_hook(item: Callable[[object], ExtractedField | str]) -> Hook:
    """Results: field name to an ExtractedField (raw) or to a string (transformed)."""

    def structure(value: object, _: object) -> Mapping[str, ExtractedField | str] | None:
        if value is None:
            return None
        if not is_mapping(value):
            raise TypeError(f"results must be an object, not {type(value).__name__}")
        if type(value) is dict:
            later = decoded_later(value, item)
            if later is not None:
                return later
        return {str(name): item(field) for name, field in value.items()}

    return structure


def _field_hook(item: Callable[[object], ExtractedField | str]) -> Hook:
    def structure(value: object, _: object) -> ExtractedField:
        field = item(value) if isinstance(value, Mapping) else None
        if not isinstance(field, ExtractedField):
            raise TypeError(f"not an extracted field: {type(value).__name__}")
        return field

    return structure


# -- models ------------------------------------------------------------------------------


def _overrides(cls: type, conv: cattrs.Converter) -> dict[str, Any]:
    """The fields of ``cls`` whose wire form is not what their type says."""
    from cattrs.gen import override

    tags = override(struct_hook=tag_list)
    if cls is Job:
        item = result_item(conv.get_structure_hook(Token))
        return {"tags": tags, "results": override(struct_hook=_results_hook(item))}
    if cls in (SnapNotification, LinkNotification):
        return {"tags": tags}
    if cls is Utility:
        return {
            "types": override(rename="type", struct_hook=utility_types),
            "lseid": override(struct_hook=blank_is_none),
            "homepage_url": override(struct_hook=optional_str),
        }
    if cls is Document:
        return {"content": override(struct_hook=base64_bytes)}
    return {}


#: Models built by ``_keep_unknown``, and the value a missing key reads as.
_MODELS: Mapping[type, Mapping[str, object]] = {
    Token: {},
    DocumentRef: {},
    Job: {},
    Document: {},
    ZipCode: {},
    Utility: {"name": ""},
    LinkBill: {},
    SnapNotification: {},
    LinkNotification: {},
}
#: Our JSON's name for a field, where it differs from the wire name (read back too).
_OUR_NAMES: Mapping[type, Mapping[str, str]] = {Utility: {"types": "type"}}


def _keep_unknown(cls: type[T], conv: cattrs.Converter) -> Callable[[Any, Any], T]:
    """Structure hook for a model: known keys to fields, the rest kept in ``extra``."""
    from cattrs.gen import make_dict_structure_fn, override

    overrides = _overrides(cls, conv)
    base = make_dict_structure_fn(
        cls, conv, _cattrs_use_linecache=False, extra=override(struct_hook=as_is), **overrides
    )
    known = {
        (overrides[a.name].rename if a.name in overrides else None) or a.name
        for a in attrs.fields(cls)  # type: ignore[arg-type]
        if a.name != "extra" and a.init
    }
    defaults, ours = _MODELS[cls], _OUR_NAMES.get(cls, {})

    def structure(data: Any, _: Any) -> T:
        if not is_mapping(data):
            raise TypeError(f"{cls.__name__} must be an object, not {type(data).__name__}")
        for our, wire in ours.items():
            if wire not in data and our in data:
                data = {(wire if k == our else k): v for k, v in data.items()}
        fields = {k: v for k, v in data.items() if k in known}
        if defaults:
            fields = {**defaults, **fields}
        fields["extra"] = {k: v for k, v in data.items() if k not in known}
        return base(fields, cls)

    if cls is Token:
        return token_hook(structure)
    return structure


# -- unstructuring: plain JSON data ------------------------------------------------------


def _unstructure_attrs(conv: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    """Hook factory for attrs classes: fields by name, ``extra`` merged, bytes as a size."""
    from cattrs.gen import make_dict_unstructure_fn, override

    def factory(cls: type) -> Callable[[Any], Any]:
        attrs.resolve_types(cls)
        overrides: dict[str, Any] = {}
        for a in attrs.fields(cls):
            if a.name == "extra":
                overrides["extra"] = override(omit=True)
            elif a.type is bytes:
                overrides[a.name] = override(rename=f"{a.name}_size", unstruct_hook=len)
        base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, conv, _cattrs_use_linecache=False, **overrides
        )
        if "extra" not in overrides:
            return base

        def unstructure(value: Any) -> dict[str, Any]:
            data: dict[str, Any] = base(value)
            for key, item in value.extra.items():
                data.setdefault(str(key), conv.unstructure(item))
            return data

        return unstructure

    return factory


def _build() -> cattrs.Converter:
    import cattrs

    conv = cattrs.Converter(
        forbid_extra_keys=False, unstruct_collection_overrides={Sequence: list, Set: list}
    )
    conv.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    conv.register_structure_hook(int, lenient_int)
    conv.register_structure_hook(str, lenient_str)
    conv.register_structure_hook(float, lenient_float)
    conv.register_structure_hook(bool, lenient_bool)
    conv.register_structure_hook(JobStatus, job_status)
    conv.register_structure_hook_factory(
        lambda t: isinstance(t, type) and t in _MODELS, lambda t: _keep_unknown(t, conv)
    )
    conv.register_structure_hook(
        ExtractedField, _field_hook(result_item(conv.get_structure_hook(Token)))
    )

    conv.register_unstructure_hook_factory(attrs.has, _unstructure_attrs(conv))
    conv.register_unstructure_hook(date, lambda v: v.isoformat())  # datetimes included
    conv.register_unstructure_hook(enum.Enum, lambda v: conv.unstructure(v.value))
    conv.register_unstructure_hook(JobStatus, lambda v: str(v.value))
    conv.register_unstructure_hook(PurePath, os.fspath)
    for binary in (bytes, bytearray, memoryview):
        conv.register_unstructure_hook(binary, lambda v: {"size": len(v)})
    return conv


_lock = threading.Lock()
_converter: cattrs.Converter | None = None


def converter() -> cattrs.Converter:
    """The one Converter of the package, built on first use (safe from any thread)."""
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                _converter = _build()
    return _converter


# -- entry points --------------------------------------------------------------------------


def structure(data: Any, cls: type[T], *, what: str | None = None) -> T:
    """Build ``cls`` from decoded JSON, turning any shape error into UnexpectedResponseError."""
    conv = converter()
    try:
        return conv.structure(data, cls)
    except RecursionError:  # nested deeper than any answer the API documents
        raise UnexpectedResponseError(
            f"{what or cls.__name__} is not as documented: nested too deep to read"
        ) from None
    except (TypeError, ValueError, KeyError, _validation_error()) as exc:
        detail = "; ".join(_describe(exc))
        raise UnexpectedResponseError(
            f"{what or cls.__name__} is not as documented: {detail}"
        ) from exc


def unstructure(value: object) -> Any:
    """Plain JSON data for a model, or for data holding models: what ``--json`` prints.

    Models become objects of their fields with the unknown fields the API sent
    (``extra``) merged in; datetimes become ISO 8601, enums their values, paths strings;
    a ``bytes`` field becomes ``<name>_size`` (other bytes ``{"size": n}``): the bytes of a
    document are never rendered.

    Raises:
        UnexpectedResponseError: A value the API sent is nested too deep to render.
    """
    try:
        return converter().unstructure(value)
    except RecursionError:
        raise UnexpectedResponseError("an answer is nested too deep to render") from None


def _validation_error() -> type[Exception]:
    from cattrs import BaseValidationError

    return BaseValidationError


def _describe(exc: BaseException) -> list[str]:
    from cattrs import BaseValidationError, transform_error

    if isinstance(exc, BaseValidationError):
        return transform_error(exc)
    if isinstance(exc, KeyError):
        return [f"missing {exc}"]
    return [str(exc)]


def structure_job(data: Any) -> Job:
    """Build a Job from the job API's JSON (the documented shape on a fast path)."""
    global _item
    if _item is None:
        _item = result_item(converter().get_structure_hook(Token))
    job = fast_job(data, _item)
    return job if job is not None else structure(data, Job, what="job")


#: One field of results, as the converter decodes it (set on first use).
_item: Callable[[object], ExtractedField | str] | None = None


def dump_job(job: Job) -> dict[str, Any]:
    """A job as JSON without its results: ``structure_job`` reads it back."""
    data: dict[str, Any] = unstructure(attrs.evolve(job, results=None))
    del data["results"]
    return data


def structure_jobs(data: Any) -> list[Job]:
    """Build the jobs of a list response (an array of job summaries)."""
    if not isinstance(data, list):
        raise UnexpectedResponseError(f"job list is not an array: {type(data).__name__}")
    return [structure_job(item) for item in data]


def structure_document(data: Any) -> Document:
    """Build a Document from the document API's JSON, decoding the base64 content."""
    return structure(data, Document, what="document")


def structure_utility(provider_id: int, data: Any) -> Utility:
    """Build a Utility; an ``id`` missing from the body is the one that was asked for."""
    if isinstance(data, Mapping) and "id" not in data:
        data = {"id": provider_id, **data}
    return structure(data, Utility, what="utility")


def structure_provider_ids(data: Any) -> list[int]:
    """Read ``{"provider_ids": [...]}`` from a utilities search."""
    ids = data.get("provider_ids") if isinstance(data, Mapping) else None
    if not isinstance(ids, list):
        raise UnexpectedResponseError("utilities search has no provider_ids array")
    return [structure(i, int, what="provider id") for i in ids]


def structure_bills(data: Any) -> list[LinkBill]:
    """Read ``{"data": [bill, ...]}`` from the Link bills call."""
    bills = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(bills, list):
        raise UnexpectedResponseError("Link bills response has no data array")
    return [structure(b, LinkBill, what="bill") for b in bills]
