"""The stdlib building blocks: record stamping, filter, formatters, queue handler."""

from __future__ import annotations

import io
import logging
import logging.config
import logging.handlers
import queue
import threading

import pytest

import tracelog
from tracelog import stdlib as tl_stdlib
from tracelog._stdlib_setup import OutputHandler

from .conftest import SPAN_HEX, TRACE_HEX, known_span, parse_lines


def test_dictconfig_filter_and_formatter() -> None:
    """TraceContextFilter and JsonFormatter work from logging.config.dictConfig."""
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"trace": {"()": "tracelog.stdlib.TraceContextFilter"}},
            "formatters": {
                "json": {
                    "()": "tracelog.stdlib.JsonFormatter",
                    "fields": "ecs",
                    "service_name": "billing",
                }
            },
            "handlers": {
                "out": {
                    "class": "logging.StreamHandler",
                    "stream": stream,
                    "formatter": "json",
                    "filters": ["trace"],
                }
            },
            "loggers": {
                "dictconfig.app": {"handlers": ["out"], "level": "INFO", "propagate": False}
            },
        }
    )
    with known_span():
        logging.getLogger("dictconfig.app").info("paid %d", 12)
    (record,) = parse_lines(stream.getvalue())
    assert {
        k: record[k] for k in ("log.level", "message", "service.name", "trace.id", "span.id")
    } == {
        "log.level": "info",
        "message": "paid 12",
        "service.name": "billing",
        "trace.id": TRACE_HEX,
        "span.id": SPAN_HEX,
    }


def test_dictconfig_class_form_is_accepted() -> None:
    """The formatter also loads through dictConfig's "class" key (positional args)."""
    stream = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {"class": "tracelog.stdlib.JsonFormatter", "format": "%(message)s"}
            },
            "handlers": {
                "out": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json"}
            },
            "loggers": {
                "dictconfig.class": {"handlers": ["out"], "level": "INFO", "propagate": False}
            },
        }
    )
    logging.getLogger("dictconfig.class").warning("hello")
    (record,) = parse_lines(stream.getvalue())
    assert (record["level"], record["message"]) == ("warning", "hello")


def test_record_factory_stamps_in_the_emitting_thread() -> None:
    """With the factory installed, a formatter in another thread still sees the emitter's IDs."""
    tl_stdlib.install_record_factory(compat=True)
    try:
        with known_span():
            record = logging.getLogger("factory").makeRecord("factory", 20, "f", 1, "m", (), None)
        assert (record.otelTraceID, record.otelSpanID, record.otelTraceSampled) == (  # type: ignore[attr-defined]
            TRACE_HEX,
            SPAN_HEX,
            True,
        )
        formatted: list[str] = []
        worker = threading.Thread(
            target=lambda: formatted.append(tl_stdlib.JsonFormatter().format(record))
        )
        worker.start()
        worker.join()
        (line,) = parse_lines(formatted[0] + "\n")
        assert (line["trace_id"], line["span_id"]) == (TRACE_HEX, SPAN_HEX)
    finally:
        tl_stdlib.uninstall_record_factory()


def test_record_factory_outside_a_span_uses_instrumentor_placeholders() -> None:
    """Outside a span the compat attributes hold LoggingInstrumentor's "0" placeholders."""
    tl_stdlib.install_record_factory(compat=True)
    try:
        record = logging.getLogger("factory").makeRecord("factory", 20, "f", 1, "m", (), None)
    finally:
        tl_stdlib.uninstall_record_factory()
    fmt = logging.Formatter("%(otelTraceID)s %(otelSpanID)s %(message)s")
    assert fmt.format(record) == "0 0 m"
    (line,) = parse_lines(tl_stdlib.JsonFormatter().format(record) + "\n")
    assert "trace_id" not in line


def test_record_factory_chains_and_unwraps() -> None:
    """Installing wraps the previous factory; uninstalling restores it or switches off in place."""
    calls = []
    original = logging.getLogRecordFactory()

    def previous(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0])
        return original(*args, **kwargs)

    logging.setLogRecordFactory(previous)
    tl_stdlib.install_record_factory()
    tl_stdlib.install_record_factory()  # idempotent
    logging.getLogger("chain").makeRecord("chain", 20, "f", 1, "m", (), None)
    assert calls == ["chain"]
    tl_stdlib.uninstall_record_factory()
    assert logging.getLogRecordFactory() is previous

    # Someone wraps ours: uninstalling leaves theirs working and ours inert.
    tl_stdlib.install_record_factory()
    ours = logging.getLogRecordFactory()

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return ours(*args, **kwargs)

    logging.setLogRecordFactory(wrapper)
    tl_stdlib.uninstall_record_factory()
    with known_span():
        record = logging.getLogger("chain").makeRecord("chain", 20, "f", 1, "m", (), None)
    assert not hasattr(record, "otelTraceID")
    assert calls == ["chain", "chain"]


def test_percent_format_mismatch_still_writes_the_record(configured) -> None:  # type: ignore[no-untyped-def]
    """A %-call whose args do not match the template is written, with the problem named."""
    out = configured()
    logging.getLogger("mismatch").info("%s and %s and %d", "one")  # noqa: PLE1206
    logging.getLogger("mismatch").info("%d items", "many")
    first, second = out.records()
    assert first["message"] == "%s and %s and %d"
    assert first["tracelog.error"].startswith("message formatting failed: TypeError")
    assert "args: ['one']" in first["tracelog.error"]
    assert second["message"] == "%d items"


