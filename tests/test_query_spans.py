"""`tracelog query` with span files: the SDK's span JSON lines read as the trace's spans."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import tracelog
from tracelog.cli import main
from tracelog.query import discover, parse_trace, search


class Written(NamedTuple):
    """A trace written as the demo writes one."""

    directory: Path
    trace: str
    root: str  # span IDs
    child: str
    other_trace: str


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def span_line(span: ReadableSpan) -> str:
    """One span, one JSON line."""
    return span.to_json(indent=None) + "\n"


@pytest.fixture
def written(tmp_path: Path) -> Written:
    """JSON logs and span JSON lines of one request (and of another trace) from the real SDK."""
    with (tmp_path / "spans.jsonl").open("w", encoding="utf-8") as spans_file:
        provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        exporter = ConsoleSpanExporter(out=spans_file, formatter=span_line)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("tests")
        tracelog.configure(
            service_name="checkout", output=tmp_path / "app.log", integrations=["stdlib"]
        )
        log = logging.getLogger("checkout.api")
        with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
            log.info("request received")
            with tracer.start_as_current_span("charge card", attributes={"card": "visa"}) as child:
                log.warning("card declined, retrying", extra={"attempt": 1})
                log.info("card charged", extra={"attempt": 2})
                log.debug("below the span-event level")
        with tracer.start_as_current_span("other request") as other:
            log.info("unrelated")
        provider.shutdown()
        tracelog.reset()
    return Written(
        tmp_path,
        f"{root.get_span_context().trace_id:032x}",
        f"{root.get_span_context().span_id:016x}",
        f"{child.get_span_context().span_id:016x}",
        f"{other.get_span_context().trace_id:032x}",
    )


def span_section(text: str) -> list[str]:
    """The pretty output's span tree, without the time column."""
    blocks = text.split("\n\n")
    assert len(blocks) == 3, text  # log lines, spans, summary
    return [line[16:] for line in blocks[1].splitlines()]


def assert_lines(lines: list[str], patterns: list[str]) -> None:
    """Each line matches its pattern, whole, and there are as many of each."""
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_pretty_shows_the_span_tree_with_its_events(written: Written) -> None:
    """Spans are drawn under their recorded parents, their events in time order among children."""
    status, out, err = run("query", written.trace, str(written.directory), "--format", "pretty")
    assert (status, err) == (0, "")
    assert_lines(
        span_section(out),
        [
            rf"checkout   SERVER   POST /checkout [\d.]+ ms span={written.root}",
            r"checkout   INFO       - request received",
            rf"checkout   INTERNAL   charge card [\d.]+ ms card=visa span={written.child}",
            r"checkout   WARNING      - card declined, retrying attempt=1",
            r"checkout   INFO         - card charged attempt=2",
        ],
    )
    summary = out.split("\n\n")[2]
    assert summary.endswith("\n2 spans from 1 file\n")
    assert "mention" not in summary


def test_log_lines_are_indented_by_the_recorded_parents(written: Written) -> None:
    """A child span's log lines sit one step in, though their times alone would not say so."""
    status, out, _ = run("query", written.trace, str(written.directory), "--format", "pretty")
    assert status == 0
    logged = [line[16:] for line in out.split("\n\n")[0].splitlines()]
    assert [line.split(" span=")[0] for line in logged] == [
        "checkout   INFO     checkout.api: request received",
        "checkout   WARNING    checkout.api: card declined, retrying attempt=1",
        "checkout   INFO       checkout.api: card charged attempt=2",
    ]


def test_json_output_is_the_log_lines_only(written: Written) -> None:
    """--format json prints the trace's log lines as written, never the span lines."""
    status, out, _ = run("query", written.trace, str(written.directory), "--format", "json")
    assert status == 0
    logged = (written.directory / "app.log").read_text().splitlines()
    assert out.splitlines() == [line for line in logged if written.trace in line]


def test_spans_alone_are_a_match(written: Written) -> None:
    """With only the span file, pretty output shows the spans and the exit status is 0."""
    (written.directory / "app.log").unlink()
    status, out, _ = run("query", written.trace, str(written.directory), "--format", "pretty")
    assert status == 0
    blocks = out.split("\n\n")
    assert len(blocks) == 2  # spans, summary
    assert blocks[1].startswith("0 lines from 0 files (of 1 read)")
    assert blocks[1].endswith("\n2 spans from 1 file\n")


def test_spans_alone_are_no_match_for_json(written: Written) -> None:
    """--format json prints no span, so with spans only it prints nothing and exits 1."""
    (written.directory / "app.log").unlink()
    status, out, err = run("query", written.trace, str(written.directory), "--format", "json")
    assert (status, out) == (1, "")
    assert err == (
        "tracelog: no log line of the trace matched; 2 spans of it did"
        " (--format pretty shows them)\n"
    )


