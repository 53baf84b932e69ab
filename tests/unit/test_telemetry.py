"""The telemetry hooks: nothing loaded or recorded without OpenTelemetry, URL templates."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.otel_support import installed
from wattzon_async import _telemetry
from wattzon_async._httpx import httpx

from .conftest import MakeClient, json_response, seed


def test_importing_the_package_loads_no_opentelemetry() -> None:
    code = textwrap.dedent(
        """
        import sys
        import wattzon_async
        from wattzon_async import WattzOnClient, NotificationConsumer
        from wattzon_async import _telemetry
        assert _telemetry.call("GET https://x/api/v1/jobs/1/") is _telemetry.OFF
        assert not _telemetry.is_on()
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hooks_do_nothing_when_no_provider_is_set() -> None:
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401 - loaded, but nobody configured a provider

    assert _telemetry.tracer() is None
    assert not _telemetry.is_on()
    assert _telemetry.call("GET https://x/api/v1/jobs/1/") is _telemetry.OFF
    assert _telemetry.operation("jobs.create") is _telemetry.OFF
    assert _telemetry.attempt() is _telemetry.OFF
    assert isinstance(_telemetry.wait(1), _telemetry.OffWait)


def test_hooks_work_while_a_provider_is_set_and_stop_after() -> None:
    with installed() as recorded:
        assert _telemetry.is_on()
        with _telemetry.call("GET https://h:8443/api/v1/jobs/12/") as call:
            assert isinstance(call, _telemetry.Call)
            with _telemetry.attempt():
                pass
        assert [s.name for s in recorded.spans()] == ["GET /api/v1/jobs/{job_id}/", "jobs.get"]
    assert not _telemetry.is_on()
    assert _telemetry.call("GET https://h/api/v1/jobs/12/") is _telemetry.OFF


def test_a_call_inside_the_same_operation_adds_no_span() -> None:
    with installed() as recorded:
        with (
            _telemetry.operation("jobs.create"),
            _telemetry.call("POST https://h/api/v1/jobs/") as inner,
            _telemetry.attempt(),
        ):
            assert inner is _telemetry.OFF
        assert [s.name for s in recorded.spans()] == ["POST /api/v1/jobs/", "jobs.create"]


@pytest.mark.parametrize(
    ("path", "template", "job_id"),
    [
        ("/api/v1/jobs/", "/api/v1/jobs/", None),
        ("/api/v1/jobs/123/", "/api/v1/jobs/{job_id}/", 123),
        ("/api/v1/jobs/123/document/", "/api/v1/jobs/{job_id}/document/", 123),
        ("/link/4.0/zips/94110", "/link/4.0/zips/{zipcode}", None),
        ("/link/4.0/utilities/", "/link/4.0/utilities/", None),
        ("/link/4.0/utilities/3150", "/link/4.0/utilities/{provider_id}", None),
        ("/link/4.0/data/bills/jane%40x", "/link/4.0/data/bills/{profile_id}", None),
        ("/link/4.0/data/bills/1001/77.pdf", "/link/4.0/data/bills/{profile_id}/{id}", None),
        ("/proxy/jane/api/v1/jobs/7/", "/{id}/{id}/api/v1/jobs/{job_id}/", 7),
        ("/somewhere/else/x.pdf", "/{id}/{id}/{id}", None),
    ],
)
def test_url_templates_keep_only_the_api_words(path: str, template: str, job_id: int) -> None:
    assert _telemetry.url_template(path)[0] == template
    assert _telemetry.url_template(path)[2] == job_id


async def test_http_instrumentations_are_told_to_stay_silent_inside_an_attempt(
    make_client: MakeClient,
) -> None:
    from opentelemetry import context

    key = context._SUPPRESS_HTTP_INSTRUMENTATION_KEY
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(context.get_value(key))
        return json_response(seed("job_raw.json"))

    client = make_client(handler)
    await client.jobs.get(578)
    with installed() as recorded:
        await client.jobs.get(578)
    assert seen == [None, True]
    assert [s.name for s in recorded.spans()] == ["GET /api/v1/jobs/{job_id}/", "jobs.get"]
