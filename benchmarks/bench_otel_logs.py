"""stdlib records into OpenTelemetry LogRecords: configure(otel_logs=True) vs the SDK's handler.

Goal: a stdlib record sent as a LogRecord by ``tracelog.configure(otel_logs=True)``
costs at most 1.5x what the OpenTelemetry SDK's own ``LoggingHandler`` costs
for the same record into the same ``SimpleLogRecordProcessor``.

What is compared, precisely: the same call,
``log.info("request handled %s", "/checkout", extra={"status": 200, "ms": 12.5})``,
on a logger under a root at INFO, inside a sampled span of the real SDK.
Both cases end in one SDK ``LoggerProvider`` (the global one) whose only
processor is one ``SimpleLogRecordProcessor`` exporting to an exporter that
keeps nothing, so what differs is how the record becomes a LogRecord and gets
there.

- baseline: the SDK's ``LoggingHandler`` alone on the root logger (no tracelog);
- goal case: ``configure(format=None, otel_logs=True, span_events=None)``, stdlib
  only: the record factory's stamp, then the LogRecord, no JSON line.

Timed alongside for scale: ``configure(otel_logs=True, span_events=None)``
writing its JSON line as well (to ``/dev/null``), and the SDK's
``LoggingHandler`` beside ``configure(span_events=None)``'s JSON line, the
other way to get both.

Run: ``.venv/bin/python benchmarks/bench_otel_logs.py`` (or ``make bench``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from typing import Any

from _harness import Case, arguments, run_in_sampled_span
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs import export as logs_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

import tracelog

# The SDK's exporter base class: its name since 1.39, else the older one.
_Exporter: Any = getattr(logs_export, "LogRecordExporter", None) or logs_export.LogExporter
_Result: Any = getattr(logs_export, "LogRecordExportResult", None) or logs_export.LogExportResult


class Discard(_Exporter):  # type: ignore[misc]
    """An exporter that counts what it is given and keeps nothing."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, batch: Sequence[Any]) -> Any:
        self.exported += len(batch)
        return _Result.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def main() -> None:
    """Time the ways into the same processor side by side inside a sampled span."""
    options = arguments(__doc__ or "", rounds=31, number=2000)
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    exporter = Discard()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    set_logger_provider(provider)
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(logging.INFO)
    log = logging.getLogger("bench.otel_logs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in newer SDKs
        sdk_handler = LoggingHandler(logger_provider=provider)

    def sdk_in() -> None:
        root.addHandler(sdk_handler)

    def sdk_out() -> None:
        root.removeHandler(sdk_handler)

    def sdk_beside_configure_in() -> None:
        tracelog.configure(output=sink, integrations=["stdlib"], span_events=None)
        sdk_in()

    def sdk_beside_configure_out() -> None:
        sdk_out()
        tracelog.reset()

    def call() -> None:
        log.info("request handled %s", "/checkout", extra={"status": 200, "ms": 12.5})

    cases = [
        Case("SDK LoggingHandler", call, sdk_in, sdk_out),
        Case(
            "tracelog.configure(format=None, otel_logs=True)",
            call,
            lambda: tracelog.configure(
                format=None, otel_logs=True, integrations=["stdlib"], span_events=None
            ),
            tracelog.reset,
            goal=1.5,
        ),
        Case(
            "tracelog.configure(otel_logs=True), + JSON line",
            call,
            lambda: tracelog.configure(
                output=sink, otel_logs=True, integrations=["stdlib"], span_events=None
            ),
            tracelog.reset,
        ),
        Case(
            "SDK LoggingHandler beside configure()'s JSON line",
            call,
            sdk_beside_configure_in,
            sdk_beside_configure_out,
        ),
    ]
    run_in_sampled_span(
        "stdlib records as OpenTelemetry LogRecords: otel_logs=True vs the SDK's handler",
        cases,
        options,
    )


if __name__ == "__main__":
    main()
