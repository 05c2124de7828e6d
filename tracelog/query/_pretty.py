"""The terminal view of a trace's records: time, service, level, logger, message, fields.

Everything that came from the logs goes through `escape_terminal`, so a log
line can neither move the cursor, retitle the terminal nor forge a line.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from tracelog._console import (
    BOLD,
    DIM,
    KEY_COLOUR,
    LEVEL_COLOURS,
    escape_terminal,
    painter,
    value_text,
)
from tracelog._json import JsonEncoder
from tracelog.query import _records
from tracelog.query._search import Match, Result
from tracelog.query._spans import Span, tree

__all__ = ["render", "render_spans", "summary"]

_SPAN = "\x1b[35m"
# Records from other writers also say "warn" and "fatal".
_LEVEL_COLOURS = {
    **LEVEL_COLOURS,
    "warn": LEVEL_COLOURS["warning"],
    "fatal": LEVEL_COLOURS["critical"],
}
_BLOCKS = ("exception.stacktrace", "error.stack_trace", "error.stack", "stack_trace", "stack_info")
_MAX_DEPTH = 6
_MAX_SPANS = 1000
# Attributes the pretty span view leaves out: instrumentation's HTTP and network
# details (in the file, not needed to follow the trace), and what the log line shows.
_SPAN_HIDDEN = ("http.", "net.", "network.", "server.", "client.", "url.", "user_agent.")
_EVENT_HIDDEN = ("log.", "otel.scope.", "code.", "exception.stacktrace")


def _span_depths(matches: list[Match]) -> dict[str, int]:
    """Nesting of spans guessed from their records' times (logs do not name parents).

    A span whose first-to-last record interval lies within another's is drawn
    one step further in; spans with the same interval keep their first-seen order.
    """
    bounds: dict[str, list[float]] = {}
    order: dict[str, int] = {}
    for match in matches:
        span = _records.span_of(match.record)
        if span is None or match.time is None:
            continue
        order.setdefault(span, len(order))
        edge = bounds.setdefault(span, [match.time, match.time])
        edge[0] = min(edge[0], match.time)
        edge[1] = max(edge[1], match.time)
    depths: dict[str, int] = {}
    if len(bounds) > _MAX_SPANS:  # quadratic below; such a trace is read flat
        return depths
    for span, (first, last) in bounds.items():
        outer = sum(
            1
            for other, (o_first, o_last) in bounds.items()
            if other != span
            and o_first <= first
            and last <= o_last
            and ((o_first, o_last) != (first, last) or order[other] < order[span])
        )
        depths[span] = min(outer, _MAX_DEPTH)
    return depths


def _time_text(match: Match, record: dict[str, Any]) -> str:
    if match.time is None:
        raw = _records.raw_time(record)
        return escape_terminal(str(raw)) if raw is not None else "-"
    moment = datetime.datetime.fromtimestamp(match.time, datetime.UTC)
    return moment.strftime("%H:%M:%S.%f")


def render(matches: list[Match], *, colour: bool, spans: Iterable[Span] = ()) -> Iterable[str]:
    """One line per record (plus indented stack traces), ready for a terminal.

    A record's span is indented by its depth among *spans* when it is one of
    them (parents as recorded), else by the depth its records' times suggest.
    """
    encoder = JsonEncoder()
    depths = _span_depths(matches)
    depths.update(
        (span.span_id, min(depth, _MAX_DEPTH))
        for depth, span, event in tree(list(spans))
        if event is None
    )
    paint = painter(colour)

    for match in matches:
        record = match.record
        profile = _records.profile_of(record)
        level = _records.level_name(record)
        service = _records.service_of(record)
        logger = _records.logger_of(record)
        message = _records.message_of(record)
        span = _records.span_of(record)
        parts = [
            paint(DIM, _time_text(match, record)),
            f"{escape_terminal(_text(service)) if service is not None else '-':<10}",
            paint(_LEVEL_COLOURS.get(level, ""), f"{escape_terminal(level.upper()) or '-':<8}"),
        ]
        head = "  " * depths.get(span or "", 0)
        if logger is not None:
            head += paint(BOLD, escape_terminal(_text(logger)) + ":") + " "
        head += escape_terminal(_text(message)) if message is not None else ""
        parts.append(head)
        # Only the record's own profile's fields are in the columns; every other
        # field, even one named like another profile's, is shown as key=value.
        hidden = _records.column_keys(record) | {"message" if "message" in record else "msg"}
        for key, value in record.items():
            if (
                key in hidden
                or key in _BLOCKS
                or (isinstance(value, dict) and key in profile.nested)
            ):
                continue
            shown = f"{escape_terminal(key)}={value_text(encoder, value)}"
            parts.append(paint(KEY_COLOUR, shown))
        if span is not None:
            parts.append(paint(DIM, f"span={escape_terminal(span)}"))
        line = " ".join(parts)
        for key in _BLOCKS:
            block = record.get(key)
            if isinstance(block, str) and block:
                line += "".join(
                    f"\n      {escape_terminal(text)}" for text in block.rstrip("\n").split("\n")
                )
        yield line


def render_spans(spans: list[Span], *, colour: bool) -> Iterable[str]:
    """The spans as a tree by their recorded parents, each followed by its events."""
    encoder = JsonEncoder()
    paint = painter(colour)

    def fields(attributes: dict[str, Any], hidden: tuple[str, ...]) -> list[str]:
        return [
            paint(KEY_COLOUR, f"{escape_terminal(key)}={value_text(encoder, value)}")
            for key, value in attributes.items()
            if not key.startswith(hidden)
        ]

    for depth, span, event in tree(spans):
        indent = "  " * min(depth, _MAX_DEPTH)
        service = escape_terminal(span.service) if span.service is not None else "-"
        if event is not None:
            level = escape_terminal(str(event.level_text or ""))
            yield " ".join(
                [
                    paint(DIM, _clock(event.time)),
                    f"{service:<10}",
                    paint(_LEVEL_COLOURS.get(level.lower(), ""), f"{level or 'EVENT':<8}"),
                    f"{indent}- {escape_terminal(event.name)}",
                    *fields(event.attributes, _EVENT_HIDDEN),
                ]
            )
            continue
        head = indent + paint(BOLD, escape_terminal(span.name))
        if span.start is not None and span.end is not None:
            head += f" {(span.end - span.start) * 1000:.1f} ms"
        parts = [
            paint(DIM, _clock(span.start)),
            f"{service:<10}",
            paint(_SPAN, f"{escape_terminal(span.kind.upper()) or 'SPAN':<8}"),
            head,
        ]
        if span.status == "ERROR":
            status = "ERROR" + (f": {span.description}" if span.description else "")
            parts.append(paint(_LEVEL_COLOURS["error"], escape_terminal(status)))
        parts += fields(span.attributes, _SPAN_HIDDEN)
        parts.append(paint(DIM, f"span={span.span_id}"))
        yield " ".join(parts)


def _clock(time: float | None) -> str:
    if time is None:
        return f"{'-':<15}"
    return datetime.datetime.fromtimestamp(time, datetime.UTC).strftime("%H:%M:%S.%f")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def summary(result: Result, *, colour: bool) -> str:
    """Lines, files, services, first and last time, errors: one paragraph."""
    matches = result.matches
    files = sorted({match.source for match in matches})
    names: set[str] = set()
    errors = 0
    for match in matches:
        record = match.record  # parsed again: matches keep only their lines
        service = _records.service_of(record)
        if service is not None:
            names.add(escape_terminal(_text(service)))
        errors += (_records.level_number(_records.level_name(record)) or 0) >= 40
    services = sorted(names)
    times = [match.time for match in matches if match.time is not None]
    text = (
        f"{len(matches)} line{'s' * (len(matches) != 1)} from {len(files)} "
        f"file{'s' * (len(files) != 1)}"
        f" (of {result.sources} read); services: {', '.join(services) or '-'}"
    )
    if times:
        first = datetime.datetime.fromtimestamp(min(times), datetime.UTC)
        last = datetime.datetime.fromtimestamp(max(times), datetime.UTC)
        duration = (last - first).total_seconds() * 1000
        text += (
            f"\nfirst {first.isoformat(timespec='microseconds')}, "
            f"last {last.isoformat(timespec='microseconds')} ({duration:.1f} ms)"
        )
    error_text = f"{errors} error{'s' * (errors != 1)}"
    text += "; " + (painter(colour)(LEVEL_COLOURS["error"], error_text) if errors else error_text)
    if result.spans:
        span_files = len({span.source for span in result.spans})
        text += (
            f"\n{len(result.spans)} span{'s' * (len(result.spans) != 1)} from {span_files} "
            f"file{'s' * (span_files != 1)}"
        )
    if result.mentions:
        text += f"\n{result.mentions} other line(s) mention the ID outside a trace-ID field"
    return text
