"""tracelog's building blocks in logging set-ups of your own, without ``configure()``.

For applications that already configure their logging: each library keeps
its own configuration, and tracelog adds its pieces to it.

- stdlib: a ``dictConfig`` with tracelog's ``TraceContextFilter`` (IDs),
  ``SpanEventFilter`` (records become span events) and ``JsonFormatter``.
- structlog: a processor chain of your own, with ``add_trace_context``,
  ``add_span_event`` and tracelog's ``JSONRenderer`` at the end.
- loguru: tracelog's ``patcher`` (IDs into ``record["extra"]``), chained
  into ``SpanEventPatcher``, and a sink writing ``JsonFormat`` lines.

One request span, a line from each library inside it: all three lines carry
its IDs and all three are events on it.

Run it (in the project's venv: ``make test`` creates it)::

    python examples/custom_pipeline.py

stdout: the JSON log lines. stderr: the finished span as a JSON line with its
events (or over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

import structlog
from _tracing import service_name, tracer_provider
from loguru import logger
from opentelemetry import trace

import tracelog.loguru
import tracelog.structlog

SERVICE = service_name("checkout")

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # Stamps the IDs where the record is made (and sets %(otelTraceID)s).
        "trace": {"()": "tracelog.stdlib.TraceContextFilter"},
        # Adds INFO and above to the current span; it never drops a record.
        "span_events": {"()": "tracelog.stdlib.SpanEventFilter", "level": "INFO"},
    },
    "formatters": {
        "json": {"()": "tracelog.stdlib.JsonFormatter", "service_name": SERVICE},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["trace", "span_events"],
        },
    },
    "root": {"level": "INFO", "handlers": ["stdout"]},
}


def configure_structlog() -> None:
    """A chain of your own: structlog's processors, tracelog's where they belong."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            tracelog.structlog.add_trace_context,
            # Before the renderer, while the event dict still has the fields.
            tracelog.structlog.add_span_event,
            tracelog.structlog.JSONRenderer(service_name=SERVICE),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )


def configure_loguru() -> None:
    """The patcher for the IDs, the span-event patcher after it, one JSON sink."""
    logger.remove()  # loguru's default stderr sink
    logger.configure(
        patcher=tracelog.loguru.SpanEventPatcher("INFO", previous=tracelog.loguru.patcher)
    )
    logger.add(sys.stdout, format=tracelog.loguru.JsonFormat(service_name=SERVICE), level="INFO")


def main() -> int:
    provider = tracer_provider(SERVICE)
    logging.config.dictConfig(LOGGING)
    configure_structlog()
    configure_loguru()

    tracer = trace.get_tracer("checkout")
    try:
        with tracer.start_as_current_span("POST /checkout"):
            logging.getLogger("checkout.api").info("request received", extra={"user_id": 42})
            # PrintLogger has no name: bind the "logger" field add_logger_name would add.
            structlog.get_logger().bind(logger="checkout.cart").info("cart loaded", items=3)
            logger.bind(amount_cents=4599).info("card charged")
    finally:
        provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
