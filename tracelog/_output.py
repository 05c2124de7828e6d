"""The one destination that stdlib, structlog and loguru lines share.

One lock serializes whole lines from all three libraries, so lines never
interleave; each line is flushed as it is written, as logging's
StreamHandler does, so a crash loses nothing already logged.
"""

from __future__ import annotations

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
        stream: Any
        if target is None:
            stream = sys.stdout
        elif isinstance(target, (str, os.PathLike)):
            path = os.fspath(target)
            directory = os.path.dirname(path)
            if directory and not os.path.isdir(directory):
                raise FileNotFoundError(f"output: directory {directory!r} does not exist")
            stream = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
            self._owned = True
        elif callable(getattr(target, "write", None)):
            stream = target
        else:
            raise TypeError(
                f"output must be None, a path or a text stream, not {type(target).__name__}"
            )
        self.stream = stream
        self._lock = threading.RLock()
        self._flush = getattr(stream, "flush", None)
        _live.add(self)

    def isatty(self) -> bool:
        """Whether the stream is a terminal (console output is coloured then)."""
        try:
            return bool(self.stream.isatty())
        except Exception:
            return False

    def write(self, text: str) -> None:
        """Write *text* (whole lines, newline included) and flush; never raises."""
        with self._lock:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:
                self._write_escaped(text)
            except Exception as exc:
                _errors.report("could not write to the log output", exc)
                return
            if self._flush is not None:
                try:
                    self._flush()
                except Exception as exc:
                    _errors.report("could not flush the log output", exc)

    def _write_escaped(self, text: str) -> None:
        try:
            self.stream.write(_escape_non_ascii(text))
        except Exception as exc:
            _errors.report("could not write to the log output", exc)

    def close(self) -> None:
        """Close the file if this output opened it; a stream given to it stays open."""
        with self._lock:
            if self._owned:
                try:
                    self.stream.close()
                except Exception as exc:
                    _errors.report("could not close the log output", exc)
                self._owned = False

    def _after_fork(self) -> None:
        # Another thread may have held the lock when the process forked.
        self._lock = threading.RLock()


def _reinit_after_fork() -> None:
    for output in list(_live):
        output._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
