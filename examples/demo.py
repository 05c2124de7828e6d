"""tracelog demo: one request, three logging libraries, one trace ID.

Configures the OpenTelemetry SDK and tracelog, runs a request with nested
spans that logs through stdlib logging, structlog and loguru, and prints the
JSON lines. Every line logged inside a span carries that span's IDs.

Run it with ``make demo`` (or ``python examples/demo.py`` in the venv).
"""

from __future__ import annotations

import json
import logging
import sys

import structlog
from loguru import logger as loguru_logger
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracelog


def main() -> int:
    spans = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)

    # One call: stdlib, structlog and loguru now write the same JSON to stdout.
    tracelog.configure(level="DEBUG")

    tracer = trace.get_tracer("demo")
    stdlib_log = logging.getLogger("checkout.api")
    struct_log = structlog.get_logger("checkout.cart")

    print("# JSON lines, one per record:", file=sys.stderr)
    stdlib_log.info("service starting", extra={"version": "1.4.2"})
    with tracer.start_as_current_span("POST /checkout"):
        stdlib_log.info("request received", extra={"user_id": 42, "authorization": "Bearer s3cr3t"})
        with tracer.start_as_current_span("load cart"):
            struct_log.info("cart loaded", items=3, total_cents=4599)
        with tracer.start_as_current_span("charge card"):
            loguru_logger.info("charging card", amount_cents=4599, card_token="tok_visa")
            try:
                raise TimeoutError("payment gateway did not answer in 2s")
            except TimeoutError:
                loguru_logger.exception("charge failed, will retry")
            struct_log.warning("retrying charge", attempt=2)
        stdlib_log.info("order placed", extra={"order_id": "A-1001"})
        request_trace = tracelog.current_trace()
    tracelog.reset()

    assert request_trace is not None
    print(
        f"\n# Every record inside the request carries trace_id {request_trace.trace_id};\n"
        f"# the SDK recorded {len(spans.get_finished_spans())} spans for it, and the records\n"
        "# at INFO and above became events on the span they were logged in:",
        file=sys.stderr,
    )
    for span in spans.get_finished_spans():
        context = span.get_span_context()
        assert context is not None
        summary = {
            "span": span.name,
            "span_id": f"{context.span_id:016x}",
            "status": span.status.status_code.name,
            "events": [event.name for event in span.events],
        }
        print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
