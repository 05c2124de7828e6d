"""The loguru building blocks: patcher chaining, formats with any sink, enqueue."""

from __future__ import annotations

import io
import json
import threading

import pytest
from loguru import logger

import tracelog.loguru as tl_loguru

from .conftest import SPAN_HEX, TRACE_HEX, known_span, parse_lines


@pytest.fixture
def sink_ids():  # type: ignore[no-untyped-def]
    """Remove the loguru sinks a test adds."""
    ids: list[int] = []
    yield ids
    for handler_id in ids:
        logger.remove(handler_id)
    logger.complete()


def test_patcher_puts_ids_in_extra(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """The patcher adds trace_id, span_id, trace_flags to record["extra"] inside a span."""
    seen = []
    sink_ids.append(logger.add(lambda m: seen.append(dict(m.record["extra"])), format="{message}"))
    patched = logger.patch(tl_loguru.patcher)
    with known_span():
        patched.info("inside")
    patched.info("outside")
    assert seen == [{"trace_id": TRACE_HEX, "span_id": SPAN_HEX, "trace_flags": "01"}, {}]


def test_install_patcher_chains_with_an_existing_patcher(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """install_patcher runs after the patcher already configured, and gives it back."""
    seen = []
    sink_ids.append(logger.add(lambda m: seen.append(dict(m.record["extra"])), format="{message}"))

    def theirs(record) -> None:  # type: ignore[no-untyped-def]
        record["extra"]["app"] = "shop"

    logger.configure(patcher=theirs)
    try:
        tl_loguru.install_patcher()
        tl_loguru.install_patcher()  # idempotent
        with known_span():
            logger.info("both")
        tl_loguru.uninstall_patcher()
        with known_span():
            logger.info("theirs only")
    finally:
        logger.configure(patcher=lambda record: None)
    assert seen == [
        {"app": "shop", "trace_id": TRACE_HEX, "span_id": SPAN_HEX, "trace_flags": "01"},
        {"app": "shop"},
    ]


def test_json_format_with_a_plain_stream_sink(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """JsonFormat works with any loguru sink and writes one line per record."""
    stream = io.StringIO()
    sink_ids.append(logger.add(stream, format=tl_loguru.JsonFormat(service_name="svc")))
    with known_span():
        logger.bind(cart=3).info("braces {are} fine")
    (record,) = parse_lines(stream.getvalue())
    del record["timestamp"]
    assert record == {
        "level": "info",
        "logger": __name__,
        "message": "braces {are} fine",
        "service.name": "svc",
        "trace_id": TRACE_HEX,
        "span_id": SPAN_HEX,
        "trace_flags": "01",
        "cart": 3,
    }


def test_enqueue_sinks_keep_the_emitter_ids(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """With enqueue=True (a writer thread), IDs are still those of each emitting thread."""
    ours = io.StringIO()
    serialized = io.StringIO()
    sink_ids.append(logger.add(ours, format=tl_loguru.JsonFormat(), enqueue=True))
    sink_ids.append(logger.add(serialized, serialize=True, enqueue=True))
    tl_loguru.install_patcher()
    try:

        def work(n: int) -> None:
            with known_span(trace_id=n + 1, span_id=n + 1):
                for _ in range(40):
                    logger.bind(worker=n).info("tick")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.complete()
    finally:
        tl_loguru.uninstall_patcher()
    lines = parse_lines(ours.getvalue())
    assert len(lines) == 8 * 40
    assert all(r["span_id"] == f"{r['worker'] + 1:016x}" for r in lines)
    extras = [json.loads(line)["record"]["extra"] for line in serialized.getvalue().splitlines()]
    assert len(extras) == 8 * 40
    assert all(e["span_id"] == f"{e['worker'] + 1:016x}" for e in extras)


def test_enqueue_keeps_exception_stacktraces(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """The format renders in the logging thread, so the traceback survives the queue."""
    stream = io.StringIO()
    sink_ids.append(logger.add(stream, format=tl_loguru.JsonFormat(), enqueue=True))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    logger.complete()
    (record,) = parse_lines(stream.getvalue())
    assert record["exception.type"] == "RuntimeError"
    assert 'raise RuntimeError("boom")' in record["exception.stacktrace"]


def test_configure_replaces_and_restores_loguru_default_sink(configured, capfd) -> None:  # type: ignore[no-untyped-def]
    """configure() removes loguru's stderr sink (no double lines); reset() puts one back."""
    import tracelog

    out = configured()
    logger.info("once")
    assert len(out.records()) == 1
    assert capfd.readouterr().err == ""
    tracelog.reset()
    logger.info("back on stderr")
    assert "back on stderr" in capfd.readouterr().err
    configured()
    logger.info("again once")
    assert capfd.readouterr().err == ""


def test_timestamps_are_loguru_s_own_time(configured, sink_ids) -> None:  # type: ignore[no-untyped-def]
    """The written time is loguru's record time to the microsecond, never one early."""
    import datetime

    out = configured()
    times: list[str] = []

    def remember(message) -> None:  # type: ignore[no-untyped-def]
        utc = message.record["time"].astimezone(datetime.UTC)
        times.append(utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    sink_ids.append(logger.add(remember, format="{message}"))
    for i in range(300):
        logger.info("tick {}", i)
    assert [r["timestamp"] for r in out.records()] == times


def test_patcher_keeps_a_callers_own_ids_under_extra(sink_ids) -> None:  # type: ignore[no-untyped-def]
    """IDs the caller bound are kept as extra.<key>; the patcher's are the current span's."""
    seen = []
    sink_ids.append(logger.add(lambda m: seen.append(dict(m.record["extra"])), format="{message}"))
    with known_span():
        logger.patch(tl_loguru.patcher).bind(trace_id="upstream", span_id=SPAN_HEX).info("m")
    assert seen == [
        {
            "trace_id": TRACE_HEX,
            "span_id": SPAN_HEX,
            "trace_flags": "01",
            "extra.trace_id": "upstream",
        }
    ]
