"""The one destination that stdlib, structlog and loguru lines share.

One lock serializes whole lines from all three libraries, so lines never
interleave; each line is flushed as it is written, as logging's
StreamHandler does, so a crash loses nothing already logged.

A file (the path given to configure(), or a standard stream backed by a
file descriptor) is written with os.write() in a loop until the whole line
is out: io.BufferedWriter loses the rest of a large write that a signal
interrupts part-way (into a slow pipe, say). A file given by path is
reopened when the path comes to name another file (moved away by log
rotation), as logging.handlers.WatchedFileHandler does.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import sys
import threading
import weakref
from typing import IO, Any

from tracelog import _errors

__all__ = ["Output"]

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_live: weakref.WeakSet[Output] = weakref.WeakSet()


def _escape_non_ascii(line: str) -> str:
    r"""Replace non-ASCII characters by JSON ``\uXXXX`` escapes.

    tracelog's JSON only has non-ASCII characters inside strings, where the
    escapes mean the same text, so the line stays valid JSON for an output
    whose encoding (e.g. an ASCII locale) cannot write them.
    """

    def escape(match: re.Match[str]) -> str:
        code = ord(match[0])
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return _NON_ASCII.sub(escape, line)


class Output:
    """A text stream (or a file opened for appending) that takes whole lines.

    Args:
        target: None for ``sys.stdout``, a path to append to, or a text stream.
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str] | None = None) -> None:
        self._owned = False
        self._closed = False
        self._successor: Output | None = None
        # Set when a write failed part-way: the next line starts on a line of
        # its own instead of being glued to the fragment.
        self._broken_line = False
        self.path: str | None = None
        stream: Any
        if target is None:
            stream = sys.stdout
        elif isinstance(target, (str, os.PathLike)):
            path = os.path.abspath(os.fspath(target))
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                raise FileNotFoundError(f"output: directory {directory!r} does not exist")
            stream = _open_appending(path)
            self._owned = True
            self.path = path
        elif _is_binary(target):
            raise TypeError(
                "output must be a text stream, not a binary one; wrap it: "
                'io.TextIOWrapper(stream, encoding="utf-8", write_through=True)'
            )
        elif callable(getattr(target, "write", None)):
            stream = target
        else:
            raise TypeError(
                f"output must be None, a path or a text stream, not {type(target).__name__}"
            )
        self.stream = stream
        # The file descriptor written directly (see the module's docstring), for
        # as long as self.stream is still this stream (doctor diverts it).
        self._direct: Any = None
        self._fd = -1
        self._encoding = "utf-8"
        self._errors = "backslashreplace"
        self._identity: tuple[int, int] | None = None
        self._direct_from(stream)
        self._lock = threading.RLock()
        # Both only touched under _lock: set while this output writes, and the
        # lines waiting to be written (see write).
        self._writing = False
        self._pending: list[str] = []
        self._flush = getattr(stream, "flush", None)
        _live.add(self)

    def is_for(self, target: str | os.PathLike[str] | IO[str] | None) -> bool:
        """Whether *target* names this output (the same stream, or the same file)."""
        if self._closed:
            return False
        if target is None:
            return self.stream is sys.stdout
        if isinstance(target, (str, os.PathLike)):
            return self.path == os.path.abspath(os.fspath(target))
        return self.stream is target

    def isatty(self) -> bool:
        """Whether the stream is a terminal (console output is coloured then)."""
        try:
            return bool(self.stream.isatty())
        except Exception:
            return False

    def write(self, text: str) -> None:
        """Write *text* (whole lines, newline included) and flush; never raises.

        After `close`, lines still written here (by a logger bound to this
        output before a reconfiguration) go to the output that replaced it,
        or to stderr rather than nowhere.
        """
        output: Output | None = self
        while output is not None:
            with output._lock:
                if not output._closed:
                    # Lines go through _pending in order: when this thread is already
                    # writing here further down its stack (a signal handler, a stream
                    # whose write() logs), its line is written whole after that one,
                    # never inside it. Each step holds at any point a handler may run.
                    output._pending.append(text)
                    while output._pending and not output._writing:
                        output._writing = True
                        try:
                            while output._pending:
                                batch, output._pending = output._pending, []
                                output._write_locked("".join(batch))
                        finally:
                            output._writing = False
                    return
            output = output._successor
        _errors.write_stderr(text)

    def _direct_from(self, stream: Any) -> None:
        """Write *stream* through its file descriptor when it is a plain file's."""
        buffer: Any = getattr(stream, "buffer", None)
        if type(buffer) in (io.BufferedWriter, io.BufferedRandom):
            buffer = buffer.raw  # else unbuffered (python -u): the FileIO itself
        if not (isinstance(stream, io.TextIOWrapper) and isinstance(buffer, io.FileIO)):
            return
        try:
            fd = stream.fileno()
            codecs.lookup(stream.encoding)
            if self.path is not None:
                status = os.fstat(fd)
                self._identity = (status.st_dev, status.st_ino)
        except (OSError, ValueError, LookupError):
            return
        self._direct, self._fd = stream, fd
        self._encoding, self._errors = stream.encoding, stream.errors or "strict"

    def _reopen_if_moved(self) -> None:
        """Open the path anew when it no longer names the file being written."""
        assert self.path is not None
        try:
            status = os.stat(self.path)
            if (status.st_dev, status.st_ino) == self._identity:
                return
        except FileNotFoundError:
            pass  # moved away and not yet recreated: create it, as the app's next line
        except OSError as exc:  # cannot tell (a directory made unreadable): write on here
            _errors.report("could not check the log output's path for rotation", exc)
            return
        try:
            stream = _open_appending(self.path)
        except OSError as exc:
            _errors.report("could not reopen the log output after rotation", exc)
            return
        old, self.stream = self.stream, stream
        self._direct = None
        self._direct_from(stream)
        self._broken_line = False
        try:
            old.close()
        except Exception as exc:
            _errors.report("could not close the rotated log output", exc)

    def _write_locked(self, text: str) -> None:
        if self._broken_line:
            text = "\n" + text
        if self.stream is self._direct:
            self._write_direct(text)
            return
        try:
            self.stream.write(text)
        except UnicodeEncodeError:
            self._write_escaped(text)
        except Exception as exc:
            # Nothing taken: a fragment from before is still unterminated.
            self._broken_line = self._broken_line or _partly_written(exc)
            _errors.report("could not write to the log output", exc, to_stderr=True)
            return
        else:
            self._broken_line = False
        if self._flush is not None:
            try:
                self._flush()
            except Exception as exc:
                _errors.report("could not flush the log output", exc, to_stderr=True)

    def _write_direct(self, text: str) -> None:
        if self._owned and self._identity is not None:
            self._reopen_if_moved()
        try:
            data = text.encode(self._encoding, self._errors)
        except UnicodeEncodeError:
            data = _escape_non_ascii(text).encode(self._encoding, self._errors)
        written = 0
        try:
            if not self._owned:
                # What others wrote to the same stream (print()) goes out first.
                self.stream.flush()
            view = memoryview(data)
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except BaseException as exc:
            self._broken_line = self._broken_line or written > 0
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt from a handler: the application's to have
            _errors.report("could not write to the log output", exc, to_stderr=True)
        else:
            self._broken_line = False

    def _write_escaped(self, text: str) -> None:
        try:
            self.stream.write(_escape_non_ascii(text))
            self._broken_line = False
        except Exception as exc:
            self._broken_line = self._broken_line or _partly_written(exc)
            _errors.report("could not write to the log output", exc, to_stderr=True)

    def close(self, *, successor: Output | None = None) -> None:
        """Close the file if this output opened it; a stream given to it stays open.

        Args:
            successor: where lines written here from now on go (else stderr).
        """
        with self._lock:
            self._successor = successor if successor is not self else None
            self._closed = True
            if self._owned:
                try:
                    self.stream.close()
                except Exception as exc:
                    _errors.report("could not close the log output", exc)
                self._owned = False


def _open_appending(path: str) -> io.TextIOWrapper:
    """*path* opened to append lines: UTF-8, what cannot be encoded escaped."""
    return open(path, "a", encoding="utf-8", errors="backslashreplace")


def _is_binary(stream: object) -> bool:
    mode = getattr(stream, "mode", "")
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or (
        isinstance(mode, str) and "b" in mode
    )


def _partly_written(error: BaseException) -> bool:
    """Whether a failed write may have left part of a line behind."""
    if isinstance(error, BlockingIOError):
        return bool(getattr(error, "characters_written", 0))
    # A closed stream takes nothing; other errors may have taken a part.
    return not isinstance(error, ValueError)


# fork(): hold every output's lock across it, so no other thread is in the
# middle of a write (holding the stream's own locks) when the child is made,
# and give the child fresh locks, as logging does for its handlers.
_held: list[Output] = []


def _before_fork() -> None:
    _held[:] = list(_live)
    for output in _held:
        output._lock.acquire()


def _after_fork_in_parent() -> None:
    for output in _held:
        output._lock.release()
    _held.clear()


def _after_fork_in_child() -> None:
    for output in list(_live):
        output._lock = threading.RLock()
        output._writing = False
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
