"""configure(otel_logs=True): each record of each library also becomes one OpenTelemetry LogRecord.

Everything runs against the real Logs SDK (a LoggerProvider with a
SimpleLogRecordProcessor into the SDK's in-memory exporter) set as
OpenTelemetry's global provider, as an application sets it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import logging.handlers
import math
import queue
import threading
from collections.abc import Sequence
from typing import Any

import loguru
import pytest
import structlog
from opentelemetry import context as otel_context
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

import tracelog
import tracelog._errors
from tests import conftest
from tests.test_span_events import Unprintable
from tracelog._stdlib_setup import OutputHandler

from .conftest import (
    LIBRARIES,
    SPAN_ID,
    TRACE_ID,
    Captured,
    InMemoryLogExporter,
    LogExporter,
    LogExportResult,
    emit,
    global_logger_provider,
    known_span,
    line_time_ns,
)

_EMIT_LINES = range(
    conftest.emit.__code__.co_firstlineno,
    conftest.emit.__code__.co_firstlineno + len(inspect.getsourcelines(conftest.emit)[0]),
)


def sent(exporter: InMemoryLogExporter) -> list[Any]:
    """The LogRecords exported so far."""
    return [item.log_record for item in exporter.get_finished_logs()]


def split_code(attributes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record's attributes as (the fields, the code.* attributes)."""
    fields = dict(attributes)
    code = {key: fields.pop(key) for key in list(fields) if key.startswith("code.")}
    return fields, code


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_one_log_record_with_the_span_ids(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Each library's record is one LogRecord: body, IDs, severity, times, fields, code.*."""
    out = configured(otel_logs=True)
    with known_span():
        emit(library, "warning", "cart loaded", items=3, user={"name": "ann", "password": "x"})
    (line,) = out.records()
    (item,) = log_exporter.get_finished_logs()
    record = item.log_record
    assert (record.body, record.severity_text, record.severity_number) == (
        "cart loaded",
        "WARNING",
        SeverityNumber.WARN,
    )
    assert (record.trace_id, record.span_id, int(record.trace_flags)) == (TRACE_ID, SPAN_ID, 1)
    assert item.instrumentation_scope.name == line["logger"] == "tests.conftest"
    fields, code = split_code(record.attributes)
    # Redacted as the JSON line is; a mapping becomes the line's JSON, as text.
    assert fields == {"items": 3, "user": '{"name":"ann","password":"[REDACTED]"}'}
    assert json.loads(fields["user"]) == line["user"]
    assert (code["code.function.name"], code["code.file.path"]) == ("emit", conftest.__file__)
    assert code["code.line.number"] in _EMIT_LINES
    assert abs(record.timestamp - line_time_ns(line)) <= 1000  # the line's time, to its µs
    assert record.timestamp <= record.observed_timestamp


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_json_line_stays_as_it_is(library, captured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """With otel_logs=True the JSON lines are the ones written without it (but for the time)."""
    lines = []
    for otel_logs in (False, True):
        stream = Captured()
        tracelog.configure(output=stream.stream, otel_logs=otel_logs)
        with known_span():
            emit(library, "info", "same", order="A-1", token="t", nested={"a": [1, {"b": 2}]})
        (line,) = stream.records()
        del line["timestamp"]
        lines.append(line)
        tracelog.reset()
    assert lines[0] == lines[1]
    assert len(sent(log_exporter)) == 1


@pytest.mark.parametrize("library", LIBRARIES)
def test_outside_a_span_no_ids(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """A record logged outside any span has no trace or span ID."""
    configured(otel_logs=True)
    emit(library, "info", "no span")
    (record,) = sent(log_exporter)
    assert (record.body, record.trace_id, record.span_id, int(record.trace_flags)) == (
        "no span",
        0,
        0,
        0,
    )


@pytest.mark.parametrize("library", LIBRARIES)
def test_unsampled_span_ids_with_its_flags(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """An unsampled span's IDs are sent, with flags saying it is unsampled."""
    configured(otel_logs=True)
    with known_span(sampled=False):
        emit(library, "info", "unsampled")
    (record,) = sent(log_exporter)
    assert (record.trace_id, record.span_id, int(record.trace_flags)) == (TRACE_ID, SPAN_ID, 0)


class Declined(Exception):
    """An application exception with a qualified name."""


@pytest.mark.parametrize("library", LIBRARIES)
def test_exception_attributes(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """An exception becomes exception.type (qualified), .message and .stacktrace."""
    out = configured(otel_logs=True)
    with known_span():
        try:
            raise Declined("insufficient funds")
        except Declined:
            emit(library, "exception", "payment failed", order="A-1")
    (line,) = out.records()
    (record,) = sent(log_exporter)
    assert (record.body, record.severity_text, record.severity_number) == (
        "payment failed",
        "ERROR",
        SeverityNumber.ERROR,
    )
    fields, _ = split_code(record.attributes)
    assert fields == {
        "order": "A-1",
        "exception.type": "tests.test_otel_logs.Declined",
        "exception.message": "insufficient funds",
        "exception.stacktrace": line["exception.stacktrace"],
    }
    assert "raise Declined" in fields["exception.stacktrace"]


def test_severities_of_every_level(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Levels map to OpenTelemetry's severity numbers; the text is the level's own name."""
    configured(otel_logs=True, level="TRACE")
    loguru.logger.trace("t")
    logging.getLogger("app").debug("d")
    loguru.logger.success("s")
    structlog.get_logger("app").critical("c")
    logging.getLogger("app").log(43, "43")
    got = [(r.body, r.severity_text, r.severity_number) for r in sent(log_exporter)]
    assert got == [
        ("t", "TRACE", SeverityNumber.TRACE),
        ("d", "DEBUG", SeverityNumber.DEBUG),
        ("s", "SUCCESS", SeverityNumber.INFO4),
        ("c", "CRITICAL", SeverityNumber.FATAL),
        ("43", "Level 43", SeverityNumber.ERROR4),
    ]


@pytest.mark.parametrize("library", LIBRARIES)
def test_span_event_attributes_are_the_log_record_s(
    library, configured, log_exporter, tracer
) -> None:  # type: ignore[no-untyped-def]
    """The span event holds the LogRecord's attributes and time, plus its fields of its own."""
    configured(otel_logs=True)
    tracer_, spans = tracer
    with tracer_.start_as_current_span("aligned"):
        emit(library, "info", "aligned", items=3, password="x")
    (record,) = sent(log_exporter)
    ((span,),) = [[s for s in spans.get_finished_spans() if s.name == "aligned"]]
    (event,) = span.events
    attributes = dict(event.attributes)
    assert {
        key: attributes.pop(key)
        for key in ("log.record.severity_text", "log.record.severity_number", "otel.scope.name")
    } == {
        "log.record.severity_text": "INFO",
        "log.record.severity_number": 9,
        "otel.scope.name": "tests.conftest",
    }
    assert attributes == dict(record.attributes)
    assert (event.name, event.timestamp) == (record.body, record.timestamp)
    assert (record.trace_id, record.span_id) == (
        span.context.trace_id,
        span.context.span_id,
    )


def test_ids_are_those_where_the_record_was_made(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Behind a QueueListener the LogRecord is made in another thread, with the emitter's IDs."""
    configured(otel_logs=True)
    root = logging.getLogger()
    (handler,) = [h for h in root.handlers if isinstance(h, OutputHandler)]
    root.removeHandler(handler)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root.addHandler(logging.handlers.QueueHandler(records))
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()

    def work(n: int) -> None:
        with known_span(trace_id=n + 1, span_id=n + 1):
            for i in range(20):
                logging.getLogger("queued").info("item %d", i, extra={"worker": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listener.stop()
    got = sent(log_exporter)
    assert len(got) == 6 * 20
    wrong = [
        r.body
        for r in got
        if (r.trace_id, r.span_id) != (r.attributes["worker"] + 1, r.attributes["worker"] + 1)
    ]
    assert wrong == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_threads_each_with_their_own_span(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Records logged at once in many threads each carry their own thread's span."""
    configured(otel_logs=True)

    def work(n: int) -> None:
        with known_span(trace_id=1000 + n, span_id=2000 + n):
            for _ in range(20):
                emit(library, "info", "work", worker=n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = sent(log_exporter)
    assert len(got) == 8 * 20
    assert all(
        (r.trace_id, r.span_id) == (1000 + r.attributes["worker"], 2000 + r.attributes["worker"])
        for r in got
    )


def test_structlog_async_methods_keep_the_caller(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Structlog's async methods run in a thread: the LogRecord has the caller's span and line."""
    configured(otel_logs=True)

    async def main() -> int:
        with known_span():
            line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
            await structlog.get_logger("async").ainfo("awaited", n=1)
        return line

    line = asyncio.run(main())
    (record,) = [r for r in sent(log_exporter) if r.body == "awaited"]  # asyncio logs at DEBUG
    fields, code = split_code(record.attributes)
    assert (record.body, record.trace_id, record.span_id, fields) == (
        "awaited",
        TRACE_ID,
        SPAN_ID,
        {"n": 1},
    )
    assert code == {
        "code.function.name": "main",
        "code.file.path": __file__,
        "code.line.number": line,
    }


def test_stack_info_is_code_stacktrace(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """stack_info=True is sent as code.stacktrace, as the line writes it."""
    out = configured(otel_logs=True)
    logging.getLogger("app").info("where", stack_info=True)
    structlog.get_logger("app").info("where", stack_info=True)
    lines = out.records()
    stacks = [r.attributes["code.stacktrace"] for r in sent(log_exporter)]
    assert stacks == [line["code.stacktrace"] for line in lines]
    assert all(s.startswith("Stack (most recent call last):") for s in stacks)


def hostile_fields() -> dict[str, Any]:
    """Values no attribute may hold as they are, and secrets at every depth."""
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return {
        "unprintable": Unprintable(),
        "raw": b"\xff\x00bytes",
        "cycle": cycle,
        "huge": 2**70,
        "surrogate": "a\udc80b",
        "key\udc80": "surrogate key",
        "mixed": [1, "two", 3.0],
        "nested": {"password": "hunter2", "ok": [1, 2], "deeper": [{"api_key": "sk-1"}]},
        "client_secret": "s3cr3t",
        "none": None,
        "nan": float("nan"),
        "code.line.number": "a field posing as an attribute",
        "": "no key",
    }


HOSTILE_ATTRIBUTES = {
    "unprintable": "<unrepresentable Unprintable>",
    "raw": "\\xff\x00bytes",
    "cycle": '[1,"[cycle]"]',
    "huge": str(2**70),
    "surrogate": "a\\udc80b",
    "key\\udc80": "surrogate key",
    "mixed": '[1,"two",3.0]',
    "nested": '{"password":"[REDACTED]","ok":[1,2],"deeper":[{"api_key":"[REDACTED]"}]}',
    "client_secret": "[REDACTED]",
    "extra.code.line.number": "a field posing as an attribute",
}


@pytest.mark.parametrize("library", LIBRARIES)
def test_hostile_values_become_valid_attributes(library, configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Hostile values never raise: each becomes a valid attribute; secrets are redacted."""
    out = configured(otel_logs=True)
    with known_span():
        emit(library, "info", "hostile \udc80 ✓", **hostile_fields())
    (record,) = sent(log_exporter)
    fields, code = split_code(record.attributes)
    assert math.isnan(fields.pop("nan"))  # NaN is a valid double attribute
    assert fields == HOSTILE_ATTRIBUTES
    assert record.body == "hostile \\udc80 ✓"
    assert set(code) == {"code.function.name", "code.file.path", "code.line.number"}
    assert len(out.records()) == 1
    assert tracelog._errors.error_counts() == {}


def test_own_and_opentelemetry_loggers_are_not_sent(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Records of the opentelemetry.* and tracelog.* loggers are lines only."""
    out = configured(otel_logs=True)
    logging.getLogger("opentelemetry.sdk.export").warning("exporter trouble")
    logging.getLogger("tracelog.doctor").warning("own")
    structlog.get_logger("opentelemetry").warning("exporter trouble")
    logging.getLogger("app").warning("app")
    assert [line["message"] for line in out.records()] == [
        "exporter trouble",
        "own",
        "exporter trouble",
        "app",
    ]
    assert [record.body for record in sent(log_exporter)] == ["app"]


class LoggingExporter(LogExporter):
    """An exporter (the SDK's plug-in point) that logs through the application's logger."""

    def __init__(self) -> None:
        self.batches: list[Sequence[Any]] = []

    def export(self, batch: Sequence[Any]) -> LogExportResult:
        self.batches.append(batch)
        logging.getLogger("app.exporter").warning("exported %d", len(batch))
        return LogExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class FailingExporter(LoggingExporter):
    """An exporter whose export raises: the SDK logs the failure."""

    def export(self, batch: Sequence[Any]) -> LogExportResult:
        self.batches.append(batch)
        raise ConnectionError("collector unreachable")


@pytest.mark.parametrize("exporter_class", [LoggingExporter, FailingExporter])
def test_an_exporter_that_logs_does_not_feed_itself(exporter_class, configured) -> None:  # type: ignore[no-untyped-def]
    """What an exporter logs while exporting is written, never sent again: no loop."""
    exporter = exporter_class()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with global_logger_provider(provider):
        out = configured(otel_logs=True)
        for n in range(3):
            logging.getLogger("app").info("record %d", n)
    assert [len(batch) for batch in exporter.batches] == [1, 1, 1]
    messages = [line["message"] for line in out.records()]
    assert [m for m in messages if m.startswith("record")] == ["record 0", "record 1", "record 2"]
    # What the exporter, or the SDK about its failure, said (newer SDKs say it once).
    said = {m for m in messages if not m.startswith("record")}
    assert said in ({"exported 1"}, {"Exception while exporting logs."})


class LoggingProcessor(LogRecordProcessor):
    """A processor (the SDK's plug-in point) that logs each record, outside any suppression."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def _record(self, log_data: Any) -> None:
        self.seen.append(log_data)
        logging.getLogger("app.processor").warning("saw a record")

    emit = on_emit = _record  # the SDK's name for it before 1.39, and since

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_what_is_logged_while_a_record_is_sent_is_not_sent(configured) -> None:  # type: ignore[no-untyped-def]
    """A record logged while one is being sent, in that thread, is a line only."""
    processor = LoggingProcessor()
    provider = LoggerProvider()
    provider.add_log_record_processor(processor)
    with global_logger_provider(provider):
        out = configured(otel_logs=True)
        logging.getLogger("app").info("one")
        logging.getLogger("app").info("two")
    assert len(processor.seen) == 2
    assert [line["message"] for line in out.records()] == [
        "one",
        "saw a record",
        "two",
        "saw a record",
    ]


def test_suppressed_instrumentation_is_not_sent(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Records logged while OpenTelemetry suppresses instrumentation (an export) are lines only."""
    out = configured(otel_logs=True)
    token = otel_context.attach(
        otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    )
    try:
        logging.getLogger("urllib3.connectionpool").info("posting the batch")
    finally:
        otel_context.detach(token)
    logging.getLogger("app").info("after")
    assert [line["message"] for line in out.records()] == ["posting the batch", "after"]
    assert [record.body for record in sent(log_exporter)] == ["after"]


def test_no_provider_no_work_then_the_provider_set_later(configured) -> None:  # type: ignore[no-untyped-def]
    """Without a global provider nothing is sent; one set after configure() gets what follows."""
    out = configured(otel_logs=True)
    logging.getLogger("app").info("before")
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with global_logger_provider(provider):
        logging.getLogger("app").info("after")
    assert [line["message"] for line in out.records()] == ["before", "after"]
    assert [record.body for record in sent(exporter)] == ["after"]
    assert tracelog._errors.error_counts() == {}


def test_format_none_sends_without_writing(captured, log_exporter, capsys) -> None:  # type: ignore[no-untyped-def]
    """format=None writes no line anywhere; the LogRecords still go out, for every library."""
    tracelog.configure(format=None, otel_logs=True)
    with known_span():
        for library in LIBRARIES:
            emit(library, "info", f"only otel {library}")
    assert [r.body for r in sent(log_exporter)] == [f"only otel {lib}" for lib in LIBRARIES]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"otel_logs": 1}, TypeError),
        ({"format": None, "output": "x.log", "otel_logs": True}, ValueError),
        ({"format": None, "span_events": None}, ValueError),
        ({"format": "xml"}, ValueError),
    ],
)
def test_invalid_options_change_nothing(options, error, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """Invalid otel_logs/format combinations raise before anything is configured."""
    with pytest.raises(error):
        tracelog.configure(**options)
    assert tracelog._configure.configured() is None


def test_turned_off_by_reconfigure_and_reset(configured, log_exporter) -> None:  # type: ignore[no-untyped-def]
    """otel_logs=False (the default) sends nothing; a reconfiguration or reset() stops it."""
    configured()
    emit("stdlib", "info", "default")
    configured(otel_logs=True)
    for library in LIBRARIES:
        emit(library, "info", f"on {library}")
    configured(otel_logs=False)
    for library in LIBRARIES:
        emit(library, "info", "off again")
    configured(otel_logs=True)
    tracelog.reset()
    logging.getLogger("app").warning("after reset")
    assert [r.body for r in sent(log_exporter)] == [f"on {library}" for library in LIBRARIES]
