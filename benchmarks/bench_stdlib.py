"""stdlib logging: tracelog.configure() with IDs vs a plain python-json-logger pipeline without.

Goal: stdlib logging through ``tracelog.configure()`` (IDs included) costs at
most 1.0x a plain python-json-logger pipeline that writes no IDs, inside a
sampled span: correlation comes for free. The goal's case turns the span-event
bridge off (``span_events=None``), since the baseline adds no span events;
``configure()``'s defaults, bridge on, are timed alongside (the bridge's own
cost is ``bench_span_events.py``'s subject). OpenTelemetry's
``LoggingInstrumentor`` on the same python-json-logger pipeline, and
python-json-logger's orjson backend, are timed alongside for comparison.

Every case logs the same call through the root logger to a text stream on
``/dev/null``, with the same fields: time, level, logger name, message and
the caller's extra fields (plus the IDs where the case writes them).

Run: ``.venv/bin/python benchmarks/bench_stdlib.py`` (or ``make bench``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from _harness import Case, arguments, run_in_sampled_span
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from pythonjsonlogger.json import JsonFormatter
from pythonjsonlogger.orjson import OrjsonFormatter

import tracelog

FIELDS = "%(levelname)s %(name)s %(message)s"
ID_FIELDS = " %(otelTraceID)s %(otelSpanID)s %(otelTraceSampled)s"


def main() -> None:
    """Time the pipelines side by side inside a sampled span."""
    options = arguments(__doc__ or "", rounds=31, number=2000)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(logging.INFO)
    log = logging.getLogger("bench.stdlib")

    def with_handler(formatter: logging.Formatter) -> tuple[Any, Any]:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(formatter)
        return (lambda: root.addHandler(handler), lambda: root.removeHandler(handler))

    plain_in, plain_out = with_handler(JsonFormatter(FIELDS, timestamp=True))
    orjson_in, orjson_out = with_handler(OrjsonFormatter(FIELDS, timestamp=True))
    instr_in, instr_out = with_handler(JsonFormatter(FIELDS + ID_FIELDS, timestamp=True))
    instrumentor = LoggingInstrumentor()

    def instrumented_in() -> None:
        instrumentor.instrument(set_logging_format=False)
        instr_in()

    def instrumented_out() -> None:
        instr_out()
        instrumentor.uninstrument()

    def call() -> None:
        log.info("request handled %s", "/checkout", extra={"status": 200, "ms": 12.5})

    cases = [
        Case("python-json-logger (json), no IDs", call, plain_in, plain_out),
        Case(
            "tracelog.configure(span_events=None), IDs",
            call,
            lambda: tracelog.configure(output=sink, integrations=["stdlib"], span_events=None),
            tracelog.reset,
            goal=1.0,
        ),
        Case(
            "tracelog.configure() defaults, + span events",
            call,
            lambda: tracelog.configure(output=sink, integrations=["stdlib"]),
            tracelog.reset,
        ),
        Case("python-json-logger (orjson), no IDs", call, orjson_in, orjson_out),
        Case(
            "python-json-logger (json) + LoggingInstrumentor",
            call,
            instrumented_in,
            instrumented_out,
        ),
    ]
    run_in_sampled_span("stdlib: configure() vs python-json-logger", cases, options)


if __name__ == "__main__":
    main()
