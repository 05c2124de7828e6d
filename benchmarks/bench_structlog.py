"""structlog + orjson: the cost of `tracelog.structlog.add_trace_context`.

Goal: the pipeline with the processor costs at most 1.05x the same pipeline
without it, inside a sampled span. Timed alongside for comparison: a naive
processor (``get_current_span()`` and hex formatting on every record), and
the floor, a processor that adds three constant strings: what any processor
writing these fields costs in this pipeline before it looks anything up.

Run: ``.venv/bin/python benchmarks/bench_structlog.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import structlog
from _harness import Case, arguments, run_in_sampled_span
from opentelemetry import trace

import tracelog.structlog


def naive_trace_context(logger: Any, method_name: str, event_dict: Any) -> Any:
    """What a first attempt looks like: read the span and format the IDs every time."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
        event_dict["trace_flags"] = format(ctx.trace_flags, "02x")
    return event_dict


def constant_fields(logger: Any, method_name: str, event_dict: Any) -> Any:
    """The floor: the least any processor adding the three fields can cost (no lookup at all)."""
    event_dict["trace_id"] = "0af7651916cd43dd8448eb211c80319c"
    event_dict["span_id"] = "b7ad6b7169203331"
    event_dict["trace_flags"] = "01"
    return event_dict


def pipeline(sink: Any, *extra: Any) -> Any:
    """The fast production chain from structlog's "Performance" page, rendering with orjson."""
    return structlog.wrap_logger(
        structlog.BytesLogger(sink),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *extra,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),
    )


def main() -> None:
    """Time the three pipelines side by side inside a sampled span."""
    options = arguments(__doc__ or "", rounds=61, number=2000)
    sink = open(os.devnull, "wb")  # noqa: SIM115
    plain = pipeline(sink)
    with_tracelog = pipeline(sink, tracelog.structlog.add_trace_context)
    naive = pipeline(sink, naive_trace_context)
    floor = pipeline(sink, constant_fields)

    def log_with(logger: Any) -> Any:
        return lambda: logger.info("request handled", path="/checkout", status=200, ms=12.5)

    cases = [
        Case("structlog + orjson, no trace context", log_with(plain)),
        Case("  + tracelog.structlog.add_trace_context", log_with(with_tracelog), goal=1.05),
        Case("  + naive get_current_span() processor", log_with(naive)),
        Case("  + three constant fields (the floor)", log_with(floor)),
    ]
    run_in_sampled_span(
        "structlog: add_trace_context vs the same pipeline without it", cases, options
    )


if __name__ == "__main__":
    main()
