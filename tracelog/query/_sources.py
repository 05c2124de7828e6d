"""Where log lines come from: files, directories, gzip, stdin and FIFOs, without hanging.

- Directories are walked recursively for ``*.jsonl``, ``*.ndjson``, ``*.json``,
  ``*.log`` and their rotated forms (``app.log.1``, ``app.log.2.gz``,
  ``app.log-20261122.gz``). Symbolic links are followed, but a directory is
  entered once (by device and inode), so a link loop ends the walk; only
  regular files are read from a walk, so a FIFO or a device there is never opened.
- A regular file is read up to the size it had when opened: a growing log
  does not keep the scan going; one truncated meanwhile (``copytruncate``) is
  read to its new end. Files are read, never memory-mapped: a truncation under
  a mapping would kill the process with SIGBUS.
- A FIFO named on the command line is opened without blocking (no writer: it
  is empty) and read to its end, or until no data came for `FIFO_IDLE`
  seconds (a writer that keeps it open must not hang the query). Standard
  input and anonymous pipes (``<(...)``, ``/dev/stdin``: their path resolves
  to no FIFO in the file system) are read to their end, as ``grep`` does.
- gzip is recognised by its magic bytes, whatever the name; a stream cut short
  yields every line it holds, then a warning.
"""

from __future__ import annotations

import os
import re
import select
import stat
import sys
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

from tracelog.query._scan import CHUNK, LineSink, scan_file, scan_stream

__all__ = ["Source", "discover", "scan"]

# app.log, app.log.1, app.log-20261122 (logrotate dateext), app.log.2026-11-23 and
# app.log.2026-11-22_10 (TimedRotatingFileHandler), app.log-2026-11-22; each maybe .gz.
_LOG_NAME = re.compile(
    r"\.(?:jsonl|ndjson|json|log)"
    r"(?:\.\d+|-\d{8,10}|[.-]\d{4}-\d{2}-\d{2}(?:_\d{2}(?:-\d{2}(?:-\d{2})?)?)?)?(?:\.gz)?$"
)
_GZIP_MAGIC = b"\x1f\x8b"
FIFO_IDLE = 2.0  # seconds without data that end a FIFO named on the command line


class Source(NamedTuple):
    """One thing to read: a path (``"-"`` for stdin), its kind and its size when listed."""

    path: str
    kind: str  # "file", "fifo" (named), "pipe" (anonymous) or "stdin"
    size: int = 0


def discover(paths: list[str], warn: Callable[[str], None]) -> list[Source]:
    """The sources named by *paths*, directories expanded; each file once.

    Raises:
        OSError: a path cannot be looked at (missing, or permission denied); the
            message names it and says why.
    """
    for path in paths:
        if path != "-":
            try:
                os.stat(path)
            except OSError as error:
                raise OSError(f"{path}: {error.strerror or error}") from None
    sources: list[Source] = []
    seen: set[tuple[int, int]] = set()
    stdin_taken = False
    for path in paths:
        if path == "-":
            if not stdin_taken:
                sources.append(Source("-", "stdin"))
                stdin_taken = True
            continue
        try:
            info = os.stat(path)
        except OSError as error:
            warn(f"{path}: {error.strerror or error}; skipped")
            continue
        if stat.S_ISDIR(info.st_mode):
            sources.extend(_walk(path, info, seen, warn))
        elif stat.S_ISREG(info.st_mode):
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                sources.append(Source(path, "file", info.st_size))
        elif stat.S_ISFIFO(info.st_mode):
            sources.append(Source(path, "fifo" if _is_named(path, info) else "pipe"))
        else:
            warn(f"{path}: not a regular file, directory or FIFO; skipped")
    return sources


def _is_named(path: str, info: os.stat_result) -> bool:
    """Whether the FIFO at *path* is one in the file system (not a pipe behind /dev/fd)."""
    try:
        target = os.lstat(os.path.realpath(path))  # /dev/fd/63 resolves to "pipe:[N]"
    except OSError:
        return False
    return stat.S_ISFIFO(target.st_mode) and (target.st_dev, target.st_ino) == (
        info.st_dev,
        info.st_ino,
    )


def _walk(
    root: str, info: os.stat_result, seen: set[tuple[int, int]], warn: Callable[[str], None]
) -> list[Source]:
    found: list[Source] = []
    entered = {(info.st_dev, info.st_ino)}
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            warn(f"{directory}: {error.strerror or error}; skipped")
            continue
        subdirectories = []
        for entry in entries:
            try:
                entry_info = os.stat(entry.path)  # follows links; a loop raises ELOOP
            except OSError as error:
                if entry.is_symlink():
                    continue  # dangling or looping link: nothing to read
                warn(f"{entry.path}: {error.strerror or error}; skipped")
                continue
            key = (entry_info.st_dev, entry_info.st_ino)
            if stat.S_ISDIR(entry_info.st_mode):
                if key not in entered:
                    entered.add(key)
                    subdirectories.append(entry.path)
            elif (
                stat.S_ISREG(entry_info.st_mode)
                and _LOG_NAME.search(entry.name)
                and key not in seen
            ):
                seen.add(key)
                found.append(Source(entry.path, "file", entry_info.st_size))
        pending.extend(reversed(subdirectories))
    return found