def test_other_traces_spans_are_not_shown(written: Written) -> None:
    """Each trace's query shows its own spans only."""
    _, out, _ = run("query", written.other_trace, str(written.directory), "--format", "pretty")
    assert_lines(
        span_section(out),
        [
            r"checkout   INTERNAL other request [\d.]+ ms span=[0-9a-f]{16}",
            r"checkout   INFO       - unrelated",
        ],
    )


def test_span_and_level_filter_spans_and_events(written: Written) -> None:
    """--span keeps that span only; --level drops events made from quieter records."""
    path = str(written.directory)
    _, out, _ = run("query", written.trace, path, "--format", "pretty", "--span", written.child)
    assert_lines(
        span_section(out),
        [
            rf"checkout   INTERNAL charge card [\d.]+ ms card=visa span={written.child}",
            r"checkout   WARNING    - card declined, retrying attempt=1",
            r"checkout   INFO       - card charged attempt=2",
        ],
    )
    _, out, _ = run("query", written.trace, path, "--format", "pretty", "--level", "warning")
    assert_lines(
        span_section(out),
        [
            rf"checkout   SERVER   POST /checkout [\d.]+ ms span={written.root}",
            rf"checkout   INTERNAL   charge card [\d.]+ ms card=visa span={written.child}",
            r"checkout   WARNING      - card declined, retrying attempt=1",
        ],
    )


def test_search_returns_the_spans(written: Written) -> None:
    """The engine's result holds each span read from its line: IDs, parent, kind, events."""
    result = search(parse_trace(written.trace), discover([str(written.directory)], print))
    summary = [
        (span.name, span.span_id, span.parent_id, span.service, span.kind, span.status)
        for span in result.spans
    ]
    assert summary == [
        ("POST /checkout", written.root, None, "checkout", "server", "UNSET"),
        ("charge card", written.child, written.root, "checkout", "internal", "UNSET"),
    ]
    root, child = result.spans
    times = [root.start, child.start, child.end, root.end]
    assert all(isinstance(time, float) for time in times)
    assert sorted(times) == times  # type: ignore[type-var]
    assert [
        (event.name, event.attributes["log.record.severity_text"]) for event in child.events
    ] == [
        ("card declined, retrying", "WARNING"),
        ("card charged", "INFO"),
    ]
    assert result.mentions == 0


def hostile_span(trace: str, span: str, parent: str | None, name: str) -> dict[str, Any]:
    """A span line in the SDK's shape, with whatever parent and name it is given."""
    return {
        "name": name,
        "context": {"trace_id": "0x" + trace, "span_id": "0x" + span, "trace_state": "[]"},
        "kind": "SpanKind.INTERNAL",
        "parent_id": None if parent is None else "0x" + parent,
        "start_time": "2026-11-23T10:00:00.000000Z",
        "end_time": "2026-11-23T10:00:01.000000Z",
        "status": {"status_code": "UNSET"},
        "attributes": {},
        "events": [{"name": "\x1b]0;owned\x07", "timestamp": 5, "attributes": {}}],
        "links": [],
        "resource": {"attributes": {"service.name": "\x1b[2J"}},
    }


def test_looping_parents_and_terminal_escapes(tmp_path: Path) -> None:
    """Looping parents list each span once; odd fields are shown; no text can drive a terminal."""
    trace = "4c7c6430fb5466bff54036fa0cbe7eb6"
    a, b, c = "a" * 16, "b" * 16, "c" * 16
    lines = [
        hostile_span(trace, a, b, "first"),
        hostile_span(trace, b, a, "second"),
        hostile_span(trace, c, c, "\x1b[31mself"),
        {**hostile_span(trace, "d" * 16, None, "odd"), "events": 5, "kind": 7, "status": [1]},
    ]
    (tmp_path / "spans.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    status, out, _ = run("query", trace, str(tmp_path), "--format", "pretty")
    assert status == 0
    assert "\x1b" not in out
    names = [line[16:].split(" 1000.0 ms")[0] for line in out.split("\n\n")[0].splitlines()]
    assert names == [
        r"\u001b[2J  7        odd",  # the only root; then the spans whose parents loop
        r"\u001b[2J  INTERNAL first",
        r"\u001b[2J  EVENT      - \u001b]0;owned\u0007",
        r"\u001b[2J  INTERNAL   second",
        r"\u001b[2J  EVENT        - \u001b]0;owned\u0007",
        r"\u001b[2J  INTERNAL \u001b[31mself",
        r"\u001b[2J  EVENT      - \u001b]0;owned\u0007",
    ]
