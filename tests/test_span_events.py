"""The span-event bridge: log records become events on the span they were logged in.

Everything runs against the real OpenTelemetry SDK with an in-memory exporter.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
import threading
from collections.abc import Sequence
from typing import Any

import loguru
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

import tracelog
import tracelog._errors
import tracelog.loguru
import tracelog.stdlib
import tracelog.structlog
from tracelog._events import SpanEvents

from .conftest import LIBRARIES, emit, known_span

Tracer = tuple[trace.Tracer, InMemorySpanExporter]
LIMIT = 4096


class Boom(RuntimeError):
    """An application exception with a qualified name."""


def dropped(event: Any) -> int:
    """How many attributes *event* dropped (older SDKs, 1.24 for one, count on its attributes)."""
    count = getattr(event, "dropped_attributes", None)
    return int(event.attributes.dropped if count is None else count)


def events_of(exporter: InMemorySpanExporter, name: str) -> list[Any]:
    """The events of the one finished span called *name*."""
    spans = [span for span in exporter.get_finished_spans() if span.name == name]
    assert len(spans) == 1, [span.name for span in exporter.get_finished_spans()]
    return list(spans[0].events)


def span_named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The one finished span called *name*."""
    spans = [span for span in exporter.get_finished_spans() if span.name == name]
    assert len(spans) == 1
    return spans[0]


def valid_attribute(value: Any) -> bool:
    """Whether *value* is a valid OpenTelemetry attribute value within tracelog's limits."""
    if type(value) is str:
        value.encode("utf-8")  # raises on lone surrogates
        return len(value) <= LIMIT
    if type(value) is int:
        return -(2**63) <= value < 2**63
    if type(value) in (bool, float):
        return True
    if type(value) is tuple:
        kinds = {type(item) for item in value}
        return len(kinds) <= 1 and all(valid_attribute(item) for item in value)
    return False


def log_exception(library: str, message: str) -> None:
    """Log *message* with the exception being handled, the library's usual way."""
    if library == "stdlib":
        logging.getLogger(__name__).exception(message)
    elif library == "structlog":
        structlog.get_logger(__name__).exception(message)
    else:
        loguru.logger.exception(message)


