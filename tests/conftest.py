"""Shared fixtures: known spans, the real SDK, captured output, clean global state."""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import loguru
import pytest
import structlog
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import export as logs_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util._once import Once

import tracelog
import tracelog._errors
import tracelog._json
from tests._otlp import OTLPReceiver

# CI sets this (.ci/run, .ci/matrix.py): there, a skipped test is a test that did
# not run where it must, so it fails instead. The only skips allowed are those
# that are right where CI does not run as root (they need root to change owners).
NO_SKIPS = "TRACELOG_NO_SKIPS"
ROOT_ONLY = (
    "tests/test_multiprocess.py::TestGunicornSetUp::test_the_directory_is_handed_to_the_workers_user",
    "tests/test_workers.py::test_workers_of_another_user_write_their_files",
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With TRACELOG_NO_SKIPS set, a skip becomes a failure that gives the skip's reason."""
    report = yield
    # (an expected failure is reported as skipped too: it stays so)
    allowed = hasattr(report, "wasxfail") or (item.nodeid in ROOT_ONLY and os.geteuid() != 0)
    if report.skipped and os.environ.get(NO_SKIPS) and not allowed:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but {NO_SKIPS} is set: {reason}"
    return report


TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACE_HEX = "0af7651916cd43dd8448eb211c80319c"
SPAN_HEX = "b7ad6b7169203331"
LIBRARIES = ("stdlib", "structlog", "loguru")

# The Logs SDK's names since 1.39 (the older ones are deprecated there), else the older ones.
InMemoryLogExporter: Any = getattr(logs_export, "InMemoryLogRecordExporter", None)
InMemoryLogExporter = InMemoryLogExporter or logs_export.InMemoryLogExporter
LogExporter: Any = getattr(logs_export, "LogRecordExporter", None) or logs_export.LogExporter
LogExportResult: Any = getattr(logs_export, "LogRecordExportResult", None)
LogExportResult = LogExportResult or logs_export.LogExportResult


@contextmanager
def known_span(
    trace_id: int = TRACE_ID, span_id: int = SPAN_ID, *, sampled: bool = True
) -> Iterator[NonRecordingSpan]:
    """Make a span with known IDs current (no SDK needed)."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))
    with trace.use_span(span):
        yield span


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON lines strictly: NaN/Infinity literals are rejected."""

    def reject(constant: str) -> Any:
        raise ValueError(f"invalid JSON constant {constant}")

    # JSON lines split on "\n" only: U+2028 or U+0085 may sit inside a string.
    lines = text.split("\n")
    assert lines[-1] == "", "the last line is not terminated"
    records = []
    for line in lines[:-1]:
        record = json.loads(line, parse_constant=reject)
        assert isinstance(record, dict)
        records.append(record)
    return records


def line_time_ns(line: dict[str, Any]) -> int:
    """A JSON line's timestamp (RFC 3339, microseconds) in ns since the epoch."""
    when = datetime.datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


class Captured:
    """A text stream tracelog writes to, with helpers to read it back."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        """Everything written so far."""
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        """The JSON records written so far."""
        return parse_lines(self.text)


@pytest.fixture
def captured() -> Captured:
    """A fresh in-memory output."""
    return Captured()


@pytest.fixture
def configured(captured: Captured) -> Callable[..., Captured]:
    """configure() tracelog to write into `captured`, with any other options."""

    def configure(**options: Any) -> Captured:
        options.setdefault("level", "DEBUG")
        tracelog.configure(output=captured.stream, **options)
        return captured

    return configure


@pytest.fixture
def tracer() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """A tracer from a real SDK TracerProvider with an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


@contextmanager
def global_logger_provider(provider: Any) -> Iterator[None]:
    """Make *provider* OpenTelemetry's global LoggerProvider, and the API's default again after.

    The API sets the global provider once per process; its two globals are
    put back as they were, so each test starts from an unset provider.
    """
    internal = sys.modules["opentelemetry._logs._internal"]
    saved = (internal._LOGGER_PROVIDER, internal._LOGGER_PROVIDER_SET_ONCE)
    internal._LOGGER_PROVIDER, internal._LOGGER_PROVIDER_SET_ONCE = None, Once()
    try:
        set_logger_provider(provider)
        yield
    finally:
        internal._LOGGER_PROVIDER, internal._LOGGER_PROVIDER_SET_ONCE = saved


@pytest.fixture
def log_exporter() -> Iterator[InMemoryLogExporter]:
    """The real Logs SDK as OpenTelemetry's global LoggerProvider, exporting into memory."""
    exporter = InMemoryLogExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "logs-test"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with global_logger_provider(provider):
        yield exporter
    provider.shutdown()


@pytest.fixture
def otlp() -> Iterator[OTLPReceiver]:
    """An OTLP/HTTP receiver on loopback for the test's duration."""
    receiver = OTLPReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def isolated_logger() -> Iterator[Callable[[str, logging.Handler], logging.Logger]]:
    """Make a stdlib logger that writes only to the given handler, and undo it afterwards."""
    made: list[logging.Logger] = []

    def make(name: str, handler: logging.Handler) -> logging.Logger:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def emit(library: str, level: str, message: str, /, **fields: Any) -> None:
    """Log one record through *library*, from this module (the logger name)."""
    if library == "stdlib":
        method = "exception" if level == "exception" else level
        getattr(logging.getLogger(__name__), method)(message, extra=fields)
    elif library == "structlog":
        getattr(structlog.get_logger(__name__), level)(message, **fields)
    else:
        # bind() rather than keyword arguments: loguru would also str.format()
        # the message with them.
        getattr(loguru.logger.bind(**fields), level)(message)


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo whatever a test did to logging, structlog, loguru and tracelog."""
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    factory = logging.getLogRecordFactory()
    structlog_config = structlog.get_config()
    structlog_configured = structlog.is_configured()
    orjson_available = tracelog._json.ORJSON_AVAILABLE
    tracelog._errors._seen.clear()  # each test sees its own first report of a failure
    yield
    tracelog.reset()
    tracelog._json.ORJSON_AVAILABLE = orjson_available
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    if structlog_configured:
        structlog.configure(**structlog_config)
    else:
        structlog.reset_defaults()
