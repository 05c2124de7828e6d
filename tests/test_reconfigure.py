"""Reconfiguration, reset and fork while the application keeps logging."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import structlog
from loguru import logger

import tracelog
import tracelog.loguru
import tracelog.stdlib

from .conftest import LIBRARIES, TRACE_HEX, emit, known_span, parse_lines


def test_reconfiguring_while_logging_loses_nothing(captured) -> None:  # type: ignore[no-untyped-def]
    """Records logged by other threads during repeated configure() calls all arrive."""
    tracelog.configure(output=captured.stream, level="INFO")
    stop = threading.Event()
    sent: Counter[str] = Counter()

    def work(library: str) -> None:
        n = 0
        while not stop.is_set():
            emit(library, "warning", "tick", seq=f"{library}-{n}")
            sent[library] += 1
            n += 1

    threads = [threading.Thread(target=work, args=(library,)) for library in LIBRARIES]
    for thread in threads:
        thread.start()
    for i in range(30):
        # Same output, alternating levels: loguru needs a new handler each time.
        tracelog.configure(output=captured.stream, level="DEBUG" if i % 2 else "INFO")
        time.sleep(0.005)
    stop.set()
    for thread in threads:
        thread.join()
    records = [r for r in captured.records() if r["message"] == "tick"]
    for library in LIBRARIES:
        seqs = {r["seq"] for r in records if r["seq"].startswith(f"{library}-")}
        assert seqs == {f"{library}-{n}" for n in range(sent[library])}, library
    # Only loguru's handler swap (level change) may write a record twice.
    repeated = [seq for seq, count in Counter(r["seq"] for r in records).items() if count > 1]
    assert all(seq.startswith("loguru-") for seq in repeated)


def test_a_bound_structlog_logger_follows_the_output(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    """A logger bound before a reconfiguration writes to the new output, after reset to stderr."""
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    tracelog.configure(output=first, integrations=["structlog"])
    log = structlog.get_logger("bound").bind(request_id="r-1")
    log.info("before")
    tracelog.configure(output=second, integrations=["structlog"])
    log.info("after reconfigure")
    tracelog.reset()
    log.info("after reset")
    assert [r["message"] for r in parse_lines(first.read_text())] == ["before"]
    assert [r["message"] for r in parse_lines(second.read_text())] == ["after reconfigure"]
    assert json.loads(capfd.readouterr().err)["message"] == "after reset"


def test_reset_keeps_what_the_application_installed_itself(captured) -> None:  # type: ignore[no-untyped-def]
    """A record factory or patcher the app installed before configure() survives reset()."""
    assert tracelog.stdlib.install_record_factory(compat=True)
    assert tracelog.loguru.install_patcher()
    try:
        tracelog.configure(output=captured.stream)
        tracelog.reset()
        seen: list[dict[str, object]] = []
        sink = logger.add(lambda m: seen.append(dict(m.record["extra"])), format="{message}")
        try:
            with known_span():
                record = logging.getLogger("x").makeRecord("x", 20, "f", 1, "m", (), None)
                logger.info("patched")
        finally:
            logger.remove(sink)
        assert record.otelTraceID == TRACE_HEX  # type: ignore[attr-defined]
        assert seen[0]["trace_id"] == TRACE_HEX
    finally:
        tracelog.stdlib.uninstall_record_factory()
        tracelog.loguru.uninstall_patcher()


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        ("TRACE", ["debug", "info", "warning"]),
        (7, ["debug", "info", "warning"]),
        ("SUCCESS", ["warning"]),
        (35, []),
        (60, []),
    ],
)
def test_structlog_follows_any_level(level, kept, configured) -> None:  # type: ignore[no-untyped-def]
    """Levels between and beyond structlog's own filter at the next level up, never raise."""
    out = configured(level=level, integrations=["structlog"])
    log = structlog.get_logger("levels")
    for method in ("debug", "info", "warning"):
        getattr(log, method)(method)
    assert [r["message"] for r in out.records()] == kept


def test_console_level_names_are_escaped(configured) -> None:  # type: ignore[no-untyped-def]
    """A custom level name cannot forge a line or send escapes in console output."""
    logging.addLevelName(23, "EVIL\n2026 info forged\x1b[2J")
    try:
        out = configured(format="console")
        logging.getLogger("lvl").log(23, "hello")
    finally:
        logging.addLevelName(23, "Level 23")
    (line,) = out.text.splitlines()
    assert "\x1b" not in line
    assert "evil\\n2026 info forged\\u001b[2j" in line


def test_exceptions_survive_the_queue_into_processor_formatter(isolated_logger) -> None:  # type: ignore[no-untyped-def]
    """Behind tracelog's QueueHandler, stdlib and structlog exceptions keep their fields."""
    import logging.handlers
    import queue

    import tracelog.structlog

    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            tracelog.structlog.add_trace_context,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[tracelog.structlog.JSONRenderer()])
    )
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    app = isolated_logger("queued.app", tracelog.stdlib.QueueHandler(records))
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        structlog.get_logger("queued.app").exception("structlog failed")
        app.exception("stdlib failed")
    listener.stop()
    lines = parse_lines(out.getvalue())
    assert [(r["message"], r["exception.type"]) for r in lines] == [
        ("structlog failed", "ZeroDivisionError"),
        ("stdlib failed", "ZeroDivisionError"),
    ]
    assert all("division by zero" in r["exception.stacktrace"] for r in lines)


def _wait(pid: int, seconds: float) -> int | None:
    """The child's exit status, or None (after killing it) if it did not finish in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_while_other_threads_log(tmp_path: Path) -> None:
    """Children forked while other threads write never hang in their first log call."""
    path = tmp_path / "fork.jsonl"
    tracelog.configure(output=path, integrations=["stdlib"])
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            logging.getLogger("worker").info("working", extra={"pad": "x" * 2000})

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for worker in workers:
        worker.start()
    statuses = []
    try:
        for i in range(40):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                logging.getLogger("child").info("hello from child %d", i)
                os._exit(0)
            statuses.append(_wait(pid, 10))
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert statuses == [0] * 40
    children = [r for r in parse_lines(path.read_text()) if r["logger"] == "child"]
    assert len(children) == 40


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_while_another_thread_configures() -> None:
    """A child forked while another thread is inside configure() can use tracelog."""

    class SlowTty(io.StringIO):
        def isatty(self) -> bool:
            time.sleep(0.5)  # configure() asks this while holding its lock
            return False

    configuring = threading.Thread(
        target=lambda: tracelog.configure(output=SlowTty(), integrations=["stdlib"])
    )
    configuring.start()
    time.sleep(0.1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        tracelog.reset()
        tracelog.configure(output=io.StringIO(), integrations=["stdlib"])
        os._exit(0)
    status = _wait(pid, 10)
    configuring.join()
    assert status == 0