@pytest.mark.parametrize("library", LIBRARIES)
def test_contract_event_on_the_current_span(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The same record through each library gives the same event, and the line is written."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("request"):
        emit(library, "info", "cart loaded", items=3, ratio=0.5, ok=True, who="ann")
    (event,) = events_of(exporter, "request")
    assert event.name == "cart loaded"
    attributes = dict(event.attributes)
    code_line = attributes.pop("code.line.number")
    path = attributes.pop("code.file.path")
    assert attributes == {
        "items": 3,
        "ratio": 0.5,
        "ok": True,
        "who": "ann",
        "log.record.severity_text": "INFO",
        "log.record.severity_number": 9,
        "otel.scope.name": "tests.conftest",
        "code.function.name": "emit",
    }
    assert path.endswith("conftest.py")
    assert isinstance(code_line, int)
    assert code_line > 0
    (record,) = out.records()
    assert record["message"] == "cart loaded"
    assert record["span_id"] == format(span_named(exporter, "request").context.span_id, "016x")


@pytest.mark.parametrize("library", LIBRARIES)
def test_severity_numbers(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Levels map to OpenTelemetry severity numbers, loguru's TRACE and SUCCESS in range."""
    configured(level="TRACE", span_events="TRACE")
    tracer_, exporter = tracer
    levels = ["debug", "info", "warning", "error", "critical"]
    if library == "loguru":
        levels += ["trace", "success"]
    with tracer_.start_as_current_span("levels"):
        for level in levels:
            emit(library, level, f"at {level}")
    numbers = {
        event.name: (
            event.attributes["log.record.severity_text"],
            event.attributes["log.record.severity_number"],
        )
        for event in events_of(exporter, "levels")
    }
    expected = {
        "at debug": ("DEBUG", 5),
        "at info": ("INFO", 9),
        "at warning": ("WARNING", 13),
        "at error": ("ERROR", 17),
        "at critical": ("CRITICAL", 21),
    }
    if library == "loguru":
        expected |= {"at trace": ("TRACE", 1), "at success": ("SUCCESS", 12)}
    assert numbers == expected


@pytest.mark.parametrize("library", LIBRARIES)
def test_below_threshold_and_off(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Records below span_events are lines only; span_events=None turns the bridge off."""
    out = configured(span_events="WARNING")
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("threshold"):
        emit(library, "debug", "debug line")
        emit(library, "info", "info line")
        emit(library, "warning", "warning line")
    assert [event.name for event in events_of(exporter, "threshold")] == ["warning line"]
    configured(span_events=None)
    with tracer_.start_as_current_span("off"):
        emit(library, "error", "error line")
    assert events_of(exporter, "off") == []
    messages = [record["message"] for record in out.records()]
    assert messages == ["debug line", "info line", "warning line", "error line"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_nested_spans_each_get_their_own(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """An event goes on the innermost span current when it was logged, and only there."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("outer"):
        emit(library, "info", "outer before")
        with tracer_.start_as_current_span("inner"):
            emit(library, "info", "inner")
            with tracer_.start_as_current_span("innermost"):
                pass
        emit(library, "info", "outer after")
    assert [e.name for e in events_of(exporter, "outer")] == ["outer before", "outer after"]
    assert [e.name for e in events_of(exporter, "inner")] == ["inner"]
    assert events_of(exporter, "innermost") == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_threads_each_on_their_own_span(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Sixteen threads log at once, each inside its own span: no event lands elsewhere."""
    out = configured()
    tracer_, exporter = tracer
    barrier = threading.Barrier(16)

    def work(index: int) -> None:
        with tracer_.start_as_current_span(f"worker-{index}"):
            barrier.wait()
            for step in range(25):
                emit(library, "info", "step", worker=index, step=step)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(16):
        events = events_of(exporter, f"worker-{index}")
        assert [event.attributes["worker"] for event in events] == [index] * 25
        assert [event.attributes["step"] for event in events] == list(range(25))
    assert len(out.records()) == 16 * 25


@pytest.mark.parametrize("library", LIBRARIES)
def test_asyncio_tasks_each_on_their_own_span(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Interleaved asyncio tasks put their events on their own spans."""
    configured()
    tracer_, exporter = tracer

    async def task(index: int) -> None:
        with tracer_.start_as_current_span(f"task-{index}"):
            for step in range(5):
                emit(library, "info", "step", task=index, step=step)
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(task(index) for index in range(50)))

    asyncio.run(main())
    for index in range(50):
        events = events_of(exporter, f"task-{index}")
        assert [event.attributes["task"] for event in events] == [index] * 5


def test_structlog_async_methods(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The async methods of structlog log from a thread with a copy of the context: same span."""
    configured()
    tracer_, exporter = tracer

    async def main() -> None:
        with tracer_.start_as_current_span("async"):
            await structlog.get_logger("app").ainfo("awaited", n=1)

    asyncio.run(main())
    (event,) = events_of(exporter, "async")
    assert event.name == "awaited"
    assert event.attributes["n"] == 1
    # Read in the caller before the hand-off: the coroutine that logged.
    assert event.attributes["code.function.name"] == "main"
    assert event.attributes["code.file.path"] == __file__


@pytest.mark.parametrize("library", LIBRARIES)
def test_exception_event(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """An exception is one standard exception event, and the span's status becomes ERROR."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("failing"):
        try:
            raise Boom("card declined")
        except Boom:
            log_exception(library, "payment failed")
    (event,) = events_of(exporter, "failing")
    assert event.name == "exception"
    attributes = event.attributes
    assert attributes["exception.type"] == f"{__name__}.Boom"
    assert attributes["exception.message"] == "card declined"
    assert "Traceback (most recent call last)" in attributes["exception.stacktrace"]
    assert 'raise Boom("card declined")' in attributes["exception.stacktrace"]
    assert attributes["log.record.body"] == "payment failed"
    assert attributes["log.record.severity_number"] == 17
    status = span_named(exporter, "failing").status
    assert status.status_code is StatusCode.ERROR
    assert status.description == f"{__name__}.Boom: card declined"
    (record,) = out.records()
    assert record["exception.type"] == f"{__name__}.Boom"


@pytest.mark.parametrize("library", LIBRARIES)
def test_error_status_only_when_asked_and_at_error(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """error_status=False leaves the status alone; a warning with an exception never sets it."""
    configured(error_status=False)
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("not-set"):
        try:
            raise Boom("x")
        except Boom:
            log_exception(library, "failed")
    assert span_named(exporter, "not-set").status.status_code is StatusCode.UNSET
    configured()
    with tracer_.start_as_current_span("warning"):
        try:
            raise Boom("y")
        except Boom:
            if library == "stdlib":
                logging.getLogger("app").warning("retrying", exc_info=True)
            elif library == "structlog":
                structlog.get_logger("app").warning("retrying", exc_info=True)
            else:
                loguru.logger.opt(exception=True).warning("retrying")
        emit(library, "error", "an error without an exception")
    span = span_named(exporter, "warning")
    assert [event.name for event in span.events] == ["exception", "an error without an exception"]
    assert span.status.status_code is StatusCode.UNSET


class Unprintable:
    """An object whose str() and repr() both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def hostile_fields() -> dict[str, Any]:
    """Values no attribute may hold as they are."""
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return {
        "unprintable": Unprintable(),
        "raw": b"\xff\x00bytes",
        "cycle": cycle,
        "big_text": "x" * 1_000_000,
        "huge": 2**70,
        "enormous": 10**5000,
        "surrogate": "a\udc80b",
        "mixed": [1, "two", 3.0],
        "nested": {"password": "hunter2", "ok": [1, 2]},
        "none": None,
        "ints": [1, 2, 2**80],
        "empty": [],
    }


@pytest.mark.parametrize("library", LIBRARIES)
def test_hostile_values_are_coerced(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Hostile values never raise: each becomes a valid attribute, cut to the limit."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("hostile"):
        emit(library, "info", "hostile " + "m" * 1_000_000, **hostile_fields())
    (event,) = events_of(exporter, "hostile")
    attributes = event.attributes
    assert [k for k, v in attributes.items() if not valid_attribute(v)] == []
    assert len(event.name) == LIMIT
    assert attributes["unprintable"] == "<unrepresentable Unprintable>"
    assert attributes["raw"] == "\\xff\x00bytes"
    assert attributes["cycle"] == '[1,"[cycle]"]'
    assert attributes["big_text"] == "x" * LIMIT
    assert attributes["huge"] == str(2**70)
    assert attributes["enormous"].startswith("0x")
    assert len(attributes["enormous"]) <= LIMIT
    assert attributes["surrogate"] == "a\\udc80b"
    assert attributes["mixed"] == '[1,"two",3.0]'
    assert attributes["nested"] == '{"password":"[REDACTED]","ok":[1,2]}'
    assert "none" not in attributes
    assert attributes["ints"] == "[1,2,1208925819614629174706176]"
    assert attributes["empty"] == ()
    assert len(out.records()) == 1
    assert tracelog._errors.error_counts() == {}


@pytest.mark.parametrize("library", LIBRARIES)
def test_129_extra_fields(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """More fields than the SDK's event limit (128): the event keeps its log attributes."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("wide"):
        emit(library, "info", "wide", **{f"field_{i:03d}": i for i in range(129)})
    (event,) = events_of(exporter, "wide")
    assert len(event.attributes) == 128
    assert dropped(event) > 0
    assert event.attributes["log.record.severity_text"] == "INFO"
    assert event.attributes["code.function.name"] == "emit"


def test_length_limit_from_the_environment_and_option(configured, tracer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT sets the cut; attribute_value_length= overrides it."""
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("env"):
        logging.getLogger("app").info("n" * 500, extra={"text": "t" * 500, "items": ["i" * 500]})
    (event,) = events_of(exporter, "env")
    assert len(event.name) == 100
    assert event.attributes["text"] == "t" * 100
    assert event.attributes["items"] == ("i" * 100,)
    configured(attribute_value_length=10)
    with tracer_.start_as_current_span("option"):
        logging.getLogger("app").info("n" * 500, extra={"text": "t" * 500})
    (event,) = events_of(exporter, "option")
    assert event.attributes["text"] == "t" * 10


@pytest.mark.parametrize("library", LIBRARIES)
def test_redaction_before_the_span(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The JSON output's redaction applies to events; redact=() turns it off for both."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("redacted"):
        emit(library, "info", "login", password="hunter2", api_key="k", input_tokens=12)
    (event,) = events_of(exporter, "redacted")
    assert event.attributes["password"] == "[REDACTED]"
    assert event.attributes["api_key"] == "[REDACTED]"
    assert event.attributes["input_tokens"] == 12
    configured(redact=())
    with tracer_.start_as_current_span("visible"):
        emit(library, "info", "login", password="hunter2")
    (event,) = events_of(exporter, "visible")
    assert event.attributes["password"] == "hunter2"


@pytest.mark.parametrize("library", LIBRARIES)
def test_ended_and_non_recording_spans_untouched(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """After span.end(), or on a non-recording span, no event, no error, no SDK warning."""
    out = configured()
    tracer_, exporter = tracer
    sdk_warnings: list[logging.LogRecord] = []
    watcher = logging.Handler()
    watcher.emit = sdk_warnings.append  # type: ignore[method-assign]
    sdk_logger = logging.getLogger("opentelemetry.sdk.trace")
    sdk_logger.addHandler(watcher)
    try:
        span = tracer_.start_span("ended")
        span.end()
        with trace.use_span(span, end_on_exit=False):
            for _ in range(100):
                emit(library, "error", "after the end")
        off = TracerProvider(sampler=ALWAYS_OFF).get_tracer("off")
        with off.start_as_current_span("unsampled"):
            emit(library, "info", "unsampled")
        with known_span():
            emit(library, "info", "foreign non-recording span")
    finally:
        sdk_logger.removeHandler(watcher)
    assert events_of(exporter, "ended") == []
    assert sdk_warnings == []
    assert tracelog._errors.error_counts() == {}
    assert len(out.records()) == 102


@pytest.mark.parametrize("library", LIBRARIES)
def test_outside_a_span_nothing(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Outside any span a record is a line only."""
    out = configured()
    _, exporter = tracer
    emit(library, "error", "no span")
    assert exporter.get_finished_spans() == ()
    assert tracelog._errors.error_counts() == {}
    assert out.records()[0]["message"] == "no span"


def test_own_and_opentelemetry_loggers_are_never_events(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Records of opentelemetry.* and tracelog.* loggers are lines, never events."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("internal"):
        logging.getLogger("opentelemetry.sdk.trace").warning("sdk says")
        logging.getLogger("tracelog").warning("tracelog says")
        structlog.get_logger("opentelemetry.exporter").warning("exporter says")
        logging.getLogger("opentelemetryish").warning("an application logger")
    assert [event.name for event in events_of(exporter, "internal")] == ["an application logger"]
    assert len(out.records()) == 4


class LoggingExporter(InMemorySpanExporter):
    """An exporter that logs through every library while it exports."""

    def __init__(self, logger_names: Sequence[str]) -> None:
        super().__init__()
        self.logger_names = logger_names
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        for name in self.logger_names:
            logging.getLogger(name).warning("exporting %d spans", len(spans))
            structlog.get_logger(name).warning("exporting", spans=len(spans))
        loguru.logger.warning("exporting {} spans", len(spans))
        return super().export(spans)


@pytest.mark.parametrize("names", [["opentelemetry.exporter.otlp"], ["my.exporter"]])
def test_an_exporter_that_logs_does_not_loop(names, configured) -> None:  # type: ignore[no-untyped-def]
    """An exporter logging while it exports (in span.end()) neither loops nor adds events."""
    out = configured()
    exporter = LoggingExporter(names)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer_ = provider.get_tracer("loop")
    for index in range(20):
        with tracer_.start_as_current_span(f"span-{index}"):
            logging.getLogger("app").info("work")
    provider.shutdown()
    assert exporter.calls == 20
    spans = exporter.get_finished_spans()
    assert len(spans) == 20
    assert all([event.name for event in span.events] == ["work"] for span in spans)
    assert len(out.records()) == 20 * 4
    assert tracelog._errors.error_counts() == {}


# Building blocks, without configure().


def test_stdlib_filter_behind_a_queue(tracer, captured, isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """SpanEventFilter on the QueueHandler adds events in the emitting threads."""
    tracer_, exporter = tracer
    lines: queue.Queue[logging.LogRecord] = queue.Queue()
    handler = tracelog.stdlib.QueueHandler(lines)
    handler.addFilter(tracelog.stdlib.SpanEventFilter("INFO"))
    output = logging.StreamHandler(captured.stream)
    output.setFormatter(tracelog.stdlib.JsonFormatter())
    listener = logging.handlers.QueueListener(lines, output)
    listener.start()
    logger = isolated_logger("queued", handler)
    try:

        def work(index: int) -> None:
            with tracer_.start_as_current_span(f"queued-{index}"):
                logger.info("queued", extra={"worker": index})
                logger.debug("not an event")

        threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        listener.stop()
    for index in range(8):
        (event,) = events_of(exporter, f"queued-{index}")
        assert event.attributes["worker"] == index
        assert event.attributes["otel.scope.name"] == "queued"
    assert len(captured.records()) == 8


def test_stdlib_record_handled_in_another_span_is_not_misplaced(tracer, isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """A record stamped in one span and handled in another adds no event to the wrong span."""
    tracer_, exporter = tracer
    logger = isolated_logger("elsewhere", logging.NullHandler())
    logger.addFilter(tracelog.stdlib.TraceContextFilter())
    held: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = held.append  # type: ignore[method-assign]
    logger.addHandler(catcher)
    with tracer_.start_as_current_span("first"):
        logger.info("made here")
    bridge = tracelog.stdlib.SpanEventFilter()
    with tracer_.start_as_current_span("second"):
        bridge.filter(held[0])
    assert events_of(exporter, "first") == []
    assert events_of(exporter, "second") == []


def test_structlog_processor_in_a_user_chain(tracer, captured) -> None:  # type: ignore[no-untyped-def]
    """add_span_event in an ordinary chain: structlog's own keys stay out of the event."""
    tracer_, exporter = tracer
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            tracelog.structlog.add_trace_context,
            tracelog.structlog.add_span_event,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(captured.stream),
    )
    with tracer_.start_as_current_span("chain"):
        structlog.get_logger().info("hello", user="ann")
        structlog.get_logger().debug("quiet")
    (event,) = events_of(exporter, "chain")
    assert event.name == "hello"
    assert {k: v for k, v in event.attributes.items() if not k.startswith("code.")} == {
        "user": "ann",
        "log.record.severity_text": "INFO",
        "log.record.severity_number": 9,
    }
    assert event.attributes["code.function.name"] == "test_structlog_processor_in_a_user_chain"
    assert captured.records()[0]["event"] == "hello"


def test_structlog_processor_formatter_foreign_records(tracer, captured, isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """In foreign_pre_chain, stdlib records become events on their span."""
    tracer_, exporter = tracer
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[tracelog.structlog.SpanEventAdder("WARNING")],
        processors=[tracelog.structlog.JSONRenderer()],
    )
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(formatter)
    logger = isolated_logger("foreign", handler)
    with tracer_.start_as_current_span("foreign"):
        logger.info("below")
        logger.warning("from stdlib", extra={"n": 1})
    (event,) = events_of(exporter, "foreign")
    assert event.name == "from stdlib"
    assert event.attributes["n"] == 1
    assert event.attributes["code.function.name"] == (
        "test_structlog_processor_formatter_foreign_records"
    )
    assert len(captured.records()) == 2


def test_loguru_patcher_with_enqueue(tracer, captured) -> None:  # type: ignore[no-untyped-def]
    """The patcher runs in the logging thread, so a queued sink changes nothing."""
    tracer_, exporter = tracer
    logger = loguru.logger.patch(
        tracelog.loguru.SpanEventPatcher("INFO", previous=tracelog.loguru.patcher)
    )
    sink = loguru.logger.add(
        captured.stream, format=tracelog.loguru.JsonFormat(), enqueue=True, level="DEBUG"
    )
    try:

        def work(index: int) -> None:
            with tracer_.start_as_current_span(f"loguru-{index}"):
                logger.bind(worker=index).info("queued")

        threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        loguru.logger.complete()
    finally:
        loguru.logger.remove(sink)
    for index in range(8):
        (event,) = events_of(exporter, f"loguru-{index}")
        assert event.attributes["worker"] == index
        assert "trace_id" not in event.attributes  # the patcher's copy of the IDs
    assert len(captured.records()) == 8


def test_loguru_add_span_event_function(tracer) -> None:  # type: ignore[no-untyped-def]
    """tracelog.loguru.add_span_event works as a plain patcher."""
    tracer_, exporter = tracer
    logger = loguru.logger.patch(tracelog.loguru.add_span_event)
    sink = loguru.logger.add(lambda message: None, level="DEBUG")
    try:
        with tracer_.start_as_current_span("plain"):
            logger.debug("below")
            logger.warning("patched")
    finally:
        loguru.logger.remove(sink)
    assert [event.name for event in events_of(exporter, "plain")] == ["patched"]


def test_reset_and_reconfigure_stop_the_bridge(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """After reset() no library adds events any more."""
    configured()
    tracelog.reset()
    tracer_, exporter = tracer
    sink = loguru.logger.add(lambda message: None)
    try:
        with tracer_.start_as_current_span("after-reset"):
            for library in LIBRARIES:
                emit(library, "error", "after reset")
    finally:
        loguru.logger.remove(sink)
    assert events_of(exporter, "after-reset") == []


def test_event_time_is_the_record_time(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The event's timestamp lies within its span (stdlib: the record's own time)."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("timed"):
        logging.getLogger("app").info("now")
    span = span_named(exporter, "timed")
    (event,) = span.events
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= event.timestamp <= span.end_time
    assert out.records()[0]["message"] == "now"


class ForeignSpan(trace.NonRecordingSpan):
    """A span of another implementation: recording, with its own add_event."""

    def __init__(self, context: trace.SpanContext) -> None:
        super().__init__(context)
        self.added: list[tuple[str, dict[str, Any]]] = []

    def is_recording(self) -> bool:
        return True

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        self.added.append((name, dict(attributes or {})))


def test_spans_of_other_implementations_use_the_public_api(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Spans that are not the SDK's get events through their own add_event."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("sdk") as sdk_span:
        span = ForeignSpan(sdk_span.get_span_context())
        with trace.use_span(span):
            logging.getLogger("app").info("to the other span", extra={"n": 1})
    assert span.added[0][0] == "to the other span"
    assert span.added[0][1]["n"] == 1
    assert events_of(exporter, "sdk") == []


def test_sdk_subclass_overriding_add_event_is_respected(configured) -> None:  # type: ignore[no-untyped-def]
    """An SDK span subclass that overrides add_event gets its own add_event called."""
    from opentelemetry.sdk.trace import _Span

    seen: list[str] = []

    class Counting(_Span):
        def add_event(self, name: str, attributes: Any = None, timestamp: Any = None) -> None:
            seen.append(name)
            super().add_event(name, attributes, timestamp)

    configured()
    provider = TracerProvider()
    tracer_ = provider.get_tracer("x")
    base = tracer_.start_span("base")
    span = Counting(
        "counting",
        base.get_span_context(),
        span_processor=provider._active_span_processor,
        limits=base._limits,  # type: ignore[attr-defined]
    )
    span.start()
    with trace.use_span(span, end_on_exit=True):
        logging.getLogger("app").info("overridden")
    assert seen == ["overridden"]
    assert [event.name for event in span.events] == ["overridden"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.text(max_size=12), json_values, max_size=8), message=st.text())
def test_any_fields_become_valid_attributes(fields: dict[str, Any], message: str) -> None:
    """Whatever the fields, the bridge never raises and every attribute is valid."""
    provider = TracerProvider()
    span = provider.get_tracer("prop").start_span("prop")
    bridge = SpanEvents()
    errors_before = dict(tracelog._errors.error_counts())
    bridge.add(span, None, message, 20, "INFO", "app", "f", "/x.py", 1, fields, None)
    (event,) = span.events
    assert all(valid_attribute(value) for value in event.attributes.values())
    assert len(event.name) <= LIMIT
    assert tracelog._errors.error_counts() == errors_before


@pytest.mark.parametrize("library", LIBRARIES)
def test_only_records_configure_writes_become_events(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """span_events below level: records under level are neither written nor events."""
    out = configured(level="INFO", span_events="DEBUG")
    tracer_, exporter = tracer
    other = loguru.logger.add(lambda message: None, level="DEBUG")  # a sink that takes DEBUG
    try:
        with tracer_.start_as_current_span("levels"):
            emit(library, "debug", "not written")
            emit(library, "info", "written")
    finally:
        loguru.logger.remove(other)
    assert [event.name for event in events_of(exporter, "levels")] == ["written"]
    assert [record["message"] for record in out.records()] == ["written"]


def test_a_value_that_logs_while_the_sdk_holds_the_span_lock(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """The SDK holds a span lock while it turns a value to text: logging there never hangs."""
    out = configured()
    tracer_, exporter = tracer
    log = logging.getLogger("app")

    class Chatty:
        def __str__(self) -> str:
            log.info("rendering")
            try:
                raise Boom("inside")
            except Boom:
                log.exception("failed while rendering")
            return "chatty"

    def work() -> None:
        with tracer_.start_as_current_span("locked") as span:
            span.set_attribute("value", Chatty())  # type: ignore[arg-type]
            log.info("after")

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "deadlocked"
    messages = [record["message"] for record in out.records()]
    assert messages[-1] == "after"
    if not any(message.startswith("Invalid type Chatty") for message in messages):
        # (older SDKs, 1.24 for one, reject the value with a warning, without rendering it)
        assert "rendering" in messages
    assert [event.name for event in events_of(exporter, "locked")][-1] == "after"


def test_keys_are_never_cut(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """A short value limit cuts values only: keys keep their words, so redaction holds."""
    configured(attribute_value_length=8)
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("short"):
        logging.getLogger("app").info(
            "login",
            extra={"db_password": "hunter2", "user_id_primary": 1, "user_id_secondary": 2},
        )
    (event,) = events_of(exporter, "short")
    assert event.attributes["db_password"] == "[REDACTED]"
    assert event.attributes["user_id_primary"] == 1
    assert event.attributes["user_id_secondary"] == 2


@pytest.mark.parametrize("library", LIBRARIES)
def test_empty_keys_are_left_out(library, configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """OpenTelemetry has no empty attribute key: such a field is left out of the event."""
    out = configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("empty"):
        emit(library, "info", "odd", **{"": "x", "kept": 1})
    (event,) = events_of(exporter, "empty")
    assert "" not in event.attributes
    assert event.attributes["kept"] == 1
    assert out.records()[0][""] == "x"


@pytest.mark.parametrize("renderer", ["format_exc_info", "dict_tracebacks"])
def test_structlog_exception_rendered_before_the_adder(renderer, tracer, captured) -> None:  # type: ignore[no-untyped-def]
    """A chain that renders exc_info before add_span_event still gives an exception event."""
    tracer_, exporter = tracer
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            getattr(structlog.processors, renderer),
            tracelog.structlog.add_span_event,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(captured.stream),
    )
    with tracer_.start_as_current_span("rendered"):
        try:
            raise Boom("card declined")
        except Boom:
            structlog.get_logger().exception("payment failed")
    (event,) = events_of(exporter, "rendered")
    assert event.name == "exception"
    # format_exc_info's text names the type fully; dict_tracebacks only by its name.
    qualified = renderer == "format_exc_info"
    assert event.attributes["exception.type"] == (f"{__name__}.Boom" if qualified else "Boom")
    assert event.attributes["exception.message"] == "card declined"
    assert "card declined" in event.attributes["exception.stacktrace"]
    assert event.attributes["log.record.body"] == "payment failed"
    assert span_named(exporter, "rendered").status.status_code is StatusCode.ERROR


def test_smaller_sdk_limits_apply_without_warnings(configured) -> None:  # type: ignore[no-untyped-def]
    """The span's own limits win, silently, keeping the record's attributes before extras."""
    from opentelemetry.sdk.trace import SpanLimits

    out = configured()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        span_limits=SpanLimits(max_event_attributes=6, max_attribute_length=16)
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("limits").start_as_current_span("limited"):
        try:
            raise Boom("m" * 100)
        except Boom:
            logging.getLogger("app").exception("failed", extra={"user": "u" * 100, "n": 7})
    (event,) = events_of(exporter, "limited")
    assert list(event.attributes) == [
        "exception.type",
        "exception.message",
        "exception.stacktrace",
        "log.record.body",
        "log.record.severity_text",
        "log.record.severity_number",
    ]
    assert event.attributes["exception.message"] == "m" * 16
    assert dropped(event) == 6
    assert [record["level"] for record in out.records()] == ["error"]  # no SDK warnings


def test_error_status_does_not_depend_on_the_event_level(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """span_events above ERROR: no event for an ERROR record, but its exception sets the status."""
    configured(span_events="CRITICAL")
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("status"):
        try:
            raise Boom("x")
        except Boom:
            logging.getLogger("app").exception("failed")
    span = span_named(exporter, "status")
    assert span.events == ()
    assert span.status.status_code is StatusCode.ERROR


def test_a_lock_held_by_another_thread_is_waited_for(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """Another thread holding the span's lock longer than the short wait loses no event."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("contended") as span:
        held = threading.Event()

        def hold() -> None:
            with span._lock:  # type: ignore[attr-defined]
                held.set()
                threading.Event().wait(0.3)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        logging.getLogger("app").info("waited")
        holder.join()
    assert [event.name for event in events_of(exporter, "contended")] == ["waited"]
    assert tracelog._errors.error_counts() == {}


def test_many_threads_into_one_span_lose_nothing(configured) -> None:  # type: ignore[no-untyped-def]
    """Sixty-four threads logging into one shared span: every record is one event."""
    from opentelemetry.sdk.trace import SpanLimits

    configured()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_events=100_000))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("shared").start_as_current_span("shared") as span:

        def work() -> None:
            with trace.use_span(span):
                for _ in range(100):
                    logging.getLogger("app").info("tick")

        threads = [threading.Thread(target=work) for _ in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(events_of(exporter, "shared")) == 64 * 100
    assert tracelog._errors.error_counts() == {}


def test_status_after_the_span_ended_meanwhile(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """A span ended while its record was being converted: no status, no SDK warning."""
    configured()
    tracer_, _ = tracer
    sdk_warnings: list[logging.LogRecord] = []
    watcher = logging.Handler()
    watcher.emit = sdk_warnings.append  # type: ignore[method-assign]
    logging.getLogger("opentelemetry").addHandler(watcher)

    class EndsSpan:
        calls = 0

        def __str__(self) -> str:
            EndsSpan.calls += 1
            if EndsSpan.calls == 2:  # the line's rendering first, then the bridge's
                trace.get_current_span().end()
            return "x"

    try:
        with tracer_.start_as_current_span("ending", end_on_exit=False) as span:
            try:
                raise Boom("late")
            except Boom:
                logging.getLogger("app").exception("boom", extra={"value": EndsSpan()})
    finally:
        logging.getLogger("opentelemetry").removeHandler(watcher)
    assert EndsSpan.calls == 2
    assert span.status.status_code is StatusCode.UNSET
    assert sdk_warnings == []


def test_status_description_without_a_message(configured, tracer) -> None:  # type: ignore[no-untyped-def]
    """An exception without a message is described by its type alone, as Python prints it."""
    configured()
    tracer_, exporter = tracer
    with tracer_.start_as_current_span("bare"):
        try:
            raise Boom
        except Boom:
            logging.getLogger("app").exception("failed")
    assert span_named(exporter, "bare").status.description == f"{__name__}.Boom"


def test_structlog_rendered_traceback_with_a_multiline_message(tracer, captured) -> None:  # type: ignore[no-untyped-def]
    """After format_exc_info, the type and message come from the raised exception's lines."""
    tracer_, exporter = tracer
    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            tracelog.structlog.add_span_event,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(captured.stream),
    )
    with tracer_.start_as_current_span("multiline"):
        try:
            error = Boom("first line\nsecond line")
            error.add_note("a note")
            raise error
        except Boom:
            structlog.get_logger().exception("failed")
    (event,) = events_of(exporter, "multiline")
    assert event.attributes["exception.type"] == f"{__name__}.Boom"
    assert event.attributes["exception.message"].startswith("first line\nsecond line")


def test_structlog_code_location_of_async_methods(
    configured, tracer, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The async exception method records its caller; a module named asyncio_* is the app."""
    configured()
    tracer_, exporter = tracer
    (tmp_path / "asyncio_app_helpers.py").write_text(
        "import structlog\ndef helper():\n    structlog.get_logger('app').info('from helper')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import asyncio_app_helpers  # type: ignore[import-not-found]

    async def main() -> None:
        with tracer_.start_as_current_span("locations"):
            try:
                raise Boom("x")
            except Boom:
                await structlog.get_logger("app").aexception("async failure")
            asyncio_app_helpers.helper()
            await asyncio.gather(structlog.get_logger("app").ainfo("gathered"))

    asyncio.run(main())
    events = {event.name: event.attributes for event in events_of(exporter, "locations")}
    assert events["exception"]["code.function.name"] == "main"
    assert events["exception"]["exception.type"] == f"{__name__}.Boom"
    assert events["from helper"]["code.file.path"].endswith("asyncio_app_helpers.py")
    # Run by asyncio's task machinery, the call has no caller frame of the application's.
    assert "code.function.name" not in events["gathered"]
