"""Finished spans among the log lines: the OpenTelemetry SDK's span JSON, one span a line.

An SDK span exporter writing ``ReadableSpan.to_json(indent=None)`` lines to a
file (``ConsoleSpanExporter(out=file, formatter=...)``) leaves the trace's
spans next to its logs, no collector needed. Their IDs are written
``"0x"`` + hex, so the byte scan finds them with the log lines; a line is a
span of the trace when its ``context.trace_id`` is the trace, and is then
read here instead of as a log record. The pretty view draws them as a tree
by their recorded parents, each with its events.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from tracelog.query._ids import TraceId
from tracelog.query._records import level_number, seconds

__all__ = ["Event", "Span", "read_span", "tree"]

_SPAN_ID = re.compile(r"0x[0-9a-fA-F]{16}")


class Event(NamedTuple):
    """One span event: its time (seconds since the epoch, or None), name and attributes."""

    time: float | None
    name: str
    attributes: dict[str, Any]

    @property
    def level(self) -> int | None:
        """The severity of the log record it was made from (stdlib numbers), None when unknown."""
        text = self.level_text
        return level_number(text) if isinstance(text, str) else None

    @property
    def level_text(self) -> Any:
        """The level name of the log record it was made from (None when it says none)."""
        attributes = self.attributes
        # The older name first written by tracelog's bridge, for spans written then.
        return attributes.get("log.record.severity_text", attributes.get("log.severity_text"))


class Span(NamedTuple):
    """One finished span of the trace, as its line describes it.

    Attributes:
        span_id, parent_id: 16 lowercase hex digits (``parent_id`` None for a root).
        start, end: seconds since the epoch, None when unreadable.
        kind: ``server``, ``client``, ``internal``, ``producer`` or ``consumer`` (or as written).
        status: ``UNSET``, ``OK`` or ``ERROR``; *description* says why, for ERROR.
        source: the path it came from.
    """

    name: str
    span_id: str
    parent_id: str | None
    service: str | None
    kind: str
    start: float | None
    end: float | None
    status: str
    description: str | None
    attributes: dict[str, Any]
    events: list[Event]
    source: str


def _id(value: Any) -> str | None:
    return value[2:].lower() if isinstance(value, str) and _SPAN_ID.fullmatch(value) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_span(record: dict[str, Any], trace: TraceId, source: str) -> Span | None:
    """The span *record* describes, when it is one of *trace*'s; else None."""
    context = record.get("context")
    name = record.get("name")
    if not isinstance(context, dict) or not isinstance(name, str):
        return None
    trace_id = context.get("trace_id")
    if not isinstance(trace_id, str) or trace_id.lower() != "0x" + trace.hex:
        return None
    span_id = _id(context.get("span_id"))
    if span_id is None:
        return None
    kind = record.get("kind")
    status = _dict(record.get("status"))
    service = _dict(_dict(record.get("resource")).get("attributes")).get("service.name")
    listed = record.get("events")
    events = [
        Event(
            seconds(event.get("timestamp")),
            str(event.get("name", "")),
            _dict(event.get("attributes")),
        )
        for event in (listed if isinstance(listed, list) else ())
        if isinstance(event, dict)
    ]
    description = status.get("description")
    return Span(
        name=name,
        span_id=span_id,
        parent_id=_id(record.get("parent_id")),
        service=service if isinstance(service, str) else None,
        kind=str(kind).removeprefix("SpanKind.").lower() if kind is not None else "",
        start=seconds(record.get("start_time")),
        end=seconds(record.get("end_time")),
        status=str(status.get("status_code", "UNSET")),
        description=description if isinstance(description, str) else None,
        attributes=_dict(record.get("attributes")),
        events=events,
        source=source,
    )


def _start(span: Span) -> float:
    return span.start if span.start is not None else float("-inf")


def tree(spans: list[Span]) -> list[tuple[int, Span, Event | None]]:
    """*spans* in tree order, each under its recorded parent, with their events.

    Each entry is (depth, span, None) for a span, (depth, span, event) for one
    of its events; under a span, its events and its children's subtrees come
    in time order. A span whose parent is not among *spans* is a root; every
    span is listed once, even when hostile input makes the parents loop.
    """
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        children.setdefault(parent, []).append(span)
    ordered: list[tuple[int, Span, Event | None]] = []
    seen: set[int] = set()
    # A stack of (depth, span, event): roots first, then whatever only a loop
    # of parents reaches.
    pending = [(0, span, None) for span in sorted(children.get(None, []), key=_start, reverse=True)]
    rest = iter(sorted(spans, key=_start))
    while True:
        if not pending:
            unseen = next((span for span in rest if id(span) not in seen), None)
            if unseen is None:
                return ordered
            pending.append((0, unseen, None))
        depth, span, event = pending.pop()
        if event is not None:
            ordered.append((depth, span, event))
            continue
        if id(span) in seen:
            continue
        seen.add(id(span))
        ordered.append((depth, span, None))
        below: list[tuple[float, int, Span, Event | None]] = [
            (_start(child), depth + 1, child, None) for child in children.get(span.span_id, [])
        ]
        below += [
            (item.time if item.time is not None else _start(span), depth + 1, span, item)
            for item in span.events
        ]
        below.sort(key=lambda entry: entry[0])
        pending.extend((entry[1], entry[2], entry[3]) for entry in reversed(below))
