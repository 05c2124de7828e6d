r"""The byte-level scan: find the lines that mention a trace ID, at disk speed.

Only lines holding one of the needles (the ID as the profiles write it) are
handed on to be parsed, so almost all of a file is only searched, never
decoded. Regular files are memory-mapped a window at a time (no copy; the
resident memory stays at about one window); streams (gzip, stdin, FIFOs) are
read into one reusable buffer, the partial last line carried to the next read.
Lines are split on ``\\n`` only.

The search uses StringZilla's SIMD ``find`` when it is installed
(``tracelog[query]``), else Python's own, about three times slower.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from typing import Any, Protocol

try:
    import stringzilla
except ImportError:  # optional: Python's find does the same, slower
    stringzilla = None

__all__ = ["MAX_LINE", "WINDOW", "LineSink", "scan_mapped", "scan_stream"]

WINDOW = 32 << 20  # bytes mapped at a time
CHUNK = 4 << 20  # bytes read at a time from a stream
BLOCK = 256 << 10  # searched for every needle while it is in the CPU cache
MAX_LINE = 8 << 20  # longer candidate lines are skipped and counted: bounded memory
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
_GRANULARITY = mmap.ALLOCATIONGRANULARITY
FAST_SEARCH = stringzilla is not None


class LineSink(Protocol):
    """Receives candidate lines; *line_no* (1-based) or *offset* (bytes) says where."""

    def line(self, data: bytes, line_no: int | None, offset: int) -> None: ...

    def too_long(self, line_no: int | None, offset: int) -> None: ...


def _searchable(buffer: Any) -> Any:
    """An object with ``find(sub, start, end)`` over *buffer*, without a copy."""
    return stringzilla.Str(memoryview(buffer)) if stringzilla is not None else buffer


def _hits(text: Any, needles: tuple[bytes, ...], begin: int, end: int) -> list[int]:
    """Start offsets of the needles in ``text[begin:end]``, in order.

    The range is searched a cache-sized block at a time, every needle per
    block: the second and third needles then read from cache, not memory
    (measured: three needles cost 1.6x one, instead of 2.4x).
    """
    hits = []
    block = begin
    while block < end:
        block_end = min(block + BLOCK, end)
        for needle in needles:
            # A hit must start in this block; it may run past its end.
            limit = min(block_end + len(needle) - 1, end)
            at = text.find(needle, block, limit)
            while at != -1:
                hits.append(at)
                at = text.find(needle, at + len(needle), limit)
        block = block_end
    if len(needles) > 1 and len(hits) > 1:
        hits.sort()
    return hits


def _lines(
    buffer: Any, text: Any, needles: tuple[bytes, ...], begin: int, end: int
) -> list[tuple[int, int]]:
    """(start, end) of each line in ``buffer[begin:end]`` that holds a needle, in order."""
    found = []
    last_end = -1
    for hit in _hits(text, needles, begin, end):
        if hit < last_end:
            continue  # another needle on a line already taken
        start = buffer.rfind(b"\n", begin, hit) + 1 or begin
        stop = buffer.find(b"\n", hit, end)
        stop = end if stop == -1 else stop
        found.append((start, stop))
        last_end = stop
    return found


def scan_mapped(
    fd: int,
    size: int,
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[int], None],
) -> int:
    """Scan the first *size* bytes of a regular file; return how many bytes were read.

    The size is the one seen when the file was opened, so a growing log is read
    up to that point and the scan ends. A file that shrinks meanwhile (a
    ``copytruncate`` rotation) is read up to its new end.
    """
    pos = 0
    longest = max(map(len, needles))
    while pos < size:
        size = min(size, os.fstat(fd).st_size)
        if pos >= size:
            break
        base = pos - pos % _GRANULARITY
        length = min(WINDOW + (pos - base), size - base)
        window = mmap.mmap(
            fd, length, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ, offset=base
        )
        try:
            begin = pos - base
            at_end = base + length == size
            end = length if at_end else window.rfind(b"\n", begin, length) + 1
            if end == 0:  # no line end within a whole window: far past MAX_LINE
                text = _searchable(window)
                hit = bool(_hits(text, needles, begin, length))
                del text
                window.close()
                pos, more = _skip_long_line(fd, size, base + length, needles, longest)
                if hit or more:
                    sink.too_long(None, base + begin)
                progress(pos)
                continue
            text = _searchable(window)
            for start, stop in _lines(window, text, needles, begin, end):
                if stop - start > MAX_LINE:
                    sink.too_long(None, base + start)
                else:
                    sink.line(window[start:stop], None, base + start)
            del text
        finally:
            window.close()
        pos = base + end
        progress(pos)
    return pos


def _skip_long_line(
    fd: int, size: int, pos: int, needles: tuple[bytes, ...], longest: int
) -> tuple[int, bool]:
    """Read on to the end of an over-long line: where the next line starts, and needle seen?

    It reads back enough to catch a needle that straddles two reads.
    """
    hit = False
    while pos < size:
        back = min(pos, longest - 1)
        chunk = os.pread(fd, min(CHUNK, size - pos) + back, pos - back)
        if not chunk:
            break
        stop = chunk.find(b"\n", back)
        region_end = len(chunk) if stop == -1 else stop
        hit = hit or any(chunk.find(needle, 0, region_end) != -1 for needle in needles)
        if stop != -1:
            return pos - back + stop + 1, hit
        pos += len(chunk) - back
    return size, hit


def scan_stream(
    readinto: Callable[[memoryview], int | None],
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[], None],
    *,
    count_lines: bool = True,
) -> None:
    """Scan a stream to its end.

    With *count_lines*, lines are numbered as they go by (for damage reports
    on streams that cannot be read again); without, candidates carry their
    byte offset instead, and cost no counting.
    """
    buffer = bytearray(CHUNK)
    filled = 0
    offset = 0  # stream offset of buffer[0]
    line_no = 1  # number of the line at buffer[0]
    longest = max(map(len, needles))
    skipping = False  # discarding the rest of an over-long line
    skip_hit = False
    skip_line = skip_offset = 0
    while True:
        if filled == len(buffer) and not skipping:
            if len(buffer) <= MAX_LINE:
                buffer.extend(bytes(len(buffer)))  # a long line: room for it, up to the cap
            else:
                skipping, skip_hit, skip_line, skip_offset = True, False, line_no, offset
        if skipping and filled == len(buffer):
            skip_hit = skip_hit or bool(_hits(buffer, needles, 0, filled))
            keep = longest - 1  # a needle may straddle this read and the next
            buffer[:keep] = buffer[filled - keep : filled]
            offset += filled - keep
            filled = keep
        view = memoryview(buffer)
        try:
            count = readinto(view[filled:])
        finally:
            view.release()
        if not count:
            break
        filled += count
        if skipping:
            stop = buffer.find(b"\n", 0, filled)
            if stop == -1:
                continue
            if skip_hit or _hits(buffer, needles, 0, stop):
                sink.too_long(skip_line if count_lines else None, skip_offset)
            skipping = False
            buffer[: filled - stop - 1] = buffer[stop + 1 : filled]
            filled -= stop + 1
            offset += stop + 1
            line_no += 1
        end = buffer.rfind(b"\n", 0, filled) + 1
        if end == 0:
            continue
        line_no = _emit(buffer, needles, end, line_no, offset, sink, count_lines)
        buffer[: filled - end] = buffer[end:filled]
        filled -= end
        offset += end
        if len(buffer) > CHUNK and filled < CHUNK:
            del buffer[CHUNK:]  # give a long line's room back
        progress()
    if skipping:
        if skip_hit or _hits(buffer, needles, 0, filled):
            sink.too_long(skip_line if count_lines else None, skip_offset)
    elif filled:
        _emit(buffer, needles, filled, line_no, offset, sink, count_lines)
    progress()


def _emit(
    buffer: bytearray,
    needles: tuple[bytes, ...],
    end: int,
    line_no: int,
    offset: int,
    sink: LineSink,
    count_lines: bool,
) -> int:
    """Hand on the candidate lines of ``buffer[:end]``; return the next line's number."""
    text = _searchable(buffer)
    counted = 0
    try:
        for start, stop in _lines(buffer, text, needles, 0, end):
            number = None
            if count_lines:
                line_no += buffer.count(b"\n", counted, start)
                counted = start
                number = line_no
            if stop - start > MAX_LINE:
                sink.too_long(number, offset + start)
            else:
                sink.line(bytes(buffer[start:stop]), number, offset + start)
    finally:
        del text
    return line_no + buffer.count(b"\n", counted, end) if count_lines else line_no
