"""configure() and reset(): one call, idempotent, reversible, strict about options."""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import tracelog
from tracelog import _configure
from tracelog._console import escape_terminal
from tracelog._levels import level_number
from tracelog._stdlib_setup import OutputHandler

from .conftest import LIBRARIES, SPAN_HEX, TRACE_HEX, emit, known_span, parse_lines


def _tracelog_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, OutputHandler)]


def test_second_call_replaces_never_duplicates(configured) -> None:  # type: ignore[no-untyped-def]
    """Calling configure() twice leaves one handler and one line per record."""
    configured()
    out = configured()
    assert len(_tracelog_handlers()) == 1
    for library in LIBRARIES:
        emit(library, "info", "once")
    assert len(out.records()) == 3


def test_reset_restores_everything(captured) -> None:  # type: ignore[no-untyped-def]
    """reset() puts back root handlers, level, record factory and structlog's config."""
    root = logging.getLogger()
    root.setLevel(logging.ERROR)
    before = (list(root.handlers), logging.getLogRecordFactory(), structlog.get_config())
    tracelog.configure(output=captured.stream, level="DEBUG")
    assert root.level == logging.DEBUG
    tracelog.reset()
    after = (list(root.handlers), logging.getLogRecordFactory(), structlog.get_config())
    assert after == before
    assert root.level == logging.ERROR
    tracelog.reset()  # a second reset is harmless


def test_never_calls_basic_config(monkeypatch, captured) -> None:  # type: ignore[no-untyped-def]
    """configure() adds its handler without logging.basicConfig and keeps other handlers."""

    def forbidden(**kwargs: object) -> None:
        raise AssertionError("basicConfig called")

    monkeypatch.setattr(logging, "basicConfig", forbidden)
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    tracelog.configure(output=captured.stream)
    assert other in logging.getLogger().handlers


def test_output_path_appends(tmp_path: Path) -> None:
    """A path output is appended to, across configurations."""
    path = tmp_path / "app.jsonl"
    path.write_text('{"message":"earlier"}\n')
    for word in ("first", "second"):
        tracelog.configure(output=path, integrations=["stdlib"])
        logging.getLogger("file").warning(word)
        tracelog.reset()
    assert [r["message"] for r in parse_lines(path.read_text())] == ["earlier", "first", "second"]


