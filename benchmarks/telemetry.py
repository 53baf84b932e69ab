"""9. Telemetry overhead: ``client.jobs.get`` with OpenTelemetry on, off, and raw httpx.

The same COMPLETE job is read over and over, sequentially, in blocks that rotate the
order of three sides: the SDK with an OpenTelemetry tracer and meter provider set
(spans to an in-memory exporter through a simple processor, metrics to an in-memory
reader: every span and measurement is made and kept), the SDK with no provider set (the
path every user without OpenTelemetry takes; here the API is loaded, which costs a
provider look-up per hook, more than a process that never loads it), and a bare httpx
client sending the same GET. Each figure is the median over blocks of the ratio of two
sides' times in that block. As in benchmark 1, the SDK client skips the rate limiter's
slow start (``RateLimitPolicy(initial_rate=None)``), which would otherwise pace the
first blocks of both SDK sides and inflate their ratio to raw httpx.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from wattzon_async import RateLimitPolicy
from wattzon_async.emulator import Emulator

from ._common import (
    BenchResult,
    Row,
    Settings,
    finished_job_gets,
    median,
    raw_client,
    run_concurrently,
)

__all__ = ["run"]

NAME = "9. Telemetry overhead"
#: What tracing and metrics may add to a GET against the local emulator (about 2 ms):
#: two SDK spans and five measurements, some 100-150 µs, nearly all in the OTel SDK.
_TARGET = 1.25


def _reset_globals() -> None:
    """Unset the global providers (OpenTelemetry lets a process set them once)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@contextmanager
def _telemetry_on(exporter: InMemorySpanExporter) -> Iterator[None]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    _reset_globals()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield
    finally:
        _reset_globals()
        meter_provider.shutdown()
        tracer_provider.shutdown()


async def run(emu: Emulator, settings: Settings) -> BenchResult:
    """Measure what tracing and metrics add to a request; see the module docstring."""
    result = BenchResult(NAME)
    exporter = InMemorySpanExporter()
    lone = RateLimitPolicy(initial_rate=None)
    async with emu.client(rate_limit=lone) as client, raw_client(client) as raw:
        gets = await finished_job_gets(emu, client, raw)

        async def traced_block(count: int) -> float:
            with _telemetry_on(exporter):  # providers set up outside the timing
                seconds = await _timed_calls(gets.sdk, count)
            exporter.clear()
            return seconds

        async def plain_block(count: int) -> float:
            return await _timed_calls(gets.sdk, count)

        async def raw_block(count: int) -> float:
            return await _timed_calls(gets.raw, count)

        sides = {"on": traced_block, "off": plain_block, "raw": raw_block}
        times = await _rotate(sides, settings)
    calls = settings.overhead_calls
    result.details = {"calls_per_side": calls, "block": settings.overhead_block, **times}
    pairs = (
        ("on", "off", "SDK with tracing + metrics / SDK without", _TARGET),
        ("off", "raw", "SDK without OpenTelemetry / raw httpx", None),
        ("on", "raw", "SDK with tracing + metrics / raw httpx", None),
    )
    for top, bottom, metric, limit in pairs:
        ratios = [a / b for a, b in zip(times[top], times[bottom], strict=True)]
        result.rows.append(
            Row(
                NAME,
                f"{metric}, {calls} GETs",
                median(ratios),
                limit=limit,
                detail=(
                    f"{top} {sum(times[top]) / calls * 1e3:.2f} ms/call, "
                    f"{bottom} {sum(times[bottom]) / calls * 1e3:.2f} ms/call; "
                    f"median of {len(ratios)} blocks"
                ),
            )
        )
    return result


async def _timed_calls(call: Callable[[], Awaitable[None]], count: int) -> float:
    started = time.perf_counter()
    await run_concurrently(call, count, 1)
    return time.perf_counter() - started


async def _rotate(
    sides: Mapping[str, Callable[[int], Awaitable[float]]], settings: Settings
) -> dict[str, list[float]]:
    """Run blocks of each side, the order rotating each round; seconds per block."""
    block = settings.overhead_block
    for side in sides.values():
        await side(20)  # warm up
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(max(1, settings.overhead_calls // block)):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(await sides[name](block))
    return times