def test_dict_messages_are_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """As in python-json-logger, a dict message becomes fields of the record."""
    out = configured()
    logging.getLogger("dicts").info({"event": "signup", "plan": "pro"})
    (record,) = out.records()
    assert (record["message"], record["event"], record["plan"]) == ("", "signup", "pro")


def test_static_fields_and_prefix() -> None:
    """python-json-logger's static_fields and prefix options are honoured."""
    formatter = tl_stdlib.JsonFormatter(static_fields={"region": "eu"}, prefix="@cee: ")
    line = formatter.format(logging.LogRecord("x", 20, "f", 1, "m", (), None))
    assert line.startswith("@cee: {")
    assert parse_lines(line.removeprefix("@cee: ") + "\n")[0]["region"] == "eu"


def test_stack_info_is_kept(configured) -> None:  # type: ignore[no-untyped-def]
    """stack_info=True is written under the profile's stack field."""
    out = configured()
    logging.getLogger("stack").info("where", stack_info=True)
    (record,) = out.records()
    assert record["code.stacktrace"].startswith("Stack (most recent call last):")


@pytest.mark.parametrize("handler_class", [logging.handlers.QueueHandler, tl_stdlib.QueueHandler])
def test_queue_listener_keeps_emitter_ids(
    handler_class: type[logging.handlers.QueueHandler], configured
) -> None:  # type: ignore[no-untyped-def]
    """IDs stay right behind a QueueHandler/QueueListener, for each emitting thread."""
    out = configured()
    root = logging.getLogger()
    (tracelog_handler,) = [h for h in root.handlers if isinstance(h, OutputHandler)]
    root.removeHandler(tracelog_handler)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root.addHandler(handler_class(records))
    listener = logging.handlers.QueueListener(records, tracelog_handler)
    listener.start()

    def work(n: int) -> None:
        with known_span(trace_id=n + 1, span_id=n + 1):
            for i in range(50):
                logging.getLogger("queued").info("item %d", i, extra={"worker": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listener.stop()
    lines = out.records()
    assert len(lines) == 8 * 50
    mismatched = [r for r in lines if r["span_id"] != f"{r['worker'] + 1:016x}"]
    assert mismatched == []


def test_tracelog_queue_handler_keeps_exceptions_structured(configured) -> None:  # type: ignore[no-untyped-def]
    """Tracelog's QueueHandler carries exception fields, not a traceback pasted into the message."""
    out = configured()
    root = logging.getLogger()
    (tracelog_handler,) = [h for h in root.handlers if isinstance(h, OutputHandler)]
    root.removeHandler(tracelog_handler)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root.addHandler(tl_stdlib.QueueHandler(records))
    listener = logging.handlers.QueueListener(records, tracelog_handler)
    listener.start()
    try:
        raise KeyError("sku")
    except KeyError:
        logging.getLogger("queued").exception("lookup failed")
    listener.stop()
    (record,) = out.records()
    assert record["message"] == "lookup failed"
    assert (record["exception.type"], record["exception.message"]) == ("KeyError", "'sku'")
    assert "Traceback" in record["exception.stacktrace"]


def test_a_broken_output_never_raises_into_the_caller() -> None:
    """If the output stream fails, the logging call still returns normally."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    tracelog.configure(output=Broken(), integrations=["stdlib"])
    for _ in range(3):
        logging.getLogger("broken").error("still fine")
    counts = tracelog._errors.error_counts()
    assert counts["could not write to the log output: OSError"] >= 3


def test_non_ascii_to_an_ascii_stream_stays_valid_json() -> None:
    """An output that cannot encode non-ASCII gets JSON unicode escapes instead."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)
    tracelog.configure(output=stream, integrations=["stdlib"])
    logging.getLogger("ascii").warning("naïve café ☕ 𝄞")
    (record,) = parse_lines(raw.getvalue().decode("ascii"))
    assert record["message"] == "naïve café ☕ 𝄞"


def test_exception_outside_an_except_block_has_no_exception_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """logger.exception() with no exception being handled writes no exception fields."""
    out = configured()
    logging.getLogger("noexc").exception("nothing raised")
    (record,) = out.records()
    assert record["message"] == "nothing raised"
    assert [k for k in record if k.startswith("exception.")] == []


def test_configure_reserves_no_record_attribute_names(configured) -> None:  # type: ignore[no-untyped-def]
    """With configure(), extra= may use any name logging allows, otelTraceID included."""
    out = configured()
    with known_span():
        logging.getLogger("names").info("manual", extra={"otelTraceID": "mine", "otelSpanID": 1})
    (record,) = out.records()
    assert (record["trace_id"], record["otelTraceID"], record["otelSpanID"]) == (
        TRACE_HEX,
        "mine",
        1,
    )


def test_filter_sets_format_string_attributes_behind_a_queue(configured, isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """TraceContextFilter on a listener's handler sets otelTraceID from the record's stamp."""
    configured()  # installs the record factory: records are stamped where they are made
    stream = io.StringIO()
    target = logging.StreamHandler(stream)
    target.setFormatter(logging.Formatter("%(otelTraceID)s %(otelSpanID)s %(message)s"))
    target.addFilter(tl_stdlib.TraceContextFilter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    logger = isolated_logger("formatted.queue", logging.handlers.QueueHandler(records))
    listener = logging.handlers.QueueListener(records, target)
    listener.start()
    with known_span():
        logger.info("inside")
    logger.info("outside")
    listener.stop()
    assert stream.getvalue().splitlines() == [f"{TRACE_HEX} {SPAN_HEX} inside", "0 0 outside"]
