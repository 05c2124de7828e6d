"""Every log line of one trace, across services and files: the engine of ``tracelog query``.

Usage::

    from tracelog.query import discover, parse_trace, search

    result = search(parse_trace("4c7c6430fb5466bff54036fa0cbe7eb6"), discover(["logs/"], print))
    for match in result.matches:
        print(match.record["message"])

Matching is exact on the trace-ID field of every field profile tracelog writes;
only lines that hold the ID as bytes are parsed (see ``_scan``). Lines of the
OpenTelemetry SDK's span JSON for the trace are its spans (``result.spans``).
"""

from __future__ import annotations

from tracelog.query._ids import TraceId, parse_span, parse_trace
from tracelog.query._records import LEVELS, level_number
from tracelog.query._search import Damage, Match, Result, search
from tracelog.query._sources import Source, discover
from tracelog.query._spans import Event, Span

__all__ = [
    "LEVELS",
    "Damage",
    "Event",
    "Match",
    "Result",
    "Source",
    "Span",
    "TraceId",
    "discover",
    "level_number",
    "parse_span",
    "parse_trace",
    "search",
]
