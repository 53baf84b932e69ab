"""The one place that knows wire names and formats: how every field gets in and out.

In: the API's JSON becomes models through one cattrs Converter (``_converter``), with the
formats of single values in ``_values``: both timestamp formats of the API as aware UTC
datetimes, open statuses, the Python-list tag literal of notifications read without
``eval``, raw and transformed results; fields a model does not know are kept in ``extra``.

Out: the same converter turns models into plain JSON data (``unstructure``), the JSON
``wattzon --json`` prints: fields by name with ``extra`` merged in, datetimes in ISO 8601,
a document's bytes only as their size. Structuring reads that JSON back as well.

Nothing outside this package touches cattrs (imported on first use, not at import); its
errors become ``UnexpectedResponseError`` here.
"""

from ._converter import (
    converter,
    dump_job,
    structure,
    structure_bills,
    structure_document,
    structure_job,
    structure_jobs,
    structure_provider_ids,
    structure_utility,
    unstructure,
)
from ._values import create_job_envelope, dump_tags, parse_datetime, parse_tags

__all__ = [
    "converter",
    "dump_job",
    "create_job_envelope",
    "dump_tags",
    "parse_datetime",
    "parse_tags",
    "structure",
    "structure_bills",
    "structure_document",
    "structure_job",
    "structure_jobs",
    "structure_provider_ids",
    "structure_utility",
    "unstructure",
]
