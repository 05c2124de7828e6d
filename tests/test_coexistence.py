"""tracelog beside other handlers: nothing private leaks into what they read, nothing recurses.

The stamp tracelog puts on a stdlib record lives outside the record's
``__dict__``, so handlers that take every record attribute as user data
(OpenTelemetry's ``LoggingHandler``, python-json-logger's formatter,
structlog's ``ExtraAdder``) never see it, while copies (a ``QueueHandler``'s,
``logging.makeLogRecord``'s, a pickle's) keep it.
"""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import pickle
import queue
import sys
import warnings
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from pythonjsonlogger.json import JsonFormatter as PlainJsonFormatter

import tracelog
import tracelog.stdlib
import tracelog.structlog
from tracelog._stdlib_setup import OutputHandler

from .conftest import SPAN_HEX, SPAN_ID, TRACE_HEX, TRACE_ID, InMemoryLogExporter, known_span


@pytest.fixture
def sdk_handler() -> Iterator[InMemoryLogExporter]:
    """The SDK's own LoggingHandler on the root logger, exporting into memory."""
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in newer SDKs
        handler = LoggingHandler(logger_provider=provider)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield exporter
    finally:
        root.removeHandler(handler)
        provider.shutdown()


@pytest.fixture
def attribute_warnings() -> Iterator[list[logging.LogRecord]]:
    """What OpenTelemetry's attribute validation warns about while the test runs."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    validator = logging.getLogger("opentelemetry.attributes")
    validator.addHandler(keep)
    try:
        yield seen
    finally:
        validator.removeHandler(keep)


def test_sdk_logging_handler_beside_configure(configured, sdk_handler, attribute_warnings) -> None:  # type: ignore[no-untyped-def]
    """One LogRecord per call, with the span's IDs and the caller's fields only; no loop."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)  # a handler feeding itself fails fast instead of slowly
    try:
        out = configured()
        with known_span():
            logging.getLogger("app").info("paid", extra={"order_id": "A-1"})
            try:
                raise KeyError("sku")
            except KeyError:
                logging.getLogger("app").exception("lookup failed")
        logging.getLogger("app").warning("outside")
    finally:
        sys.setrecursionlimit(limit)
    records = [item.log_record for item in sdk_handler.get_finished_logs()]
    assert [(r.body, r.trace_id, r.span_id) for r in records] == [
        ("paid", TRACE_ID, SPAN_ID),
        ("lookup failed", TRACE_ID, SPAN_ID),
        ("outside", 0, 0),
    ]
    fields = [
        {k for k in r.attributes if not k.startswith(("code.", "exception."))} for r in records
    ]
    assert fields == [{"order_id"}, set(), set()]
    assert attribute_warnings == []
    assert [line["message"] for line in out.records()] == ["paid", "lookup failed", "outside"]


def test_sdk_logging_handler_beside_otel_logs_and_a_queue(configured, sdk_handler) -> None:  # type: ignore[no-untyped-def]
    """Behind a QueueHandler too, the SDK's handler gets no attribute of tracelog's."""
    configured(otel_logs=True)
    root = logging.getLogger()
    (ours,) = [h for h in root.handlers if isinstance(h, OutputHandler)]
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    sdk = [h for h in root.handlers if isinstance(h, LoggingHandler)]
    root.handlers[:] = [tracelog.stdlib.QueueHandler(records)]
    listener = logging.handlers.QueueListener(records, ours, *sdk)
    listener.start()
    try:
        with known_span():
            try:
                raise KeyError("sku")
            except KeyError:
                logging.getLogger("app").exception("queued", extra={"order_id": "A-1"})
    finally:
        listener.stop()
    (item,) = sdk_handler.get_finished_logs()
    assert not [k for k in item.log_record.attributes if k.startswith("_")]


def test_python_json_logger_s_own_formatter_beside_configure(configured) -> None:  # type: ignore[no-untyped-def]
    """python-json-logger's own formatter writes the caller's fields and nothing of tracelog's."""
    configured()
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(PlainJsonFormatter("%(message)s"))
    logging.getLogger().addHandler(plain)
    try:
        with known_span():
            logging.getLogger("app").info("paid", extra={"order_id": "A-1"})
    finally:
        logging.getLogger().removeHandler(plain)
    assert json.loads(stream.getvalue()) == {"message": "paid", "order_id": "A-1"}


