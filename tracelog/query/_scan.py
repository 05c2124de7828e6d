r"""The byte-level scan: find the lines that mention a trace ID, at disk speed.

Only lines holding one of the needles (the ID as the profiles write it) are
handed on to be parsed, so almost all of a file is only searched, never
decoded. Regular files are read ahead by a thread into two reused buffers
while the previous chunk is searched (never memory-mapped: a file truncated
under a mapping kills the process with SIGBUS); streams (gzip, stdin, FIFOs)
are read into one reusable buffer, the partial last line carried to the next
read. Lines are split on ``\\n`` only.

The search uses StringZilla's SIMD ``find`` when it is installed
(``tracelog[query]``), else Python's own, about three times slower.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from tracelog.query._ids import WholeValue

try:
    import stringzilla
except ImportError:  # optional: Python's find does the same, slower
    stringzilla = None

__all__ = ["FILE_CHUNK", "MAX_LINE", "LineSink", "scan_file", "scan_stream"]

FILE_CHUNK = 8 << 20  # bytes read at a time from a regular file
# Threads reading a file ahead: the copy from the page cache costs about what
# the search does, so one overlaps it; measured, more only contend (2 cores).
READERS = 1
CHUNK = 4 << 20  # bytes read at a time from a stream
BLOCK = 256 << 10  # searched for every needle while it is in the CPU cache
MAX_LINE = 8 << 20  # longer candidate lines are skipped and counted: bounded memory
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
            whole = type(needle) is WholeValue
            while at != -1:
                if not whole or _stands_alone(text, at, at + len(needle)):
                    hits.append(at)
                at = text.find(needle, at + len(needle), limit)
        block = block_end
    if len(needles) > 1 and len(hits) > 1:
        hits.sort()
    return hits


_BEFORE_VALUE = frozenset(b'":[, \t')
_AFTER_VALUE = frozenset(b'",}] \t\r\n')


def _byte(text: Any, index: int) -> int:
    item = text[index]  # an int from bytes, a one-character str from stringzilla's Str
    return item if type(item) is int else ord(item)


def _stands_alone(text: Any, start: int, stop: int) -> bool:
    """Whether ``text[start:stop]`` is a whole JSON value (its neighbours are not digits).

    A neighbour outside *text* (the hit at a buffer's edge) is taken as a
    boundary: the line is then parsed, and the parse decides.
    """
    if start > 0 and _byte(text, start - 1) not in _BEFORE_VALUE:
        return False
    return stop >= len(text) or _byte(text, stop) in _AFTER_VALUE


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


class _Reader:
    """Reads a file ahead in threads, into a few reused buffers, while the caller searches.

    ``os.preadv`` copies from the page cache without holding the GIL, so the
    copies of the next chunks overlap the search of this one. Chunk *k* is
    read by thread ``k % threads`` at its own file offset. A short read (the
    file shrank meanwhile: a ``copytruncate`` rotation) ends the file; nothing
    is memory-mapped, so nothing can fault.
    """

    def __init__(self, fd: int, size: int, chunk: int, *, threads: int, buffers: int) -> None:
        self._fd, self._size, self._chunk = fd, size, chunk
        self._next = 0  # index of the chunk get() returns next
        self._threads: list[threading.Thread] = []
        self._free: list[queue.SimpleQueue[bytearray | None]] = []
        self._full: list[queue.SimpleQueue[tuple[bytearray, int] | BaseException]] = []
        if size <= chunk:  # one read: no thread needed
            self._buffer = bytearray(size)
            return
        self._buffer = bytearray()
        for index in range(threads):
            free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
            for _ in range(buffers):
                free.put(bytearray(chunk))
            self._free.append(free)
            self._full.append(queue.SimpleQueue())
            thread = threading.Thread(
                target=self._run, args=(index, threads), name="tracelog-read", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run(self, index: int, threads: int) -> None:
        free, full = self._free[index], self._full[index]
        pos = index * self._chunk
        try:
            while pos < self._size:
                buffer = free.get()
                if buffer is None:
                    return
                view = memoryview(buffer)
                try:
                    want = min(self._chunk, self._size - pos)
                    full.put((buffer, os.preadv(self._fd, [view[:want]], pos)))
                finally:
                    view.release()
                pos += self._chunk * threads
        except BaseException as error:  # handed to the reading side, which raises it
            full.put(error)

    def get(self) -> tuple[bytearray, int, int]:
        """The next chunk: (buffer, bytes in it, file offset); 0 bytes at the end."""
        pos = self._next * self._chunk
        if pos >= self._size:
            return self._buffer, 0, pos
        self._next += 1
        if not self._threads:
            return self._buffer, os.preadv(self._fd, [self._buffer], pos), pos
        item = self._full[(self._next - 1) % len(self._threads)].get()
        if isinstance(item, BaseException):
            raise item
        buffer, count = item
        if count < min(self._chunk, self._size - pos):
            self._size = pos + count  # the file shrank: it ends here
        return buffer, count, pos

    def give_back(self, buffer: bytearray, pos: int) -> None:
        """Return the buffer of the chunk at *pos* for reading into, once it is searched."""
        if self._threads:
            self._free[pos // self._chunk % len(self._threads)].put(buffer)

    def close(self) -> None:
        """Stop the threads (they may be waiting for a buffer) and wait for them."""
        for free in self._free:
            free.put(None)
        for thread in self._threads:
            thread.join()


def scan_file(
    fd: int,
    size: int,
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[int], None],
) -> None:
    """Scan the first *size* bytes of a regular file (its size when opened).

    A growing log is read up to that point and the scan ends; a file that
    shrinks meanwhile is read up to its new end. Candidates carry their byte
    offset; line numbers are counted only for the damage that is reported.
    """
    if size <= 0:
        return
    longest = max(map(len, needles))
    reader = _Reader(fd, size, FILE_CHUNK, threads=READERS, buffers=2)
    pending = bytearray()  # the line that began in an earlier chunk
    pending_at = 0  # its file offset
    skipping = False  # the pending line grew past MAX_LINE: only look for a needle in it
    skip_hit = False
    try:
        while True:
            buffer, count, base = reader.get()
            if count == 0:
                break
            first = buffer.find(b"\n", 0, count)
            if first == -1:
                first = count  # no line end: all of it continues the pending line
            # The pending line, continued by this chunk's head.
            if skipping:
                overlap = pending + buffer[: min(first, longest - 1)]
                skip_hit = skip_hit or bool(_hits(overlap, needles, 0, len(overlap)))
                skip_hit = skip_hit or bool(_hits(buffer, needles, 0, first))
                pending = (pending + buffer[:first])[len(pending) + first - longest + 1 :]
            elif len(pending) + first > MAX_LINE:
                skipping = True
                overlap = pending + buffer[:first]
                skip_hit = bool(_hits(overlap, needles, 0, len(overlap)))
                pending = bytearray(overlap[-(longest - 1) :]) if longest > 1 else bytearray()
            else:
                pending += buffer[:first]
            if first == count:
                reader.give_back(buffer, base)
                progress(base + count)
                continue
            if skipping:
                if skip_hit:
                    sink.too_long(None, pending_at)
                skipping = skip_hit = False
            elif pending and _hits(pending, needles, 0, len(pending)):
                sink.line(bytes(pending), None, pending_at)
            # Whole lines of this chunk.
            begin = first + 1
            end = buffer.rfind(b"\n", begin, count) + 1 or begin
            if end > begin:
                text = _searchable(buffer)
                try:
                    for start, stop in _lines(buffer, text, needles, begin, end):
                        if stop - start > MAX_LINE:
                            sink.too_long(None, base + start)
                        else:
                            sink.line(bytes(buffer[start:stop]), None, base + start)
                finally:
                    del text
            pending = bytearray(buffer[end:count])
            pending_at = base + end
            reader.give_back(buffer, base)
            progress(base + count)
        if skipping:
            if skip_hit:
                sink.too_long(None, pending_at)
        elif pending and _hits(pending, needles, 0, len(pending)):
            sink.line(bytes(pending), None, pending_at)
    finally:
        reader.close()


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