def test_output_path_in_a_missing_directory_fails_fast(tmp_path: Path) -> None:
    """A path whose directory does not exist is a configuration error."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tracelog.configure(output=tmp_path / "missing" / "app.jsonl")


def test_default_output_is_stdout(capsys) -> None:  # type: ignore[no-untyped-def]
    """Without output=, lines go to sys.stdout."""
    tracelog.configure(integrations=["stdlib"])
    logging.getLogger("stdout").warning("to stdout")
    (record,) = parse_lines(capsys.readouterr().out)
    assert record["message"] == "to stdout"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"level": "LOUD"}, ValueError, "unknown level"),
        ({"level": -1}, ValueError, "negative"),
        ({"level": 1.5}, TypeError, "level"),
        ({"format": "xml"}, ValueError, "format"),
        ({"fields": "splunk"}, ValueError, "fields must be one of"),
        ({"integrations": ["logbook"]}, ValueError, "unknown integrations"),
        ({"integrations": "stdlib"}, TypeError, "collection"),
        ({"redact": "password"}, TypeError, "collection"),
        ({"output": 42}, TypeError, "output"),
        ({"service_name": 7}, TypeError, "service_name"),
        ({"span_events": "LOUD"}, ValueError, "unknown span_events"),
        ({"span_events": 2.5}, TypeError, "span_events"),
        ({"attribute_value_length": 0}, ValueError, "attribute_value_length"),
        ({"span_events": None, "attribute_value_length": "long"}, TypeError, "attribute_value"),
    ],
)
def test_bad_options_fail_fast_and_change_nothing(options, error, match, captured) -> None:  # type: ignore[no-untyped-def]
    """Invalid options raise a clear error before anything is touched."""
    tracelog.configure(output=captured.stream, integrations=["stdlib"])
    with pytest.raises(error, match=match):
        tracelog.configure(**options)
    logging.getLogger("still").warning("configured as before")
    assert captured.records()[0]["message"] == "configured as before"


def test_levels_by_name_and_number(configured) -> None:  # type: ignore[no-untyped-def]
    """Level names (any case, incl. loguru's) and numbers are accepted."""
    assert level_number("warning") == logging.WARNING
    assert level_number("TRACE") == 5
    assert level_number("success") == 25
    assert level_number(15) == 15
    out = configured(level="error")
    for library in LIBRARIES:
        emit(library, "warning", "dropped")
        emit(library, "error", "kept")
    assert [r["message"] for r in out.records()] == ["kept"] * 3


def test_integrations_subset(configured) -> None:  # type: ignore[no-untyped-def]
    """integrations=["stdlib"] leaves structlog and loguru alone."""
    was = structlog.get_config()
    configured(integrations=["stdlib"])
    assert structlog.get_config() == was


def test_service_name_sources(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Explicit, then OTEL_SERVICE_NAME, the SDK resource, OTEL_RESOURCE_ATTRIBUTES."""
    from opentelemetry import trace

    assert _configure._service_name("explicit") == "explicit"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    assert _configure._service_name(None) == "from-env"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    provider = TracerProvider(resource=Resource.create({"service.name": "from-resource"}))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert _configure._service_name(None) == "from-resource"
    default = TracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: default)
    assert _configure._service_name(None) is None  # "unknown_service" is not a name
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=core,service.name=my%20svc")
    assert _configure._service_name(None) == "my svc"


def test_console_format_has_the_same_fields(configured) -> None:  # type: ignore[no-untyped-def]
    """format="console" writes one readable line with the same fields, uncoloured off a TTY."""
    out = configured(format="console", service_name="svc")
    with known_span():
        emit("stdlib", "warning", "disk\nfull", mount="/var lib", password="p")
    (line,) = out.text.splitlines()
    assert "\x1b[" not in line
    assert line.endswith(
        "warning  tests.conftest: disk\\nfull service.name=svc"
        f" trace_id={TRACE_HEX} span_id={SPAN_HEX} trace_flags=01"
        ' mount="/var lib" password=[REDACTED]'
    )


def test_console_colour_and_terminal_escapes(configured, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """FORCE_COLOR colours; escape sequences from values are shown, not executed."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = configured(format="console")
    emit("structlog", "error", "\x1b]0;pwned\x07 \u202eevil", note="\x1b[2J")
    text = out.text
    assert "\x1b[31m" in text  # error in red
    for raw in ("\x1b]0", "\x1b[2J", "\u202e"):
        assert raw not in text
    assert "\\u001b]0;pwned\\u0007 \\u202eevil" in text


def test_console_exceptions_are_indented(configured) -> None:  # type: ignore[no-untyped-def]
    """A traceback follows the line, indented, so it cannot pass for a record."""
    out = configured(format="console")
    try:
        raise ValueError("bad\n2026-01-01T00:00:00.000000Z info forged")
    except ValueError:
        emit("loguru", "exception", "failed")
    first, *rest = out.text.rstrip("\n").split("\n")
    assert "failed" in first
    assert "exception.type=ValueError" in first
    assert len(rest) > 2
    assert all(line.startswith("    ") for line in rest)


def test_stream_without_isatty_is_fine(configured) -> None:  # type: ignore[no-untyped-def]
    """Any object with write() is a valid output."""

    class Sink:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, text: str) -> None:
            self.parts.append(text)

    sink = Sink()
    tracelog.configure(output=sink, format="console", integrations=["stdlib"])  # type: ignore[arg-type]
    logging.getLogger("sink").warning("ok")
    assert len(sink.parts) == 1
    assert sink.parts[0].endswith("ok\n")


def test_fork_child_can_log(captured, tmp_path: Path) -> None:
    """A forked child (lock possibly held in the parent) writes without deadlocking."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    path = tmp_path / "fork.jsonl"
    tracelog.configure(output=path, integrations=["stdlib"])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        logging.getLogger("child").warning("from child")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    logging.getLogger("parent").warning("from parent")
    assert sorted(r["message"] for r in parse_lines(path.read_text())) == [
        "from child",
        "from parent",
    ]
    assert sys.modules["tracelog"] is tracelog


def test_text_stream_buffer_is_flushed_each_line(tmp_path: Path) -> None:
    """Each record is flushed, so a crash loses nothing already logged."""
    path = tmp_path / "flush.jsonl"
    with path.open("w", encoding="utf-8", buffering=8192) as stream:
        tracelog.configure(output=stream, integrations=["stdlib"])
        logging.getLogger("flush").warning("visible at once")
        assert "visible at once" in path.read_text()
        tracelog.reset()
        assert not stream.closed, "reset() must not close a stream it was given"


@given(st.text())
def test_escape_terminal_leaves_no_control_characters(text: str) -> None:
    """Whatever the text, the escaped form has no C0/C1 control, DEL or bidi character."""
    escaped = escape_terminal(text)
    assert not any(
        ord(c) < 0x20
        or 0x7F <= ord(c) <= 0x9F
        or c in "\u061c\u200e\u200f\u2028\u2029"
        or 0x202A <= ord(c) <= 0x202E
        or 0x2066 <= ord(c) <= 0x2069
        for c in escaped
    )


def test_binary_streams_are_refused_with_the_fix() -> None:
    """A binary stream is a configuration error that says how to wrap it."""
    with pytest.raises(TypeError, match="TextIOWrapper"):
        tracelog.configure(output=io.BytesIO())
