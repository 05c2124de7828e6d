"""The structlog building blocks in native chains and in ProcessorFormatter."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import queue
import threading

import orjson
import structlog

import tracelog
import tracelog.structlog as tl_structlog
from tracelog import stdlib as tl_stdlib

from .conftest import SPAN_HEX, TRACE_HEX, known_span, parse_lines


def test_add_trace_context_in_a_native_chain() -> None:
    """The processor adds the three OpenTelemetry fields inside a span and nothing outside."""
    out = io.BytesIO()
    logger = structlog.wrap_logger(
        structlog.BytesLogger(out),
        processors=[
            tl_structlog.add_trace_context,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
    )
    with known_span():
        logger.info("inside")
    logger.info("outside")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside == {
        "event": "inside",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
    }
    assert outside == {"event": "outside"}


def test_trace_context_adder_profiles() -> None:
    """TraceContextAdder writes the IDs under the chosen profile's names."""
    adder = tl_structlog.TraceContextAdder(fields="ecs")
    with known_span():
        assert adder(None, "info", {}) == {"trace.id": TRACE_HEX, "span.id": SPAN_HEX}


def test_foreign_pre_chain_behind_a_queue_uses_the_record_ids(isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """In ProcessorFormatter behind a QueueListener, IDs come from the emitting thread."""
    stream = io.StringIO()
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ExtraAdder(),
            tl_structlog.add_trace_context,
        ],
    )
    target = logging.StreamHandler(stream)
    target.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    front = logging.handlers.QueueHandler(records)
    front.addFilter(tl_stdlib.TraceContextFilter())
    logger = isolated_logger("foreign.queue", front)
    listener = logging.handlers.QueueListener(records, target)
    listener.start()

    def work(n: int) -> None:
        with known_span(trace_id=n + 1, span_id=n + 1):
            for _ in range(25):
                logger.info("work", extra={"worker": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listener.stop()
    lines = parse_lines(stream.getvalue())
    assert len(lines) == 6 * 25
    assert all(line["span_id"] == f"{line['worker'] + 1:016x}" for line in lines)
    assert all(line["trace_id"] == f"{line['worker'] + 1:032x}" for line in lines)


def test_tracelog_renderer_in_processor_formatter_for_stdlib_records(isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """Tracelog's JSONRenderer renders foreign stdlib records in the same schema."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[tl_structlog.JSONRenderer(service_name="svc")]
        )
    )
    logger = isolated_logger("foreign.render", handler)
    with known_span():
        logger.warning("disk at %d%%", 91, extra={"mount": "/var"})
    (record,) = parse_lines(stream.getvalue())
    del record["timestamp"]
    assert record == {
        "level": "warning",
        "logger": "foreign.render",
        "message": "disk at 91%",
        "service.name": "svc",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
        "mount": "/var",
    }


def test_renderer_after_the_processor_writes_ids_once() -> None:
    """add_trace_context followed by tracelog's renderer: the IDs appear once, in place."""
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[
            structlog.processors.add_log_level,
            tl_structlog.add_trace_context,
            tl_structlog.JSONRenderer(),
        ],
    )
    with known_span():
        logger.info("once", n=1)
    (record,) = parse_lines(out.getvalue())
    assert list(record) == [
        "timestamp",
        "level",
        "message",
        "trace_id",
        "span_id",
        "trace_flags",
        "n",
    ]


def test_configure_names_unnamed_loggers_after_their_module(configured) -> None:  # type: ignore[no-untyped-def]
    """structlog.get_logger() without a name reports the calling module, as loguru does."""
    out = configured()
    structlog.get_logger().info("hi")
    structlog.get_logger("named").info("hi")
    unnamed, named = out.records()
    assert (unnamed["logger"], named["logger"]) == (__name__, "named")


def test_configure_filters_below_the_level(configured) -> None:  # type: ignore[no-untyped-def]
    """Structlog follows configure()'s level."""
    out = configured(level="WARNING")
    log = structlog.get_logger("lvl")
    log.info("dropped")
    log.warning("kept")
    assert [r["message"] for r in out.records()] == ["kept"]


def test_contextvars_are_merged(configured) -> None:  # type: ignore[no-untyped-def]
    """Bound contextvars appear as fields, as in any structlog set-up."""
    out = configured()
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        structlog.get_logger("ctx").info("hello")
    finally:
        structlog.contextvars.clear_contextvars()
    assert out.records()[0]["request_id"] == "r-1"


def test_exc_info_forms(configured) -> None:  # type: ignore[no-untyped-def]
    """exc_info=True, an exception instance, and a tuple all become exception fields."""
    out = configured()
    log = structlog.get_logger("exc")
    try:
        raise ValueError("bad")
    except ValueError as error:
        log.error("a", exc_info=True)
        log.error("b", exc_info=error)
        log.error("c", exc_info=(type(error), error, error.__traceback__))
    log.error("d", exc_info=True)  # no exception being handled: no fields
    records = out.records()
    assert [r.get("exception.type") for r in records] == ["ValueError"] * 3 + [None]
    assert tracelog.current_trace() is None


def test_stack_info_gives_the_same_field_as_stdlib(configured) -> None:  # type: ignore[no-untyped-def]
    """stack_info=True writes the caller's stack under code.stacktrace, as stdlib does."""
    out = configured()

    def where_it_happened() -> None:
        logging.getLogger("stack").info("here", stack_info=True)
        structlog.get_logger("stack").info("here", stack_info=True)

    where_it_happened()
    stdlib_record, structlog_record = out.records()
    for record in (stdlib_record, structlog_record):
        stack = record["code.stacktrace"]
        assert stack.startswith("Stack (most recent call last):\n")
        assert stack.rstrip().splitlines()[-2].strip().endswith("in where_it_happened")
    assert "stack_info" not in structlog_record


def test_structlog_keyword_arguments_are_plain_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """Under configure(), names structlog processors use are ordinary fields, as in stdlib."""
    out = configured()
    fields = {
        "logger": "payments-worker",
        "logger_name": "legacy",
        "timestamp": 1700000000.0,
        "stack": "api>db",
        "exception": "TimeoutError",
        "positional_args": "a,b",
    }
    logging.getLogger("kw").info("job done", extra=fields)
    structlog.get_logger("kw").info("job done", **fields)
    stdlib_record, structlog_record = out.records()
    del stdlib_record["timestamp"], structlog_record["timestamp"]
    assert structlog_record == stdlib_record
    assert (structlog_record["logger"], structlog_record["extra.logger"]) == (
        "kw",
        "payments-worker",
    )
    assert structlog_record["extra.timestamp"] == 1700000000.0


def test_unnamed_logger_in_a_module_named_like_tracelog(configured, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Only tracelog's and structlog's own modules are skipped when naming a logger."""
    (tmp_path / "tracelog_jobs.py").write_text(
        "import structlog\n\ndef run():\n    structlog.get_logger().info('job')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import tracelog_jobs  # type: ignore[import-not-found]

    out = configured()
    tracelog_jobs.run()
    assert out.records()[0]["logger"] == "tracelog_jobs"


def test_async_methods_keep_exceptions_and_stacks(configured) -> None:  # type: ignore[no-untyped-def]
    """exc_info=True and stack_info=True are read in the caller before the async hand-off."""
    import asyncio

    out = configured()
    log = structlog.get_logger("async")

    async def main() -> None:
        with known_span():
            try:
                raise KeyError("missing")
            except KeyError:
                await log.aerror("failed", exc_info=True)
                await log.alog(logging.ERROR, "failed too", exc_info=True)
            await log.ainfo("where", stack_info=True)

    asyncio.run(main())
    failed, failed_too, where = [r for r in out.records() if r["logger"] == "async"]
    assert failed["exception.type"] == failed_too["exception.type"] == "KeyError"
    assert failed["trace_id"] == failed_too["trace_id"] == where["trace_id"] == TRACE_HEX
    assert "in main" in where["code.stacktrace"]


def test_log_takes_any_level_number(configured) -> None:  # type: ignore[no-untyped-def]
    """log() with loguru's SUCCESS or TRACE numbers neither raises nor ignores the level."""
    out = configured(level="INFO")
    log = structlog.get_logger("numbers")
    log.log(25, "succeeded")
    log.log(5, "too fine")
    log.log(45, "between error and critical")
    assert [(r["message"], r["level"]) for r in out.records()] == [
        ("succeeded", "success"),
        ("between error and critical", "error"),
    ]


def test_processor_formatter_keeps_stdlib_fields_as_fields(isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """In ProcessorFormatter, stdlib extras named like structlog keys stay fields."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[tl_structlog.JSONRenderer()],
            foreign_pre_chain=[structlog.processors.TimeStamper(fmt=None)],
        )
    )
    logger = isolated_logger("foreign.fields", handler)
    logger.info("odd extras", extra={"logger": "mine", "stack": "a>b", "exception": "no"})
    (record,) = parse_lines(stream.getvalue())
    del record["timestamp"]
    assert record == {
        "level": "info",
        "logger": "foreign.fields",
        "message": "odd extras",
        "extra.logger": "mine",
        "stack": "a>b",
        "exception": "no",
    }