class _Gunzip:
    """Decompresses gzip (all members) as a ``readinto`` stream; notes a cut-short end."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._z = zlib.decompressobj(wbits=31)
        self._carry = b""
        self._started = False
        self._done = False
        self.truncated = False
        self.error: str | None = None
        self.consumed = 0

    def readinto(self, view: memoryview) -> int:
        while not self._done:
            z = self._z
            data = z.unconsumed_tail or self._carry
            self._carry = b""
            if not data:
                data = self._read(CHUNK)
                self.consumed += len(data)
                if not data:
                    self._done = True
                    self.truncated = self._started and not z.eof
                    return 0
            try:
                out = z.decompress(data, len(view))
            except zlib.error as error:
                self._done = True
                self.error = str(error)
                return 0
            self._started = True
            if z.eof:
                rest = z.unused_data
                self._z = zlib.decompressobj(wbits=31)
                self._started = False
                if rest.strip(b"\x00"):  # another member (zero padding is allowed)
                    self._carry = rest
            if out:
                view[: len(out)] = out
                return len(out)
        return 0


class _IdleEnds:
    """Reads a FIFO, but takes `FIFO_IDLE` seconds without data as its end.

    A writer that keeps a FIFO open without writing would otherwise hang the
    query forever; a live stream that pauses longer is cut short, with a warning.
    With *wait* (an anonymous pipe, whose writer is the user's own command) the
    pipe is read to its end however long it pauses.
    """

    def __init__(self, fd: int, *, wait: bool = False, first: bytes = b"") -> None:
        self._fd = fd
        self._wait = wait
        self._first = first  # read already, while finding out whether there is a writer
        self.idle = False

    def _ready(self) -> bool:
        if self._wait:
            return True
        if self.idle:
            return False
        ready, _, _ = select.select([self._fd], [], [], FIFO_IDLE)
        self.idle = not ready
        return bool(ready)

    def read1(self, count: int) -> bytes:
        if self._first:
            data, self._first = self._first[:count], self._first[count:]
            return data
        return os.read(self._fd, count) if self._ready() else b""

    def readinto(self, view: memoryview) -> int:
        if self._first:
            data = self.read1(len(view))
            view[: len(data)] = data
            return len(data)
        return os.readv(self._fd, [view]) if self._ready() else 0


def _read_capped(fd: int, size: int) -> Callable[[int], bytes]:
    left = size

    def read(count: int) -> bytes:
        nonlocal left
        data = os.read(fd, min(count, left)) if left > 0 else b""
        left -= len(data)
        return data

    return read


def scan(
    source: Source,
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[int], None],
    warn: Callable[[str], None],
) -> None:
    """Scan one source into *sink*; report the bytes read so far through *progress*."""
    if source.kind == "stdin":
        stream = sys.stdin.buffer if sys.stdin is not None else None
        if stream is None:
            warn("-: there is no standard input; skipped")
            return
        _scan_buffered(source, stream, needles, sink, progress, warn)
        return
    try:
        fd = os.open(source.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        warn(f"{source.path}: {error.strerror or error}; skipped")
        return
    try:
        info = os.fstat(fd)
        first = b""
        if stat.S_ISFIFO(info.st_mode) and source.kind != "pipe":
            # Still non-blocking: b"" at once when no writer has it open (it is
            # empty, not waited on), BlockingIOError when a writer has not written yet.
            try:
                first = os.read(fd, CHUNK)
                if not first:
                    return
            except BlockingIOError:
                pass  # a writer: read on below
        os.set_blocking(fd, True)
        if not stat.S_ISREG(info.st_mode):  # a FIFO, or replaced by one since listed
            stream = _IdleEnds(fd, wait=source.kind == "pipe", first=first)
            _scan_buffered(source, stream, needles, sink, progress, warn)
            if stream.idle:
                warn(
                    f"{source.path}: no data for {FIFO_IDLE:g} s; stopped reading"
                    " (its writer keeps it open)"
                )
            return
        size = info.st_size
        if size == 0:
            return
        if os.pread(fd, 2, 0) == _GZIP_MAGIC:
            _scan_gzip(source, _read_capped(fd, size), needles, sink, progress, warn)
            return
        scan_file(fd, size, needles, sink, progress)
    except OSError as error:
        warn(f"{source.path}: {error.strerror or error}; stopped reading")
    finally:
        os.close(fd)


def _fill(read: Callable[[int], bytes], view: memoryview) -> int:
    data = read(len(view))
    view[: len(data)] = data
    return len(data)


def _scan_buffered(
    source: Source,
    stream: Any,
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[int], None],
    warn: Callable[[str], None],
) -> None:
    read1 = getattr(stream, "read1", None) or stream.read  # a replaced sys.stdin may lack read1
    # The magic number may come in two reads (a pipe's writer sends one byte first):
    # read until there are two bytes or the end, then hand them on first.
    head = b""
    while len(head) < len(_GZIP_MAGIC):
        more = read1(len(_GZIP_MAGIC) - len(head))
        if not more:
            break
        head += more
    if head == _GZIP_MAGIC:
        given = False

        def read(count: int) -> bytes:
            nonlocal given
            if not given:
                given = True
                return head
            data: bytes = read1(count)
            return data

        _scan_gzip(source, read, needles, sink, progress, warn)
        return
    done = 0

    def readinto(view: memoryview) -> int:
        nonlocal done, head
        if head:
            count = min(len(head), len(view))
            view[:count] = head[:count]
            head = head[count:]
        else:
            count = stream.readinto(view) or 0
        done += count
        return count

    scan_stream(readinto, needles, sink, lambda: progress(done))


def _scan_gzip(
    source: Source,
    read: Callable[[int], bytes],
    needles: tuple[bytes, ...],
    sink: LineSink,
    progress: Callable[[int], None],
    warn: Callable[[str], None],
) -> None:
    gunzip = _Gunzip(read)
    scan_stream(gunzip.readinto, needles, sink, lambda: progress(gunzip.consumed))
    if gunzip.error is not None:
        warn(f"{source.path}: damaged gzip data ({gunzip.error}); scanned what came before it")
    elif gunzip.truncated:
        warn(f"{source.path}: gzip data ends early (truncated?); scanned what it holds")