def test_structlog_extra_adder_beside_configure(configured) -> None:  # type: ignore[no-untyped-def]
    """Structlog's ExtraAdder copies every non-standard attribute: tracelog's are not there."""
    configured()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), tracelog.structlog.add_trace_context],
        )
    )
    logging.getLogger().addHandler(handler)
    try:
        with known_span():
            logging.getLogger("app").info("paid", extra={"order_id": "A-1"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(stream.getvalue()) == {
        "event": "paid",
        "message": "paid",  # record.message: set by any logging.Formatter that ran first
        "order_id": "A-1",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
    }


def test_processor_formatter_behind_a_queue_keeps_the_stamp(configured) -> None:  # type: ignore[no-untyped-def]
    """ProcessorFormatter copies records with makeLogRecord: the copy keeps the emitter's IDs."""
    configured()
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[tracelog.structlog.JSONRenderer()])
    )
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    listener = logging.handlers.QueueListener(records, target)
    listener.start()
    try:
        with known_span():
            logging.getLogger("app").info("queued")
    finally:
        listener.stop()
        root.handlers[:] = saved
    line = json.loads(stream.getvalue())
    assert (line["message"], line["trace_id"], line["span_id"]) == ("queued", TRACE_HEX, SPAN_HEX)


def test_a_stamped_record_pickles_with_its_ids(configured) -> None:  # type: ignore[no-untyped-def]
    """A record crossing a process queue (pickled, any protocol) keeps its stamp."""
    configured()
    with known_span():
        record = logging.getLogger("app").makeRecord("app", logging.INFO, "f.py", 1, "m", (), None)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(record, protocol))
        assert tracelog.stdlib._trace_of(copy) == tracelog.stdlib._trace_of(record)
        assert tracelog.stdlib._trace_of(copy).span_id == SPAN_HEX  # type: ignore[union-attr]
        assert [k for k in vars(copy) if k.startswith("_tracelog")] == []


def test_filter_stamp_on_a_plain_record_is_not_an_attribute(isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """TraceContextFilter on records of the standard class keeps its stamp out of __dict__ too."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    keep.addFilter(tracelog.stdlib.TraceContextFilter())
    logger = isolated_logger("plain", keep)
    with known_span():
        logger.info("m")
    (record,) = seen
    assert type(record) is logging.LogRecord
    assert [k for k in vars(record) if k.startswith("_")] == []
    assert tracelog.stdlib._trace_of(record).trace_id == TRACE_HEX  # type: ignore[union-attr]


def test_a_handler_that_logs_on_every_record_does_not_loop(configured) -> None:  # type: ignore[no-untyped-def]
    """A handler warning through logging about each record it handles terminates."""

    class Chatty(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name != "chatty":
                logging.getLogger("chatty").warning("handled %s", record.getMessage())

    out = configured(otel_logs=True)
    chatty = Chatty()
    logging.getLogger().addHandler(chatty)
    try:
        with known_span():
            logging.getLogger("app").info("one")
    finally:
        logging.getLogger().removeHandler(chatty)
    assert [line["message"] for line in out.records()] == ["one", "handled one"]
    assert tracelog._errors.error_counts() == {}


def test_structlog_span_events_in_a_user_chain_add_no_key(tracer) -> None:  # type: ignore[no-untyped-def]
    """add_span_event in a chain of the user's leaves the event dict to the user's renderer."""
    stream = io.StringIO()
    structlog.configure(
        processors=[tracelog.structlog.add_span_event, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(stream),
    )
    tracer_, spans = tracer
    with tracer_.start_as_current_span("user chain"):
        structlog.get_logger().info("paid", order_id="A-1")
    assert json.loads(stream.getvalue()) == {"event": "paid", "order_id": "A-1"}
    ((event,),) = [span.events for span in spans.get_finished_spans()]
    assert (event.name, event.attributes["order_id"]) == ("paid", "A-1")
