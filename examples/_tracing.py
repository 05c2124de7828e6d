"""What the examples share: the OpenTelemetry SDK set-up, span summaries and server options.

Spans go over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, to a collector, Tempo or
Jaeger; otherwise each finished span is printed on stderr as one JSON line
(`span_line`), with the events its log records became.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

__all__ = ["server_options", "service_name", "span_line", "tracer_provider"]

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def service_name(default: str) -> str:
    """``OTEL_SERVICE_NAME``, else *default*."""
    return os.environ.get("OTEL_SERVICE_NAME") or default


def tracer_provider(name: str) -> TracerProvider:
    """Make the global SDK tracer provider for service *name*, with its exporter.

    Call ``provider.shutdown()`` on exit: it sends the spans still queued.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if any(os.environ.get(variable) for variable in OTLP_ENDPOINTS):
        # Batched: the export runs in a thread of its own, off the request path.
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
    else:
        provider.add_span_processor(
            SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr, formatter=span_line))
        )
    trace.set_tracer_provider(provider)
    return provider


def _otlp_exporter() -> SpanExporter:
    # Imported only when asked for: the examples run without the exporter installed.
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError:
        sys.exit(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OTLP/HTTP exporter is not installed:"
            ' pip install "opentelemetry-exporter-otlp-proto-http"'
        )
    # It reads the endpoint, headers and timeout from the OTEL_EXPORTER_OTLP_* variables.
    return OTLPSpanExporter()


def span_line(span: ReadableSpan) -> str:
    """One finished span as a JSON line: IDs, status and the events of its log records."""
    context = span.get_span_context()
    summary = {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
    }
    return json.dumps(summary, default=str) + "\n"


def server_options(description: str) -> argparse.Namespace:
    """The example servers' command line: ``[--host H] [--port P] [--log-file PATH]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--log-file", metavar="PATH", help="append the JSON log lines here (default: stdout)"
    )
    return parser.parse_args()
