"""Raw results decoded on first read, and the fast path for jobs: the same models as before."""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattzon_async import ExtractedField, Job, Token, UnexpectedResponseError
from wattzon_async._serde import converter, structure, structure_job, unstructure
from wattzon_async._serde._fast import fast_job
from wattzon_async._serde._results import LazyResults, deferrable, result_item

from .conftest import seed


def _eager(job: Job) -> Job:
    """The same job with its results as a plain dict, as they were decoded before."""
    assert job.results is not None
    return attrs.evolve(job, results=dict(job.results.items()))


def test_fields_are_decoded_once_and_only_when_read() -> None:
    decoded: list[object] = []

    def item(value: object) -> ExtractedField | str:
        decoded.append(value)
        return str(value)

    results = LazyResults({"a": "1", "b": "2"}, item)
    assert len(results) == 2
    assert list(results) == ["a", "b"]
    assert "a" in results
    assert decoded == []
    assert results["a"] == "1"
    assert results["a"] == "1"
    assert decoded == ["1"]
    with pytest.raises(KeyError):
        results["missing"]


def test_a_job_with_lazy_results_equals_the_eager_one() -> None:
    job = structure_job(seed("job_raw.json"))
    assert isinstance(job.results, LazyResults)
    eager = _eager(structure_job(seed("job_raw.json")))
    assert job == eager
    assert eager == job
    assert job.results == eager.results
    assert eager.results == job.results
    assert repr(job.results) == repr(eager.results)
    assert repr(job) == repr(eager)
    assert job.values() == eager.values()
    balance = job.results["Previous_balance"]
    assert isinstance(balance, ExtractedField)
    assert balance.tokens == (Token(page_number=1, x1=1315, y1=730, x2=1454, y2=769, index=19),)


def test_lazy_results_are_read_only_and_pickle_as_a_dict() -> None:
    job = structure_job(seed("job_raw.json"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.results = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        job.results["Name"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(job.results)
    again = pickle.loads(pickle.dumps(job))
    assert type(again.results) is dict
    assert again == job


def test_unstructure_round_trips() -> None:
    job = structure_job(seed("job_raw.json"))
    data = unstructure(job)
    assert data == unstructure(_eager(job))
    assert structure_job(data) == job


def test_a_malformed_token_box_still_fails_the_job() -> None:
    data: dict[str, Any] = seed("job_raw.json")
    field = next(iter(data["results"].values()))
    field["tokens"]["raw"][0]["x1"] = "left"
    with pytest.raises(UnexpectedResponseError):
        structure_job(data)


def test_results_of_another_shape_are_decoded_at_once() -> None:
    data: dict[str, Any] = seed("job_raw.json")
    data["results"]["Gas_Usage"] = {"content": "12"}
    job = structure_job(data)
    assert type(job.results) is dict
    assert job.values()["Gas_Usage"] == "12"


_box = st.fixed_dictionaries(
    {k: st.integers(-5, 5000) for k in ("page_number", "x1", "y1", "x2", "y2", "index")}
)
_field = st.text(max_size=5) | st.fixed_dictionaries(
    {"tokens": st.fixed_dictionaries({"raw": st.lists(_box, max_size=3), "content": st.text()})}
)
_documented = st.fixed_dictionaries(
    {
        "id": st.integers(1, 2**40),
        "created_at": st.sampled_from(
            ["2016-06-12T04:15:40.746000", "2016-06-12 04:15:40", "2016-06-12T04:15:40Z", "x"]
        ),
        "email": st.text(max_size=20),
        "provider": st.integers(0, 100),
        "status": st.sampled_from(["COMPLETE", "PROCESSING", "completed", "ARCHIVED", ""]),
        "document": st.fixed_dictionaries({"id": st.integers(1, 99), "name": st.text()}),
    },
    optional={
        "tags": st.lists(st.text(max_size=5), max_size=3) | st.just("['a', 2]"),
        "results": st.none() | st.dictionaries(st.text(max_size=8), _field, max_size=4),
    },
)


@settings(max_examples=300, deadline=None)
@given(_documented)
def test_the_fast_path_builds_what_the_converter_builds(data: dict[str, Any]) -> None:
    try:
        generic: Job | None = structure(data, Job)
    except UnexpectedResponseError:
        generic = None
    fast = fast_job(data, result_item(converter().get_structure_hook(Token)))
    if fast is None:  # left to the converter, which then raises or builds it
        return
    assert fast == generic
    assert repr(fast) == repr(generic)


def test_transformed_results_stay_a_plain_dict() -> None:
    import json

    job = structure_job(seed("job_transformed.json"))
    assert type(job.results) is dict
    assert json.loads(json.dumps(job.results)) == job.results


def test_a_box_of_six_other_fields_is_left_to_the_converter() -> None:
    data: dict[str, Any] = seed("job_raw.json")
    field = next(iter(data["results"].values()))
    box = field["tokens"]["raw"][0]
    box["confidence"] = box.pop("index")
    assert not deferrable(data["results"])
    assert fast_job(data, result_item(converter().get_structure_hook(Token))) is None
