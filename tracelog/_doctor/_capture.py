"""Catch doctor's own test lines on their way into configure()'s output.

The test lines go through the real pipeline of each library, up to the
moment the shared `Output` writes them; there, for the duration of the check,
a `_Divert` stands in for the output's stream. It keeps the lines that carry
the check's token and were written by the checking thread, and passes every
other line (other threads, or anything else this thread logs meanwhile) to the
real stream at once, so the application's output neither gets the test lines
nor loses any of its own. The stream is swapped under the output's lock, so no
write is half-way through when it changes, and the lock is not held while the
test lines are logged: a library's own lock (loguru's handler lock) taken
while logging must never wait behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracelog._output import Output

__all__ = ["diverted"]


class _Divert:
    """Stands in for an output's stream: keeps the test lines, forwards the rest."""

    def __init__(self, stream: Any, token: str) -> None:
        self._stream = stream
        self._token = token
        self._thread = threading.get_ident()
        self.lines: list[str] = []

    def write(self, text: str) -> Any:
        if self._token in text and threading.get_ident() == self._thread:
            self.lines.append(text)
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def diverted(output: Output, token: str) -> Iterator[list[str]]:
    """While inside, lines written to *output* by this thread holding *token* are kept.

    Yields the list the kept lines are appended to. Call it with
    configure()'s lock held, so the output stays the configured one.
    """
    with output._lock:
        stream = output.stream
        divert = _Divert(stream, token)
        output.stream = divert
    try:
        yield divert.lines
    finally:
        with output._lock:
            output.stream = stream
