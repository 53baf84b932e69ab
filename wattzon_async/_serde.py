"""The one place that knows wire names and formats: a single cattrs Converter and its hooks.

Reads both timestamp formats of the API (``2016-07-25T16:26:12.320000`` from the job API,
``2018-01-01 20:40:00.800922+00:00`` from notifications) as aware UTC datetimes, keeps
unknown statuses and unknown fields, parses the Python-list tag literal of notifications
without ``eval``, and turns raw and transformed results into models. Nothing outside this
module touches cattrs; its errors become ``UnexpectedResponseError`` here.
"""

from __future__ import annotations

import ast
import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from ._errors import UnexpectedResponseError
from .models import (
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

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False)


def parse_datetime(value: object) -> datetime:
    """Read an API timestamp as an aware UTC datetime; naive values are UTC.

    Accepts ISO 8601 with ``T`` or a space, with or without offset or ``Z``, and epoch
    seconds.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a timestamp: {value!r}") from exc
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_tags(value: object) -> tuple[str, ...]:
    """Read tags from a JSON list, or from the Python-list literal notifications carry.

    The literal is parsed with ``ast.literal_eval`` restricted to a list or tuple of
    strings and numbers: no code is ever executed. A bare non-empty string that is not a
    literal is one tag; ``None`` and ``""`` are no tags.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text[0] in "[(":
            value = _literal_list(text)
        else:
            return (text,)
    if isinstance(value, list | tuple):
        return tuple(_tag_text(item) for item in value)
    raise TypeError(f"tags must be a list or a list literal, not {type(value).__name__}")


def _literal_list(text: str) -> list[object]:
    if len(text) > 100_000:
        raise ValueError("tag literal too long")
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a list literal: {text[:60]!r}") from exc
    if not isinstance(node, ast.List | ast.Tuple):
        raise ValueError(f"not a list literal: {text[:60]!r}")
    items: list[object] = []
    for element in node.elts:
        sign = 1
        if isinstance(element, ast.UnaryOp) and isinstance(element.op, ast.USub):
            sign, element = -1, element.operand
        if not isinstance(element, ast.Constant) or isinstance(element.value, bool):
            raise ValueError(f"tag literal holds something other than strings: {text[:60]!r}")
        value = element.value
        if isinstance(value, int | float):
            items.append(sign * value)
        elif isinstance(value, str) and sign == 1:
            items.append(value)
        else:
            raise ValueError(f"tag literal holds something other than strings: {text[:60]!r}")
    return items


def _tag_text(item: object) -> str:
    if isinstance(item, bool) or not isinstance(item, str | int | float):
        raise TypeError(f"a tag must be a string or a number, not {type(item).__name__}")
    if isinstance(item, str):
        try:  # join surrogate pairs from \u escapes; a lone surrogate is an error
            return item.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeError as exc:
            raise ValueError(f"a tag holds an unpaired surrogate: {item!r}") from exc
    return str(item)


def _token(value: object) -> Token:
    """A token box: the documented six ints on a fast path, anything else via the converter."""
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
    return converter.structure(value, Token)


def _structure_result(value: object) -> ExtractedField | str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        tokens = value.get("tokens")
        if isinstance(tokens, Mapping):
            extra = {k: v for k, v in value.items() if k != "tokens"} if len(value) > 1 else {}
            if len(tokens) > 2 or not tokens.keys() <= {"raw", "content"}:
                extra.update((k, v) for k, v in tokens.items() if k not in ("raw", "content"))
            content = tokens.get("content")
            return ExtractedField(
                "" if content is None else str(content),
                tuple([_token(t) for t in tokens.get("raw") or ()]),
                extra,
            )
        if "content" in value:
            return ExtractedField(
                content=str(value["content"]),
                extra={k: v for k, v in value.items() if k != "content"},
            )
    if value is None:
        return ""
    if isinstance(value, int | float | bool):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _structure_results(value: object, _: object) -> Mapping[str, ExtractedField | str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"results must be an object, not {type(value).__name__}")
    return {str(name): _structure_result(item) for name, item in value.items()}


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_float(value: object, _: object) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def _structure_status(value: object, _: object) -> JobStatus:
    if not isinstance(value, str) or not value:
        raise TypeError(f"a status must be a non-empty string, got {value!r}")
    return JobStatus(value)


def _keep_unknown(cls: type[T]) -> Callable[[Any, Any], T]:
    """Structure hook for a model with ``extra``: known keys to fields, the rest kept."""
    known = {a.name for a in attrs.fields(cls) if a.name != "extra" and a.init}  # type: ignore[arg-type]
    base = make_dict_structure_fn(cls, converter)

    def structure(data: Any, _: Any) -> T:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__} must be an object, not {type(data).__name__}")
        fields = {k: v for k, v in data.items() if k in known}
        fields["extra"] = {k: v for k, v in data.items() if k not in known}
        return base(fields, cls)

    return structure


converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(JobStatus, _structure_status)
converter.register_structure_hook_func(lambda t: t == tuple[str, ...], lambda v, _: parse_tags(v))
converter.register_structure_hook_func(
    lambda t: t == Mapping[str, ExtractedField | str] | None, _structure_results
)
for _model in (Token, DocumentRef, Job, ZipCode, LinkBill, SnapNotification, LinkNotification):
    converter.register_structure_hook(_model, _keep_unknown(_model))


def structure(data: Any, cls: type[T], *, what: str | None = None) -> T:
    """Build ``cls`` from decoded JSON, turning any shape error into UnexpectedResponseError."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        detail = "; ".join(_describe(exc))
        raise UnexpectedResponseError(
            f"{what or cls.__name__} is not as documented: {detail}"
        ) from exc


def _describe(exc: BaseException) -> list[str]:
    if isinstance(exc, cattrs.BaseValidationError):
        return cattrs.transform_error(exc)
    if isinstance(exc, KeyError):
        return [f"missing {exc}"]
    return [str(exc)]


def structure_job(data: Any) -> Job:
    """Build a Job from the job API's JSON."""
    return structure(data, Job, what="job")


def dump_job(job: Job) -> dict[str, Any]:
    """A job as the job API's JSON, without its results: ``structure_job`` reads it back."""
    document = {**job.document.extra, "id": job.document.id, "name": job.document.name}
    return {
        **job.extra,
        "id": job.id,
        "created_at": job.created_at.isoformat(),
        "email": job.email,
        "provider": job.provider,
        "status": job.status.value,
        "document": document,
        "tags": list(job.tags),
    }


def structure_jobs(data: Any) -> list[Job]:
    """Build the jobs of a list response (an array of job summaries)."""
    if not isinstance(data, list):
        raise UnexpectedResponseError(f"job list is not an array: {type(data).__name__}")
    return [structure_job(item) for item in data]


def structure_document(data: Any) -> Document:
    """Build a Document from the document API's JSON, decoding the base64 content."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError(f"document is not an object: {type(data).__name__}")
    ref = structure(data, DocumentRef, what="document")
    raw = data.get("content")
    if not isinstance(raw, str):
        raise UnexpectedResponseError("document has no base64 content")
    try:
        content = base64.b64decode(raw, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise UnexpectedResponseError(f"document content is not base64: {exc}") from exc
    extra = {k: v for k, v in ref.extra.items() if k != "content"}
    return Document(id=ref.id, name=ref.name, content=content, extra=extra)


def structure_utility(provider_id: int, data: Any) -> Utility:
    """Build a Utility; its comma-separated ``type`` becomes the ``types`` tuple."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError(f"utility is not an object: {type(data).__name__}")
    raw_type = data.get("type")
    if isinstance(raw_type, list):
        types = tuple(t.strip() for t in raw_type if isinstance(t, str) and t.strip())
    elif isinstance(raw_type, str):
        types = tuple(t.strip() for t in raw_type.split(",") if t.strip())
    else:
        types = ()
    known = {"name", "type", "lseid", "homepage_url", "id"}
    lseid = data.get("lseid")
    try:
        return Utility(
            id=_structure_int(data.get("id", provider_id), int),
            name=_structure_str(data.get("name", ""), str),
            types=types,
            lseid=None if lseid in (None, "") else str(lseid),
            homepage_url=_optional_str(data.get("homepage_url")),
            extra={k: v for k, v in data.items() if k not in known},
        )
    except TypeError as exc:
        raise UnexpectedResponseError(f"utility is not as documented: {exc}") from exc


def _optional_str(value: object) -> str | None:
    return None if value in (None, "") else _structure_str(value, str)


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


def dump_tags(tags: tuple[str, ...]) -> str:
    """Write tags the way WattzOn's notifications carry them: a Python-list literal."""
    return repr(list(tags))


def create_job_envelope(
    *, email: str, provider: int, tags: tuple[str, ...], name: str
) -> tuple[bytes, bytes]:
    """The JSON of a create-job request around the document's base64 content.

    Returns ``(prefix, suffix)``: the body is ``prefix + base64(content) + suffix``.
    """
    head = json.dumps(
        {"email": email, "provider": provider, "tags": list(tags), "document": {"name": name}},
        separators=(",", ":"),
    )
    prefix = head[: -len("}}")] + ',"content":"'
    return prefix.encode(), b'"}}'
