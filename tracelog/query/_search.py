"""One query over many sources: exact matches, merged in time order, damage counted."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

from tracelog.query import _records
from tracelog.query._ids import TraceId
from tracelog.query._records import DamagedLine
from tracelog.query._scan import MAX_LINE
from tracelog.query._sources import Source, scan
from tracelog.query._spans import Span, read_span

__all__ = ["Damage", "Match", "Result", "search"]

SHOWN_DAMAGE = 5


class Match(NamedTuple):
    """One record of the trace.

    Only the line is kept, not its parsed object (which takes several times
    the line's size): `record` parses it again when asked.

    Attributes:
        line: the line's bytes as read (no line end).
        time: seconds since the epoch, None when the record has no usable timestamp.
        source: the path it came from (``"-"``: stdin).
        sort_key: (time, or the time of the record before it; source index; line order).
    """

    line: bytes
    time: float | None
    source: str
    sort_key: tuple[float, int, int]

    @property
    def record(self) -> dict[str, Any]:
        """The parsed JSON object (parsed anew on each access)."""
        return _records.parse_line(self.line)


class Damage(NamedTuple):
    """A line that mentions the trace but could not be read; *where* is ``path:line``."""

    where: str
    reason: str


class Result:
    """What a query found.

    Attributes:
        matches: the trace's records, in time order.
        spans: the trace's finished spans found among the lines (the SDK's span
            JSON, one span a line; see ``_spans``), by start time.
        damaged: lines mentioning the trace ID that are not one JSON object (or too long).
        damage: the first few of them, with where and why.
        mentions: lines that hold the ID but not in a trace-ID field (what grep would add).
        sources: how many files (or streams) were read.
    """

    __slots__ = ("damage", "damaged", "matches", "mentions", "sources", "spans")

    def __init__(self, *, sources: int = 0) -> None:
        self.matches: list[Match] = []
        self.spans: list[Span] = []
        self.damaged = 0
        self.damage: list[Damage] = []
        self.mentions = 0
        self.sources = sources


class _LineNumbers:
    """Line numbers of byte offsets in a file, counted only when a damaged line is reported."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._offset = 0
        self._lines = 1

    def at(self, offset: int) -> int | None:
        if offset < self._offset:
            self._offset, self._lines = 0, 1
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            while self._offset < offset:
                data = os.pread(fd, min(1 << 20, offset - self._offset), self._offset)
                if not data:
                    return None
                self._lines += data.count(b"\n")
                self._offset += len(data)
        finally:
            os.close(fd)
        return self._lines


class _Collector:
    """Receives one source's candidate lines and keeps the trace's records."""

    def __init__(
        self,
        source: Source,
        index: int,
        trace: TraceId,
        span: str | None,
        min_level: int | None,
        result: Result,
        report: Callable[[Damage], None],
    ) -> None:
        self._source = source
        self._index = index
        self._trace = trace
        self._span = span
        self._min_level = min_level
        self._result = result
        self._report = report
        self._last_time = float("-inf")
        self._seq = 0
        self._numbers = _LineNumbers(source.path) if source.kind == "file" else None

    def line(self, data: bytes, line_no: int | None, offset: int) -> None:
        try:
            record = _records.parse_line(data)
        except DamagedLine as damage:
            self._damaged(line_no, offset, str(damage))
            return
        if not _records.trace_matches(record, self._trace):
            span = read_span(record, self._trace, self._source.path)
            if span is None:
                self._result.mentions += 1
            elif self._span is None or span.span_id == self._span:
                if self._min_level is not None:  # events made from quieter records go too
                    minimum = self._min_level
                    kept = [e for e in span.events if e.level is None or e.level >= minimum]
                    span = span._replace(events=kept)
                self._result.spans.append(span)
            return
        if self._span is not None and not _records.span_matches(record, self._span):
            return
        if self._min_level is not None:
            level = _records.level_number(_records.level_name(record))
            if level is None or level < self._min_level:
                return
        time = _records.record_time(record)
        if time is not None:
            self._last_time = time
        self._seq += 1
        self._result.matches.append(
            Match(
                line=data,
                time=time,
                source=self._source.path,
                # No usable time: right after the record before it in the same file.
                sort_key=(time if time is not None else self._last_time, self._index, self._seq),
            )
        )

    def too_long(self, line_no: int | None, offset: int) -> None:
        self._damaged(line_no, offset, f"longer than {MAX_LINE >> 20} MiB; not read")

    def _damaged(self, line_no: int | None, offset: int, reason: str) -> None:
        result = self._result
        result.damaged += 1
        if len(result.damage) >= SHOWN_DAMAGE:
            return
        if line_no is None and self._numbers is not None:
            line_no = self._numbers.at(offset)
        where = f"{self._source.path}:{line_no}" if line_no else f"{self._source.path}@{offset}"
        damage = Damage(where, reason)
        result.damage.append(damage)
        self._report(damage)


def search(
    trace: TraceId,
    sources: list[Source],
    *,
    span: str | None = None,
    min_level: int | None = None,
    warn: Callable[[str], None] = lambda message: None,
    report: Callable[[Damage], None] = lambda damage: None,
    progress: Callable[[int], None] = lambda done: None,
) -> Result:
    """Every record of *trace* in *sources*, in time order.

    Args:
        trace: the trace to find.
        sources: from `discover`.
        span: keep only this span's records (16 lowercase hex digits).
        min_level: keep only records at least this severe (see `level_number`).
        warn: called with each warning (unreadable file, truncated gzip).
        report: called with each of the first damaged lines, as they are found.
        progress: called with the total bytes read so far, as the scan goes.
    """
    result = Result(sources=len(sources))
    needles = trace.needles
    done_before = 0
    for index, source in enumerate(sources):
        collector = _Collector(source, index, trace, span, min_level, result, report)
        base = done_before

        def advance(done: int, base: int = base) -> None:
            progress(base + done)

        scan(source, needles, collector, advance, warn)
        done_before += source.size
        progress(done_before)
    result.matches.sort(key=lambda match: match.sort_key)
    result.spans.sort(key=lambda span: span.start if span.start is not None else float("-inf"))
    return result
