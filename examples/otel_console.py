"""One bill's traces and metrics, exported to the console with the OpenTelemetry SDK.

Usage::

    pip install 'wattzon-async[otel]' opentelemetry-sdk
    eval "$(wattzon emulator --print-env)"   # or your real WATTZON_* settings
    python examples/otel_console.py examples/bills/pge-2015-11.pdf

The SDK records spans and metrics through ``opentelemetry-api`` as soon as the
application sets providers, as this program does in ``configure``: every span is printed
as one line when it ends (``ConsoleSpanExporter`` with a compact formatter), the metrics
once at the end (``ConsoleMetricExporter``), and then the bill's trace as a tree. In a
service, put an OTLP exporter where the console exporters are.

The bill is submitted with ``jobs.create``, then waited for with ``await_job`` racing
polling against the SQS notification (when ``WATTZON_SQS_QUEUE_URL`` is set).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wattzon_async import NotificationConsumer, WattzOnClient, WattzOnError

#: Attributes shown in the tree (the rest are in the one-line dumps).
SHOWN = (
    "http.response.status_code",
    "http.request.resend_count",
    "wattzon.job.id",
    "wattzon.idempotency.outcome",
    "wattzon.wait.polls",
    "wattzon.wait.resolved_by",
    "wattzon.job.status",
    "wattzon.notification.verdict",
)


def one_line(span: ReadableSpan) -> str:
    """A span as one console line: name, duration and attributes."""
    ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    attributes = " ".join(f"{k}={v!s}" for k, v in (span.attributes or {}).items())
    return f"span {span.name} {ms:.1f} ms {attributes}\n"


def metric_lines(data: MetricsData) -> str:
    """Metrics as one console line per data point: name, labels, value (or count, sum)."""
    lines = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    labels = ",".join(f"{k}={v!s}" for k, v in (point.attributes or {}).items())
                    if isinstance(point, NumberDataPoint):
                        value = f"value={point.value}"
                    else:
                        value = f"count={point.count} sum={point.sum:.3f}"
                    lines.append(f"metric {metric.name}{{{labels}}} {value} {metric.unit}\n")
    return "".join(lines)


def configure(out: TextIO) -> tuple[TracerProvider, MeterProvider, InMemorySpanExporter]:
    """Set global providers exporting to ``out``; keep the spans for the tree too."""
    kept = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=one_line))
    )
    tracer_provider.add_span_processor(SimpleSpanProcessor(kept))
    reader = PeriodicExportingMetricReader(
        ConsoleMetricExporter(out=out, formatter=metric_lines), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider, kept


def trace_tree(spans: Sequence[ReadableSpan], job_id: int) -> list[str]:
    """The trees of the spans about ``job_id``, one indented line per span."""
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent, []).append(span)

    def lines(span: ReadableSpan, depth: int) -> list[str]:
        ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        attributes = span.attributes or {}
        shown = " ".join(f"{k}={attributes[k]!s}" for k in SHOWN if k in attributes)
        link = " (linked to await_job)" if span.links else ""
        out = [f"{'  ' * depth}{span.name}  {ms:.0f} ms  {shown}{link}".rstrip()]
        for child in children.get(span.context.span_id, []):
            out.extend(lines(child, depth + 1))
        return out

    def about_job(span: ReadableSpan) -> bool:
        if (span.attributes or {}).get("wattzon.job.id") == job_id:
            return True
        return any(about_job(c) for c in children.get(span.context.span_id, []))

    result: list[str] = []
    for root in children.get(None, []):
        if about_job(root):
            result.extend(lines(root, 0))
    return result


async def submit_and_wait(
    client: WattzOnClient, consumer: NotificationConsumer | None, bill: Path, email: str
) -> int:
    """Submit one bill and wait for it; returns its job id."""
    job = await client.jobs.create(email=email, provider=4, document=bill)
    await client.await_job(job.id, notifications=consumer, timeout=120)
    return job.id


async def run(bill: Path, email: str, out: TextIO) -> int:
    """Submit ``bill`` with telemetry exported to ``out``; print its trace tree."""
    tracer_provider, meter_provider, kept = configure(out)
    client = WattzOnClient.from_env()
    try:
        async with client:
            try:
                consumer = NotificationConsumer.from_env()
            except WattzOnError:  # no queue configured: polling alone
                job_id = await submit_and_wait(client, None, bill, email)
            else:
                async with consumer:
                    job_id = await submit_and_wait(client, consumer, bill, email)
    finally:
        meter_provider.shutdown()  # exports the metrics once
        tracer_provider.shutdown()
    print(f"\ntrace of job {job_id}:", file=out)
    for line in trace_tree(kept.get_finished_spans(), job_id):
        print(line, file=out)
    return job_id


def main(argv: Sequence[str] | None = None) -> int:
    """Submit a bill with OpenTelemetry exporting to the console."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bill", type=Path, help="a bill (PDF or image)")
    parser.add_argument("--email", default="billing@example.com", help="the job's email")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.bill, args.email, sys.stdout))
    except WattzOnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
